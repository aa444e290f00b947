// What the cache shares when: a blob's unverified chunks, and the data derived from them
// (sidecars), are served only through the origin that fetched them; once verified, the blob is
// every origin's and other origins' partial copies are compared with it (a difference reported)
// and dropped. Derived data lives and dies with the bytes it was built from.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobCache } from '../../src/cache/index.js';
import { originId } from '../../src/cache/origin.js';
import { MemorySource } from '../../src/io/index.js';
import { IoStats } from '../../src/io/io-stats.js';
import { isOcifsError } from '../../src/errors.js';
import { CountingSource, FlippingSource, patternBytes } from '../helpers/cache-sources.js';
import { instanceDir } from '../helpers/cache-procs.js';
import { sha256 } from '../helpers/oci-layout.js';

const KiB = 1024;
const CS = 64 * KiB;
const root = await mkdtemp(join(tmpdir(), 'ocifs-cache-origins-'));
after(() => rm(root, { recursive: true, force: true }));
let n = 0;

function eq(a: Uint8Array, b: Uint8Array, msg?: string) {
  assert.ok(Buffer.from(a).equals(Buffer.from(b)), msg ?? 'bytes differ');
}

/** A blob, the same blob with chunk 0 forged, and a cache. */
async function setup(opts: { verifyBeforeServe?: boolean; verify?: boolean } = {}) {
  const data = patternBytes(8 * CS + 100, ++n);
  const digest = sha256(data);
  const dir = join(root, `c${n}`);
  const cache = await BlobCache.open(dir, { chunkSize: CS, readahead: false, ...opts });
  const liar = () => new CountingSource(new FlippingSource(new MemorySource(data), 100));
  const honest = () => new CountingSource(new MemorySource(data));
  return { data, digest, dir, cache, liar, honest };
}

test("regression: one registry's unverified chunks are never served to another registry's image; it fetches its own", async () => {
  const { data, digest, cache, liar, honest } = await setup();
  const lyingUp = liar();
  const a = await cache.openBlob(digest, data.length, lyingUp, { origin: 'http://liar.example' });
  const forged = await a.read(0, CS);
  assert.notEqual(forged[100], data[100], 'the liar reached its own reader (unverified, as documented)');
  const honestUp = honest();
  const b = await cache.openBlob(digest, data.length, honestUp, { origin: 'https://registry.example' });
  assert.notEqual(b, a);
  eq(await b.read(0, CS), data.subarray(0, CS));
  assert.equal(honestUp.bytes, CS, 'fetched through its own origin');
  // Each origin's copy, side by side.
  await a.flush();
  await b.flush();
  const list = await cache.list();
  assert.deepEqual(list.map((e) => [e.origin, e.presentBytes, e.verified]).sort(), [
    ['http://liar.example', CS, false],
    ['https://registry.example', CS, false],
  ]);
  await cache.close();
});

test("once verified through one origin the blob is every origin's; another origin's differing partial copy is reported and dropped", async () => {
  const { data, digest, dir, cache, liar, honest } = await setup();
  const lyingUp = liar();
  const a = await cache.openBlob(digest, data.length, lyingUp, { origin: 'liar' });
  await a.read(0, 10);
  const stats = new IoStats();
  const b = await cache.openBlob(digest, data.length, honest(), { origin: 'honest', stats });
  eq(await b.read(0, data.length), data);
  assert.equal(b.isComplete, true);
  assert.equal(stats.originMismatches, 1, "the liar's copy differed");
  assert.deepEqual(
    (await cache.list()).map((e) => [e.origin, e.verified]),
    [[null, true]],
  );
  assert.deepEqual(await readdir(join(dir, 'partial', 'sha256')), [], 'no partial copy left');
  // The liar's own source now reads the verified blob: right bytes, nothing fetched.
  lyingUp.reset();
  eq(await a.read(0, data.length), data);
  assert.equal(lyingUp.bytes, 0);
  // A new source through any origin: the same.
  const third = honest();
  const c = await cache.openBlob(digest, data.length, third, { origin: 'third' });
  eq(await c.read(0, data.length), data);
  assert.equal(third.bytes, 0);
  await cache.close();
});

