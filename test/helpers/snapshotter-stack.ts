// What the snapshotter's runtime tests share: a registry with a counting proxy in front of it
// (test/helpers/fault-proxy.ts), the runtime test images pushed to it, and a running
// `ocifs snapshotter`. Each test file starts the containerd it needs against `sn.address`.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, type TestRegistry } from './registry.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { startSnapshotter, type TestSnapshotter } from './snapshotter.js';
import { buildRuntimeImages, type RuntimeImages } from './runtime-images.js';

/** A registry, its proxy, the test images and a snapshotter. */
export interface SnapshotterStack {
  tmp: string;
  reg: TestRegistry;
  proxy: FaultProxy;
  images: RuntimeImages;
  sn: TestSnapshotter;
  /** A `HOST/repo:tag` of the registry, reached through the proxy (which counts what it serves). */
  via(ref: string): string;
  /** Bytes of the given layer blobs the registry served for `ref`'s repository so far (counted by the proxy). */
  servedLayerBytes(ref: string, digests: readonly string[]): number;
  /** Stops everything it started (call after stopping containerd). */
  stop(): Promise<void>;
}

/** Starts the stack; `skip` leaves image variants out, `args` go to `ocifs snapshotter`. */
export async function startSnapshotterStack(
  name: string,
  options: { skip?: ('soci' | 'erofs')[]; args?: string[] } = {},
): Promise<SnapshotterStack> {
  const tmp = await mkdtemp(join(tmpdir(), `ocifs-snap-${name}-`));
  let reg: TestRegistry | undefined;
  let proxy: FaultProxy | undefined;
  let sn: TestSnapshotter | undefined;
  const stop = async () => {
    await sn?.cleanup();
    await proxy?.stop();
    await reg?.stop();
    await rm(tmp, { recursive: true, force: true });
  };
  try {
    reg = await startRegistry();
    proxy = await startFaultProxy(reg.url);
    const images = await buildRuntimeImages(tmp, reg.host, options.skip ?? []);
    sn = await startSnapshotter({ args: options.args ?? [] });
    const r = reg;
    const p = proxy;
    const servedLayerBytes = (ref: string, digests: readonly string[]) => {
      const repo = ref.slice(ref.indexOf('/') + 1, ref.lastIndexOf(':'));
      return p.log
        .filter(
          (e) =>
            e.method === 'GET' && e.path.startsWith(`/v2/${repo}/blobs/`) && digests.some((d) => e.path.endsWith(d)),
        )
        .reduce((n, e) => n + e.bytes, 0);
    };
    return { tmp, reg, proxy, images, sn, via: (ref) => ref.replace(r.host, p.host), servedLayerBytes, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
