// Starts Debian's distribution registry (`docker-registry`) on a free loopback port for a test.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, runOk } from './run.js';

export interface RegistryOptions {
  /** Extra YAML lines for the config's top level (e.g. an `auth:` or `proxy:` section). */
  extraConfig?: string;
  /** Status /v2/ answers when ready (401 for auth-enabled registries). */
  readyStatus?: number;
}

export interface TestRegistry {
  /** `127.0.0.1:PORT` — what goes in an image reference. */
  host: string;
  port: number;
  /** `http://127.0.0.1:PORT`. */
  url: string;
  dataDir: string;
  stop(): Promise<void>;
}

/** Starts a registry with its own config and storage; call stop() in an after hook. */
export async function startRegistry(options: RegistryOptions = {}): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'ocifs-registry-'));
  const port = await freePort();
  const dataDir = join(dir, 'data');
  const config = [
    'version: 0.1',
    'log: {level: error, accesslog: {disabled: true}}',
    `storage: {filesystem: {rootdirectory: ${dataDir}}, delete: {enabled: true}}`,
    `http: {addr: 127.0.0.1:${port}}`,
    options.extraConfig ?? '',
  ].join('\n');
  await writeFile(join(dir, 'config.yml'), config);
  const child: ChildProcess = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const url = `http://127.0.0.1:${port}`;
  const want = options.readyStatus ?? 200;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${stderr}`);
    try {
      const r = await fetch(`${url}/v2/`);
      await r.arrayBuffer();
      if (r.status === want) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`docker-registry did not become ready: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host: `127.0.0.1:${port}`,
    port,
    url,
    dataDir,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Pushes `oci:LAYOUT:TAG` to `docker://HOST/REPO:TAG` with skopeo. `extraArgs` go before the
 * source (e.g. `--dest-creds`, `--dest-compress-format`).
 */
export async function skopeoPush(layout: string, tag: string, dest: string, extraArgs: string[] = []): Promise<void> {
  await runOk('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', ...extraArgs, `oci:${layout}:${tag}`, `docker://${dest}`]);
}
