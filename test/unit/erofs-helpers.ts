// Shared by the EROFS tests, fuzz script and benchmark: the fixture images, a byte source that
// counts what is read, and a walk that reads every file of an image.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ByteSource, ReadOptions } from '../../src/io/byte-source.js';
import { MemorySource } from '../../src/io/memory-source.js';
import type { FileSystem } from '../../src/vfs/types.js';
import { EROFS_DIR, ensureErofsImages } from '../fixtures/erofs-images.js';
import { fixChecksum } from '../../scripts/fuzz-erofs.js';

ensureErofsImages();

/**
 * The EROFS fixture images (test/fixtures/erofs; all hold the seed-1 tree and list exactly
 * tree-seed1.jsonl): five made with mkfs.erofs 1.9.3, two by Debian's mkfs.erofs at test time.
 */
export const EROFS_FIXTURE_DIR = EROFS_DIR;
export const EROFS_FIXTURES = [
  'lzma',
  'deflate',
  'zstd',
  'lz4hc-packed',
  'lz4-bigpcluster',
  'plain-512b',
  'chunked',
] as const;

/** The path of fixture `name`. */
export function fixturePath(name: string): string {
  return join(EROFS_FIXTURE_DIR, `${name}.erofs`);
}

/** The expected manifest lines of every fixture. */
export function seed1Manifest(): string[] {
  return readFileSync(join(EROFS_FIXTURE_DIR, 'tree-seed1.jsonl'), 'utf8').replace(/\n$/, '').split('\n');
}

/** A fixture image in memory. */
export function fixtureSource(name: string): MemorySource {
  return new MemorySource(new Uint8Array(readFileSync(fixturePath(name))));
}

/** Wraps a source and counts reads and bytes (and remembers the ranges). */
export class CountingSource implements ByteSource {
  reads = 0;
  bytes = 0;
  ranges: [number, number][] = [];
  constructor(private readonly inner: ByteSource) {}
  get size(): number {
    return this.inner.size;
  }
  async read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    const b = await this.inner.read(offset, length, options);
    this.reads++;
    this.bytes += b.length;
    this.ranges.push([offset, b.length]);
    return b;
  }
  reset(): void {
    this.reads = 0;
    this.bytes = 0;
    this.ranges = [];
  }
}

/** Reads a whole byte source in pieces and returns it. */
export async function readAll(src: ByteSource, piece = 1 << 20): Promise<Uint8Array> {
  const out = new Uint8Array(src.size);
  for (let off = 0; off < src.size; off += piece) out.set(await src.read(off, Math.min(piece, src.size - off)), off);
  return out;
}

/** Path → inode number of every entry below the root (names joined with '/'), depth-first. */
export async function listTree(fs: FileSystem): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const visit = async (ino: number, prefix: string, depth: number): Promise<void> => {
    if (depth > 64) throw new Error('tree too deep');
    for await (const e of fs.readdir(ino)) {
      const p = prefix + e.name;
      out.set(p, e.ino);
      if (e.type === 'dir') await visit(e.ino, p + '/', depth + 1);
    }
  };
  await visit(fs.rootIno, '', 0);
  return out;
}

/** EROFS_FT_DIR: the file type byte of a directory's dirent. */
const EROFS_FT_DIR = 2;

/**
 * Forges a directory cycle in an EROFS image (a copy is returned): the dirent of directory
 * `childNid` (struct erofs_dirent: nid u64, nameoff u16, file_type u8, reserved u8) is pointed
 * at `ancestorNid`, so walking into the child leads back up (the superblock checksum is fixed
 * up, so the image passes every check a reader makes before it walks). The dirent is the one in the listing of
 * `parentNid` (after that directory's own `.` entry), not the child's own `.`. Throws unless
 * exactly one dirent matches.
 */
export function forgeDirectoryCycle(
  image: Uint8Array,
  parentNid: bigint,
  childNid: bigint,
  ancestorNid: bigint,
): Uint8Array {
  const out = new Uint8Array(image);
  const dv = new DataView(out.buffer);
  const hits: number[] = [];
  // Dirents are 12 bytes, aligned to 4 within their block: a nid match of a dir typed entry.
  for (let p = 0; p + 12 <= out.length; p += 4) {
    if (dv.getBigUint64(p, true) !== childNid || out[p + 10] !== EROFS_FT_DIR || out[p + 11] !== 0) continue;
    // The parent's `.` comes first in its listing (names are sorted, `.` first).
    for (let q = p - 12; q >= Math.max(0, p - 12 * 64); q -= 12) {
      if (dv.getBigUint64(q, true) === parentNid && out[q + 10] === EROFS_FT_DIR) {
        hits.push(p);
        break;
      }
    }
  }
  if (hits.length !== 1) throw new Error(`expected one dirent for nid ${childNid}, found ${hits.length}`);
  dv.setBigUint64(hits[0], ancestorNid, true);
  // Small directories are stored inline next to their inode, which may be in the superblock's
  // block (covered by its checksum).
  fixChecksum(out);
  return out;
}
