// Mirrors and proxies: a second distribution registry as a pull-through cache of the first,
// used before the upstream; upstream fallback when the mirror is down or broken; the mirror's
// Range-ignoring 200 answers streamed once and shared; HTTP_PROXY honoured.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startRegistry, skopeoPush, type TestRegistry } from '../helpers/registry.js';
import { startMirror } from '../helpers/registry-mirror.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { writeImageLayout, MT_LAYER_EROFS } from '../helpers/oci-layout.js';
import { RegistryClient } from '../../src/registry/index.js';
import { IoStats } from '../../src/io/io-stats.js';
import { isOcifsError } from '../../src/errors.js';

let upstream: TestRegistry;
let mirror: TestRegistry;
let upProxy: FaultProxy; // in front of the upstream: the reference names it, so it counts upstream traffic
let mirrorProxy: FaultProxy; // in front of the mirror: counts mirror traffic
let tmp: string;
const blob = randomBytes(3 * 1024 * 1024 + 17);
const emptyEnv = { PATH: process.env.PATH };
let ref: string;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ocifs-reg-mirror-'));
  upstream = await startRegistry();
  upProxy = await startFaultProxy(upstream.url);
  await writeImageLayout(join(tmp, 'layout'), { layers: [{ bytes: blob, mediaType: MT_LAYER_EROFS }] }, 'v1');
  await skopeoPush(join(tmp, 'layout'), 'v1', `${upstream.host}/team/app:v1`);
  mirror = await startMirror(upstream.url);
  mirrorProxy = await startFaultProxy(mirror.url);
  ref = `${upProxy.host}/team/app:v1`;
});
after(async () => {
  await mirrorProxy?.stop();
  await mirror?.stop();
  await upProxy?.stop();
  await upstream?.stop();
  await rm(tmp, { recursive: true, force: true });
});

const blobGets = (p: FaultProxy) =>
  p.log.filter((e) => e.method === 'GET' && e.path.includes('/blobs/') && !e.path.includes(blob.length.toString()));

test('the mirror is used first; the Range-ignoring mirror streams the blob once, shared by concurrent reads', async () => {
  upProxy.log.length = 0;
  mirrorProxy.log.length = 0;
  const stats = new IoStats();
  const c = new RegistryClient({ stats, env: emptyEnv, hosts: { [upProxy.host]: { mirrors: [mirrorProxy.url] } } });
  try {
    const img = await c.resolve(ref);
    assert.equal(img.source, mirrorProxy.url);
    assert.equal(upProxy.log.length, 0, 'nothing asked of the upstream');
    assert.ok(
      mirrorProxy.log.every((e) => e.path.includes('ns=' + encodeURIComponent(upProxy.host))),
      'ns= names the upstream',
    );
    const fetchedBefore = stats.bytesFetched;
    const extra: [number, Buffer][] = [];
    const src = c.blobSource(img.reference, img.layers[0], {
      onExtraBytes: async (offset, bytes) => {
        extra.push([offset, Buffer.from(bytes)]);
      },
    });
    const ranges: [number, number][] = [
      [100, 200],
      [5000, 70_000],
      [1_000_000, 4096],
      [blob.length - 50, 50],
    ];
    const got = await Promise.all(ranges.map(([o, n]) => src.read(o, n)));
    ranges.forEach(([o, n], i) => assert.deepEqual(Buffer.from(got[i]), blob.subarray(o, o + n)));
    // the mirror really ignored Range (it is a pull-through distribution registry)
    const gets = blobGets(mirrorProxy).filter((e) => e.path.includes(img.layers[0].digest));
    assert.equal(gets.length, 1, 'one whole-body GET for four concurrent reads: ' + JSON.stringify(mirrorProxy.log));
    assert.equal(gets[0].status, 200);
    assert.equal(stats.bytesFetched - fetchedBefore, blob.length, 'every byte received once');
    // the sink got exactly the bytes no read asked for, in order, each once
    const asked = ranges.reduce((a, [, n]) => a + n, 0);
    assert.equal(
      extra.reduce((a, [, b]) => a + b.length, 0),
      blob.length - asked,
    );
    let last = -1;
    for (const [o, b] of extra) {
      assert.ok(o > last, 'offset order');
      last = o;
      assert.deepEqual(b, blob.subarray(o, o + b.length));
      for (const [ro, rn] of ranges) assert.ok(o + b.length <= ro || o >= ro + rn, 'no asked byte sent to the sink');
    }
    // a read just behind the finished stream is served from its retained tail: no new request
    // (the cache may not have stored what the sink got yet)
    const again = await src.read(10, 10);
    assert.deepEqual(Buffer.from(again), blob.subarray(10, 20));
    const later = blobGets(mirrorProxy).filter((e) => e.path.includes(img.layers[0].digest));
    assert.equal(later.length, 1, 'served from the retained tail');
  } finally {
    await c.close();
  }
});

