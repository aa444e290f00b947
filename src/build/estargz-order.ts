/**
 * The order of an eStargz layer's entries: the prioritized files first (what a container reads
 * at start-up, so a lazy puller prefetches them together), then the landmark
 * `.prefetch.landmark`, then the rest in source order; without prioritized files the layer
 * starts with `.no.prefetch.landmark` (as `ctr-remote image optimize` and stargz-snapshotter's
 * builder write them).
 *
 * Prioritized files come from the layer's filesystem (random access, so the stream need not be
 * held); the stream then skips them. Their parent directories are not moved: tar and TOC
 * readers make missing parents, and the directories' own entries follow in source order. A
 * prioritized file that is a hardlink in the layer is written as a regular file.
 *
 * @packageDocumentation
 */
import type { ReadOptions } from '../io/byte-source.js';
import { readPieces } from '../io/read-stream.js';
import type { FileSystem, Inode } from '../vfs/types.js';
import type { BuildEntry, ContentPiece } from './entry.js';
import { NO_PREFETCH_LANDMARK, PREFETCH_LANDMARK } from './estargz-writer.js';

/** The content of a landmark file (stargz-snapshotter's `landmarkContents`). */
const LANDMARK_BYTE = 0x0f;

function landmark(name: string): BuildEntry {
  const content = (async function* (): AsyncGenerator<ContentPiece> {
    yield { offset: 0, data: new Uint8Array([LANDMARK_BYTE]) };
  })();
  return { path: name, type: 'file', mode: 0, uid: 0, gid: 0, mtimeSec: 0, mtimeNsec: 0, size: 1, rdev: 0, content };
}

/** `/usr/bin/x`, `usr/bin/x/`, `./usr/bin/x` → `usr/bin/x`; undefined for `..` or the root. */
export function normalizePrioritized(p: string): string | undefined {
  const parts = p.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.length === 0 || parts.includes('..')) return undefined;
  return parts.join('/');
}

async function lookupPath(fs: FileSystem, path: string, options: ReadOptions): Promise<Inode | undefined> {
  let cur = await fs.getattr(fs.rootIno, options);
  for (const name of path.split('/')) {
    if (cur.type !== 'dir') return undefined;
    const next = await fs.lookup(cur.ino, name, options);
    if (!next) return undefined;
    cur = next;
  }
  return cur;
}

async function entryFromFs(fs: FileSystem, path: string, st: Inode, options: ReadOptions): Promise<BuildEntry> {
  const e: BuildEntry = {
    path,
    type: st.type,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    mtimeSec: st.mtimeSec,
    mtimeNsec: st.mtimeNsec,
    size: st.type === 'file' ? st.size : 0,
    rdev: st.type === 'chardev' || st.type === 'blockdev' ? st.rdev : 0,
  };
  if (st.type !== 'symlink') {
    const x = await fs.listxattr(st.ino, options);
    if (x.size) e.xattrs = x;
  }
  if (st.type === 'symlink') e.linkName = await fs.readlink(st.ino, options);
  if (st.type === 'file' && st.size > 0) {
    const src = await fs.openFile(st.ino, options);
    e.content = (async function* () {
      let offset = 0;
      for await (const data of readPieces(src, { signal: options.signal, pieceSize: 1 << 20 })) {
        yield { offset, data };
        offset += data.length;
      }
    })();
  }
  return e;
}

/** Orders a layer's entries for eStargz; see the module comment. */
export async function* estargzOrder(
  entries: AsyncIterable<BuildEntry>,
  prioritized: readonly string[],
  layerFs: () => Promise<FileSystem>,
  options: ReadOptions = {},
): AsyncGenerator<BuildEntry> {
  const moved = new Set<string>();
  if (prioritized.length > 0) {
    const fs = await layerFs();
    for (const raw of prioritized) {
      const path = normalizePrioritized(raw);
      if (path === undefined || moved.has(path)) continue;
      const st = await lookupPath(fs, path, options);
      if (!st || st.type === 'dir') continue;
      moved.add(path);
      yield await entryFromFs(fs, path, st, options);
    }
  }
  yield landmark(moved.size > 0 ? PREFETCH_LANDMARK : NO_PREFETCH_LANDMARK);
  for await (const e of entries) {
    if (e.type !== 'dir' && moved.has(e.path)) continue;
    yield e;
  }
}
