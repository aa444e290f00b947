// Cache management: list, verify, gc (LRU by allocated blocks, safe with readers), remove,
// automatic maxSize, and sidecars.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, readFile, writeFile, open, utimes, copyFile, mkdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobCache } from '../../src/cache/index.js';
import { MemorySource } from '../../src/io/index.js';
import { isOcifsError } from '../../src/errors.js';
import { CountingSource, SlowSource, patternBytes } from '../helpers/cache-sources.js';
import { instanceDir } from '../helpers/cache-procs.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const CS = 64 * KiB;
const root = await mkdtemp(join(tmpdir(), 'ocifs-cache-manage-'));
after(() => rm(root, { recursive: true, force: true }));
let n = 0;

function sha256(b: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(b).digest('hex');
}
function eq(a: Uint8Array, b: Uint8Array, msg?: string) {
  assert.ok(Buffer.from(a).equals(Buffer.from(b)), msg ?? 'bytes differ');
}
function blob(size: number) {
  const data = patternBytes(size, ++n * 7919);
  return { data, digest: sha256(data) };
}
/** Sets a blob's last access (its instance directory's mtime). */
async function setAccess(cache: BlobCache, digest: string, when: number) {
  await utimes(instanceDir(cache.dir, digest), new Date(when), new Date(when));
}

test('list: digests with size, presence, state, disk usage, sidecars; least recently used first', async () => {
  const cache = await BlobCache.open(join(root, `c${n++}`), { chunkSize: CS, readahead: false });
  const a = blob(1 * MiB);
  const b = blob(2 * MiB + 5);
  const sa = await cache.openBlob(a.digest, a.data.length, new MemorySource(a.data));
  await sa.fill();
  const sb = await cache.openBlob(b.digest, b.data.length, new MemorySource(b.data));
  await sb.read(0, 3 * CS);
  assert.equal(await cache.putSidecar(a.digest, 'tar-index', new Uint8Array(5000).fill(7)), true);
  assert.equal(await sb.putSidecar('tar-index', new Uint8Array(100), sb.derivedMark()), true);
  await setAccess(cache, b.digest, Date.now() - 3_600_000);
  await setAccess(cache, a.digest, Date.now() - 60_000);
  const list = await cache.list();
  assert.deepEqual(
    list.map((e) => [e.digest, e.origin, e.size, e.chunkSize, e.presentBytes, e.complete, e.verified, e.sidecars]),
    [
      [b.digest, '', b.data.length, CS, 3 * CS, false, false, ['tar-index']],
      [a.digest, null, a.data.length, CS, a.data.length, true, true, ['tar-index']],
    ],
  );
  // Allocated blocks, not apparent size: the partial blob uses about what is present.
  assert.ok(
    list[0].diskBytes >= 3 * CS && list[0].diskBytes < 3 * CS + 64 * KiB,
    `partial diskBytes ${list[0].diskBytes}`,
  );
  assert.ok(list[0].diskBytes < b.data.length / 2);
  assert.ok(list[1].diskBytes >= a.data.length);
  assert.ok(list[1].sidecarBytes >= 5000);
  assert.ok(Math.abs(list[1].lastAccess.getTime() - (Date.now() - 60_000)) < 5000);
  assert.equal(
    await cache.usage(),
    list.reduce((s, e) => s + e.diskBytes + e.sidecarBytes, 0),
  );
  await cache.close();
});

test('verify: complete blobs are re-hashed (a damaged one is discarded), partial ones checked', async () => {
  const cache = await BlobCache.open(join(root, `c${n++}`), { chunkSize: CS, readahead: false });
  const good = blob(1 * MiB);
  const bad = blob(1 * MiB);
  const part = blob(1 * MiB);
  const broken = blob(1 * MiB);
  for (const x of [good, bad]) await (await cache.openBlob(x.digest, x.data.length, new MemorySource(x.data))).fill();
  await (await cache.openBlob(part.digest, part.data.length, new MemorySource(part.data))).read(0, 10);
  await (await cache.openBlob(broken.digest, broken.data.length, new MemorySource(broken.data))).read(0, 10);
  await cache.close();
  // Bit rot in a verified blob's data; an invalid presence byte in a partial one.
  const fh = await open(join(instanceDir(cache.dir, bad.digest), 'data'), 'r+');
  await fh.write(Uint8Array.of(0xee), 0, 1, 500_000);
  await fh.close();
  const mh = await open(join(instanceDir(cache.dir, broken.digest), 'map'), 'r+');
  await mh.write(Uint8Array.of(0x07), 0, 1, 128 + 9);
  await mh.close();
  const c2 = await BlobCache.open(cache.dir);
  const byDigest = new Map((await c2.verify()).map((r) => [r.digest, r]));
  assert.equal(byDigest.get(good.digest)?.status, 'verified');
  assert.equal(byDigest.get(part.digest)?.status, 'partial');
  assert.equal(byDigest.get(bad.digest)?.status, 'mismatch');
  assert.equal(byDigest.get(bad.digest)?.discarded, true);
  assert.equal(byDigest.get(broken.digest)?.status, 'corrupt');
  assert.equal(byDigest.get(broken.digest)?.discarded, true);
  assert.deepEqual((await c2.list()).map((e) => e.digest).sort(), [good.digest, part.digest].sort());
  assert.deepEqual(await c2.verify(bad.digest), [
    { digest: bad.digest, origin: null, status: 'missing', discarded: false, sidecars: { kept: [], discarded: [] } },
  ]);
  // The discarded blob is fetched again, correctly.
  const up = new CountingSource(new MemorySource(bad.data));
  const s = await c2.openBlob(bad.digest, bad.data.length, up);
  eq(await s.read(0, bad.data.length), bad.data);
  assert.equal(up.bytes, bad.data.length);
  await c2.close();
});

