/**
 * Disk use of a directory tree as containerd's `fs.DiskUsage` reports it: allocated bytes
 * (blocks × 512) and inodes, each inode counted once however many hardlinks name it.
 *
 * @packageDocumentation
 */
import { lstat, opendir } from 'node:fs/promises';
import { join } from 'node:path';

/** Bytes and inodes a tree uses. */
export interface DiskUsage {
  size: number;
  inodes: number;
}

/** Walks `dir` (without following symlinks or crossing into nothing special) and sums its use. */
export async function diskUsage(dir: string): Promise<DiskUsage> {
  const seen = new Set<string>();
  let size = 0;
  const visit = async (path: string): Promise<void> => {
    const st = await lstat(path, { bigint: true });
    const id = `${st.dev}:${st.ino}`;
    if (seen.has(id)) return;
    seen.add(id);
    size += Number(st.blocks) * 512;
    if (!st.isDirectory()) return;
    const d = await opendir(path);
    for await (const e of d) await visit(join(path, e.name));
  };
  try {
    await visit(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return { size, inodes: seen.size };
}
