// The registry client against a real, anonymous distribution registry: resolve a tag and a
// digest, verify manifest digests, read blob ranges with exact bytes, count requests and bytes,
// multi-platform index selection, referrers fallback, typed errors for what does not exist.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { startRegistry, skopeoPush, type TestRegistry } from '../helpers/registry.js';
import {
  writeImageLayout,
  putImage,
  putIndex,
  tagInLayout,
  sha256,
  MT_LAYER_EROFS,
  MT_LAYER_GZIP,
  MT_MANIFEST,
} from '../helpers/oci-layout.js';
import { RegistryClient } from '../../src/registry/index.js';
import { IoStats } from '../../src/io/io-stats.js';
import { parsePlatform } from '../../src/oci/index.js';
import { isOcifsError } from '../../src/errors.js';

let reg: TestRegistry;
let tmp: string;
const layer0 = randomBytes(300_000);
// skopeo compresses uncompressed tar layers on push: use types it keeps as they are
const layer1 = gzipSync(randomBytes(70_000));
let manifestDigest: string;

before(async () => {
  reg = await startRegistry();
  tmp = await mkdtemp(join(tmpdir(), 'ocifs-reg-anon-'));
  const desc = await writeImageLayout(
    join(tmp, 'single'),
    {
      layers: [
        { bytes: layer0, mediaType: MT_LAYER_EROFS },
        { bytes: layer1, mediaType: MT_LAYER_GZIP },
      ],
      config: { Cmd: ['/bin/true'] },
    },
    'v1',
  );
  manifestDigest = desc.digest;
  await skopeoPush(join(tmp, 'single'), 'v1', `${reg.host}/test/single:v1`);
  // a two-platform index, pushed with --all
  const multi = join(tmp, 'multi');
  const amd = await putImage(multi, {
    layers: [{ bytes: Buffer.from('amd64 layer'), mediaType: MT_LAYER_EROFS }],
    architecture: 'amd64',
  });
  const arm = await putImage(multi, {
    layers: [{ bytes: Buffer.from('arm64 layer'), mediaType: MT_LAYER_EROFS }],
    architecture: 'arm64',
    variant: 'v8',
  });
  const armv7 = await putImage(multi, {
    layers: [{ bytes: Buffer.from('armv7 layer'), mediaType: MT_LAYER_EROFS }],
    architecture: 'arm',
    variant: 'v7',
  });
  const idx = await putIndex(multi, [amd, arm, armv7]);
  await tagInLayout(multi, idx, 'multi');
  await skopeoPush(multi, 'multi', `${reg.host}/test/multi:multi`, ['--all']);
});

after(async () => {
  await reg?.stop();
  await rm(tmp, { recursive: true, force: true });
});

test('resolve by tag: manifest, config, layers, digest computed and reported', async () => {
  const stats = new IoStats();
  const c = new RegistryClient({ stats });
  try {
    const img = await c.resolve(`${reg.host}/test/single:v1`);
    assert.equal(img.registry, reg.host);
    assert.equal(img.repository, 'test/single');
    assert.equal(img.manifestDigest, manifestDigest);
    assert.equal(img.mediaType, MT_MANIFEST);
    assert.equal(img.index, undefined);
    assert.deepEqual(img.platform, { os: 'linux', architecture: 'amd64' });
    assert.deepEqual(img.config?.config?.Cmd, ['/bin/true']);
    assert.deepEqual(
      img.layers.map((l) => [l.mediaType, l.digest, l.size]),
      [
        [MT_LAYER_EROFS, sha256(layer0), layer0.length],
        [MT_LAYER_GZIP, sha256(layer1), layer1.length],
      ],
    );
    assert.equal(img.source, reg.url);
    assert.equal(stats.requests, 2, 'one manifest GET + one config GET');
    assert.equal(stats.bytesFetched, img.manifestBytes.length + img.configBytes!.length);
  } finally {
    await c.close();
  }
});

test('resolve with config: false: the manifest and its layers in one request, no config', async () => {
  const stats = new IoStats();
  const c = new RegistryClient({ stats });
  try {
    const img = await c.resolve(`${reg.host}/test/single:v1`, { config: false });
    assert.equal(stats.requests, 1, 'one manifest GET');
    assert.equal(img.config, undefined);
    assert.equal(img.configBytes, undefined);
    assert.match(img.configDigest, /^sha256:[0-9a-f]{64}$/, 'the descriptor is known from the manifest');
    assert.equal(img.layers.length, 2);
  } finally {
    await c.close();
  }
});

