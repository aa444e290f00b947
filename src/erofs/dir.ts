/**
 * Directories: blocks of `struct erofs_dirent` records followed by their names, sorted by
 * name within and across blocks. `readdir` streams block by block (bounded memory on huge
 * directories) and validates every entry as erofs-utils' `traverse_dirents` does; `lookup`
 * binary-searches the blocks by their first name and then the entries of one block, like the
 * kernel's `erofs_namei`, so it reads about log2(blocks) + 1 blocks.
 *
 * @packageDocumentation
 */
import type { ReadOptions } from '../io/byte-source.js';
import { CorruptErofsError } from './errors.js';
import { DIRENT, EROFS_NAME_LEN } from './format.js';
import type { ErofsFileData } from './file-data.js';

/** One directory entry as stored: name bytes decoded, nid, `file_type`. */
export interface RawDirent {
  name: string;
  nid: bigint;
  fileType: number;
}

const utf8 = new TextDecoder();

/** Decodes a name; ASCII names (the common case) without a TextDecoder call. */
export function decodeName(b: Uint8Array, start: number, end: number): string {
  let ascii = true;
  for (let i = start; i < end; i++) {
    if (b[i] >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (!ascii) return utf8.decode(b.subarray(start, end));
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(b[i]);
  return s;
}

/** Length of a NUL-terminated name in `b[start, max)`. */
function strnlen(b: Uint8Array, start: number, max: number): number {
  let i = start;
  while (i < max && b[i] !== 0) i++;
  return i - start;
}

/** One directory block, checked enough to read entry `i`'s name safely. */
class DirBlock {
  readonly count: number;
  private readonly dv: DataView;

  constructor(
    readonly bytes: Uint8Array,
    private readonly nid: bigint,
    private readonly blk: number,
  ) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const size = bytes.length;
    const nameoff0 = size >= DIRENT.size ? this.dv.getUint16(DIRENT.nameoff, true) : 0;
    if (nameoff0 < DIRENT.size || nameoff0 >= size || nameoff0 % DIRENT.size !== 0) {
      throw this.corrupt(`invalid de[0].nameoff ${nameoff0}`);
    }
    this.count = nameoff0 / DIRENT.size;
  }

  corrupt(reason: string): CorruptErofsError {
    return new CorruptErofsError(`${reason} in directory block ${this.blk}`, { nid: this.nid });
  }

  nameoff(i: number): number {
    return this.dv.getUint16(i * DIRENT.size + DIRENT.nameoff, true);
  }

  /** `[start, end)` of entry i's name, checked against the block and the name length limit. */
  nameRange(i: number): [number, number] {
    const start = this.nameoff(i);
    const size = this.bytes.length;
    if (start < this.count * DIRENT.size || start >= size) throw this.corrupt(`bogus nameoff ${start} of entry ${i}`);
    const len = i + 1 < this.count ? this.nameoff(i + 1) - start : strnlen(this.bytes, start, size);
    if (len <= 0 || len > EROFS_NAME_LEN || start + len > size)
      throw this.corrupt(`bogus name length ${len} of entry ${i}`);
    return [start, start + len];
  }

  entry(i: number, start: number, end: number): RawDirent {
    const o = i * DIRENT.size;
    return {
      name: decodeName(this.bytes, start, end),
      nid: this.dv.getBigUint64(o + DIRENT.nid, true),
      fileType: this.dv.getUint8(o + DIRENT.file_type),
    };
  }

  /** Byte-wise comparison of `target` with entry i's name (`erofs_dirnamecmp`). */
  compare(target: Uint8Array, i: number): number {
    const [start, end] = this.nameRange(i);
    const n = Math.min(target.length, end - start);
    for (let k = 0; k < n; k++) {
      const d = target[k] - this.bytes[start + k];
      if (d !== 0) return d;
    }
    return target.length - (end - start);
  }
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let k = 0; k < n; k++) if (a[k] !== b[k]) return a[k] - b[k];
  return a.length - b.length;
}

function isDots(b: Uint8Array, start: number, end: number): boolean {
  return b[start] === 0x2e && (end - start === 1 || (end - start === 2 && b[start + 1] === 0x2e));
}

/** Reads directory block `blk` of `dir`. */
async function readBlock(dir: ErofsFileData, blockSize: number, blk: number, options?: ReadOptions): Promise<DirBlock> {
  const off = blk * blockSize;
  const bytes = await dir.read(off, Math.min(blockSize, dir.size - off), options);
  return new DirBlock(bytes, dir.inode.nid, blk);
}

/**
 * The entries of a directory, block by block, `.` and `..` left out. Every entry is checked:
 * names contiguous and within the block, 1–255 bytes, no `/` or NUL.
 */
export async function* readDirEntries(
  dir: ErofsFileData,
  blockSize: number,
  options?: ReadOptions,
): AsyncGenerator<RawDirent> {
  const blocks = Math.ceil(dir.size / blockSize);
  // Names are strictly increasing across the whole directory (lookups depend on it); checking
  // it also stops a directory whose blocks repeat (a dedupe loop) after one block.
  let prev: Uint8Array | undefined;
  for (let blk = 0; blk < blocks; blk++) {
    const b = await readBlock(dir, blockSize, blk, options);
    let next = b.count * DIRENT.size;
    const entries: RawDirent[] = [];
    for (let i = 0; i < b.count; i++) {
      if (b.nameoff(i) !== next) throw b.corrupt(`bogus dirent nameoff ${b.nameoff(i)} of entry ${i}`);
      const [start, end] = b.nameRange(i);
      next = end;
      const name = b.bytes.subarray(start, end);
      if (prev !== undefined && compareBytes(prev, name) >= 0) throw b.corrupt(`entry ${i} is out of name order`);
      prev = name;
      if (isDots(b.bytes, start, end)) continue;
      for (let k = start; k < end; k++) {
        if (b.bytes[k] === 0x2f || b.bytes[k] === 0) throw b.corrupt(`illegal name in entry ${i}`);
      }
      entries.push(b.entry(i, start, end));
    }
    if (prev !== undefined) prev = prev.slice(); // the block's bytes may be a cache view
    yield* entries;
  }
}

/**
 * Finds `name` (UTF-8 bytes) in a directory by binary search over its blocks, then over the
 * entries of the one block that can hold it.
 */
export async function lookupDirEntry(
  dir: ErofsFileData,
  blockSize: number,
  name: Uint8Array,
  options?: ReadOptions,
): Promise<RawDirent | undefined> {
  if (name.length === 0 || name.length > EROFS_NAME_LEN) return undefined;
  let head = 0;
  let back = Math.ceil(dir.size / blockSize) - 1;
  let candidate: DirBlock | undefined;
  while (head <= back) {
    const mid = head + Math.floor((back - head) / 2);
    const b = await readBlock(dir, blockSize, mid, options);
    const d = b.compare(name, 0);
    if (d === 0) return found(b, 0);
    if (d > 0) {
      candidate = b;
      head = mid + 1;
    } else {
      back = mid - 1;
    }
  }
  if (candidate === undefined) return undefined;
  let lo = 1;
  let hi = candidate.count - 1;
  while (lo <= hi) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const d = candidate.compare(name, mid);
    if (d === 0) return found(candidate, mid);
    if (d > 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}

function found(b: DirBlock, i: number): RawDirent {
  const [start, end] = b.nameRange(i);
  return b.entry(i, start, end);
}
