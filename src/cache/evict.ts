/**
 * Removing a blob instance or sidecar directory safely while other processes may use it: the
 * directory is first renamed into trash/ (atomic: a process opening the blob sees either the
 * whole old instance or none), then deleted. Processes holding its files open keep reading the
 * old, still consistent, inodes until they notice and reattach.
 *
 * @packageDocumentation
 */
import { readdir, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { debuglog } from '../io/debug-log.js';
import { MAP_FILE } from './layout.js';
import { isNotFound, randomName, removeTree } from './fs-util.js';

const debug = debuglog('ocifs:cache');

/**
 * Evicts the directory `dir` through `trashDir`. With `expectMapIno`, only the instance whose
 * map file has that inode is evicted: if another process already replaced it with a fresh
 * instance, that one is put back. Returns true when something was removed.
 */
export async function evictDir(dir: string, trashDir: string, expectMapIno?: number): Promise<boolean> {
  const aside = join(trashDir, randomName('evict'));
  try {
    await rename(dir, aside);
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
  if (expectMapIno !== undefined) {
    let ino: number | undefined;
    try {
      ino = (await stat(join(aside, MAP_FILE))).ino;
    } catch {
      ino = undefined;
    }
    if (ino !== undefined && ino !== expectMapIno) {
      try {
        await rename(aside, dir);
        return false;
      } catch {
        debug('evict %s: a fresh instance was moved aside and is being dropped', dir);
      }
    }
  }
  await removeTree(aside);
  return true;
}

/** Deletes leftovers in trash/ (interrupted evictions) and old entries in tmp/ (interrupted creations). */
export async function sweepLeftovers(trashDir: string, tmpDir: string, tmpAgeMs = 10 * 60_000): Promise<void> {
  for (const name of await readdir(trashDir).catch(() => [] as string[])) {
    await removeTree(join(trashDir, name)).catch(() => {});
  }
  const now = Date.now();
  for (const name of await readdir(tmpDir).catch(() => [] as string[])) {
    const p = join(tmpDir, name);
    try {
      if (now - (await stat(p)).mtimeMs > tmpAgeMs) await removeTree(p);
    } catch {
      /* raced with its owner */
    }
  }
}
