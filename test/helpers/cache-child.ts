// A child process for the cache's crash and multi-process tests: opens the cache, prints
// "ready", waits for a line on stdin (so several children start at the same moment), does one
// action against an HttpRangeSource upstream and prints one JSON line with the result.
//   node --import tsx test/helpers/cache-child.ts '<json args>'
import { createHash } from 'node:crypto';
import { BlobCache } from '../../src/cache/index.js';
import { readPieces } from '../../src/io/read-stream.js';
import { HttpRangeSource } from './cache-http.js';

interface Args {
  cacheDir: string;
  url: string;
  digest: string;
  size: number;
  action: 'fill' | 'read' | 'random' | 'gc';
  /** random: number of reads, seed, largest read. gc: maxSize. */
  count?: number;
  seed?: number;
  maxLength?: number;
  maxSize?: number;
  start?: number;
  length?: number;
  pieceSize?: number;
  chunkSize?: number;
  maxRequestBytes?: number;
  parallelism?: number;
  readahead?: false;
  claimStaleMs?: number;
  waitForGo?: boolean;
  /** The source's origin (see BlobSourceOptions.origin). */
  origin?: string;
}

const args = JSON.parse(process.argv[2]) as Args;
const cache = await BlobCache.open(args.cacheDir, {
  chunkSize: args.chunkSize,
  maxRequestBytes: args.maxRequestBytes,
  parallelism: args.parallelism,
  readahead: args.readahead,
  claimStaleMs: args.claimStaleMs,
});
const direct = new HttpRangeSource(args.url, args.size);
const src = await cache.openBlob(
  args.digest,
  args.size,
  direct,
  args.origin !== undefined ? { origin: args.origin } : {},
);
process.stdout.write('ready\n');
if (args.waitForGo) {
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
}
const t0 = Date.now();
const result: Record<string, unknown> = {};
if (args.action === 'fill') {
  await src.fill();
  result.complete = src.isComplete;
} else if (args.action === 'gc') {
  const r = await cache.gc({ maxSize: args.maxSize ?? 0 });
  result.evicted = r.evicted.length;
} else if (args.action === 'random') {
  // Random reads through the cache, each compared with the same range fetched directly.
  let x = (args.seed ?? 1) >>> 0 || 1;
  let mismatches = 0;
  const max = args.maxLength ?? 256 * 1024;
  for (let i = 0; i < (args.count ?? 100); i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const off = (x >>> 0) % args.size;
    const len = 1 + ((x >>> 7) % max);
    const [a, b] = await Promise.all([src.read(off, len), direct.read(off, len)]);
    if (!Buffer.from(a).equals(Buffer.from(b))) mismatches++;
  }
  result.reads = args.count ?? 100;
  result.mismatches = mismatches;
} else {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const p of readPieces(src, {
    start: args.start ?? 0,
    length: args.length,
    pieceSize: args.pieceSize ?? 1024 * 1024,
  })) {
    h.update(p);
    bytes += p.byteLength;
  }
  result.sha256 = h.digest('hex');
  result.bytes = bytes;
}
result.ms = Date.now() - t0;
await cache.close();
process.stdout.write(JSON.stringify(result) + '\n');
process.exit(0);
