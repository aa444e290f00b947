/**
 * Checks a directory before ocifs mounts on it, so that bad input fails with one clear line
 * and nothing is left mounted.
 *
 * Policy: the mountpoint must exist, be a directory, have nothing mounted on it, and be empty.
 * Mounting over a non-empty directory hides its files (libfuse 2 refuses it too unless told
 * `nonempty`, and docker & co refuse busy mountpoints); a user who wants that can mount on an
 * empty directory and bind-mount.
 *
 * @packageDocumentation
 */
import { opendir, stat } from 'node:fs/promises';
import { MountpointBusyError, MountpointMissingError, MountpointNotDirectoryError } from './errors.js';
import { canonicalMountpoint, isMountpoint } from './mountinfo.js';

/** Validates `path` as a mountpoint and returns its canonical absolute form. */
export async function checkMountpoint(path: string): Promise<string> {
  const mp = await canonicalMountpoint(path);
  if (await isMountpoint(mp)) throw new MountpointBusyError(mp, 'something is already mounted there');
  let st;
  try {
    st = await stat(mp);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new MountpointMissingError(mp, { cause: err });
    if (code === 'ENOTDIR') throw new MountpointNotDirectoryError(mp, { cause: err });
    throw new MountpointBusyError(mp, `cannot stat it: ${code ?? (err as Error).message}`, { cause: err });
  }
  if (!st.isDirectory()) throw new MountpointNotDirectoryError(mp);
  const dir = await opendir(mp);
  try {
    if ((await dir.read()) !== null) throw new MountpointBusyError(mp, 'the directory is not empty');
  } finally {
    await dir.close().catch(() => {});
  }
  return mp;
}
