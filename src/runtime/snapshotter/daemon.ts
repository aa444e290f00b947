/**
 * `ocifs snapshotter`: the daemon containerd talks to. It owns the root (a pid lock: a second
 * snapshotter on the same root is refused), the durable metadata, the gRPC socket and the
 * metrics endpoint, and drives the layer keeper, which holds the FUSE connections of the
 * lazily mounted layers in a process of its own (see keeper.ts).
 *
 * What survives what:
 * - snapshotter restart (clean, or kill -9): everything. The keeper keeps serving the layers,
 *   running containers keep reading, and the new snapshotter reconnects and checks that every
 *   layer its metadata names is mounted.
 * - keeper death: the snapshotter starts a new keeper and mounts every layer again from the
 *   cache (no registry round trip for what is cached); new containers work, containers that
 *   were running on the old mounts get ENOTCONN for files not in the page cache.
 * - host reboot: the metadata; layers are mounted again when the snapshotter starts.
 *
 * @packageDocumentation
 */
import { chmod, mkdir, readdir, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import type { Server as GrpcServer } from '@grpc/grpc-js';
import type { Server as HttpServer } from 'node:http';
import { debuglog } from 'node:util';
import { IoStats } from '../../io/io-stats.js';
import { RegistryClient } from '../../registry/index.js';
import { AddressInUseError, RootBusyError } from './errors.js';
import { serveSnapshots } from './grpc-server.js';
import { KeeperClient, type KeeperSession } from './keeper-client.js';
import type { KeeperConfig, KeptMountInfo } from './keeper-protocol.js';
import { LayerResolver } from './layer-resolver.js';
import { MetadataStore, type SnapshotKind, type SnapshotRecord } from './metadata-store.js';
import { serveMetrics, SnapshotterMetrics } from './metrics.js';
import { acquireLock, releaseLock } from './pid-lock.js';
import { Snapshotter, type RemoteLayerSource } from './snapshotter.js';

const debug = debuglog('ocifs:snapshotter');

/** Default gRPC socket. */
export const DEFAULT_SNAPSHOTTER_ADDRESS = '/run/ocifs/snapshotter.sock';
/** Default root directory. */
export const DEFAULT_SNAPSHOTTER_ROOT = '/var/lib/ocifs/snapshotter';

/** Options of {@link runSnapshotter}. */
export interface SnapshotterDaemonOptions {
  /** The gRPC unix socket (default {@link DEFAULT_SNAPSHOTTER_ADDRESS}). */
  address?: string;
  /** Root directory: metadata, snapshot directories, the keeper's socket (default {@link DEFAULT_SNAPSHOTTER_ROOT}). */
  root?: string;
  /** `HOST:PORT` of the Prometheus endpoint (none by default). */
  metricsAddress?: string;
  /** Registry and cache settings of the keeper (and of the resolver's registry client). */
  keeper: KeeperConfig;
  /** Platform to resolve multi-platform images for (default: this host). */
  platform?: string;
  /** Lines for the log (default: stderr with a timestamp). */
  log?: (line: string) => void;
  /** Aborting it stops the daemon (as SIGTERM does). */
  signal?: AbortSignal;
  /** Install SIGINT/SIGTERM handlers (default true). */
  handleSignals?: boolean;
  /** Called once the socket accepts calls. */
  onReady?(): void;
}

function defaultLog(line: string): void {
  process.stderr.write(`${new Date().toISOString()} ocifs snapshotter[${process.pid}]: ${line}\n`);
}

/** Refuses a socket path a live server answers on; removes a stale one. */
async function claimSocket(address: string): Promise<void> {
  await mkdir(dirname(address), { recursive: true, mode: 0o711 });
  const live = await new Promise<boolean>((res) => {
    const s = connect(address);
    s.once('connect', () => {
      s.destroy();
      res(true);
    });
    s.once('error', () => res(false));
  });
  if (live) throw new AddressInUseError(address);
  await unlink(address).catch(() => {});
}

/** Brings the keeper in line with the metadata: every remote layer mounted, nothing else. */
async function reconcile(
  records: SnapshotRecord[],
  mounted: KeptMountInfo[],
  session: KeeperSession,
  paths: (r: SnapshotRecord) => string,
  log: (l: string) => void,
): Promise<void> {
  const want = new Map(records.filter((r) => r.remote).map((r) => [paths(r), r]));
  const have = new Map(mounted.map((m) => [m.mountpoint, m]));
  for (const m of mounted) {
    if (!want.has(m.mountpoint))
      await session
        .unmount(m.mountpoint)
        .catch((err: unknown) => log(`unmount ${m.mountpoint}: ${(err as Error).message}`));
  }
  const todo = [...want].filter(([mp, r]) => have.get(mp)?.digest !== r.remote!.digest);
  if (todo.length) log(`mounting ${todo.length} layer(s) again`);
  for (let i = 0; i < todo.length; i += 8) {
    await Promise.all(
      todo
        .slice(i, i + 8)
        .map(([mp, r]) =>
          session
            .mount(mp, r.remote!)
            .catch((err: unknown) =>
              log(`ERROR: layer ${r.remote!.digest} of ${r.key} cannot be mounted again: ${(err as Error).message}`),
            ),
        ),
    );
  }
}

/** Runs the snapshotter until it is stopped (signal or abort); see the module comment. */
export async function runSnapshotter(o: SnapshotterDaemonOptions): Promise<void> {
  const log = o.log ?? defaultLog;
  const root = resolve(o.root ?? DEFAULT_SNAPSHOTTER_ROOT);
  const address = resolve(o.address ?? DEFAULT_SNAPSHOTTER_ADDRESS);
  await mkdir(join(root, 'snapshots'), { recursive: true, mode: 0o700 });
  // The layers' setuid files must not be reachable by other users of the host.
  await chmod(root, 0o700);
  const lockPath = join(root, 'lock');
  const holder = await acquireLock(lockPath);
  if (holder) throw new RootBusyError(root, holder.pid);

  let store: MetadataStore | undefined;
  let keeper: KeeperClient | undefined;
  let grpc: GrpcServer | undefined;
  let http: HttpServer | undefined;
  const client = new RegistryClient({ ...o.keeper.registry, stats: new IoStats() });
  try {
    const st = (store = await MetadataStore.open(root));
    for (const name of await readdir(join(root, 'snapshots'))) st.noteId(Number(name));
    const metrics = new SnapshotterMetrics(() => {
      const n: Record<SnapshotKind, number> = { view: 0, active: 0, committed: 0 };
      for (const r of st.all()) n[r.kind]++;
      return n;
    });
    // The callbacks below may run before the assignment: they must see undefined, not a TDZ error.
    // eslint-disable-next-line prefer-const -- see above
    let sn: Snapshotter | undefined;
    const paths = (r: SnapshotRecord) => sn!.paths(r).fs;
    let reconnecting: NodeJS.Timeout | undefined;
    const kc = (keeper = new KeeperClient(root, o.keeper, {
      log,
      onConnect: (mounted, session) => reconcile(st.all(), mounted, session, paths, log),
      onDisconnect: () => {
        if (!st.all().some((r) => r.remote)) return;
        log('the layer keeper went away; starting it again to mount the layers');
        reconnecting ??= setTimeout(() => {
          reconnecting = undefined;
          kc.ensure().catch((err: unknown) => log(`ERROR: ${(err as Error).message}`));
        }, 200);
      },
    }));
    const resolver = new LayerResolver(client, o.platform);
    const remote: RemoteLayerSource = {
      mount: async (req, mountpoint) => {
        const t0 = performance.now();
        const layer = await resolver.layer(req);
        debug('%s: resolved in %d ms', req.layerDigest.slice(7, 19), Math.round(performance.now() - t0));
        const info = await kc.mount(mountpoint, layer);
        return {
          layer,
          format: info.access && info.access !== info.format ? `${info.format} (${info.access})` : info.format,
        };
      },
      unmount: (mountpoint) => kc.unmount(mountpoint),
    };
    sn = new Snapshotter({
      root,
      store: st,
      remote,
      events: {
        log,
        lazy: (format, seconds) => {
          metrics.lazy.inc({ format });
          metrics.remotePrepareSeconds.observe(seconds);
        },
        fallback: () => metrics.fallbacks.inc(),
      },
    });
    // A socket another server answers on is refused before anything is started.
    await claimSocket(address);
    // Layers recorded as mounted must be back before containerd is answered; with none, the
    // keeper starts alongside, so that the first lazy Prepare does not wait for it.
    const keeperUp = kc.ensure().catch((err: unknown) => log(`ERROR: the layer keeper: ${(err as Error).message}`));
    if (st.all().some((r) => r.remote)) await keeperUp;

    grpc = await serveSnapshots(sn, address);
    if (o.metricsAddress) {
      http = await serveMetrics(o.metricsAddress, metrics.registry.contentType, async () => [
        await metrics.registry.metrics(),
        await kc.metrics().catch(() => ''),
      ]);
    }
    log(
      `serving containerd's snapshots service on ${address} (root ${root}, ${st.all().length} snapshot(s))${o.metricsAddress ? `, metrics on http://${o.metricsAddress}/metrics` : ''}`,
    );
    o.onReady?.();
    await stopped(o);
    clearTimeout(reconnecting);
    log('stopping (the layer keeper keeps serving mounted layers)');
  } finally {
    if (grpc) {
      const g = grpc;
      await new Promise<void>((res) => g.tryShutdown(() => res()));
      await unlink(address).catch(() => {});
    }
    await new Promise<void>((res) => (http ? http.close(() => res()) : res()));
    keeper?.close();
    await store?.close();
    await client.close();
    await releaseLock(lockPath);
  }
}

function stopped(o: SnapshotterDaemonOptions): Promise<void> {
  return new Promise((res) => {
    if (o.signal?.aborted) return res();
    o.signal?.addEventListener('abort', () => res(), { once: true });
    if (o.handleSignals ?? true) {
      const onSignal = () => {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        res();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    }
  });
}
