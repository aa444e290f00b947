// A one-layer image holding a given blob, pushed by skopeo to a real registry and reached through
// the fault proxy, with a registry client tuned for fault tests (short retries and timeouts):
// the fixture of the registry fault and streaming tests.
import { after, before, beforeEach } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, skopeoPush } from './registry.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { writeImageLayout, MT_LAYER_EROFS } from './oci-layout.js';
import { RegistryClient, type ResolvedImage, type RegistryClientOptions } from '../../src/registry/index.js';
import { IoStats } from '../../src/io/io-stats.js';

/** A registry client that retries fast and gives up on a stalled body after 400 ms. */
export function faultTestClient(extra: RegistryClientOptions = {}): RegistryClient {
  return new RegistryClient({
    env: { PATH: process.env.PATH },
    retryBaseDelay: 5,
    retryMaxDelay: 20,
    maxRetries: 3,
    bodyTimeout: 400,
    ...extra,
  });
}

/** Runs `fn` with a fresh {@link faultTestClient} and its stats, closing the client after. */
export async function withFaultTestClient<T>(
  fn: (c: RegistryClient, stats: IoStats) => Promise<T>,
  extra: RegistryClientOptions = {},
): Promise<T> {
  const stats = new IoStats();
  const c = faultTestClient({ stats, ...extra });
  try {
    return await fn(c, stats);
  } finally {
    await c.close();
  }
}

export interface ProxiedBlob {
  proxy: FaultProxy;
  /** The image as resolved through the proxy (`${proxy.host}/${repo}:v1`). */
  img: ResolvedImage;
  stop(): Promise<void>;
}

/** Pushes `blob` as the one layer of `repo:v1` and starts the fault proxy in front of the registry. */
export async function startProxiedBlob(blob: Uint8Array, repo: string): Promise<ProxiedBlob> {
  const tmp = await mkdtemp(join(tmpdir(), 'ocifs-proxied-blob-'));
  const reg = await startRegistry();
  let proxy: FaultProxy | undefined;
  const stop = async () => {
    await proxy?.stop();
    await reg.stop();
    await rm(tmp, { recursive: true, force: true });
  };
  try {
    await writeImageLayout(join(tmp, 'layout'), { layers: [{ bytes: blob, mediaType: MT_LAYER_EROFS }] }, 'v1');
    await skopeoPush(join(tmp, 'layout'), 'v1', `${reg.host}/${repo}:v1`);
    proxy = await startFaultProxy(reg.url);
    const p = proxy;
    const img = await withFaultTestClient((c) => c.resolve(`${p.host}/${repo}:v1`));
    return { proxy, img, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Registers the test file's hooks for a {@link startProxiedBlob} fixture: started before the
 * tests (`ready` receives it), stopped after them, and the proxy's rules and log cleared before
 * each test.
 */
export function useProxiedBlob(blob: Uint8Array, repo: string, ready: (f: ProxiedBlob) => void): void {
  let fixture: ProxiedBlob | undefined;
  before(async () => {
    fixture = await startProxiedBlob(blob, repo);
    ready(fixture);
  });
  after(async () => {
    await fixture?.stop();
  });
  beforeEach(() => {
    fixture!.proxy.clearRules();
    fixture!.proxy.log.length = 0;
  });
}