test('gc evicts least recently used blobs (with their sidecars) until usage <= maxSize', async () => {
  const cache = await BlobCache.open(join(root, `c${n++}`), { chunkSize: CS, readahead: false });
  const blobs = [blob(1 * MiB), blob(1 * MiB), blob(1 * MiB), blob(1 * MiB)];
  for (const b of blobs) await (await cache.openBlob(b.digest, b.data.length, new MemorySource(b.data))).fill();
  await cache.putSidecar(blobs[1].digest, 'idx', new Uint8Array(100));
  await cache.close();
  const c2 = await BlobCache.open(cache.dir);
  const t = Date.now();
  // Access order, oldest first: 2, 0, 3, 1.
  await setAccess(c2, blobs[2].digest, t - 4000);
  await setAccess(c2, blobs[0].digest, t - 3000);
  await setAccess(c2, blobs[3].digest, t - 2000);
  await setAccess(c2, blobs[1].digest, t - 1000);
  const r = await c2.gc({ maxSize: 2.5 * MiB });
  assert.deepEqual(r.evicted, [blobs[2].digest, blobs[0].digest]);
  assert.ok(r.after <= 2.5 * MiB && r.before > 4 * MiB, JSON.stringify(r));
  assert.equal(await c2.usage(), r.after);
  assert.deepEqual(
    (await c2.list()).map((e) => e.digest),
    [blobs[3].digest, blobs[1].digest],
  );
  const r0 = await c2.gc({ maxSize: 0 });
  assert.deepEqual(r0.evicted, [blobs[3].digest, blobs[1].digest]);
  assert.equal(await c2.getSidecar(blobs[1].digest, 'idx'), undefined);
  assert.deepEqual(await c2.list(), []);
  assert.equal(await c2.usage(), 0);
  await assert.rejects(c2.gc({ maxSize: -1 }), /invalid option maxSize/);
  await c2.close();
});

test('gc while readers read: every read returns the right bytes', async () => {
  const cache = await BlobCache.open(join(root, `c${n++}`), {
    chunkSize: CS,
    parallelism: 2,
    maxRequestBytes: 256 * KiB,
  });
  const b = blob(6 * MiB);
  const up = new CountingSource(new SlowSource(new MemorySource(b.data), 2));
  const src = await cache.openBlob(b.digest, b.data.length, up);
  let stop = false;
  const readers = Array.from({ length: 3 }, async (_, i) => {
    let reads = 0;
    let x = i * 977;
    while (!stop) {
      x = (x * 1103515245 + 12345) >>> 0;
      const off = x % (b.data.length - 300 * KiB);
      const len = 1 + (x % (300 * KiB));
      eq(await src.read(off, len), b.data.subarray(off, off + len), `read ${off}+${len}`);
      reads++;
    }
    return reads;
  });
  const gcs: number[] = [];
  for (let i = 0; i < 15; i++) {
    await new Promise((r) => setTimeout(r, 40));
    gcs.push((await cache.gc({ maxSize: 0 })).evicted.length);
  }
  stop = true;
  const counts = await Promise.all(readers);
  assert.ok(
    counts.every((c) => c > 3),
    `reads per reader: ${counts.join(',')}`,
  );
  assert.ok(
    gcs.some((e) => e > 0),
    'gc evicted the blob at least once',
  );
  eq(await src.read(0, b.data.length), b.data);
  await cache.close();
});

test('maxSize is applied at open and after a blob completes, sparing blobs open in this process', async () => {
  const dir = join(root, `c${n++}`);
  let cache = await BlobCache.open(dir, { chunkSize: CS });
  const old = blob(2 * MiB);
  await (await cache.openBlob(old.digest, old.data.length, new MemorySource(old.data))).fill();
  await cache.close();
  await utimes(
    join(dir, 'blobs/sha256', old.digest.slice(7)),
    new Date(Date.now() - 10_000),
    new Date(Date.now() - 10_000),
  );
  cache = await BlobCache.open(dir, { chunkSize: CS, maxSize: 3 * MiB });
  assert.equal((await cache.list()).length, 1);
  const next = blob(2 * MiB);
  const s = await cache.openBlob(next.digest, next.data.length, new MemorySource(next.data));
  await s.fill();
  for (let i = 0; i < 50 && (await cache.list()).length > 1; i++) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(
    (await cache.list()).map((e) => e.digest),
    [next.digest],
  );
  await cache.close();
  cache = await BlobCache.open(dir, { chunkSize: CS, maxSize: 1 * MiB });
  assert.deepEqual(await cache.list(), []);
  await cache.close();
});

