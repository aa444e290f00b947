// Helpers for tests that mount: temp dirs whose mounts are always cleaned up, and child
// processes with a time limit (every read of a mount happens in a child, never in the process
// that serves it).
//
// Safety net: every directory made by mountTempDir() is remembered; when the test process
// exits (normally, on an uncaught error, or on SIGINT/SIGTERM), every mount under those
// directories is aborted (FUSE connections, through fusectl) and lazily unmounted, so a failed
// test never leaves a mount that blocks the machine.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dirs = new Set<string>();
let installed = false;

interface Entry {
  mountpoint: string;
  device: string;
  fstype: string;
}

function mountsUnder(roots: Iterable<string>): Entry[] {
  const text = readFileSync('/proc/self/mountinfo', 'utf8');
  const out: Entry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (sep < 0) continue;
    const mp = f[4].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    for (const r of roots)
      if (mp === r || mp.startsWith(r + '/')) out.push({ mountpoint: mp, device: f[2], fstype: f[sep + 1] });
  }
  return out;
}

/** Aborts and lazily unmounts everything mounted under `roots` (deepest first). Synchronous: safe in an exit handler. */
export function forceUnmountUnder(roots: Iterable<string>): string[] {
  const found = mountsUnder(roots).sort((a, b) => b.mountpoint.length - a.mountpoint.length);
  // Abort every FUSE connection first: this process may be the one serving them, and a
  // synchronous umount that touched a live mount would wait for an answer that never comes.
  for (const m of found) if (m.fstype.startsWith('fuse')) abortFuseConnection(m.device);
  for (const m of found) {
    try {
      execFileSync('umount', ['-l', '-c', m.mountpoint], { stdio: 'ignore', timeout: 10_000 });
    } catch {
      // Already gone.
    }
  }
  return found.map((m) => m.mountpoint);
}

/** Aborts a FUSE connection by its device (`0:NN`): every waiting request fails at once. */
export function abortFuseConnection(device: string): void {
  const minor = device.split(':')[1];
  const ctl = '/sys/fs/fuse/connections';
  try {
    if (!existsSync(join(ctl, minor)))
      execFileSync('mount', ['-t', 'fusectl', 'none', ctl], { stdio: 'ignore', timeout: 10_000 });
    writeFileSync(join(ctl, minor, 'abort'), '1');
  } catch {
    // No fusectl, or the connection is gone already.
  }
}

function cleanupAll(): void {
  forceUnmountUnder(dirs);
  for (const d of dirs) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {
      // A lazily detached mount may still hold it: leave it.
    }
  }
  dirs.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', cleanupAll);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      cleanupAll();
      process.exit(130);
    });
  }
}

/** A new temp directory whose mounts are cleaned up when the process exits at the latest. */
export function mountTempDir(prefix = 'ocifs-mount-'): string {
  install();
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(d);
  return d;
}

/** Unmounts everything under `dir` and removes it (call in `after`). */
export function cleanupTempDir(dir: string): string[] {
  const left = forceUnmountUnder([dir]);
  rmSync(dir, { recursive: true, force: true });
  dirs.delete(dir);
  return left;
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  timedOut: boolean;
}

/** Runs a command in a child process with a time limit (SIGKILL when exceeded). Never throws for a failure. */
export function runChild(
  cmd: string,
  args: string[],
  options: { timeoutMs?: number; cwd?: string; input?: string } = {},
): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 60_000);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: err, timedOut });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(options.input);
  });
}

/** Like {@link runChild} but throws with stderr when the command fails or times out. */
export async function runChildOk(
  cmd: string,
  args: string[],
  options: { timeoutMs?: number; cwd?: string; input?: string } = {},
): Promise<ChildResult> {
  const r = await runChild(cmd, args, options);
  if (r.code !== 0)
    throw new Error(
      `${cmd} ${args.join(' ')} failed (${r.timedOut ? 'timed out' : (r.code ?? r.signal)}): ${r.stderr.trim()}`,
    );
  return r;
}

/** True when `path` is a mountpoint right now (from mountinfo; never touches the path). */
export function isMounted(path: string): boolean {
  return mountsUnder([path]).some((m) => m.mountpoint === path);
}

/** Every mount under `dir`, for asserting that nothing is left. */
export function mountsLeftUnder(dir: string): string[] {
  return mountsUnder([dir]).map((m) => m.mountpoint);
}
