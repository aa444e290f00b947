/**
 * Runs the system's unmount commands: `umount` as root, `fusermount -u` for a user's FUSE
 * mount. A busy mount is detached lazily (`-l` / `-z`) when allowed, so that a process that
 * still has a file open never blocks ocifs from going away.
 *
 * @packageDocumentation
 */
import { execFile } from 'node:child_process';
import { UnmountFailedError } from './errors.js';
import { isMountpoint } from './mountinfo.js';

/** Runs a command; resolves with its exit code and stderr (never rejects for a non-zero exit). */
export function exec(cmd: string, args: string[], timeoutMs = 30_000): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, _stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stderr: (stderr ?? err?.message ?? '').trim() });
    });
  });
}

/** Options of {@link runUnmount}. */
export interface RunUnmountOptions {
  /** Detach lazily when a plain unmount fails (busy). */
  lazy: boolean;
  /** The mount is a FUSE mount (a non-root user unmounts it with fusermount). */
  fuse: boolean;
}

/**
 * Unmounts `mountpoint`. Succeeds when nothing is mounted there afterwards (also when nothing
 * was); throws {@link UnmountFailedError} with the tool's message otherwise.
 */
export async function runUnmount(mountpoint: string, options: RunUnmountOptions): Promise<void> {
  if (!(await isMountpoint(mountpoint))) return;
  const root = process.getuid?.() === 0;
  const attempts: Array<[string, string[]]> = [];
  if (root || !options.fuse) attempts.push(['umount', ['-c', mountpoint]]);
  else attempts.push(['fusermount', ['-u', mountpoint]]);
  if (options.lazy) {
    if (root || !options.fuse) attempts.push(['umount', ['-l', '-c', mountpoint]]);
    else attempts.push(['fusermount', ['-u', '-z', mountpoint]]);
  }
  let last = '';
  for (const [cmd, args] of attempts) {
    const r = await exec(cmd, args);
    if (r.code === 0 || !(await isMountpoint(mountpoint))) return;
    last = `${cmd} ${args.join(' ')}: ${r.stderr}`;
  }
  throw new UnmountFailedError(mountpoint, last);
}
