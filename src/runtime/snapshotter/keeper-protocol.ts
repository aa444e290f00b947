/**
 * What the snapshotter and its layer keeper say to each other over the keeper's unix socket:
 * one JSON object per line each way, requests numbered so that answers may come in any order.
 *
 * @packageDocumentation
 */
import type { Socket } from 'node:net';
import type { RegistryClientOptions } from '../../registry/index.js';
import type { RemoteLayer } from './metadata-store.js';

/** Name of the keeper's socket in the snapshotter root. */
export const KEEPER_SOCKET = 'keeper.sock';
/** Name of the keeper's pid lock in the snapshotter root. */
export const KEEPER_LOCK = 'keeper.lock';
/** Largest request or answer line accepted. */
export const MAX_LINE = 4 << 20;

/** How the keeper reaches registries and the cache (JSON-safe: it crosses the socket). */
export interface KeeperConfig {
  cacheDir: string;
  cacheMaxSize?: number;
  chunkSize?: number;
  /** Registry client options without live objects. */
  registry: Omit<RegistryClientOptions, 'stats'>;
  /** Fill every mounted layer's blob in the background, at low priority. */
  backgroundFetch?: boolean;
  /** `auto` (default): the kernel EROFS driver for EROFS layers (as root), a FUSE tree for the rest. */
  erofsMode?: 'auto' | 'tree';
}

/** One layer the keeper serves. */
export interface KeptMountInfo {
  mountpoint: string;
  digest: string;
  mode: 'tree' | 'kernel';
  /** `erofs`, `tar`, `tar+gzip`, `tar+zstd`; for tar layers also how they are read. */
  format: string;
  access?: string;
  started: string;
}

/** Requests, by `op`. */
export type KeeperRequest =
  | { id: number; op: 'hello'; config: KeeperConfig }
  | { id: number; op: 'mount'; mountpoint: string; layer: RemoteLayer }
  | { id: number; op: 'unmount'; mountpoint: string }
  | { id: number; op: 'metrics' };

/** Answers: a result, or the error that stopped the request. */
export type KeeperResponse =
  { id: number; ok: true; result: unknown } | { id: number; ok: false; error: { code?: string; message: string } };

/** Calls `onLine` for every complete line that arrives on `sock` (a longer line ends the connection). */
export function readLines(sock: Socket, onLine: (line: string) => void): void {
  let buf = '';
  sock.setEncoding('utf8');
  sock.on('data', (chunk: string) => {
    buf += chunk;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line) onLine(line);
    }
    if (buf.length > MAX_LINE) sock.destroy(new Error('line too long'));
  });
}
