// What a perfect reader must fetch of an EROFS image to read one file: the distinct blocks
// holding the superblock, the inode of every directory on the path and of the file (inode +
// inline xattrs + compression index), every data block of those directories (all of them,
// not only the ones a binary-search lookup touches), and the file's data blocks as stored
// (compressed clusters for a compressed file). Computed with erofs-utils' `dump.erofs`
// (`-s` for the metadata start block, `-e --path=P` for each inode's NID, sizes and physical
// extents), not with ocifs's own reader, so the denominator does not depend on the code measured.
// Shared xattr blocks are not counted (the benchmark trees carry none on the chosen files).
import { open } from 'node:fs/promises';
import { timed } from './measure.js';

export interface NeededBytes {
  /** Block size of the image. */
  blockSize: number;
  /** Distinct blocks needed. */
  blocks: number;
  /** blocks × blockSize. */
  bytes: number;
  /** Of which: blocks holding only the file's data. */
  fileDataBlocks: number;
  /** Blocks of metadata (superblock, inodes, directory data). */
  metadataBlocks: number;
}

async function dump(image: string, args: string[]): Promise<string> {
  return (await timed('dump.erofs', [...args, image], { keepStdout: true })).stdout.toString();
}

function num(text: string, re: RegExp, what: string): number {
  const m = re.exec(text);
  if (!m) throw new Error(`dump.erofs: no ${what} in:\n${text.slice(0, 500)}`);
  return Number(m[1]);
}

/** Block ranges [first, last] of a byte range. */
function blocksOf(set: Set<number>, start: number, length: number, bs: number): void {
  if (length <= 0) return;
  for (let b = Math.floor(start / bs); b <= Math.floor((start + length - 1) / bs); b++) set.add(b);
}

/** Adds the inode's blocks and its extents' blocks; returns the data blocks. */
async function inodeBlocks(
  image: string,
  path: string,
  metaStart: number,
  bs: number,
  meta: Set<number>,
  data: Set<number>,
): Promise<void> {
  const text = await dump(image, ['-e', `--path=${path}`]);
  const nid = num(text, /NID:\s*(\d+)/, 'NID');
  const inodeSize = num(text, /Inode size:\s*(\d+)/, 'inode size');
  const extentSize = num(text, /Extent size:\s*(\d+)/, 'extent size');
  const xattrSize = num(text, /Xattr size:\s*(\d+)/, 'xattr size');
  blocksOf(meta, metaStart * bs + nid * 32, inodeSize + xattrSize + extentSize, bs);
  // Extent lines: "  0:        0.. 1097728 | 1097728 :       8192..   1105920 | 1097728"
  for (const m of text.matchAll(/^\s*\d+:\s*\d+\.\.\s*\d+\s*\|\s*\d+\s*:\s*(\d+)\.\.\s*(\d+)\s*\|\s*(\d+)/gm)) {
    const phys = Number(m[1]);
    const length = Number(m[3]);
    if (length > 0) blocksOf(data, phys, length, bs);
  }
}

/** See the module comment. `path` is absolute inside the image ("/usr/bin/bash"). */
export async function erofsNeededBytes(image: string, path: string): Promise<NeededBytes> {
  const fh = await open(image, 'r');
  const sb = Buffer.alloc(16);
  try {
    await fh.read(sb, 0, 16, 1024);
  } finally {
    await fh.close();
  }
  if (sb.readUInt32LE(0) !== 0xe0f5e1e2) throw new Error(`${image}: not an EROFS image`);
  const bs = 1 << sb[12];
  const metaStart = num(await dump(image, ['-s']), /inode metadata start block:\s*(\d+)/, 'metadata start block');
  const meta = new Set<number>([0]);
  const dirData = new Set<number>();
  const parts = path.split('/').filter(Boolean);
  for (let i = 0; i < parts.length; i++)
    await inodeBlocks(image, '/' + parts.slice(0, i).join('/'), metaStart, bs, meta, dirData);
  const fileData = new Set<number>();
  await inodeBlocks(image, path, metaStart, bs, meta, fileData);
  const all = new Set<number>([...meta, ...dirData, ...fileData]);
  const metadata = new Set<number>([...meta, ...dirData]);
  const onlyFile = [...fileData].filter((b) => !metadata.has(b)).length;
  return {
    blockSize: bs,
    blocks: all.size,
    bytes: all.size * bs,
    fileDataBlocks: onlyFile,
    metadataBlocks: metadata.size,
  };
}
