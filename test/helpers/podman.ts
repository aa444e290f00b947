// Runs Debian's podman (4.3) against private storage for a test: its own graph root, run root,
// registries.conf (the loopback registries marked insecure), storage.conf (optionally with
// additional layer stores) and containers.conf, so a test never touches the machine's podman
// state. Containers run with cgroupfs, no events log and no default ulimits (this sandbox
// refuses podman's default RLIMIT_NOFILE/NPROC raise).
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forceUnmountUnder } from './mount-safety.js';
import { run, type RunResult } from './run.js';

/** Options of {@link startPodman}. */
export interface PodmanOptions {
  /** Registries (`HOST:PORT`) to mark insecure (plain HTTP). */
  insecureRegistries?: string[];
  /** `additionallayerstores` entries of storage.conf (e.g. `/var/lib/ocifs/store:ref`). */
  additionalLayerStores?: string[];
}

/** A private podman environment. */
export interface TestPodman {
  dir: string;
  graphRoot: string;
  runRoot: string;
  /** The environment that points podman at the private configuration. */
  env: NodeJS.ProcessEnv;
  /** `podman ARGS…` (never throws for a non-zero exit). */
  podman(args: string[], options?: { timeoutMs?: number; input?: string }): Promise<RunResult>;
  /** Like podman(), but throws with stderr on a non-zero exit. */
  podmanOk(args: string[], options?: { timeoutMs?: number; input?: string }): Promise<RunResult>;
  /** Removes every container and image, unmounts what is left under `dir` and deletes it. */
  stop(): Promise<void>;
}

/** Writes the private configuration; nothing runs until podman() is called. */
export async function startPodman(options: PodmanOptions = {}): Promise<TestPodman> {
  const dir = await mkdtemp(join(tmpdir(), 'ocifs-podman-'));
  const graphRoot = join(dir, 'root');
  const runRoot = join(dir, 'run');
  const q = (s: string): string => JSON.stringify(s);
  const registries = ['unqualified-search-registries = []'];
  for (const r of options.insecureRegistries ?? [])
    registries.push('[[registry]]', `location = ${q(r)}`, 'insecure = true');
  await writeFile(join(dir, 'registries.conf'), registries.join('\n') + '\n');
  const storage = ['[storage]', 'driver = "overlay"', `runroot = ${q(runRoot)}`, `graphroot = ${q(graphRoot)}`];
  if (options.additionalLayerStores?.length) {
    storage.push('[storage.options]', `additionallayerstores = [${options.additionalLayerStores.map(q).join(', ')}]`);
  }
  await writeFile(join(dir, 'storage.conf'), storage.join('\n') + '\n');
  await writeFile(
    join(dir, 'containers.conf'),
    [
      '[containers]',
      'default_ulimits = []',
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "none"',
      '',
    ].join('\n'),
  );
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CONTAINERS_REGISTRIES_CONF: join(dir, 'registries.conf'),
    CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf'),
    CONTAINERS_CONF: join(dir, 'containers.conf'),
    TMPDIR: join(dir, 'tmp'),
  };
  await run('mkdir', ['-p', join(dir, 'tmp')]);
  const podman = (args: string[], o: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> =>
    run('podman', args, { env, input: o.input, timeout: o.timeoutMs ?? 180_000, killSignal: 'SIGKILL' });
  const podmanOk = async (args: string[], o: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> => {
    const r = await podman(args, o);
    if (r.code !== 0) throw new Error(`podman ${args.join(' ')} failed (${r.code ?? r.signal}): ${r.stderr.trim()}`);
    return r;
  };
  return {
    dir,
    graphRoot,
    runRoot,
    env,
    podman,
    podmanOk,
    async stop() {
      if (existsSync(graphRoot)) {
        await podman(['rm', '--all', '--force', '--time', '0'], { timeoutMs: 60_000 }).catch(() => {});
        await podman(['rmi', '--all', '--force'], { timeoutMs: 60_000 }).catch(() => {});
      }
      forceUnmountUnder([dir]);
      await rm(dir, { recursive: true, force: true }).catch(() => {});
    },
  };
}
