// RemoteBlobSource.streamRange between the client and a real registry, through the fault proxy:
// every fault ends in the exact bytes delivered once each, in order, or a clear typed error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { FaultProxy } from '../helpers/fault-proxy.js';
import { withFaultTestClient as withClient, useProxiedBlob } from '../helpers/proxied-blob.js';
import type { RegistryClient, ResolvedImage } from '../../src/registry/index.js';
import { isOcifsError, type OcifsErrorCode } from '../../src/errors.js';

let proxy: FaultProxy;
let img: ResolvedImage;
const blob = randomBytes(3 * 1024 * 1024 + 5);
const BLOB = /\/blobs\//;

/** Streams a range and returns what arrived (checking order and chunk ownership on the way). */
async function stream(
  c: RegistryClient,
  offset: number,
  length: number,
  extra?: (o: number, b: Uint8Array) => Promise<void>,
): Promise<Buffer> {
  const src = c.blobSource(img.reference, img.layers[0], extra ? { onExtraBytes: extra } : {});
  const parts: Buffer[] = [];
  await src.streamRange(offset, length, (chunk) => {
    parts.push(Buffer.from(chunk));
  });
  return Buffer.concat(parts);
}

const code = (c: OcifsErrorCode) => (e: unknown) => isOcifsError(e, c);

useProxiedBlob(blob, 's/app', (f) => ({ proxy, img } = f));

const blobRequests = () => proxy.log.filter((e) => BLOB.test(e.path));

test('the whole blob is one GET without Range; a part is one ranged GET; exact bytes', async () => {
  await withClient(async (c, stats) => {
    assert.deepEqual(await stream(c, 0, blob.length), blob);
    assert.deepEqual(
      blobRequests().map((e) => e.range),
      [undefined],
    );
    assert.equal(stats.bytesFetched, blob.length);
    proxy.log.length = 0;
    assert.deepEqual(await stream(c, 1000, 2_000_000), blob.subarray(1000, 2_001_000));
    assert.deepEqual(
      blobRequests().map((e) => e.range),
      ['bytes=1000-2000999'],
    );
    // cut short at the end like a read
    assert.deepEqual(await stream(c, blob.length - 10, 100), blob.subarray(blob.length - 10));
  });
});

test('a body cut short resumes at the first byte not delivered (a Range request), every byte once', async () => {
  proxy.addRule({ path: BLOB, ranged: false, fault: { kind: 'truncate', after: 1_000_000 }, times: 1 });
  proxy.addRule({ path: BLOB, ranged: true, fault: { kind: 'truncate', after: 700_000 }, times: 1 });
  await withClient(async (c, stats) => {
    assert.deepEqual(await stream(c, 0, blob.length), blob);
    const reqs = blobRequests();
    assert.equal(reqs[0].range, undefined);
    assert.match(reqs[1].range ?? '', /^bytes=\d+-3145732$/);
    // resumed where the delivered bytes ended (undici may hold back none of what arrived)
    assert.ok(Number(/=(\d+)-/.exec(reqs[1].range!)![1]) <= 1_000_000);
    assert.equal(reqs.length, 3);
    assert.ok(stats.retries >= 2);
  });
});

test('more truncations than retries, each making progress, still complete', async () => {
  proxy.addRule({ path: BLOB, fault: { kind: 'truncate', after: 400_000 }, times: 6 });
  await withClient(async (c) => {
    assert.deepEqual(await stream(c, 0, blob.length), blob);
    assert.equal(blobRequests().length, 7);
  });
});

test('503 with Retry-After before the body: retried', async () => {
  proxy.addRule({ path: BLOB, fault: { kind: 'status', status: 503, retryAfter: '0' }, times: 2 });
  await withClient(async (c) => assert.deepEqual(await stream(c, 5, 100_000), blob.subarray(5, 100_005)));
});

test('always truncated with little progress: ERR_OCIFS_SHORT_BODY; 404: ERR_OCIFS_BLOB_UNKNOWN', async () => {
  proxy.addRule({ path: BLOB, fault: { kind: 'truncate', after: 1000 } });
  await withClient(async (c) => assert.rejects(stream(c, 0, blob.length), code('ERR_OCIFS_SHORT_BODY')));
  proxy.clearRules();
  proxy.addRule({
    path: BLOB,
    fault: {
      kind: 'status',
      status: 404,
      body: JSON.stringify({ errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown' }] }),
    },
  });
  await withClient(async (c) => assert.rejects(stream(c, 0, 10), code('ERR_OCIFS_BLOB_UNKNOWN')));
});

test('Range ignored: the range is cut out of the whole body, the rest goes to the extra sink once', async () => {
  proxy.addRule({ path: BLOB, fault: { kind: 'ignore-range' } });
  await withClient(async (c, stats) => {
    const extra: [number, number][] = [];
    const got = await stream(c, 100_000, 1_000_000, async (o, b) => {
      assert.deepEqual(Buffer.from(b), blob.subarray(o, o + b.length));
      extra.push([o, o + b.length]);
    });
    assert.deepEqual(got, blob.subarray(100_000, 1_100_000));
    const covered = extra.reduce((n, [s, e]) => n + e - s, 0);
    assert.equal(covered, blob.length - 1_000_000);
    assert.equal(stats.bytesFetched, blob.length);
    // the next stream of this endpoint does not ask for a range it will not get
    proxy.log.length = 0;
    assert.deepEqual(await stream(c, 5, 10), blob.subarray(5, 15));
    assert.deepEqual(
      blobRequests().map((e) => e.range),
      [undefined],
    );
  });
});

test('a 206 whose Content-Range does not match is never delivered; the retry is', async () => {
  proxy.addRule({ path: BLOB, fault: { kind: 'shift-content-range', shift: 1 }, times: 1 });
  await withClient(async (c) => assert.deepEqual(await stream(c, 10, 5000), blob.subarray(10, 5010)));
  proxy.addRule({ path: BLOB, fault: { kind: 'shift-content-range', shift: 1 } });
  await withClient(async (c) => assert.rejects(stream(c, 10, 5000), code('ERR_OCIFS_RANGE')));
});

test('a sink error ends the stream as it is, unretried; an abort rejects with ERR_OCIFS_ABORTED', async () => {
  await withClient(async (c) => {
    const src = c.blobSource(img.reference, img.layers[0]);
    const boom = new Error('consumer failed');
    await assert.rejects(
      src.streamRange(0, blob.length, () => {
        throw boom;
      }),
      (e) => e === boom,
    );
    assert.equal(blobRequests().length, 1);
    const ac = new AbortController();
    await assert.rejects(
      src.streamRange(0, blob.length, () => ac.abort(), { signal: ac.signal }),
      code('ERR_OCIFS_ABORTED'),
    );
  });
});

test('backpressure: a slow sink is fed in order, with no byte lost or repeated', async () => {
  await withClient(async (c) => {
    const src = c.blobSource(img.reference, img.layers[0]);
    const parts: Buffer[] = [];
    await src.streamRange(7, blob.length, async (chunk) => {
      parts.push(Buffer.from(chunk));
      if (parts.length % 8 === 0) await new Promise((r) => setTimeout(r, 2));
    });
    assert.deepEqual(Buffer.concat(parts), blob.subarray(7));
  });
});
