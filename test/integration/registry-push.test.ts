// The push side against Debian's distribution registry: blobs skipped when present, mounted
// across repositories, sent in one PUT or in PATCH chunks (also from a stream of unknown size),
// chunks resumed after the registry refuses or drops one, manifests last, the referrers tag
// schema kept without losing entries, and push rights checked through real basic and token auth.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { startTokenIssuer, type TokenIssuer } from '../helpers/token-issuer.js';
import { htpasswdConfig, writeHtpasswd } from '../helpers/htpasswd.js';
import { MemorySource } from '../../src/io/memory-source.js';
import { RegistryClient, RegistryPusher, pushReferrer, referrersTag } from '../../src/registry/index.js';
import { parseReference } from '../../src/ref/index.js';

const sha = (b: Uint8Array) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const CHUNK = 256 * 1024;

let reg: TestRegistry;
let proxy: FaultProxy;
let client: RegistryClient;
let pusher: RegistryPusher;

before(async () => {
  reg = await startRegistry();
  proxy = await startFaultProxy(reg.url);
  client = new RegistryClient({ retryBaseDelay: 1, retryMaxDelay: 5 });
  pusher = new RegistryPusher(client, { chunkSize: CHUNK });
});

after(async () => {
  await client?.close();
  await proxy?.stop();
  await reg?.stop();
});

async function fetchBlob(host: string, repo: string, digest: string): Promise<Buffer> {
  const r = await fetch(`http://${host}/v2/${repo}/blobs/${digest}`);
  assert.equal(r.status, 200, `GET blob ${digest}`);
  return Buffer.from(await r.arrayBuffer());
}

test('a small blob goes up in one PUT, and is skipped (HEAD) the second time', async () => {
  const bytes = randomBytes(1000);
  const before = proxy.log.length;
  const ref = parseReference(`${proxy.host}/push/small:x`);
  const first = await pusher.pushBlob(ref, bytes);
  assert.deepEqual(first, { digest: sha(bytes), size: 1000, how: 'uploaded' });
  assert.deepEqual(
    proxy.log.slice(before).map((e) => e.method),
    ['HEAD', 'POST', 'PUT'],
  );
  const again = await pusher.pushBlob(ref, bytes);
  assert.equal(again.how, 'exists');
  assert.deepEqual(await fetchBlob(reg.host, 'push/small', first.digest), bytes);
});

test('a large source goes up in PATCH chunks with Content-Range; a blob of another repository is mounted', async () => {
  const bytes = randomBytes(5 * CHUNK + 123);
  const before = proxy.log.length;
  const pushed = await pusher.pushBlob(`${proxy.host}/push/large`, new MemorySource(bytes), { digest: sha(bytes) });
  assert.equal(pushed.how, 'uploaded');
  const patches = proxy.log.slice(before).filter((e) => e.method === 'PATCH');
  assert.equal(patches.length, 6);
  assert.deepEqual(await fetchBlob(reg.host, 'push/large', pushed.digest), bytes);
  // Without a digest it is computed on the way.
  const noDigest = await pusher.pushBlob(`${proxy.host}/push/large2`, new MemorySource(bytes));
  assert.equal(noDigest.digest, sha(bytes));

  const mountedAt = proxy.log.length;
  const mounted = await pusher.pushBlob(`${proxy.host}/push/other`, new MemorySource(bytes), {
    digest: sha(bytes),
    mountFrom: ['push/large'],
  });
  assert.equal(mounted.how, 'mounted');
  assert.deepEqual(
    proxy.log.slice(mountedAt).map((e) => [e.method, e.status]),
    [
      ['HEAD', 404],
      ['POST', 201],
    ],
  );
  assert.deepEqual(await fetchBlob(reg.host, 'push/other', pushed.digest), bytes);
});

test('a stream of unknown size is pushed with its digest computed on the way', async () => {
  const parts = Array.from({ length: 9 }, (_, i) => randomBytes(50_000 + i * 7919));
  async function* gen() {
    for (const p of parts) yield p;
  }
  const all = Buffer.concat(parts);
  const pushed = await pusher.pushStream(`${proxy.host}/push/stream`, gen());
  assert.deepEqual(pushed, { digest: sha(all), size: all.length, how: 'uploaded' });
  assert.deepEqual(await fetchBlob(reg.host, 'push/stream', pushed.digest), all);
  await assert.rejects(
    pusher.pushStream(`${proxy.host}/push/stream`, gen(), { expectedDigest: sha(Buffer.from('x')) }),
    { code: 'ERR_OCIFS_PUSH_REFUSED' },
  );
});

