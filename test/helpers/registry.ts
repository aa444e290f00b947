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
  const child: ChildProcess = spawn('docker-registry', ['serve', join(dir, 'config.yml')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
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
  await runOk('skopeo', [
    'copy',
    '--quiet',
    '--dest-tls-verify=false',
    ...extraArgs,
    `oci:${layout}:${tag}`,
    `docker://${dest}`,
  ]);
}

/** Uploads one blob to a registry with the distribution push API (monolithic upload). */
export async function pushBlob(registryUrl: string, repo: string, bytes: Uint8Array, digest: string): Promise<void> {
  const start = await fetch(`${registryUrl}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  await start.arrayBuffer();
  if (start.status !== 202) throw new Error(`blob upload start: HTTP ${start.status}`);
  const location = new URL(start.headers.get('location')!, registryUrl);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, {
    method: 'PUT',
    body: bytes,
    headers: { 'content-type': 'application/octet-stream' },
  });
  const text = await put.text();
  if (put.status !== 201) throw new Error(`blob upload: HTTP ${put.status}: ${text}`);
}

/** Puts a manifest (or index) under a tag or digest with the distribution push API. */
export async function pushManifest(
  registryUrl: string,
  repo: string,
  reference: string,
  bytes: Uint8Array,
  mediaType: string,
): Promise<void> {
  const put = await fetch(`${registryUrl}/v2/${repo}/manifests/${reference}`, {
    method: 'PUT',
    body: bytes,
    headers: { 'content-type': mediaType },
  });
  const text = await put.text();
  if (put.status !== 201) throw new Error(`manifest put ${reference}: HTTP ${put.status}: ${text}`);
}
