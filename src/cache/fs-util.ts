/**
 * Small file-system helpers of the cache: full positional reads/writes, directory fsync, error
 * classification.
 *
 * @packageDocumentation
 */
import { open, rm, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { readFully } from '../io/read-fully.js';
import { sliceParts } from './streaming.js';

/** Reads exactly `length` bytes at `position` into `buf[offset..]` ({@link readFully}); throws on a short file. */
export function preadFull(
  fh: FileHandle,
  buf: Uint8Array,
  offset: number,
  length: number,
  position: number,
  path: string,
): Promise<void> {
  return readFully(fh, buf, { offset, length, position, what: path });
}

/** Writes all of `buf` at `position`. */
export async function pwriteFull(fh: FileHandle, buf: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buf.byteLength) {
    const { bytesWritten } = await fh.write(buf, done, buf.byteLength - done, position + done);
    done += bytesWritten;
  }
}

/** Writes the concatenation of `parts` at `position` (one writev per call when it all goes in). */
export async function pwritevFull(fh: FileHandle, parts: readonly Uint8Array[], position: number): Promise<void> {
  if (parts.length === 1) return pwriteFull(fh, parts[0], position);
  let total = 0;
  for (const p of parts) total += p.byteLength;
  let done = 0;
  let views = parts as Uint8Array[];
  while (done < total) {
    const { bytesWritten } = await fh.writev(views, position + done);
    done += bytesWritten;
    if (done < total) views = sliceParts(parts, done, total);
  }
}

/** fsyncs a directory so a rename or create inside it survives power loss. Best effort. */
export async function fsyncDir(path: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(path, 'r');
    await fh.sync();
  } catch {
    /* some file systems refuse fsync on directories; the rename is still atomic */
  } finally {
    await fh?.close().catch(() => {});
  }
}

/** True for "the disk (or quota) is full". */
export function isNoSpace(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG';
}

/** True for "no such file or directory". */
export function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/** A random name for tmp/ and trash/ entries. */
export function randomName(prefix: string): string {
  return `${prefix}-${process.pid}-${randomBytes(6).toString('hex')}`;
}

/** Removes a tree, ignoring a missing one. */
export async function removeTree(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true, maxRetries: 2 });
}