test('resolve by digest verifies it; a wrong digest is MANIFEST_UNKNOWN', async () => {
  const c = new RegistryClient();
  try {
    const img = await c.resolve(`${reg.host}/test/single@${manifestDigest}`);
    assert.equal(img.manifestDigest, manifestDigest);
    const wrong = 'sha256:' + '0'.repeat(64);
    await assert.rejects(
      c.resolve(`${reg.host}/test/single@${wrong}`),
      (e: unknown) => isOcifsError(e, 'ERR_OCIFS_MANIFEST_UNKNOWN') && /test\/single/.test((e as Error).message),
    );
    await assert.rejects(c.resolve(`${reg.host}/test/single:nope`), (e: unknown) =>
      isOcifsError(e, 'ERR_OCIFS_MANIFEST_UNKNOWN'),
    );
    await assert.rejects(c.resolve(`${reg.host}/test/absent:v1`), (e: unknown) =>
      isOcifsError(e, 'ERR_OCIFS_MANIFEST_UNKNOWN'),
    );
  } finally {
    await c.close();
  }
});

test('RemoteBlobSource reads exact ranges with one request each, bytes counted', async () => {
  const stats = new IoStats();
  const c = new RegistryClient({ stats });
  try {
    const img = await c.resolve(`${reg.host}/test/single:v1`);
    const before = { ...stats.toJSON() };
    const src = c.blobSource(img.reference, img.layers[0]);
    assert.equal(src.size, layer0.length);
    for (const [o, n] of [
      [0, 1],
      [12345, 4096],
      [layer0.length - 10, 10],
      [layer0.length - 10, 100], // cut short at the end
      [0, layer0.length],
    ]) {
      const got = await src.read(o, n);
      assert.deepEqual(Buffer.from(got), layer0.subarray(o, Math.min(o + n, layer0.length)));
    }
    assert.equal((await src.read(layer0.length, 5)).length, 0);
    await assert.rejects(src.read(layer0.length + 1, 1), (e: unknown) => isOcifsError(e, 'ERR_OCIFS_OUT_OF_RANGE'));
    assert.equal(stats.requests - before.requests, 5);
    assert.equal(stats.bytesFetched - before.bytesFetched, 1 + 4096 + 10 + 10 + layer0.length);
    // statBlob (HEAD) agrees with the descriptor; fetchBlob verifies
    assert.deepEqual(await c.statBlob(img.reference, img.layers[1].digest), {
      digest: img.layers[1].digest,
      size: layer1.length,
    });
    assert.deepEqual(Buffer.from(await c.fetchBlob(img.reference, img.layers[1])), layer1);
    await assert.rejects(c.statBlob(img.reference, 'sha256:' + '1'.repeat(64)), (e: unknown) =>
      isOcifsError(e, 'ERR_OCIFS_BLOB_UNKNOWN'),
    );
    const missing = c.blobSource(img.reference, { digest: 'sha256:' + '1'.repeat(64), size: 10 });
    await assert.rejects(missing.read(0, 5), (e: unknown) => isOcifsError(e, 'ERR_OCIFS_BLOB_UNKNOWN'));
    // a descriptor that claims a bigger blob: the registry's 416 or Content-Range total is a clear error
    const lying = c.blobSource(img.reference, { digest: img.layers[1].digest, size: layer1.length + 100 });
    await assert.rejects(lying.read(layer1.length + 10, 5), (e: unknown) => isOcifsError(e, 'ERR_OCIFS_RANGE'));
    await assert.rejects(
      lying.read(0, 5),
      (e: unknown) =>
        isOcifsError(e, 'ERR_OCIFS_RANGE') &&
        new RegExp(`has ${layer1.length} bytes, the manifest says ${layer1.length + 100}`).test((e as Error).message),
    );
  } finally {
    await c.close();
  }
});

