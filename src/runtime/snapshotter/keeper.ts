/**
 * The layer keeper: a small long-lived process that holds the FUSE connections of the lazily
 * mounted layers, apart from the gRPC daemon that containerd talks to. The snapshotter starts
 * it detached and reconnects to it after its own restart, so a running container keeps reading
 * its files while `ocifs snapshotter` is restarted or killed — the peers (stargz, soci) serve
 * FUSE from the daemon itself, and their containers get ENOTCONN when it goes.
 *
 * It serves requests on `ROOT/keeper.sock` (see keeper-protocol.ts): hello (the settings; it
 * answers with what it serves), mount a layer at a directory, unmount, metrics. It keeps no
 * state on disk: the snapshotter's metadata says which layers must be mounted, and the
 * snapshotter asks again after either restarts.
 * It exits by itself after a minute with no mounts and no snapshotter connected.
 *
 * @packageDocumentation
 */
import { createServer, type Server, type Socket } from 'node:net';
import { mkdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { KeeperBadRequestError, KeeperNotConfiguredError } from './errors.js';
import { IoStats } from '../../io/io-stats.js';
import { RegistryClient } from '../../registry/index.js';
import { BlobCache } from '../../cache/index.js';
import { isMountpoint, readMountInfo } from '../../mount/mountinfo.js';
import { runUnmount } from '../../mount/unmount-command.js';
import { KeeperMetrics } from './keeper-metrics.js';
import {
  KEEPER_SOCKET,
  readLines,
  type KeeperConfig,
  type KeeperRequest,
  type KeeperResponse,
  type KeptMountInfo,
} from './keeper-protocol.js';
import { mountLayer, type LayerMountContext, type MountedLayer } from './layer-mount.js';
import { SharedBacking } from '../../mount/shared-backing.js';
import type { RemoteLayer } from './metadata-store.js';

/** How long the keeper lives with no mounts and no client. */
export const KEEPER_IDLE_EXIT_MS = 60_000;

/** Writes one timestamped line to the keeper's log (its stderr). */
export function keeperLog(message: string): void {
  process.stderr.write(`${new Date().toISOString()} ocifs keeper[${process.pid}]: ${message}\n`);
}

interface Live {
  client: RegistryClient;
  cache: BlobCache;
  config: KeeperConfig;
}

/** The keeper's state and request handling (one per process). */
export class LayerKeeper {
  private readonly mounts = new Map<string, MountedLayer>();
  private readonly starting = new Map<string, Promise<MountedLayer>>();
  private readonly fetches = new Map<string, AbortController>();
  private readonly stats = new IoStats();
  private readonly soci: LayerMountContext['soci'] = new Map();
  private readonly backing: SharedBacking;
  private live: Live | undefined;
  private retired: Live[] = [];
  private servedByClosed = 0;
  private fetchQueue: Promise<void> = Promise.resolve();
  readonly metrics: KeeperMetrics;

  constructor(root: string) {
    this.backing = new SharedBacking(join(root, 'backing', 'shared'));
    this.metrics = new KeeperMetrics({
      io: () => this.stats,
      mounts: () => {
        const m = { tree: 0, kernel: 0 };
        for (const x of this.mounts.values()) m[x.mode]++;
        return m;
      },
      // Kernel mounts share the backing directory's counters; tree mounts have their own.
      bytesServed: () =>
        this.servedByClosed +
        this.backing.stats.bytesServed +
        [...this.mounts.values()].reduce((n, x) => n + (x.mode === 'tree' ? x.mount.stats.bytesServed : 0), 0),
    });
  }

  /** Number of layers mounted. */
  get size(): number {
    return this.mounts.size;
  }

  /** Answers one request. */
  async handle(req: KeeperRequest): Promise<unknown> {
    switch (req.op) {
      case 'hello':
        await this.configure(req.config);
        return { pid: process.pid, mounts: this.list() };
      case 'mount':
        return this.describe(await this.mount(req.mountpoint, req.layer));
      case 'unmount':
        await this.unmount(req.mountpoint);
        return {};
      case 'metrics':
        return { text: await this.metrics.registry.metrics() };
      default:
        throw new KeeperBadRequestError((req as { op?: unknown }).op);
    }
  }

  private async configure(config: KeeperConfig): Promise<void> {
    if (this.live && isDeepStrictEqual(this.live.config, config)) return;
    const cache = await BlobCache.open(config.cacheDir, {
      stats: this.stats,
      ...(config.cacheMaxSize !== undefined ? { maxSize: config.cacheMaxSize } : {}),
      ...(config.chunkSize !== undefined ? { chunkSize: config.chunkSize } : {}),
    });
    if ((config.erofsMode ?? 'auto') === 'auto' && process.getuid?.() === 0) this.backing.prepare();
    // Layers mounted with the previous settings keep using them until unmounted.
    if (this.live) this.retired.push(this.live);
    this.live = { client: new RegistryClient({ ...config.registry, stats: this.stats }), cache, config };
  }

  private context(): LayerMountContext {
    if (!this.live) throw new KeeperNotConfiguredError();
    return {
      client: this.live.client,
      cache: this.live.cache,
      stats: this.stats,
      metrics: this.metrics,
      backing: this.backing,
      erofsMode: this.live.config.erofsMode ?? 'auto',
      soci: this.soci,
    };
  }

  private describe(m: MountedLayer): KeptMountInfo {
    return {
      mountpoint: m.mountpoint,
      digest: m.layer.digest,
      mode: m.mode,
      format: m.format,
      ...(m.access ? { access: m.access } : {}),
      started: m.started,
    };
  }

  private list(): KeptMountInfo[] {
    return [...this.mounts.values()].map((m) => this.describe(m));
  }

  /** Mounts `layer` at `mountpoint`; the same layer already there is kept, anything else replaced. */
  private async mount(mountpoint: string, layer: RemoteLayer): Promise<MountedLayer> {
    const pending = this.starting.get(mountpoint);
    if (pending) await pending.catch(() => {});
    const have = this.mounts.get(mountpoint);
    if (have && have.layer.digest === layer.digest) return have;
    if (have) await this.unmount(mountpoint);
    // A mount left from a keeper that died (ENOTCONN) must go before a new one can take its place.
    if (await isMountpoint(mountpoint)) {
      keeperLog(`clearing a stale mount on ${mountpoint}`);
      await runUnmount(mountpoint, { lazy: true, fuse: true });
    }
    const p = mountLayer(this.context(), layer, mountpoint);
    this.starting.set(mountpoint, p);
    try {
      const m = await p;
      this.mounts.set(mountpoint, m);
      keeperLog(
        `mounted ${layer.digest} (${m.format}${m.access && m.access !== m.format ? `, ${m.access}` : ''}, ${m.mode}) on ${mountpoint}`,
      );
      if (this.live?.config.backgroundFetch) this.queueFetch(m);
      return m;
    } catch (err) {
      this.metrics.mountErrors.inc();
      throw err;
    } finally {
      this.starting.delete(mountpoint);
    }
  }

  /** Fills one layer's blob after the others, at low priority (reads go first). */
  private queueFetch(m: MountedLayer): void {
    const ac = new AbortController();
    this.fetches.set(m.mountpoint, ac);
    this.fetchQueue = this.fetchQueue.then(async () => {
      if (ac.signal.aborted) return;
      try {
        await m.blob.prefetch({ priority: 'low', signal: ac.signal });
      } catch (err) {
        if (!ac.signal.aborted) keeperLog(`background fetch of ${m.layer.digest} failed: ${(err as Error).message}`);
      } finally {
        if (this.fetches.get(m.mountpoint) === ac) this.fetches.delete(m.mountpoint);
      }
    });
  }

  private async unmount(mountpoint: string): Promise<void> {
    this.fetches.get(mountpoint)?.abort();
    const m = this.mounts.get(mountpoint);
    if (m) {
      this.mounts.delete(mountpoint);
      if (m.mode === 'tree') this.servedByClosed += m.mount.stats.bytesServed;
      await m.close();
      keeperLog(`unmounted ${m.layer.digest} from ${mountpoint}`);
    } else if (await isMountpoint(mountpoint)) {
      await runUnmount(mountpoint, { lazy: true, fuse: true });
    }
  }

  /** Unmounts every layer and closes the caches and clients. */
  async shutdown(): Promise<void> {
    for (const mp of [...this.mounts.keys()])
      await this.unmount(mp).catch((err: unknown) => keeperLog(`unmount ${mp}: ${(err as Error).message}`));
    await this.backing
      .close()
      .catch((err: unknown) => keeperLog(`unmount the backing files: ${(err as Error).message}`));
    for (const l of [...this.retired, ...(this.live ? [this.live] : [])]) {
      await l.cache.close().catch(() => {});
      await l.client.close().catch(() => {});
    }
  }
}

/** Unmounts backing-file directories a previous keeper left (their FUSE servers are gone). */
export async function clearStaleBacking(root: string): Promise<void> {
  const backing = join(root, 'backing') + '/';
  for (const m of (await readMountInfo()).reverse()) {
    if (!m.mountpoint.startsWith(backing)) continue;
    keeperLog(`clearing a stale backing mount ${m.mountpoint}`);
    await runUnmount(m.mountpoint, { lazy: true, fuse: true }).catch((err: unknown) =>
      keeperLog(`${m.mountpoint}: ${(err as Error).message}`),
    );
  }
}

/** Serves `keeper` on `ROOT/keeper.sock` until it has been idle for {@link KEEPER_IDLE_EXIT_MS}. */
export async function serveKeeper(
  root: string,
  keeper: LayerKeeper,
  idleExitMs = KEEPER_IDLE_EXIT_MS,
): Promise<Server> {
  await mkdir(join(root, 'backing'), { recursive: true, mode: 0o700 });
  const path = join(root, KEEPER_SOCKET);
  await unlink(path).catch(() => {});
  const clients = new Set<Socket>();
  let idleSince = Date.now();
  const server = createServer((sock) => {
    clients.add(sock);
    sock.on('error', () => {});
    sock.on('close', () => {
      clients.delete(sock);
      idleSince = Date.now();
    });
    readLines(sock, (line) => {
      let req: KeeperRequest;
      try {
        req = JSON.parse(line) as KeeperRequest;
      } catch {
        sock.destroy();
        return;
      }
      keeper.handle(req).then(
        (result) => reply({ id: req.id, ok: true, result }),
        (err: unknown) => {
          const e = err as Error & { code?: unknown };
          reply({
            id: req.id,
            ok: false,
            error: { ...(typeof e.code === 'string' ? { code: e.code } : {}), message: e.message ?? String(err) },
          });
        },
      );
    });
    const reply = (r: KeeperResponse) => {
      if (!sock.destroyed) sock.write(JSON.stringify(r) + '\n');
    };
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  const timer = setInterval(() => {
    if (clients.size === 0 && keeper.size === 0 && Date.now() - idleSince > idleExitMs) {
      keeperLog('idle: no layers mounted and no snapshotter connected; exiting');
      clearInterval(timer);
      server.close();
      server.emit('idle');
    }
  }, 1000);
  timer.unref();
  return server;
}
