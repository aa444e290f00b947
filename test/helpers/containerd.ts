// Starts a private containerd (Debian's `containerd` 1.6 with `runc`) for a test: its own root,
// state, sockets and plugin directory under one temporary folder, the CRI plugin off unless asked
// for, and optional proxy snapshotters. stop() kills what its containers left running (by PID:
// the shims this containerd started, found by its socket path in their command line), stops the
// daemon, unmounts everything under its folder and removes it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forceUnmountUnder } from './mount-safety.js';
import { run, type RunResult } from './run.js';

/** Options of {@link startContainerd}. */
export interface ContainerdOptions {
  /** Keep the CRI plugin on (Kubernetes' path); off by default. */
  cri?: boolean;
  /** Proxy snapshotters: name → unix socket address (`[proxy_plugins.NAME] type = "snapshot"`). */
  proxySnapshotters?: Record<string, string>;
  /** Extra TOML appended to the config (e.g. CRI plugin settings). */
  extraConfig?: string;
}

/** A running private containerd. */
export interface TestContainerd {
  /** The temporary folder holding root, state, sockets and the config. */
  dir: string;
  /** The gRPC socket (`ctr -a ADDRESS`). */
  address: string;
  pid: number;
  /** `ctr -a ADDRESS ARGS…` (never throws for a non-zero exit). */
  ctr(args: string[], options?: { input?: string; timeoutMs?: number }): Promise<RunResult>;
  /** Like ctr(), but throws with stderr on a non-zero exit. */
  ctrOk(args: string[], options?: { input?: string; timeoutMs?: number }): Promise<RunResult>;
  /** `ctr-remote -a ADDRESS ARGS…` (stargz-snapshotter's ctr, for `image rpull`). */
  ctrRemote(args: string[], options?: { timeoutMs?: number }): Promise<RunResult>;
  /** What containerd printed (its log). */
  log(): string;
  stop(): Promise<void>;
}

function toml(s: string): string {
  return JSON.stringify(s);
}

/** Starts containerd and waits until `ctr version` answers. Call stop() in an after hook. */
export async function startContainerd(options: ContainerdOptions = {}): Promise<TestContainerd> {
  const dir = await mkdtemp(join(tmpdir(), 'ocifs-containerd-'));
  const address = join(dir, 'containerd.sock');
  const lines = [
    'version = 2',
    `root = ${toml(join(dir, 'root'))}`,
    `state = ${toml(join(dir, 'state'))}`,
    options.cri ? '' : 'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
    '[grpc]',
    `  address = ${toml(address)}`,
    '[ttrpc]',
    `  address = ${toml(address + '.ttrpc')}`,
    '[debug]',
    `  address = ${toml(join(dir, 'debug.sock'))}`,
    '  level = "info"',
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${toml(join(dir, 'opt'))}`,
  ];
  for (const [name, socket] of Object.entries(options.proxySnapshotters ?? {})) {
    lines.push(`[proxy_plugins.${name}]`, '  type = "snapshot"', `  address = ${toml(socket)}`);
  }
  if (options.extraConfig) lines.push(options.extraConfig);
  const config = join(dir, 'config.toml');
  await writeFile(config, lines.join('\n') + '\n');

  const child: ChildProcess = spawn('containerd', ['--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (b: Buffer) => {
    log += b.toString();
    if (log.length > 4 << 20) log = log.slice(-(2 << 20));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const ctr = (args: string[], o: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> =>
    run('ctr', ['-a', address, ...args], { input: o.input, timeout: o.timeoutMs ?? 120_000, killSignal: 'SIGKILL' });
  const ctrOk = async (args: string[], o: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> => {
    const r = await ctr(args, o);
    if (r.code !== 0) throw new Error(`ctr ${args.join(' ')} failed (${r.code ?? r.signal}): ${r.stderr.trim()}`);
    return r;
  };
  const ctrRemote = (args: string[], o: { timeoutMs?: number } = {}): Promise<RunResult> =>
    run('ctr-remote', ['-a', address, ...args], { timeout: o.timeoutMs ?? 120_000, killSignal: 'SIGKILL' });

  const stop = async (): Promise<void> => {
    if (child.exitCode === null) {
      await killContainers(ctr).catch(() => {});
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      if (child.exitCode === null) {
        child.kill('SIGKILL');
        await Promise.race([exited, sleep(2000)]);
      }
    }
    for (const pid of shimPids(address)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
    forceUnmountUnder([dir]);
    await rm(dir, { recursive: true, force: true }).catch(() => {});
  };

  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`containerd exited: ${log.slice(-2000)}`);
    }
    if (existsSync(address) && (await ctr(['version'], { timeoutMs: 5000 }).catch(() => null))?.code === 0) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`containerd did not become ready: ${log.slice(-2000)}`);
    }
    await sleep(50);
  }
  return { dir, address, pid: child.pid!, ctr, ctrOk, ctrRemote, log: () => log, stop };
}

/** Kills and removes every task and container of every namespace (best effort). */
async function killContainers(ctr: TestContainerd['ctr']): Promise<void> {
  const ns = await ctr(['namespaces', 'ls', '-q'], { timeoutMs: 10_000 });
  for (const n of ns.stdout.toString().split('\n').filter(Boolean)) {
    const tasks = await ctr(['-n', n, 'tasks', 'ls', '-q'], { timeoutMs: 10_000 });
    for (const t of tasks.stdout.toString().split('\n').filter(Boolean)) {
      await ctr(['-n', n, 'tasks', 'kill', '-s', 'SIGKILL', t], { timeoutMs: 10_000 });
      await ctr(['-n', n, 'tasks', 'rm', '-f', t], { timeoutMs: 10_000 });
    }
    const containers = await ctr(['-n', n, 'containers', 'ls', '-q'], { timeoutMs: 10_000 });
    for (const c of containers.stdout.toString().split('\n').filter(Boolean)) {
      await ctr(['-n', n, 'containers', 'rm', c], { timeoutMs: 10_000 });
    }
  }
}

/** PIDs of the runc shims started by the containerd at `address` (their command line names it). */
function shimPids(address: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (argv[0]?.includes('containerd-shim') && argv.includes(address)) out.push(Number(name));
    } catch {
      // Exited while we looked.
    }
  }
  return out;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
