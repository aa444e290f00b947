// MemoryBlobCache (--no-cache): same reads, bounded memory, nothing on disk, and a blob read
// through from start to end is still checked against its digest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { MemoryBlobCache } from '../../src/cache/index.js';
import { MemorySource } from '../../src/io/index.js';
import { readPieces } from '../../src/io/read-stream.js';
import { isOcifsError } from '../../src/errors.js';
import { CountingSource, FlippingSource, SlowSource, patternBytes } from '../helpers/cache-sources.js';

const KiB = 1024;
const MiB = 1024 * KiB;

function sha256(b: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(b).digest('hex');
}
function eq(a: Uint8Array, b: Uint8Array, msg?: string) {
  assert.ok(Buffer.from(a).equals(Buffer.from(b)), msg ?? 'bytes differ');
}

test('memory cache: exact bytes, cached chunks reused, memory stays within maxBytes', async () => {
  const data = patternBytes(8 * MiB, 1);
  const up = new CountingSource(new MemorySource(data));
  const cache = new MemoryBlobCache({ chunkSize: 64 * KiB, maxBytes: 1 * MiB, readahead: false });
  const src = await cache.openBlob(sha256(data), data.length, up);
  eq(await src.read(100, 1000), data.subarray(100, 1100));
  eq(await src.read(200, 1000), data.subarray(200, 1200));
  assert.equal(up.requests, 1);
  eq(await src.read(0, data.length), data);
  assert.ok(cache.usedBytes <= 1 * MiB, `used ${cache.usedBytes}`);
  // Random reads all over: always right, never above the budget.
  let x = 7;
  for (let i = 0; i < 200; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    const off = x % (data.length - 5000);
    eq(await src.read(off, 5000), data.subarray(off, off + 5000));
    assert.ok(cache.usedBytes <= 1 * MiB);
  }
  await cache.close();
  assert.equal(cache.usedBytes, 0);
});

test('memory cache: concurrent readers share downloads', async () => {
  const data = patternBytes(4 * MiB, 2);
  const up = new CountingSource(new SlowSource(new MemorySource(data), 20));
  const cache = new MemoryBlobCache({ chunkSize: 64 * KiB, maxBytes: 16 * MiB, readahead: false });
  const src = await cache.openBlob(sha256(data), data.length, up);
  const all = await Promise.all(Array.from({ length: 8 }, () => src.read(0, data.length)));
  all.forEach((r) => eq(r, data));
  assert.equal(up.bytes, data.length);
  await cache.close();
});

test('memory cache: a lying upstream is caught when a sequential read reaches the end', async () => {
  const data = patternBytes(3 * MiB, 3);
  const cache = new MemoryBlobCache({ chunkSize: 64 * KiB, maxBytes: 1 * MiB });
  const src = await cache.openBlob(sha256(data), data.length, new FlippingSource(new MemorySource(data), 2 * MiB + 5));
  const got: Uint8Array[] = [];
  await assert.rejects(
    (async () => {
      for await (const p of readPieces(src, { pieceSize: 256 * KiB })) got.push(p);
    })(),
    (e) => isOcifsError(e, 'ERR_OCIFS_DIGEST_MISMATCH'),
  );
  // And an honest one reads through without complaint.
  const ok = await cache.openBlob(
    sha256(patternBytes(3 * MiB, 4)),
    3 * MiB,
    new MemorySource(patternBytes(3 * MiB, 4)),
  );
  let total = 0;
  for await (const p of readPieces(ok, { pieceSize: 256 * KiB })) total += p.byteLength;
  assert.equal(total, 3 * MiB);
  await cache.close();
});

test('memory cache: sidecars kept in memory with their source (bounded; dropped with bytes that fail the check); verifyBeforeServe refused', async () => {
  const cache = new MemoryBlobCache({ maxBytes: 1000 });
  const data = patternBytes(300, 3);
  const src = await cache.openBlob(sha256(data), data.length, new MemorySource(data));
  assert.equal(await src.putSidecar('idx', Uint8Array.of(1, 2, 3), src.derivedMark()), true);
  eq((await src.getSidecar('idx'))!, Uint8Array.of(1, 2, 3));
  await src.putSidecar('big', new Uint8Array(999), src.derivedMark());
  assert.equal(await src.getSidecar('idx'), undefined, 'oldest dropped beyond the budget');
  // Another origin's source of the same digest sees none of it.
  const other = await cache.openBlob(sha256(data), data.length, new MemorySource(data), { origin: 'elsewhere' });
  assert.notEqual(other, src);
  assert.equal(await other.getSidecar('big'), undefined);
  // Derived from bytes that then fail their digest check: gone with them.
  const big = new MemoryBlobCache({ chunkSize: 64 * KiB, readahead: false });
  const lie = patternBytes(128 * KiB, 9);
  const liar = await big.openBlob(sha256(patternBytes(128 * KiB, 10)), lie.length, new MemorySource(lie));
  const mark = liar.derivedMark();
  await liar.read(0, 10);
  assert.equal(await liar.putSidecar('idx', Uint8Array.of(7), mark), true);
  await assert.rejects(liar.read(0, lie.length), (e) => isOcifsError(e, 'ERR_OCIFS_DIGEST_MISMATCH'));
  assert.equal(await liar.getSidecar('idx'), undefined);
  await big.close();
  assert.throws(() => new MemoryBlobCache({ verifyBeforeServe: true } as never), /invalid option verifyBeforeServe/);
  assert.throws(() => new MemoryBlobCache({ maxBytes: -1 }), /invalid option maxBytes/);
  await cache.close();
});
