// Runs the built `ocifs store` (the podman additional layer store) for a test: its own root,
// blob cache and state directory under one folder (kept across restarts), its event lines
// collected, and stop()/kill() by its PID. Everything it mounted is cleared by stop().
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OCIFS_BIN } from './cli.js';
import { forceUnmountUnder } from './mount-safety.js';

/** A running (or stopped) store. */
export interface TestStore {
  dir: string;
  /** What storage.conf names (`ROOT:ref`). */
  root: string;
  cacheDir: string;
  stateDir: string;
  /** The store's stderr lines so far, over every start. */
  lines: string[];
  pid(): number;
  /** Starts it again after kill()/stop() (same root, cache and state). */
  restart(extraArgs?: string[]): Promise<void>;
  /** SIGKILL: the mount stays behind, dead (ENOTCONN). */
  kill(): Promise<void>;
  /** SIGTERM: the store unmounts and exits (restart() starts it again). */
  halt(): Promise<void>;
  /** Waits until a line matches, or fails after `ms`. */
  waitForLine(re: RegExp, ms?: number): Promise<string>;
  /** SIGTERM (SIGKILL if it hangs), then unmounts whatever is left and deletes the folder. */
  stop(): Promise<void>;
}

/** Starts `ocifs store --root DIR/store --cache-dir DIR/cache` with OCIFS_STATE_DIR=DIR/state. */
export async function startStore(extraArgs: string[] = []): Promise<TestStore> {
  const dir = await mkdtemp(join(tmpdir(), 'ocifs-store-'));
  const root = join(dir, 'store');
  const cacheDir = join(dir, 'cache');
  const stateDir = join(dir, 'state');
  const lines: string[] = [];
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const start = async (args: string[]) => {
    const c = spawn(process.execPath, [OCIFS_BIN, 'store', '--root', root, '--cache-dir', cacheDir, ...args], {
      env: { ...process.env, OCIFS_STATE_DIR: stateDir },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child = c;
    // 'close': the exit and the last of its stderr.
    exited = new Promise((r) => c.once('close', () => r()));
    let partial = '';
    c.stderr.on('data', (b: Buffer) => {
      partial += b.toString();
      const parts = partial.split('\n');
      partial = parts.pop()!;
      lines.push(...parts);
    });
    const ready = await Promise.race([
      waitForLine(new RegExp(`serving ${root} `), 20_000, lines.length).then(() => true),
      exited.then(() => false),
    ]);
    if (!ready) throw new Error(`ocifs store exited: ${lines.join('\n')}${partial}`);
  };

  const waitForLine = async (re: RegExp, ms = 20_000, from = 0): Promise<string> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = lines.slice(from).find((l) => re.test(l));
      if (hit !== undefined) return hit;
      if (Date.now() > deadline) throw new Error(`no store line matched ${re}: ${lines.join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  const signal = async (sig: NodeJS.Signals) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill(sig);
    const t = setTimeout(() => child?.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(t);
  };

  await start(extraArgs);
  return {
    dir,
    root,
    cacheDir,
    stateDir,
    lines,
    pid: () => child!.pid!,
    restart: (args = extraArgs) => start(args),
    kill: () => signal('SIGKILL'),
    halt: () => signal('SIGTERM'),
    waitForLine: (re, ms) => waitForLine(re, ms),
    async stop() {
      await signal('SIGTERM');
      forceUnmountUnder([dir]);
      await rm(dir, { recursive: true, force: true }).catch(() => {});
    },
  };
}

/** The directory containers/storage looks a layer up in: ROOT/base64(ref)/digest. */
export function storeLayerPath(root: string, ref: string, digest: string): string {
  return join(root, Buffer.from(ref).toString('base64'), digest);
}