test('remove and removeAll', async () => {
  const cache = await BlobCache.open(join(root, `c${n++}`), { chunkSize: CS });
  const a = blob(300 * KiB);
  const b = blob(300 * KiB);
  await (await cache.openBlob(a.digest, a.data.length, new MemorySource(a.data))).fill();
  await (await cache.openBlob(a.digest, a.data.length, new MemorySource(a.data), { origin: 'other' })).read(0, 1);
  await (await cache.openBlob(b.digest, b.data.length, new MemorySource(b.data), { origin: 'other' })).read(0, 1);
  assert.equal(await cache.putSidecar(a.digest, 's', Uint8Array.of(1)), true);
  assert.equal(await cache.putSidecar(b.digest, 's', Uint8Array.of(1)), false, 'not verified: nowhere to keep it');
  assert.equal(await cache.putSidecar('sha256:' + 'c'.repeat(64), 'orphan', Uint8Array.of(2)), false);
  assert.equal(await cache.remove(a.digest), true);
  assert.equal(await cache.remove(a.digest), false);
  assert.equal(await cache.getSidecar(a.digest, 's'), undefined);
  assert.deepEqual(
    (await cache.list()).map((e) => [e.digest, e.origin]),
    [[b.digest, 'other']],
  );
  assert.equal(await cache.removeAll(), 1);
  assert.deepEqual(await cache.list(), []);
  await cache.close();
});

test('sidecars: kept with the verified instance, atomic put/get, integrity-checked, bound to the instance, names validated', async () => {
  const cache = await BlobCache.open(join(root, `c${n++}`), { chunkSize: CS });
  const x = blob(200 * KiB);
  const y = blob(200 * KiB);
  const d = x.digest;
  assert.equal(await cache.getSidecar(d, 'gzip-index'), undefined);
  for (const z of [x, y]) await (await cache.openBlob(z.digest, z.data.length, new MemorySource(z.data))).fill();
  const bytes = patternBytes(100_000, 3);
  assert.equal(await cache.putSidecar(d, 'gzip-index', bytes), true);
  eq((await cache.getSidecar(d, 'gzip-index'))!, bytes);
  await cache.putSidecar(d, 'gzip-index', Uint8Array.of(1, 2, 3)); // replace
  eq((await cache.getSidecar(d, 'gzip-index'))!, Uint8Array.of(1, 2, 3));
  await cache.putSidecar(d, 'empty', new Uint8Array(0));
  eq((await cache.getSidecar(d, 'empty'))!, new Uint8Array(0));
  for (const bad of ['', '.hidden', 'a/b', '..', 'x'.repeat(200), 'sp ace']) {
    await assert.rejects(
      cache.putSidecar(d, bad, Uint8Array.of(1)),
      (e) => isOcifsError(e, 'ERR_OCIFS_INVALID_OPTION'),
      bad,
    );
  }
  await assert.rejects(cache.getSidecar('nope', 'x'), (e) => isOcifsError(e, 'ERR_OCIFS_INVALID_DIGEST'));
  const path = join(instanceDir(cache.dir, d), 'sidecars', 'gzip-index');
  // Damage: a flipped payload byte, a truncated file, a file copied under another digest.
  await cache.putSidecar(d, 'gzip-index', bytes);
  const file = await readFile(path);
  file[file.length - 10] ^= 1;
  await writeFile(path, file);
  assert.equal(await cache.getSidecar(d, 'gzip-index'), undefined);
  await assert.rejects(stat(path), /ENOENT/); // deleted, so the caller rebuilds it
  await cache.putSidecar(d, 'gzip-index', bytes);
  await writeFile(path, (await readFile(path)).subarray(0, 50));
  assert.equal(await cache.getSidecar(d, 'gzip-index'), undefined);
  await cache.putSidecar(d, 'gzip-index', bytes);
  await copyFile(path, join(instanceDir(cache.dir, y.digest), 'sidecars', 'gzip-index'));
  assert.equal(await cache.getSidecar(y.digest, 'gzip-index'), undefined);
  eq((await cache.getSidecar(d, 'gzip-index'))!, bytes);
  // Bound to the instance whose bytes it came from: a new instance of the same digest does not take it.
  const saved = await readFile(path);
  await cache.remove(d);
  await (await cache.openBlob(d, x.data.length, new MemorySource(x.data))).fill();
  await mkdir(join(instanceDir(cache.dir, d), 'sidecars'), { recursive: true });
  await writeFile(path, saved);
  assert.equal(await cache.getSidecar(d, 'gzip-index'), undefined);
  await cache.close();
});