test('an identical partial copy of another origin is dropped without a report', async () => {
  const { data, digest, cache, honest } = await setup();
  await (await cache.openBlob(digest, data.length, honest(), { origin: 'one' })).read(0, 3 * CS);
  const stats = new IoStats();
  await (await cache.openBlob(digest, data.length, honest(), { origin: 'two', stats })).fill();
  assert.equal(stats.originMismatches, 0);
  assert.deepEqual(
    (await cache.list()).map((e) => e.origin),
    [null],
  );
  await cache.close();
});

test('regression: data derived from a blob is discarded with its bytes when they fail the digest check, and never seen through another origin', async () => {
  const { data, digest, cache, liar, honest } = await setup();
  const a = await cache.openBlob(digest, data.length, liar(), { origin: 'liar' });
  const mark = a.derivedMark();
  await a.read(0, CS);
  assert.equal(await a.putSidecar('tar-index', Uint8Array.of(6, 6, 6), mark), true);
  eq((await a.getSidecar('tar-index'))!, Uint8Array.of(6, 6, 6));
  const b = await cache.openBlob(digest, data.length, honest(), { origin: 'honest' });
  assert.equal(await b.getSidecar('tar-index'), undefined, 'another origin never sees it');
  assert.equal(await cache.getSidecar(digest, 'tar-index'), undefined, "not verified: not the blob's");
  // The same origin completes the blob: mismatch, and the index goes with the bytes.
  await assert.rejects(a.fill(), (e) => isOcifsError(e, 'ERR_OCIFS_DIGEST_MISMATCH'));
  assert.equal(await a.getSidecar('tar-index'), undefined);
  // Honest bytes through the same origin now: still no index until one is built from them.
  await cache.close();
  const c2 = await BlobCache.open(cache.dir, { chunkSize: CS, readahead: false });
  const again = await c2.openBlob(digest, data.length, honest(), { origin: 'liar' });
  eq(await again.read(0, data.length), data);
  assert.equal(await again.getSidecar('tar-index'), undefined);
  await c2.close();
});

test('a sidecar built from a partial copy moves with it when it verifies (built from exactly its bytes)', async () => {
  const { data, digest, cache, honest } = await setup();
  const a = await cache.openBlob(digest, data.length, honest(), { origin: 'o' });
  const mark = a.derivedMark();
  await a.read(0, 2 * CS);
  assert.equal(await a.putSidecar('tar-index', Uint8Array.of(1, 2), mark), true);
  const [partial] = await cache.list();
  assert.deepEqual([partial.origin, partial.verified, partial.sidecars], ['o', false, ['tar-index']]);
  await a.fill();
  eq((await cache.getSidecar(digest, 'tar-index'))!, Uint8Array.of(1, 2));
  eq((await a.getSidecar('tar-index'))!, Uint8Array.of(1, 2));
  const [verified] = await cache.list();
  assert.deepEqual([verified.origin, verified.verified, verified.sidecars], [null, true, ['tar-index']]);
  await cache.close();
});

test('a sidecar is not kept when the bytes read since its mark may not all be in one instance', async () => {
  const { data, digest, cache, honest } = await setup();
  const a = await cache.openBlob(digest, data.length, honest(), { origin: 'o' });
  const mark = a.derivedMark();
  await a.read(0, CS);
  await cache.remove(digest); // evicted meanwhile (gc, or another process's discard)
  await a.read(CS, CS);
  assert.equal(await a.putSidecar('idx', Uint8Array.of(1), mark), false);
  assert.equal(await a.getSidecar('idx'), undefined);
  assert.equal(await a.putSidecar('idx', Uint8Array.of(1), a.derivedMark()), true, 'a fresh mark is fine');
  await cache.close();
});

test('--verify-first: no sidecar is handed out before the blob verifies; one from bytes that fail is gone', async () => {
  const { data, digest, dir, cache, liar, honest } = await setup();
  const a = await cache.openBlob(digest, data.length, liar(), { origin: 'o' });
  const mark = a.derivedMark();
  await a.read(0, CS);
  assert.equal(await a.putSidecar('tar-index', Uint8Array.of(6), mark), true);
  await cache.close();
  // The registry is honest now; the forged chunk is still in the partial copy.
  const vf = await BlobCache.open(dir, { chunkSize: CS, readahead: false, verifyBeforeServe: true });
  const up = honest();
  const b = await vf.openBlob(digest, data.length, up, { origin: 'o' });
  await assert.rejects(b.getSidecar('tar-index'), (e) => isOcifsError(e, 'ERR_OCIFS_DIGEST_MISMATCH'));
  assert.equal(await b.getSidecar('tar-index'), undefined);
  assert.equal(b.isComplete, true);
  eq(await b.read(0, data.length), data);
  await vf.close();
});

