/**
 * A lock file naming its holder by pid and process start time, so a holder that died (even by
 * kill -9) is recognised and its lock taken over, while a live holder is refused. Node has no
 * flock(2); the lock is made with link(2), which fails when the name exists. (Two processes
 * that find the same stale lock in the same instant could both take it: starting two daemons
 * on one root at once after a crash is not a case this guards against.)
 *
 * @packageDocumentation
 */
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { processStart } from '../../mount/mount-record.js';

/** Who holds a lock. */
export interface LockHolder {
  pid: number;
  start: string;
}

/** Reads the holder of `path`, or undefined when there is none or it is no longer running. */
export async function liveHolder(path: string): Promise<LockHolder | undefined> {
  let holder: LockHolder;
  try {
    holder = JSON.parse(await readFile(path, 'utf8')) as LockHolder;
  } catch {
    return undefined;
  }
  if (!Number.isSafeInteger(holder.pid)) return undefined;
  return (await processStart(holder.pid)) === holder.start ? holder : undefined;
}

/**
 * Takes the lock at `path` for this process. Resolves with undefined when taken, or with the
 * live holder that keeps it.
 */
export async function acquireLock(path: string): Promise<LockHolder | undefined> {
  const me: LockHolder = { pid: process.pid, start: (await processStart(process.pid)) ?? '' };
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(me), { mode: 0o600 });
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await link(tmp, path);
        return undefined;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = await liveHolder(path);
      if (holder) return holder;
      // Its holder is gone: remove it and try again.
      await unlink(path).catch(() => {});
    }
    throw new Error(`${path}: could not take the lock`);
  } finally {
    await unlink(tmp).catch(() => {});
  }
}

/** Releases a lock this process holds (does nothing when another holds it). */
export async function releaseLock(path: string): Promise<void> {
  const holder = await liveHolder(path);
  if (holder && holder.pid === process.pid) await unlink(path).catch(() => {});
}