test('a PATCH refused or dropped midway is resumed from the Range the registry reports', async () => {
  for (const fault of [{ kind: 'status', status: 500 } as const, { kind: 'reset' } as const]) {
    const bytes = randomBytes(6 * CHUNK);
    proxy.clearRules();
    const before = proxy.log.length;
    // Two chunks go through, the third is refused (or its connection dropped).
    proxy.addRule({ method: 'PATCH', fault, skip: 2, times: 1 });
    let seen = 0;
    async function* gen() {
      for (let i = 0; i < 6; i++) {
        seen++;
        yield bytes.subarray(i * CHUNK, (i + 1) * CHUNK);
      }
    }
    const pushed = await pusher.pushStream(`${proxy.host}/push/resume-${fault.kind}`, gen());
    proxy.clearRules();
    assert.equal(pushed.digest, sha(bytes));
    assert.deepEqual(await fetchBlob(reg.host, `push/resume-${fault.kind}`, pushed.digest), bytes);
    const log = proxy.log.slice(before);
    const failed = log.findIndex((e) => e.fault === fault.kind);
    assert.ok(failed >= 0, 'the fault was injected');
    // After the failure: the session's status, then the chunk again.
    assert.equal(log[failed + 1].method, 'GET');
    assert.match(log[failed + 1].path, /blobs\/uploads\//);
    assert.equal(log[failed + 2].method, 'PATCH');
    assert.equal(log.filter((e) => e.method === 'PATCH' && !e.fault).length, 6);
    assert.equal(seen, 6);
  }
});

test('a fault on a later chunk of a source is resumed too; a lost session starts over', async () => {
  const bytes = randomBytes(4 * CHUNK + 5);
  proxy.clearRules();
  // 2nd PATCH refused, and the session status refused as unknown once: the upload starts over.
  let patches = 0;
  const before = proxy.log.length;
  proxy.addRule({ method: 'PATCH', fault: { kind: 'status', status: 503 }, skip: 1, times: 1 });
  proxy.addRule({
    method: 'GET',
    path: /blobs\/uploads\//,
    fault: {
      kind: 'status',
      status: 404,
      body: JSON.stringify({ errors: [{ code: 'BLOB_UPLOAD_UNKNOWN', message: 'gone' }] }),
    },
    times: 1,
  });
  const pushed = await pusher.pushBlob(`${proxy.host}/push/restart`, new MemorySource(bytes), { digest: sha(bytes) });
  proxy.clearRules();
  patches = proxy.log.slice(before).filter((e) => e.method === 'PATCH').length;
  assert.equal(pushed.how, 'uploaded');
  assert.deepEqual(await fetchBlob(reg.host, 'push/restart', pushed.digest), bytes);
  assert.equal(
    proxy.log.slice(before).filter((e) => e.method === 'POST').length,
    2,
    'a second session after the first was lost',
  );
  assert.ok(patches >= 6);
});

test('manifests go up by tag or digest; the referrers tag keeps every entry', async () => {
  const ref = parseReference(`${proxy.host}/push/art:v1`);
  const config = Buffer.from('{}');
  await pusher.pushBlob(ref, config);
  const layer = randomBytes(300);
  await pusher.pushBlob(ref, layer);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: 2 },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: 300 }],
    }),
  );
  const m = await pusher.pushManifest(ref, manifest, 'application/vnd.oci.image.manifest.v1+json', { tag: 'v1' });
  assert.equal(m.digest, sha(manifest));
  const resolved = await client.fetchManifest(`${reg.host}/push/art:v1`);
  assert.equal(resolved.digest, m.digest);

  // A manifest naming a blob the registry lacks is refused with the registry's reason.
  const missing = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: 2 },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(Buffer.from('nope')), size: 4 }],
    }),
  );
  await assert.rejects(
    pusher.pushManifest(ref, missing, 'application/vnd.oci.image.manifest.v1+json', { tag: 'bad' }),
    (e: any) => e.code === 'ERR_OCIFS_PUSH_REFUSED' && /MANIFEST_BLOB_UNKNOWN/.test(e.message),
  );

  const artifact = (n: number) => {
    const bytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: 'application/x.test',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha(config), size: 2 },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: 300 }],
        subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: m.digest, size: m.size },
        annotations: { n: String(n) },
      }),
    );
    return {
      bytes,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/x.test',
      annotations: { n: String(n) },
    };
  };
  const a1 = await pushReferrer(client, pusher, ref, artifact(1), m.digest);
  assert.equal(a1.via, 'tag');
  assert.equal(a1.tag, referrersTag(m.digest));
  const a2 = await pushReferrer(client, pusher, ref, artifact(2), m.digest);
  const again = await pushReferrer(client, pusher, ref, artifact(1), m.digest);
  assert.equal(again.digest, a1.digest);
  const listed = await client.referrers(`${reg.host}/push/art:v1`, m.digest, { artifactType: 'application/x.test' });
  assert.deepEqual(
    listed.map((d) => [d.digest, d.annotations?.n]),
    [
      [a1.digest, '1'],
      [a2.digest, '2'],
    ],
  );
});

