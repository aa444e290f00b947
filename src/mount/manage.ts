/**
 * `ocifs mounts` and `ocifs umount` as library calls: list the mounts ocifs serves, reconciled
 * with the kernel's mount table, and stop one.
 *
 * A record whose mount is gone is dropped. A mount whose server died (killed with -9, crashed)
 * still sits in the mount table and answers every access with ENOTCONN; it is cleared here by
 * a lazy unmount, so it never blocks anything for long.
 *
 * @packageDocumentation
 */
import { rmdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { NotMountedError } from './errors.js';
import { canonicalMountpoint, mountsAt, isMountpoint } from './mountinfo.js';
import { readRecord, readRecords, removeRecord, serverAlive, type MountRecord } from './mount-record.js';
import { defaultStateDir } from './state-dir.js';
import { runUnmount } from './unmount-command.js';

/** How long {@link unmount} waits for a server to unmount and exit after SIGTERM. */
export const DEFAULT_UNMOUNT_TIMEOUT_MS = 15_000;

/** Options of {@link listMounts} and {@link unmount}. */
export interface ManageOptions {
  /** State directory. Default: {@link defaultStateDir}. */
  stateDir?: string;
  /**
   * Milliseconds to wait for a server to exit after SIGTERM before it is killed. Default {@link
   * DEFAULT_UNMOUNT_TIMEOUT_MS}.
   */
  timeoutMs?: number;
}

/** Removes what is left of a mount whose server is gone: the mount(s), the record. */
async function clearLeftovers(stateDir: string, r: MountRecord): Promise<void> {
  await runUnmount(r.mountpoint, { lazy: true, fuse: r.mode === 'tree' });
  if (r.backingDir) {
    await runUnmount(r.backingDir, { lazy: true, fuse: true });
    await rmdir(r.backingDir).catch(() => {});
  }
  await removeRecord(stateDir, r.mountpoint);
}

/**
 * The mounts ocifs is serving, oldest first. Records of mounts that are gone are dropped, and
 * mounts whose server died are unmounted (lazily) and dropped.
 */
export async function listMounts(options: ManageOptions = {}): Promise<MountRecord[]> {
  const stateDir = options.stateDir ?? defaultStateDir();
  const out: MountRecord[] = [];
  for (const r of await readRecords(stateDir)) {
    const alive = await serverAlive(r);
    const mounted = await isMountpoint(r.mountpoint);
    if (alive && mounted) out.push(r);
    else if (!alive) await clearLeftovers(stateDir, r);
    // Alive but unmounted from outside: the server notices within a second and removes the
    // record itself; it is not listed meanwhile.
  }
  return out.sort((a, b) => a.started.localeCompare(b.started));
}

async function waitExit(r: MountRecord, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!(await serverAlive(r))) return true;
    await sleep(50);
  }
  return !(await serverAlive(r));
}

/**
 * Unmounts an ocifs mount: asks its server to unmount and exit (SIGTERM), kills it if it does
 * not, then clears whatever is left (lazily, so a busy mount is detached rather than kept).
 * Also clears an ocifs FUSE mount that has no record. Throws {@link NotMountedError} when
 * ocifs has nothing at `mountpoint`.
 */
export async function unmount(mountpoint: string, options: ManageOptions = {}): Promise<void> {
  const stateDir = options.stateDir ?? defaultStateDir();
  const mp = await canonicalMountpoint(mountpoint);
  const r = await readRecord(stateDir, mp);
  if (!r) {
    const here = await mountsAt(mp);
    if (!here.some((m) => m.fstype === 'fuse.ocifs')) throw new NotMountedError(mp);
    await runUnmount(mp, { lazy: true, fuse: true });
    return;
  }
  if (await serverAlive(r)) {
    try {
      process.kill(r.pid, 'SIGTERM');
    } catch {
      // Exited meanwhile.
    }
    if (!(await waitExit(r, options.timeoutMs ?? DEFAULT_UNMOUNT_TIMEOUT_MS))) {
      try {
        process.kill(r.pid, 'SIGKILL');
      } catch {
        // Exited meanwhile.
      }
      await waitExit(r, 5_000);
    }
  }
  await clearLeftovers(stateDir, r);
}
