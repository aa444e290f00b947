/**
 * The layer keeper's Prometheus metrics (prom-client): what its lazily mounted layers cost and
 * served. The snapshotter's `/metrics` endpoint appends this text to its own.
 *
 * @packageDocumentation
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ByteSource, ReadOptions } from '../../io/byte-source.js';
import type { IoStats } from '../../io/io-stats.js';
import { isStreamable, type ChunkSink, type StreamableSource } from '../../cache/streaming.js';

/** Live numbers the metrics read at scrape time. */
export interface KeeperCounters {
  io(): IoStats;
  /** Mounted layers by mode. */
  mounts(): { tree: number; kernel: number };
  /** Bytes the keeper's FUSE servers answered, all mounts ever. */
  bytesServed(): number;
}

/** A counter whose value comes from elsewhere: each scrape adds what changed since the last. */
function sourcedCounter(registry: Registry, name: string, help: string, read: () => number): void {
  let last = 0;
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const now = read();
      if (now > last) this.inc(now - last);
      last = Math.max(last, now);
    },
  });
}

/** The keeper's registry and the instruments its code updates directly. */
export class KeeperMetrics {
  readonly registry = new Registry();
  /** Time of each range request to a registry (a cache miss fetch). */
  readonly fetchSeconds = new Histogram({
    name: 'ocifs_fetch_duration_seconds',
    help: 'Latency of range fetches from registries for lazily mounted layers',
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly fetchErrors = new Counter({
    name: 'ocifs_fetch_errors_total',
    help: 'Range fetches that failed',
    registers: [this.registry],
  });
  readonly mountErrors = new Counter({
    name: 'ocifs_layer_mount_errors_total',
    help: 'Layers the keeper could not mount',
    registers: [this.registry],
  });

  constructor(counters: KeeperCounters) {
    sourcedCounter(
      this.registry,
      'ocifs_bytes_fetched_total',
      'Bytes received from registries (bodies)',
      () => counters.io().bytesFetched,
    );
    sourcedCounter(
      this.registry,
      'ocifs_registry_requests_total',
      'HTTP requests sent to registries',
      () => counters.io().requests,
    );
    sourcedCounter(
      this.registry,
      'ocifs_cache_hit_bytes_total',
      'Bytes of reads answered from the blob cache',
      () => counters.io().cacheHitBytes,
    );
    sourcedCounter(
      this.registry,
      'ocifs_cache_miss_bytes_total',
      'Bytes of reads that waited for a fetch',
      () => counters.io().cacheMissBytes,
    );
    sourcedCounter(
      this.registry,
      'ocifs_layer_bytes_served_total',
      'Bytes the FUSE servers of mounted layers answered',
      () => counters.bytesServed(),
    );
    new Gauge({
      name: 'ocifs_layer_mounts',
      help: 'Layers mounted lazily, by mode (tree: FUSE file tree; kernel: EROFS over a FUSE-served blob)',
      labelNames: ['mode'],
      registers: [this.registry],
      collect() {
        const m = counters.mounts();
        this.set({ mode: 'tree' }, m.tree);
        this.set({ mode: 'kernel' }, m.kernel);
      },
    });
  }

  /** Wraps a registry source so every fetch lands in the latency histogram. */
  timed(remote: ByteSource): ByteSource {
    const timeIt = async <T>(work: () => Promise<T>): Promise<T> => {
      const end = this.fetchSeconds.startTimer();
      try {
        return await work();
      } catch (err) {
        this.fetchErrors.inc();
        throw err;
      } finally {
        end();
      }
    };
    const wrapped: ByteSource & Partial<StreamableSource> = {
      size: remote.size,
      read: (offset: number, length: number, options?: ReadOptions) =>
        timeIt(() => remote.read(offset, length, options)),
    };
    if (isStreamable(remote)) {
      wrapped.streamRange = (offset: number, length: number, sink: ChunkSink, options?: ReadOptions) =>
        timeIt(() => remote.streamRange(offset, length, sink, options));
    }
    return wrapped;
  }
}