test('without a sink the whole-body stream stops once the asked bytes are in', async () => {
  const stats = new IoStats();
  const c = new RegistryClient({ stats, env: emptyEnv, hosts: { [upProxy.host]: { mirrors: [mirrorProxy.url] } } });
  try {
    const img = await c.resolve(ref);
    const before = stats.bytesFetched;
    const got = await c.blobSource(img.reference, img.layers[0]).read(0, 1000);
    assert.deepEqual(Buffer.from(got), blob.subarray(0, 1000));
    assert.ok(stats.bytesFetched - before < blob.length, `stopped early (${stats.bytesFetched - before} bytes)`);
  } finally {
    await c.close();
  }
});

test('a mirror that is down or failing falls back to the upstream; its errors never surface', async () => {
  upProxy.log.length = 0;
  const c = new RegistryClient({
    env: emptyEnv,
    retryBaseDelay: 1,
    maxRetries: 1,
    hosts: { [upProxy.host]: { mirrors: ['http://127.0.0.1:9', mirrorProxy.url] } },
  });
  try {
    // first mirror refuses connections, second serves
    mirrorProxy.log.length = 0;
    const img = await c.resolve(ref);
    assert.equal(img.source, mirrorProxy.url);
    assert.equal(upProxy.log.length, 0);
  } finally {
    await c.close();
  }
  // the mirror answers 503: after its retries, the upstream serves (and Range works there)
  mirrorProxy.addRule({ fault: { kind: 'status', status: 503 } });
  const c2 = new RegistryClient({
    env: emptyEnv,
    retryBaseDelay: 1,
    maxRetries: 1,
    hosts: { [upProxy.host]: { mirrors: [mirrorProxy.url] } },
  });
  try {
    const img = await c2.resolve(ref);
    assert.equal(img.source, `http://${upProxy.host}`);
    const got = await c2.blobSource(img.reference, img.layers[0]).read(12345, 100);
    assert.deepEqual(Buffer.from(got), blob.subarray(12345, 12445));
    assert.ok(upProxy.log.some((e) => e.range === 'bytes=12345-12444'));
  } finally {
    mirrorProxy.clearRules();
    await c2.close();
  }
  // the mirror serves a corrupted manifest for a digest reference: verified, refused, upstream used
  const c3 = new RegistryClient({
    env: emptyEnv,
    retryBaseDelay: 1,
    hosts: { [upProxy.host]: { mirrors: [mirrorProxy.url] } },
  });
  try {
    const good = await c3.resolve(ref);
    mirrorProxy.addRule({ path: /\/manifests\/sha256:/, fault: { kind: 'flip', at: 20 } });
    upProxy.log.length = 0;
    const pinned = await c3.fetchManifest(`${upProxy.host}/team/app@${good.manifestDigest}`);
    assert.equal(pinned.digest, good.manifestDigest);
    assert.equal(pinned.source, `http://${upProxy.host}`);
  } finally {
    mirrorProxy.clearRules();
    await c3.close();
  }
});

test('HTTP_PROXY: requests go through the proxy (absolute-form), NO_PROXY bypasses it', async () => {
  const fwd = await startFaultProxy('http://127.0.0.1:9');
  try {
    const c = new RegistryClient({ env: emptyEnv, httpProxy: fwd.url, noProxy: '' });
    try {
      const img = await c.resolve(`${upstream.host}/team/app:v1`);
      assert.deepEqual(Buffer.from(await c.blobSource(img.reference, img.layers[0]).read(7, 7)), blob.subarray(7, 14));
      assert.ok(fwd.log.length >= 3 && fwd.log.every((e) => e.forward), 'all requests went through the proxy');
    } finally {
      await c.close();
    }
    fwd.log.length = 0;
    const c2 = new RegistryClient({ env: emptyEnv, httpProxy: fwd.url, noProxy: '127.0.0.1' });
    try {
      await c2.resolve(`${upstream.host}/team/app:v1`);
      assert.equal(fwd.log.length, 0);
    } finally {
      await c2.close();
    }
  } finally {
    await fwd.stop();
  }
});

test('bad mirror URLs are refused at construction naming the option', () => {
  assert.throws(
    () => new RegistryClient({ hosts: { 'docker.io': { mirrors: ['ftp://x'] } } }),
    (e: unknown) =>
      isOcifsError(e, 'ERR_OCIFS_INVALID_OPTION') && /hosts\["docker.io"\].mirrors\[0\]/.test((e as Error).message),
  );
  assert.throws(() => new RegistryClient({ hosts: { 'docker.io': { mirrors: ['http://u:p@x'] } } }), /credentials/);
  assert.throws(() => new RegistryClient({ maxRetries: -1 }), /maxRetries/);
});
