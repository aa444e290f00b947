/**
 * The entries of an uncompressed tar stream, read in one sequential pass: headers go through the
 * same parser the random-access reader uses (pax, GNU long names, sparse files, base-256
 * numbers), member data is handed to the consumer as it streams by and never held. This is how
 * a tar layer is converted without an index and without a second read.
 *
 * @packageDocumentation
 */
import { throwIfAborted } from '../errors.js';
import type { ReadOptions } from '../io/byte-source.js';
import { CorruptTarError } from '../tar/errors.js';
import { makeRdev } from '../vfs/device.js';
import type { TarEntry } from '../tar/tar-entry.js';
import { TarParser } from '../tar/tar-parser.js';
import { ByteQueue } from './byte-queue.js';
import type { BuildEntry, ContentPiece } from './entry.js';

/** Largest piece of content handed out at once. */
const PIECE = 1 << 20;

/** The {@link BuildEntry} of a parsed tar member (without its content). */
export function tarEntryToBuild(e: TarEntry): BuildEntry {
  const out: BuildEntry = {
    path: e.path,
    type: e.type,
    mode: e.mode & 0o7777,
    uid: e.uid,
    gid: e.gid,
    mtimeSec: e.mtimeSec,
    mtimeNsec: e.mtimeNsec,
    size: e.type === 'file' ? e.size : 0,
    rdev: e.type === 'chardev' || e.type === 'blockdev' ? makeRdev(e.devMajor ?? 0, e.devMinor ?? 0) : 0,
  };
  if (e.linkName !== undefined) out.linkName = e.linkName;
  if (e.xattrs && e.xattrs.size > 0) out.xattrs = e.xattrs;
  if (e.sparse) out.sparse = true;
  return out;
}

/**
 * Yields the members of the tar stream `chunks` in archive order. A file's `content` streams
 * its data (sparse members as their data segments at their logical offsets); it must be read
 * before the next member is asked for, or it is skipped.
 */
export async function* tarStreamEntries(
  chunks: AsyncIterable<Uint8Array>,
  options: ReadOptions = {},
): AsyncGenerator<BuildEntry> {
  const it = chunks[Symbol.asyncIterator]();
  const q = new ByteQueue(it);
  const parser = new TarParser();
  try {
    for (;;) {
      throwIfAborted(options.signal);
      while (parser.entries.length > 0) {
        const e = parser.entries.shift()!;
        const entry = tarEntryToBuild(e);
        if (e.type !== 'file' || e.storedSize === 0) {
          yield entry;
          continue;
        }
        // The parser now wants to skip the member's data and padding, which starts here.
        const need = parser.need();
        if (need.kind !== 'skip' || parser.position !== e.dataOffset)
          throw new CorruptTarError('member data is not where its header says', parser.position, e.path);
        let left = e.storedSize;
        const segments = e.sparse ?? [{ offset: 0, length: e.storedSize }];
        let consumed = false;
        const content = async function* (): AsyncGenerator<ContentPiece> {
          if (consumed) throw new Error(`content of ${e.path} read twice`);
          consumed = true;
          for (const seg of segments) {
            let done = 0;
            while (done < seg.length) {
              const p = await q.take(Math.min(PIECE, seg.length - done));
              if (!p) throw new CorruptTarError('archive is truncated', q.position, e.path);
              yield { offset: seg.offset + done, data: p };
              done += p.length;
              left -= p.length;
            }
          }
        };
        entry.content = content();
        yield entry;
        consumed = true;
        // Whatever the consumer left of the data, and the padding.
        const rest = left + (need.length - e.storedSize);
        const skipped = await q.skip(rest);
        if (skipped < rest) {
          parser.end(need.length - (rest - skipped));
          return;
        }
        parser.skipped();
      }
      const need = parser.need();
      if (need.kind === 'done') break;
      if (need.kind === 'skip') {
        const n = await q.skip(need.length);
        if (n < need.length) {
          parser.end(n);
          return;
        }
        parser.skipped();
        continue;
      }
      const b = await q.read(need.length);
      if (b.length < need.length) {
        if (b.length === 0 && need.length === 512) parser.end();
        else throw new CorruptTarError('archive is truncated', q.position, undefined);
        continue;
      }
      parser.give(b);
    }
    // Trailing zero blocks and anything after the end-of-archive marker are read and dropped.
    await q.drain();
  } finally {
    await it.return?.();
  }
}