test('multi-platform index: platform selection, digest of child verified, clear error when absent', async () => {
  const c = new RegistryClient();
  try {
    const amd = await c.resolve(`${reg.host}/test/multi:multi`, { platform: 'linux/amd64' });
    const arm = await c.resolve(`${reg.host}/test/multi:multi`, { platform: 'linux/arm64' });
    const armv7 = await c.resolve(`${reg.host}/test/multi:multi`, { platform: parsePlatform('linux/arm') });
    assert.ok(amd.index && arm.index);
    assert.equal(amd.index.digest, arm.index.digest);
    assert.equal(amd.index.index.manifests.length, 3);
    assert.deepEqual(amd.platform, { os: 'linux', architecture: 'amd64' });
    assert.deepEqual(arm.platform, { os: 'linux', architecture: 'arm64', variant: 'v8' });
    assert.deepEqual(armv7.platform, { os: 'linux', architecture: 'arm', variant: 'v7' });
    const layer = async (img: typeof amd) =>
      Buffer.from(await c.blobSource(img.reference, img.layers[0]).read(0, 100)).toString();
    assert.equal(await layer(amd), 'amd64 layer');
    assert.equal(await layer(arm), 'arm64 layer');
    assert.equal(await layer(armv7), 'armv7 layer');
    await assert.rejects(
      c.resolve(`${reg.host}/test/multi:multi`, { platform: 'linux/s390x' }),
      (e: unknown) =>
        isOcifsError(e, 'ERR_OCIFS_PLATFORM_NOT_FOUND') &&
        /available: linux\/amd64, linux\/arm64, linux\/arm\/v7/.test((e as Error).message),
    );
    // the index itself pinned by digest
    const pinned = await c.resolve(`${reg.host}/test/multi@${amd.index.digest}`, { platform: 'linux/arm64' });
    assert.equal(pinned.manifestDigest, arm.manifestDigest);
  } finally {
    await c.close();
  }
});

test('referrers: registry without the API falls back to the sha256-<hex> tag schema', async () => {
  const c = new RegistryClient();
  try {
    assert.deepEqual(await c.referrers(`${reg.host}/test/single:v1`, manifestDigest), []);
    // publish a referrers index under the fallback tag, as an OCI 1.1 client does. skopeo 1.9
    // drops artifactType from index entries, so the artifact goes up with skopeo and the index
    // with a plain PUT.
    const layout = join(tmp, 'referrers');
    const art = await putImage(layout, {
      layers: [{ bytes: Buffer.from('soci index bytes'), mediaType: MT_LAYER_EROFS }],
    });
    await tagInLayout(layout, art, 'art');
    await skopeoPush(layout, 'art', `${reg.host}/test/single:art`);
    const { platform: _p, ...plain } = art;
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { ...plain, artifactType: 'application/vnd.amazon.soci.index.v1+json' },
        { ...plain, artifactType: 'application/example' },
      ],
    });
    const tag = 'sha256-' + manifestDigest.slice(7);
    const put = await fetch(`${reg.url}/v2/test/single/manifests/${tag}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' },
      body: index,
    });
    assert.equal(put.status, 201, await put.text());
    const all = await c.referrers(`${reg.host}/test/single:v1`, manifestDigest);
    assert.equal(all.length, 2);
    const soci = await c.referrers(`${reg.host}/test/single:v1`, manifestDigest, {
      artifactType: 'application/vnd.amazon.soci.index.v1+json',
    });
    assert.deepEqual(
      soci.map((d) => [d.digest, d.artifactType]),
      [[art.digest, 'application/vnd.amazon.soci.index.v1+json']],
    );
  } finally {
    await c.close();
  }
});

test('nothing listening: a typed network error, not retried forever', async () => {
  const c = new RegistryClient({ maxRetries: 1, retryBaseDelay: 1 });
  try {
    await assert.rejects(
      c.resolve('127.0.0.1:9/x:y'),
      (e: unknown) => isOcifsError(e, 'ERR_OCIFS_NETWORK') && /connection refused/.test((e as Error).message),
    );
  } finally {
    await c.close();
  }
});

test('ping: GET /v2/ answers 200 without challenges on an anonymous registry', async () => {
  const c = new RegistryClient();
  try {
    assert.deepEqual(await c.ping(reg.host), { url: `${reg.url}/v2/`, status: 200, challenges: [] });
  } finally {
    await c.close();
  }
});