test('a crash between recording "verified" and the move into blobs/ is finished by the next open', async () => {
  const { data, digest, dir, cache, honest } = await setup();
  await (await cache.openBlob(digest, data.length, honest())).fill();
  await cache.close();
  const [alg, hex] = digest.split(':');
  await mkdir(join(dir, 'partial', alg, hex), { recursive: true });
  await rename(join(dir, 'blobs', alg, hex), join(dir, 'partial', alg, hex, originId('')));
  const c2 = await BlobCache.open(dir, { chunkSize: CS, readahead: false });
  const up = honest();
  eq(await (await c2.openBlob(digest, data.length, up)).read(0, data.length), data);
  assert.equal(up.bytes, 0);
  assert.ok(existsSync(join(dir, 'blobs', alg, hex, 'map')));
  await c2.close();
});

test("an older ocifs's layout: an unverified instance in blobs/ is discarded, top-level sidecars/ deleted", async () => {
  const { data, digest, dir, cache, honest } = await setup();
  await (await cache.openBlob(digest, data.length, honest())).fill();
  await cache.close();
  const [alg, hex] = digest.split(':');
  const map = join(dir, 'blobs', alg, hex, 'map');
  const bytes = await readFile(map);
  bytes[112] = 0x50; // 'P': partial, as older versions kept every instance in blobs/
  await writeFile(map, bytes);
  await mkdir(join(dir, 'sidecars', alg, hex), { recursive: true });
  await writeFile(join(dir, 'sidecars', alg, hex, 'tar-index'), 'left by an older version');
  const c2 = await BlobCache.open(dir, { chunkSize: CS, readahead: false });
  assert.equal(existsSync(join(dir, 'sidecars')), false);
  const up = honest();
  eq(await (await c2.openBlob(digest, data.length, up)).read(0, data.length), data);
  assert.equal(up.bytes, data.length, 'origin unknown: fetched again');
  await c2.close();
});

test('cache verify: checks every sidecar, says which come from unverified bytes, verifies and moves a complete copy', async () => {
  const x = await setup({ verify: false });
  const whole = await x.cache.openBlob(x.digest, x.data.length, x.honest(), { origin: 'one' });
  let mark = whole.derivedMark();
  await whole.read(0, x.data.length);
  assert.equal(await whole.putSidecar('gzip-index', Uint8Array.of(1), mark), true);
  const other = patternBytes(4 * CS, 4242);
  const part = await x.cache.openBlob(sha256(other), other.length, new MemorySource(other), { origin: 'two' });
  mark = part.derivedMark();
  await part.read(0, 10);
  assert.equal(await part.putSidecar('tar-index', Uint8Array.of(2), mark), true);
  assert.equal(await part.putSidecar('zstd-index', Uint8Array.of(3), mark), true);
  await x.cache.close();
  // Damage one sidecar of the partial copy.
  const damaged = join(instanceDir(x.dir, sha256(other), 'two'), 'sidecars', 'zstd-index');
  const file = await readFile(damaged);
  file[file.length - 1] ^= 1;
  await writeFile(damaged, file);
  const c2 = await BlobCache.open(x.dir);
  const results = await c2.verify();
  const byDigest = new Map(results.map((r) => [r.digest, r]));
  assert.deepEqual(byDigest.get(x.digest), {
    digest: x.digest,
    origin: null,
    status: 'verified',
    discarded: false,
    sidecars: { kept: ['gzip-index'], discarded: [] },
  });
  assert.deepEqual(byDigest.get(sha256(other)), {
    digest: sha256(other),
    origin: 'two',
    status: 'partial',
    discarded: false,
    sidecars: { kept: ['tar-index'], discarded: [{ name: 'zstd-index', reason: 'checksum mismatch' }] },
  });
  eq((await c2.getSidecar(x.digest, 'gzip-index'))!, Uint8Array.of(1));
  await c2.close();
});
