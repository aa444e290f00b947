/**
 * The tar index: the entries of one uncompressed tar stream plus its size — a compact,
 * serialisable structure stored next to the blob so a layer is scanned once per machine.
 *
 * @packageDocumentation
 */
import { BinFormatError, BinReader, BinWriter } from './bin-codec.js';
import { CorruptIndexError } from './errors.js';
import { packIndex, unpackIndex } from './index-store.js';
import { normalizeTarPath } from './tar-path.js';
import type { TarEntry, TarEntryType } from './tar-entry.js';

/** The entries of a tar stream. */
export interface TarIndex {
  /** Size of the uncompressed tar stream. */
  tarSize: number;
  /** Members in archive order (later members of one path replace earlier ones). */
  entries: TarEntry[];
}

/** IndexStore name of a serialised tar index. */
export const TAR_INDEX_NAME = 'tar-index';
const MAGIC = 'OCIFSTIX';
/** Version of the serialised form; bump on any change. */
export const TAR_INDEX_VERSION = 1;

const TYPES: TarEntryType[] = ['file', 'dir', 'symlink', 'hardlink', 'chardev', 'blockdev', 'fifo', 'socket'];

/** Serialises an index (see {@link decodeTarIndex}). */
export async function encodeTarIndex(index: TarIndex): Promise<Uint8Array> {
  const w = new BinWriter();
  encodeTarIndexInto(w, index);
  return packIndex(MAGIC, TAR_INDEX_VERSION, w.finish());
}

/** Writes an index's fields into a writer (also used inside the gzip index). */
export function encodeTarIndexInto(w: BinWriter, index: TarIndex): void {
  w.uint(index.tarSize);
  w.uint(index.entries.length);
  for (const e of index.entries) {
    w.str(e.path);
    w.u8(TYPES.indexOf(e.type));
    w.uint(e.mode);
    w.uint(e.uid);
    w.uint(e.gid);
    w.int(e.mtimeSec);
    w.uint(e.mtimeNsec);
    w.uint(e.size);
    w.uint(e.dataOffset);
    w.uint(e.storedSize);
    w.uint(e.headerOffset);
    const flags =
      (e.linkName !== undefined ? 1 : 0) | (e.devMajor !== undefined ? 2 : 0) | (e.xattrs ? 4 : 0) | (e.sparse ? 8 : 0);
    w.u8(flags);
    if (e.linkName !== undefined) w.str(e.linkName);
    if (e.devMajor !== undefined) {
      w.uint(e.devMajor);
      w.uint(e.devMinor ?? 0);
    }
    if (e.xattrs) {
      w.uint(e.xattrs.size);
      for (const [k, v] of e.xattrs) {
        w.str(k);
        w.bytes(v);
      }
    }
    if (e.sparse) {
      w.uint(e.sparse.length);
      for (const s of e.sparse) {
        w.uint(s.offset);
        w.uint(s.length);
      }
    }
  }
}

/** Loads a serialised index, validating every field; throws `ERR_OCIFS_CORRUPT_INDEX`. */
export async function decodeTarIndex(bytes: Uint8Array): Promise<TarIndex> {
  const payload = await unpackIndex(bytes, MAGIC, TAR_INDEX_VERSION, 'tar index');
  const r = new BinReader(payload);
  const index = decodeTarIndexFrom(r, 'tar index');
  if (r.remaining !== 0) throw new CorruptIndexError('tar index', 'trailing bytes');
  return index;
}

/** Reads and validates an index's fields from a reader. */
export function decodeTarIndexFrom(r: BinReader, what: string): TarIndex {
  try {
    const tarSize = r.uint();
    const n = r.count(12);
    const entries: TarEntry[] = [];
    for (let i = 0; i < n; i++) {
      const path = r.str();
      const type = TYPES[r.u8()];
      if (type === undefined) throw new BinFormatError(`entry ${i}: bad type`);
      const e: TarEntry = {
        path,
        type,
        mode: r.uint(),
        uid: r.uint(),
        gid: r.uint(),
        mtimeSec: r.int(),
        mtimeNsec: r.uint(),
        size: r.uint(),
        dataOffset: r.uint(),
        storedSize: r.uint(),
        headerOffset: r.uint(),
      };
      const flags = r.u8();
      if (flags & 1) e.linkName = r.str();
      if (flags & 2) {
        e.devMajor = r.uint();
        e.devMinor = r.uint();
      }
      if (flags & 4) {
        e.xattrs = new Map();
        const k = r.count(2);
        for (let j = 0; j < k; j++) e.xattrs.set(r.str(), new Uint8Array(r.bytes()));
      }
      if (flags & 8) {
        e.sparse = [];
        const k = r.count(2);
        for (let j = 0; j < k; j++) e.sparse.push({ offset: r.uint(), length: r.uint() });
      }
      checkEntry(e, i, tarSize);
      entries.push(e);
    }
    return { tarSize, entries };
  } catch (err) {
    if (err instanceof BinFormatError) throw new CorruptIndexError(what, err.message, { cause: err });
    throw err;
  }
}

function checkEntry(e: TarEntry, i: number, tarSize: number): void {
  const bad = (why: string) => {
    throw new BinFormatError(`entry ${i} (${JSON.stringify(e.path)}): ${why}`);
  };
  if (normalizeTarPath(e.path) !== e.path) bad('path not normalised');
  if (e.path === '' && e.type !== 'dir') bad('root is not a directory');
  if (e.mode > 0o7777 || e.uid > 0xffffffff || e.gid > 0xffffffff || e.mtimeNsec >= 1e9) bad('bad metadata');
  if (e.dataOffset + e.storedSize > tarSize || e.headerOffset > e.dataOffset) bad('data outside the archive');
  if ((e.type === 'symlink' || e.type === 'hardlink') !== (e.linkName !== undefined)) bad('link name mismatch');
  if (e.type === 'hardlink' && (normalizeTarPath(e.linkName!) !== e.linkName || e.linkName === ''))
    bad('bad hardlink target');
  if (e.type !== 'file' && (e.size !== 0 || e.sparse)) bad('size on a non-file');
  if (!e.sparse && e.size !== e.storedSize) bad('size mismatch');
  if (e.sparse) {
    let end = 0;
    let total = 0;
    for (const s of e.sparse) {
      if (s.offset < end || s.length === 0 || s.offset + s.length > e.size) bad('bad sparse map');
      end = s.offset + s.length;
      total += s.length;
    }
    if (total !== e.storedSize) bad('sparse map does not match stored size');
  }
}
