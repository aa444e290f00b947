// The built-in read-only registry over an OCI layout: manifests by tag and digest, blobs with
// Range, errors, paged tag lists; and skopeo (a real client) can copy an image out of it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { serveLayout, type LayoutRegistry } from '../../src/serve/layout-registry.js';
import { writeImageLayout, MT_LAYER_EROFS, type Descriptor } from '../helpers/oci-layout.js';
import { run } from '../helpers/run.js';
import { RegistryClient } from '../../src/registry/index.js';

let tmp: string;
let reg: LayoutRegistry;
let desc: Descriptor;
const layer = randomBytes(300_000);

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ocifs-serve-'));
  desc = await writeImageLayout(join(tmp, 'layout'), { layers: [{ bytes: layer, mediaType: MT_LAYER_EROFS }] }, 'v1');
  reg = await serveLayout(join(tmp, 'layout'));
});
after(async () => {
  await reg.close();
  await rm(tmp, { recursive: true, force: true });
});

test('serves /v2/ and manifests by tag and by digest with their digest header', async () => {
  assert.equal((await fetch(`http://${reg.hostPort}/v2/`)).status, 200);
  for (const ref of ['v1', desc.digest]) {
    const r = await fetch(`http://${reg.hostPort}/v2/any/name/manifests/${ref}`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('docker-content-digest'), desc.digest);
    assert.equal(r.headers.get('content-type'), desc.mediaType);
    const body = Buffer.from(await r.arrayBuffer());
    assert.equal(body.byteLength, desc.size);
  }
  const missing = await fetch(`http://${reg.hostPort}/v2/any/manifests/nope`);
  assert.equal(missing.status, 404);
  assert.equal(((await missing.json()) as { errors: { code: string }[] }).errors[0].code, 'MANIFEST_UNKNOWN');
});

test('serves blob ranges exactly, 416 past the end, HEAD with the size', async () => {
  const manifest = JSON.parse(await readFile(join(tmp, 'layout', 'blobs', 'sha256', desc.digest.slice(7)), 'utf8'));
  const digest = manifest.layers[0].digest as string;
  const url = `http://${reg.hostPort}/v2/x/blobs/${digest}`;
  const cases: [string, number, number][] = [
    ['bytes=0-0', 0, 1],
    ['bytes=1000-299999', 1000, 300_000],
    ['bytes=299990-', 299_990, 300_000],
    ['bytes=-10', 299_990, 300_000],
    ['bytes=5-999999', 5, 300_000],
  ];
  for (const [range, start, end] of cases) {
    const r = await fetch(url, { headers: { range } });
    assert.equal(r.status, 206, range);
    assert.equal(r.headers.get('content-range'), `bytes ${start}-${end - 1}/300000`);
    assert.deepEqual(Buffer.from(await r.arrayBuffer()), layer.subarray(start, end), range);
  }
  const past = await fetch(url, { headers: { range: 'bytes=300000-' } });
  assert.equal(past.status, 416);
  const head = await fetch(url, { method: 'HEAD' });
  assert.equal(head.headers.get('content-length'), '300000');
  const bad = await fetch(`http://${reg.hostPort}/v2/x/blobs/sha256:zz`);
  assert.equal(bad.status, 400);
  const put = await fetch(url, { method: 'PUT', body: 'x' });
  assert.equal(put.status, 405);
});

test('skopeo copies the image out of it unchanged', async () => {
  const out = join(tmp, 'copy');
  const r = await run('skopeo', [
    'copy',
    '--quiet',
    '--src-tls-verify=false',
    `docker://${reg.hostPort}/demo/img:v1`,
    `oci:${out}:v1`,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const manifestDigest = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')).manifests[0].digest as string;
  const manifest = JSON.parse(await readFile(join(out, 'blobs', 'sha256', manifestDigest.slice(7)), 'utf8'));
  const copied = await readFile(join(out, 'blobs', 'sha256', manifest.layers[0].digest.slice(7)));
  assert.deepEqual(copied, layer);
});

test('lists tags in lexical order, paged with n, last and a Link header that the client follows', async () => {
  const layout = join(tmp, 'tagged');
  for (const t of ['v3', 'a1', 'v10', 'v2'])
    await writeImageLayout(layout, { layers: [{ bytes: layer, mediaType: MT_LAYER_EROFS }] }, t);
  const tagged = await serveLayout(layout);
  const client = new RegistryClient();
  try {
    const all = await client.tags(`${tagged.hostPort}/some/repo`);
    assert.deepEqual(all, { name: 'some/repo', tags: ['a1', 'v10', 'v2', 'v3'] });
    const pages: string[][] = [];
    let last: string | undefined;
    do {
      const page = await client.tags(`${tagged.hostPort}/some/repo`, { n: 3, ...(last ? { last } : {}) });
      pages.push(page.tags);
      last = page.next;
    } while (last !== undefined);
    assert.deepEqual(pages, [['a1', 'v10', 'v2'], ['v3']]);
    const raw = await fetch(`http://${tagged.hostPort}/v2/some/repo/tags/list?n=2`);
    assert.equal(raw.headers.get('link'), '</v2/some/repo/tags/list?n=2&last=v10>; rel="next"');
    await assert.rejects(client.tags(`${tagged.hostPort}/some/repo`, { n: 0 }), { code: 'ERR_OCIFS_INVALID_OPTION' });
  } finally {
    await client.close();
    await tagged.close();
  }
});