test('push rights: basic auth pushes; a token without push is a clear PushDeniedError, pulls still work', async () => {
  const htpasswd = await writeHtpasswd({ writer: 'pw' });
  const basic = await startRegistry({ extraConfig: htpasswdConfig(htpasswd), readyStatus: 401 });
  const issuer: TokenIssuer = await startTokenIssuer({
    users: { reader: 'r', writer: 'w' },
    canPush: (u) => u === 'writer',
  });
  const tokenReg = await startRegistry({ extraConfig: issuer.registryConfig(), readyStatus: 401 });
  const clients: RegistryClient[] = [];
  try {
    const bytes = randomBytes(2000);
    const c1 = new RegistryClient({ username: 'writer', password: 'pw', retryBaseDelay: 1 });
    clients.push(c1);
    assert.equal((await new RegistryPusher(c1).pushBlob(`${basic.host}/b/x`, bytes)).how, 'uploaded');
    const anon = new RegistryClient({ retryBaseDelay: 1, env: {} });
    clients.push(anon);
    await assert.rejects(
      new RegistryPusher(anon).pushBlob(`${basic.host}/b/y`, bytes),
      (e: any) => e.code === 'ERR_OCIFS_PUSH_DENIED' && /no push rights/.test(e.message),
    );

    const writer = new RegistryClient({ username: 'writer', password: 'w', retryBaseDelay: 1, env: {} });
    clients.push(writer);
    const w = await new RegistryPusher(writer).pushBlob(`${tokenReg.host}/t/x`, bytes);
    assert.equal(w.how, 'uploaded');
    assert.ok(issuer.requests.some((r) => r.user === 'writer' && r.scopes.includes('repository:t/x:pull,push')));
    const reader = new RegistryClient({ username: 'reader', password: 'r', retryBaseDelay: 1, env: {} });
    clients.push(reader);
    await assert.rejects(new RegistryPusher(reader).pushBlob(`${tokenReg.host}/t/x`, randomBytes(10)), (e: any) => {
      assert.equal(e.code, 'ERR_OCIFS_PUSH_DENIED');
      assert.match(e.message, new RegExp(`^${tokenReg.host}/t/x: no push rights`));
      return true;
    });
    // The same client still pulls with its pull-scoped token.
    assert.deepEqual(await reader.fetchBlob(`${tokenReg.host}/t/x`, { digest: w.digest, size: w.size }), bytes);
    // A mount asks for pull on the source repository too.
    const mounted = await new RegistryPusher(writer).pushBlob(`${tokenReg.host}/t/y`, bytes, { mountFrom: ['t/x'] });
    assert.equal(mounted.how, 'mounted');
    assert.ok(
      issuer.requests.some(
        (r) => r.scopes.includes('repository:t/y:pull,push') && r.scopes.includes('repository:t/x:pull'),
      ),
    );
  } finally {
    for (const c of clients) await c.close();
    await tokenReg.stop();
    await issuer.stop();
    await basic.stop();
  }
});
