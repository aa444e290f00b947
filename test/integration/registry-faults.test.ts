// Every fault of the fault proxy, between the client and a real registry, ends in correct bytes
// or a clear typed error — never wrong bytes from a response that does not match its request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { FaultProxy } from '../helpers/fault-proxy.js';
import { withFaultTestClient as withClient, useProxiedBlob } from '../helpers/proxied-blob.js';
import type { RegistryClient, ResolvedImage } from '../../src/registry/index.js';
import { isOcifsError, type OcifsErrorCode } from '../../src/errors.js';

let proxy: FaultProxy;
let img: ResolvedImage;
const blob = randomBytes(1024 * 1024 + 3);
const BLOB = /\/blobs\//;

const code = (c: OcifsErrorCode, re?: RegExp) => (e: unknown) =>
  isOcifsError(e, c) && (re === undefined || re.test((e as Error).message));

useProxiedBlob(blob, 'f/app', (f) => ({ proxy, img } = f));

const read = (c: RegistryClient, o: number, n: number, sink?: (o: number, b: Uint8Array) => Promise<void>) =>
  c
    .blobSource(img.reference, img.layers[0], sink ? { onExtraBytes: sink } : {})
    .read(o, n)
    .then((b) => Buffer.from(b));

test('Range ignored (200 whole body): exact bytes, the rest to the sink, every byte received once', async () => {
  proxy.addRule({ path: BLOB, fault: { kind: 'ignore-range' } });
  await withClient(async (c, stats) => {
    let sunk = 0;
    const got = await read(c, 1000, 5000, async (o, b) => {
      assert.deepEqual(Buffer.from(b), blob.subarray(o, o + b.length));
      sunk += b.length;
    });
    assert.deepEqual(got, blob.subarray(1000, 6000));
    // the stream goes on feeding the sink after the read is answered
    for (let i = 0; i < 500 && stats.bytesFetched < blob.length; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(sunk, blob.length - 5000);
    assert.equal(stats.bytesFetched, blob.length);
  });
});

test('Range ignored and the whole body cut short: retried, then correct', async () => {
  proxy.addRule({ path: BLOB, fault: { kind: 'ignore-range', truncateAfter: 300_000 }, times: 1 });
  await withClient(async (c, stats) => {
    assert.deepEqual(await read(c, 500_000, 1000), blob.subarray(500_000, 501_000));
    assert.ok(stats.retries >= 1);
  });
});

test('503 and 429 with Retry-After (seconds and HTTP-date) are waited out and retried', async () => {
  proxy.addRule({ path: BLOB, fault: { kind: 'status', status: 503, retryAfter: '1' }, times: 1 });
  proxy.addRule({
    path: BLOB,
    fault: { kind: 'status', status: 429, retryAfter: new Date(Date.now() + 3000).toUTCString() },
    times: 1,
  });
  await withClient(async (c, stats) => {
    const t0 = Date.now();
    assert.deepEqual(await read(c, 0, 100), blob.subarray(0, 100));
    assert.equal(stats.retries, 2);
    // 1 s, then an HTTP-date at least 1 s ahead (the date has whole seconds)
    assert.ok(Date.now() - t0 >= 1900, 'Retry-After was honoured');
  });
});

test('Retry-After is capped by retryAfterMax', async () => {
  proxy.addRule({ path: BLOB, fault: { kind: 'status', status: 503, retryAfter: '3600' }, times: 1 });
  await withClient(
    async (c) => {
      assert.deepEqual(await read(c, 0, 10), blob.subarray(0, 10));
    },
    { retryAfterMax: 50 },
  );
});

test('persistent 503 ends in ERR_OCIFS_HTTP with the status; 500 on a manifest too', async () => {
  proxy.addRule({ path: BLOB, fault: { kind: 'status', status: 503 } });
  await withClient(async (c, stats) => {
    await assert.rejects(
      read(c, 0, 10),
      (e: unknown) => code('ERR_OCIFS_HTTP', /HTTP 503/)(e) && (e as { data: { status: number } }).data.status === 503,
    );
    assert.equal(stats.retries, 3);
  });
  proxy.clearRules();
  proxy.addRule({ path: /\/manifests\//, fault: { kind: 'status', status: 500 } });
  await withClient(async (c) => {
    await assert.rejects(
      c.resolve(`${proxy.host}/f/app:v1`),
      code('ERR_OCIFS_HTTP', /f\/app: manifest v1 failed with HTTP 500/),
    );
  });
});

test('403 is ERR_OCIFS_DENIED, not retried', async () => {
  proxy.addRule({
    path: BLOB,
    fault: {
      kind: 'status',
      status: 403,
      body: JSON.stringify({ errors: [{ code: 'DENIED', message: 'no access' }] }),
    },
  });
  await withClient(async (c, stats) => {
    await assert.rejects(read(c, 0, 10), code('ERR_OCIFS_DENIED', /no access/));
    assert.equal(stats.retries, 0);
  });
});

test('truncated 206 body: retried, correct bytes; always truncated: ERR_OCIFS_SHORT_BODY', async () => {
  proxy.addRule({ path: BLOB, fault: { kind: 'truncate', after: 100 }, times: 1 });
  await withClient(async (c, stats) => {
    assert.deepEqual(await read(c, 10, 50_000), blob.subarray(10, 50_010));
    assert.equal(stats.retries, 1);
  });
  proxy.clearRules();
  proxy.addRule({ path: BLOB, fault: { kind: 'truncate', after: 100 } });
  await withClient(async (c) => {
    await assert.rejects(read(c, 10, 50_000), code('ERR_OCIFS_SHORT_BODY'));
  });
});

test('stalled body: the stall timeout fires, the retry gets the bytes; always stalled: ERR_OCIFS_TIMEOUT', async () => {
  proxy.addRule({ path: BLOB, fault: { kind: 'stall', after: 10 }, times: 1 });
  await withClient(async (c, stats) => {
    assert.deepEqual(await read(c, 0, 20_000), blob.subarray(0, 20_000));
    assert.equal(stats.retries, 1);
  });
  proxy.clearRules();
  proxy.addRule({ path: BLOB, fault: { kind: 'stall', after: 10 } });
  await withClient(
    async (c) => {
      await assert.rejects(read(c, 0, 20_000), code('ERR_OCIFS_TIMEOUT', /stalled/));
    },
    { maxRetries: 1 },
  );
});

test('connection reset: retried; always reset: ERR_OCIFS_NETWORK', async () => {
  proxy.addRule({ path: BLOB, fault: { kind: 'reset' }, times: 2 });
  await withClient(async (c, stats) => {
    assert.deepEqual(await read(c, 77, 77), blob.subarray(77, 154));
    assert.equal(stats.retries, 2);
  });
  proxy.clearRules();
  proxy.addRule({ fault: { kind: 'reset' } });
  await withClient(async (c) => {
    await assert.rejects(read(c, 0, 10), code('ERR_OCIFS_NETWORK'));
    await assert.rejects(c.resolve(`${proxy.host}/f/app:v1`), code('ERR_OCIFS_NETWORK'));
  });
});

test('a 206 whose Content-Range does not match the request is never served', async () => {
  proxy.addRule({ path: BLOB, fault: { kind: 'shift-content-range', shift: 1 }, times: 1 });
  await withClient(async (c, stats) => {
    assert.deepEqual(await read(c, 5000, 100), blob.subarray(5000, 5100));
    assert.equal(stats.retries, 1);
  });
  proxy.clearRules();
  proxy.addRule({ path: BLOB, fault: { kind: 'shift-content-range', shift: 1 } });
  await withClient(async (c) => {
    await assert.rejects(
      read(c, 5000, 100),
      code('ERR_OCIFS_RANGE', /asked for bytes 5000-5099, got Content-Range "bytes 5001-5100/),
    );
  });
});

test('a 206 with more bytes than its Content-Range is never served', async () => {
  proxy.addRule({ path: BLOB, fault: { kind: 'extra-bytes', extra: 7 } });
  await withClient(async (c) => {
    await assert.rejects(read(c, 0, 100), code('ERR_OCIFS_RANGE'));
  });
});

test("a flipped byte inside a correct-length 206 passes through (only the cache's whole-blob digest check can see it)", async () => {
  proxy.addRule({ path: BLOB, fault: { kind: 'flip', at: 3 }, times: 1 });
  await withClient(async (c) => {
    const got = await read(c, 100, 10);
    const want = Buffer.from(blob.subarray(100, 110));
    want[3] ^= 0xff;
    assert.deepEqual(got, want);
  });
});

test('a flipped byte in a manifest or config is caught by digest verification', async () => {
  // by digest: the computed digest must match the reference
  proxy.addRule({ path: /\/manifests\//, fault: { kind: 'flip', at: 30 } });
  await withClient(async (c) => {
    await assert.rejects(c.resolve(`${proxy.host}/f/app@${img.manifestDigest}`), code('ERR_OCIFS_DIGEST_MISMATCH'));
    // by tag: the registry's Docker-Content-Digest header must match
    await assert.rejects(
      c.resolve(`${proxy.host}/f/app:v1`),
      code('ERR_OCIFS_DIGEST_MISMATCH', /Docker-Content-Digest/),
    );
  });
  proxy.clearRules();
  proxy.addRule({ path: new RegExp(img.configDigest), fault: { kind: 'flip', at: 5 } });
  await withClient(async (c) => {
    await assert.rejects(c.resolve(`${proxy.host}/f/app:v1`), code('ERR_OCIFS_DIGEST_MISMATCH', /blob/));
  });
});

test('a manifest over the size cap is refused before it is read whole', async () => {
  await withClient(
    async (c) => {
      await assert.rejects(
        c.resolve(`${proxy.host}/f/app:v1`),
        code('ERR_OCIFS_BAD_MANIFEST', /larger than the 100-byte limit/),
      );
    },
    { maxManifestSize: 100 },
  );
});

test('AbortSignal cancels a stalled read promptly', async () => {
  proxy.addRule({ path: BLOB, fault: { kind: 'stall', after: 10 } });
  await withClient(
    async (c) => {
      const ac = new AbortController();
      const p = c.blobSource(img.reference, img.layers[0]).read(0, 50_000, { signal: ac.signal });
      setTimeout(() => ac.abort(), 100);
      await assert.rejects(p, code('ERR_OCIFS_ABORTED'));
    },
    { bodyTimeout: 60_000 },
  );
});
