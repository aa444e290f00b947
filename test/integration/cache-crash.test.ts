// kill -9 processes that are filling the cache at random moments, many times: after every
// kill each chunk marked present holds the right bytes; a final run completes the blob from
// where they left off and it verifies.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobCache } from '../../src/cache/index.js';
import { FileSource } from '../../src/io/index.js';
import { startRangeServer } from '../helpers/cache-http.js';
import { checkPresentChunks, instanceDir, startCacheChild } from '../helpers/cache-procs.js';

const MiB = 1024 * 1024;
const KILLS = Number(process.env.OCIFS_CACHE_CRASH_KILLS ?? 10);

test(`kill -9 during fills (${KILLS} times, single and concurrent), then the blob completes and verifies`, async () => {
  const tmp = await mkdtemp(join(tmpdir(), 'ocifs-cache-crash-'));
  const blob = randomBytes(48 * MiB);
  const digest = 'sha256:' + createHash('sha256').update(blob).digest('hex');
  await writeFile(join(tmp, 'blob'), blob);
  // Slow enough that a kill lands mid-download, fast enough to make progress between kills
  // (the rate is per response: at 4 MiB/s ten runs of 4 parallel requests could finish 48 MiB).
  const server = await startRangeServer(join(tmp, 'blob'), { bytesPerSecond: 2 * MiB });
  after(async () => {
    await server.stop();
    await rm(tmp, { recursive: true, force: true });
  });
  const cacheDir = join(tmp, 'cache');
  const args = {
    cacheDir,
    url: server.url,
    digest,
    size: blob.length,
    action: 'fill',
    chunkSize: 64 * 1024,
    maxRequestBytes: 256 * 1024,
    parallelism: 4,
  };
  let last = 0;
  const progress: number[] = [];
  for (let i = 0; i < KILLS; i++) {
    const children = Array.from({ length: i % 3 === 2 ? 2 : 1 }, () => startCacheChild(args));
    await Promise.all(children.map((c) => c.ready));
    await new Promise((r) => setTimeout(r, 30 + Math.floor(Math.random() * 400)));
    for (const c of children) c.kill();
    await Promise.all(children.map((c) => c.result.catch(() => {})));
    const present = await checkPresentChunks(cacheDir, digest, blob);
    progress.push(present);
    assert.ok(present >= last || present === -1, `chunks present went from ${last} to ${present}`);
    last = Math.max(last, present);
  }
  assert.ok(last > 0, `the killed runs made progress: ${progress.join(',')}`);
  assert.ok(last < blob.length / (64 * 1024), `the blob was not completed before the last kill: ${progress.join(',')}`);
  // Claim files of the dead processes are still there: the final run takes them over.
  const claims = await readdir(join(instanceDir(cacheDir, digest), 'claims'));
  server.options.bytesPerSecond = 0;
  server.reset();
  // With claims never going stale by age, only "the owner's pid is gone" can release them: the
  // final run completing at all shows dead owners' claims are taken over.
  const final = startCacheChild({ ...args, claimStaleMs: 3_600_000 });
  const r = await final.result;
  assert.equal(r.complete, true);
  // Only what was missing was fetched again.
  assert.ok(
    server.bytesSent <= blob.length - last * 64 * 1024,
    `final run fetched ${server.bytesSent}, missing ${blob.length - last * 64 * 1024}`,
  );
  assert.equal(await checkPresentChunks(cacheDir, digest, blob), blob.length / (64 * 1024));
  const cache = await BlobCache.open(cacheDir);
  assert.deepEqual(await cache.verify(digest), [
    { digest, origin: null, status: 'verified', discarded: false, sidecars: { kept: [], discarded: [] } },
  ]);
  const src = await cache.openBlob(digest, blob.length, await FileSource.open(join(tmp, 'blob')));
  assert.ok(Buffer.from(await src.read(0, blob.length)).equals(blob));
  await cache.close();
  console.log(
    `chunks present after each kill: ${progress.join(' ')}; leftover claims before the final run: ${claims.length}`,
  );
});
