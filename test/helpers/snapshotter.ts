// Runs the real `ocifs snapshotter` (bin/ocifs.js over dist/) for a test: a private root, socket
// and cache under one temporary folder. stop() ends the daemon with SIGTERM; kill9() as a crash
// would; cleanup() also stops the layer keeper it started (by the PID in its lock file),
// unmounts everything under the folder and removes it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OCIFS_BIN } from './cli.js';
import { forceUnmountUnder } from './mount-safety.js';

/** A running `ocifs snapshotter`. */
export interface TestSnapshotter {
  /** The temporary folder (root, socket, cache). */
  dir: string;
  root: string;
  /** The gRPC socket containerd dials. */
  address: string;
  pid: number;
  /** What the daemon printed so far (all its runs). */
  log(): string;
  /** What the layer keeper printed (ROOT/keeper.log). */
  keeperLog(): string;
  /** PID of the layer keeper, from its lock file (undefined when none ran). */
  keeperPid(): number | undefined;
  /** SIGTERM, then wait for the exit. */
  stop(): Promise<void>;
  /** SIGKILL, then wait for the exit. */
  kill9(): Promise<void>;
  /** Starts the daemon again on the same root and socket (after stop or kill9). */
  restart(): Promise<void>;
  /** Stops the daemon and the keeper, unmounts everything under the folder, removes it. */
  cleanup(): Promise<void>;
}

/** Options of {@link startSnapshotter}. */
export interface SnapshotterOptions {
  /** Extra command-line arguments (`--metrics-address …`, `--background-fetch`). */
  args?: string[];
  env?: NodeJS.ProcessEnv;
}

function canConnect(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Starts `ocifs snapshotter` and waits until its socket accepts connections. */
export async function startSnapshotter(options: SnapshotterOptions = {}): Promise<TestSnapshotter> {
  const dir = await mkdtemp(join(tmpdir(), 'ocifs-snap-'));
  const root = join(dir, 'root');
  const address = join(dir, 'snapshotter.sock');
  let child: ChildProcess;
  let log = '';
  let exited: Promise<void>;

  const launch = async () => {
    child = spawn(
      process.execPath,
      [OCIFS_BIN, 'snapshotter', '--root', root, '--address', address, ...(options.args ?? [])],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, ...options.env },
      },
    );
    child.stderr!.on('data', (b: Buffer) => {
      log += b.toString();
      if (log.length > 4 << 20) log = log.slice(-(2 << 20));
    });
    exited = new Promise<void>((r) => child.once('exit', () => r()));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`ocifs snapshotter exited (${child.exitCode}): ${log.slice(-2000)}`);
      if (
        /serving containerd's snapshots service/.test(log.split('\n').slice(-5).join('\n')) &&
        (await canConnect(address))
      )
        return;
      if (Date.now() > deadline) throw new Error(`ocifs snapshotter did not become ready: ${log.slice(-2000)}`);
      await sleep(50);
    }
  };
  const keeperPid = () => {
    try {
      return (JSON.parse(readFileSync(join(root, 'keeper.lock'), 'utf8')) as { pid: number }).pid;
    } catch {
      return undefined;
    }
  };
  const signal = async (sig: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(sig);
    await Promise.race([exited, sleep(10_000)]);
  };
  try {
    await launch();
  } catch (err) {
    await rm(dir, { recursive: true, force: true }).catch(() => {});
    throw err;
  }
  return {
    dir,
    root,
    address,
    get pid() {
      return child.pid!;
    },
    log: () => log,
    keeperLog: () => (existsSync(join(root, 'keeper.log')) ? readFileSync(join(root, 'keeper.log'), 'utf8') : ''),
    keeperPid,
    stop: () => signal('SIGTERM'),
    kill9: () => signal('SIGKILL'),
    restart: launch,
    async cleanup() {
      await signal('SIGTERM');
      await signal('SIGKILL');
      const kp = keeperPid();
      if (kp) {
        try {
          process.kill(kp, 'SIGTERM');
          for (let i = 0; i < 100; i++) {
            process.kill(kp, 0);
            await sleep(50);
          }
          process.kill(kp, 'SIGKILL');
        } catch {
          // Gone.
        }
      }
      forceUnmountUnder([dir]);
      await rm(dir, { recursive: true, force: true }).catch(() => {});
    },
  };
}
