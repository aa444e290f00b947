// A crash/concurrency soak of the blob cache, shared by scripts/soak-cache.ts (long runs) and a
// short run in the integration suite. Several blobs on a counting Range server; in rounds,
// child processes fill, stream and randomly read them (each random read compared with a direct
// fetch), one runs gc in between, and random children are killed with SIGKILL. After every
// round, from outside the cache code: every chunk marked present has the right bytes. At the
// end every blob is filled and verifies.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobCache } from '../../src/cache/index.js';
import { startRangeServer, HttpRangeSource, type RangeServer } from './cache-http.js';
import { checkPresentChunks, startCacheChild, type CacheChild } from './cache-procs.js';

export interface SoakOptions {
  /** How long to run the rounds. */
  seconds: number;
  /** Number of blobs. */
  blobs?: number;
  /** Size of each blob. */
  blobBytes?: number;
  /** Children per round. */
  procs?: number;
  /** Prints progress when given. */
  log?: (line: string) => void;
}

export interface SoakReport {
  rounds: number;
  kills: number;
  reads: number;
  gcs: number;
  fetchedBytes: number;
}

function rnd(n: number): number {
  return Math.floor(Math.random() * n);
}

/** Runs the soak; throws on the first wrong byte or broken invariant. */
export async function soakCache(o: SoakOptions): Promise<SoakReport> {
  const tmp = await mkdtemp(join(tmpdir(), 'ocifs-cache-soak-'));
  const servers: RangeServer[] = [];
  const live = new Set<CacheChild>();
  try {
    const nBlobs = o.blobs ?? 3;
    const size = o.blobBytes ?? 24 * 1024 * 1024;
    const blobs: { data: Buffer; digest: string; server: RangeServer }[] = [];
    for (let i = 0; i < nBlobs; i++) {
      const data = randomBytes(size - rnd(100_000));
      const path = join(tmp, `blob${i}`);
      await writeFile(path, data);
      const server = await startRangeServer(path, { bytesPerSecond: 16 * 1024 * 1024 });
      servers.push(server);
      blobs.push({ data, digest: 'sha256:' + createHash('sha256').update(data).digest('hex'), server });
    }
    const cacheDir = join(tmp, 'cache');
    const report: SoakReport = { rounds: 0, kills: 0, reads: 0, gcs: 0, fetchedBytes: 0 };
    const deadline = Date.now() + o.seconds * 1000;
    while (Date.now() < deadline) {
      report.rounds++;
      const children: { c: CacheChild; kind: string }[] = [];
      for (let i = 0; i < (o.procs ?? 4); i++) {
        const b = blobs[rnd(blobs.length)];
        const chunkSize = [64 * 1024, 256 * 1024][rnd(2)];
        const base = {
          cacheDir,
          url: b.server.url,
          digest: b.digest,
          size: b.data.length,
          chunkSize,
          maxRequestBytes: [256 * 1024, 2 * 1024 * 1024][rnd(2)],
        };
        const kind = ['fill', 'random', 'random', 'read', 'gc'][rnd(5)];
        const args =
          kind === 'random'
            ? { ...base, action: 'random', count: 40, seed: rnd(2 ** 31), maxLength: 300_000 }
            : kind === 'gc'
              ? { ...base, action: 'gc', maxSize: rnd(2) ? 0 : size }
              : kind === 'read'
                ? { ...base, action: 'read', start: rnd(size / 2), length: rnd(size / 2) }
                : { ...base, action: 'fill' };
        const c = startCacheChild(args);
        live.add(c);
        children.push({ c, kind });
      }
      await Promise.all(children.map(({ c }) => c.ready));
      // Kill some of them at a random moment; let the others finish.
      await new Promise((r) => setTimeout(r, 50 + rnd(500)));
      for (const { c } of children) {
        if (rnd(3) !== 0) continue;
        c.kill();
        report.kills++;
      }
      for (const { c, kind } of children) {
        try {
          const r = await c.result;
          if (kind === 'random') {
            report.reads += r.reads as number;
            if (r.mismatches !== 0)
              throw new Error(`a child read ${String(r.mismatches)} wrong ranges through the cache`);
          }
          if (kind === 'gc') report.gcs++;
          if (kind === 'read') {
            const args = JSON.parse(c.proc.spawnargs.at(-1)!) as { digest: string; start: number; length: number };
            const b = blobs.find((x) => x.digest === args.digest)!;
            const want = createHash('sha256')
              .update(b.data.subarray(args.start, args.start + args.length))
              .digest('hex');
            if (r.sha256 !== want) throw new Error('a child streamed wrong bytes through the cache');
          }
        } catch (err) {
          if (c.proc.signalCode !== 'SIGKILL') throw err;
        } finally {
          live.delete(c);
        }
      }
      for (const b of blobs) await checkPresentChunks(cacheDir, b.digest, b.data);
      o.log?.(`round ${report.rounds}: kills ${report.kills}, random reads ${report.reads}, gcs ${report.gcs}`);
    }
    // Everything completes and verifies.
    const cache = await BlobCache.open(cacheDir);
    for (const b of blobs) {
      const src = await cache.openBlob(b.digest, b.data.length, new HttpRangeSource(b.server.url, b.data.length));
      await src.fill();
      if (!Buffer.from(await src.read(0, b.data.length)).equals(b.data)) throw new Error('final read differs');
      await src.close();
    }
    const results = await cache.verify();
    await cache.close();
    for (const r of results) if (r.status !== 'verified') throw new Error(`final verify: ${JSON.stringify(r)}`);
    if (results.length !== blobs.length) throw new Error(`final verify saw ${results.length} blobs`);
    report.fetchedBytes = servers.reduce((n, s) => n + s.bytesSent, 0);
    return report;
  } finally {
    for (const c of live) c.kill();
    for (const s of servers) await s.stop();
    await rm(tmp, { recursive: true, force: true });
  }
}
