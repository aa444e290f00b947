/**
 * The snapshotter's Prometheus endpoint (`--metrics-address HOST:PORT`, GET /metrics), with
 * prom-client: its own counters (layers mounted lazily, fallbacks, snapshots by kind, Prepare
 * latency of remote layers, the process's own numbers) followed by the layer keeper's (bytes
 * fetched and served from the cache, fetch latency, mounts).
 *
 * @packageDocumentation
 */
import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { InvalidOptionError } from '../../errors.js';
import type { SnapshotKind } from './metadata-store.js';

/** The snapshotter's own instruments. */
export class SnapshotterMetrics {
  readonly registry = new Registry();
  readonly lazy = new Counter({
    name: 'ocifs_snapshotter_layers_lazy_total',
    help: 'Layers mounted lazily from a registry instead of unpacked',
    labelNames: ['format'],
    registers: [this.registry],
  });
  readonly fallbacks = new Counter({
    name: 'ocifs_snapshotter_fallbacks_total',
    help: 'Layers asked for lazily that containerd had to download and unpack instead',
    registers: [this.registry],
  });
  readonly remotePrepareSeconds = new Histogram({
    name: 'ocifs_snapshotter_remote_prepare_duration_seconds',
    help: 'Time to resolve and mount a remote layer in Prepare',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });

  constructor(count: () => Record<SnapshotKind, number>) {
    collectDefaultMetrics({ register: this.registry, prefix: 'ocifs_snapshotter_' });
    new Gauge({
      name: 'ocifs_snapshotter_snapshots',
      help: 'Snapshots by kind',
      labelNames: ['kind'],
      registers: [this.registry],
      collect() {
        for (const [kind, n] of Object.entries(count())) this.set({ kind }, n);
      },
    });
  }
}

/** Parses `HOST:PORT` (`[::1]:PORT` for IPv6). */
export function parseMetricsAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535)
    throw new InvalidOptionError('--metrics-address', `${JSON.stringify(address)} is not HOST:PORT`);
  return { host: m[1] ?? m[2], port };
}

/** Serves GET /metrics with the text of `parts` joined; resolves once it listens. */
export async function serveMetrics(
  address: string,
  contentType: string,
  parts: () => Promise<string[]>,
): Promise<Server> {
  const { host, port } = parseMetricsAddress(address);
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/metrics' && !req.url?.startsWith('/metrics?'))) {
      res.writeHead(404).end('not found\n');
      return;
    }
    parts().then(
      (texts) => res.writeHead(200, { 'content-type': contentType }).end(texts.filter(Boolean).join('\n')),
      (err: unknown) => res.writeHead(500).end(`${(err as Error).message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
