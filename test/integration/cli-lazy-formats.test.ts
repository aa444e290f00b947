// Layers that need no pass, end to end through a real registry: an eStargz layer (read through
// its TOC) and a gzip layer with a SOCI index attached by the referrers tag schema (read through
// its zTOC). `ocifs cat` returns the right bytes while fetching a small part of the layer, and a
// lying TOC digest is refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, skopeoPush, pushBlob, pushManifest, type TestRegistry } from '../helpers/registry.js';
import { writeImageLayout, MT_LAYER_GZIP, MT_MANIFEST, MT_INDEX, sha256 } from '../helpers/oci-layout.js';
import { makeTree } from '../helpers/fs-manifest.js';
import { runOk } from '../helpers/run.js';
import { ocifs, ocifsOk, statsOf } from '../helpers/cli.js';
import { buildEstargz, buildZtoc } from '../unit/tar-test-helpers.js';
import { TOC_DIGEST_ANNOTATION } from '../../src/tar/index.js';
import { SOCI_INDEX_V1, SOCI_LAYER_DIGEST } from '../../src/tar/soci.js';

let tmp = '';
let reg: TestRegistry;
let tree = '';
let tar: Buffer;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ocifs-lazy-'));
  reg = await startRegistry();
  tree = join(tmp, 'tree');
  await makeTree(tree, 13);
  // Bulk, so that a lazy read is a small part of the layer: 24 MiB of incompressible files.
  await mkdir(join(tree, 'bulk'));
  for (let i = 0; i < 24; i++) await writeFile(join(tree, 'bulk', `r${i}.bin`), randomBytes(1 << 20));
  await runOk('tar', ['--format=pax', '--sort=name', '-C', tree, '-cf', join(tmp, 'layer.tar'), '.']);
  tar = await readFile(join(tmp, 'layer.tar'));
});

after(async () => {
  await reg?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test('eStargz: cat reads a file through the TOC, fetching a small part of the layer', async () => {
  const { blob, tocDigest } = await buildEstargz(tar);
  await writeImageLayout(
    join(tmp, 'estargz'),
    {
      layers: [
        {
          bytes: blob,
          mediaType: MT_LAYER_GZIP,
          diffId: sha256(tar),
          annotations: { [TOC_DIGEST_ANNOTATION]: tocDigest },
        },
      ],
    },
    'v1',
  );
  await skopeoPush(join(tmp, 'estargz'), 'v1', `${reg.host}/lazy/estargz:v1`);
  const env = { OCIFS_CACHE_DIR: join(tmp, 'c-estargz') };
  const r = await ocifsOk(['cat', `${reg.host}/lazy/estargz:v1`, '/etc/os-release', '--stats'], { env });
  assert.equal(r.stdout.toString(), await readFile(join(tree, 'etc/os-release'), 'utf8'));
  assert.ok(statsOf(r).bytesFetched < blob.byteLength / 8, `fetched ${statsOf(r).bytesFetched} of ${blob.byteLength}`);
  const info = JSON.parse(
    (await ocifsOk(['info', `${reg.host}/lazy/estargz:v1`, '--json'], { env })).stdout.toString(),
  );
  assert.equal(info.access, 'estargz');
  const big = await ocifsOk(['cat', `${reg.host}/lazy/estargz:v1`, '/big/random-1M.bin'], { env });
  assert.ok(big.stdout.equals(await readFile(join(tree, 'big/random-1M.bin'))));

  // A TOC digest annotation that does not match the TOC is refused.
  const wrong = 'sha256:' + '0'.repeat(64);
  await writeImageLayout(
    join(tmp, 'estargz-bad'),
    { layers: [{ bytes: blob, mediaType: MT_LAYER_GZIP, annotations: { [TOC_DIGEST_ANNOTATION]: wrong } }] },
    'v1',
  );
  await skopeoPush(join(tmp, 'estargz-bad'), 'v1', `${reg.host}/lazy/estargz-bad:v1`);
  const bad = await ocifs(['cat', `${reg.host}/lazy/estargz-bad:v1`, '/etc/os-release'], {
    env: { OCIFS_CACHE_DIR: join(tmp, 'c-bad') },
  });
  assert.equal(bad.code, 1);
  assert.equal(bad.stdout.byteLength, 0);
  assert.match(bad.stderr, /TOC|digest/i);
});

test('SOCI: a zTOC attached as a referrer replaces the pass over a gzip layer', async () => {
  const layer = gzipSync(tar, { level: 6 });
  const repo = 'lazy/soci';
  const desc = await writeImageLayout(
    join(tmp, 'soci'),
    { layers: [{ bytes: layer, mediaType: MT_LAYER_GZIP, diffId: sha256(tar) }] },
    'v1',
  );
  await skopeoPush(join(tmp, 'soci'), 'v1', `${reg.host}/${repo}:v1`);
  const imageManifest = await fetch(`${reg.url}/v2/${repo}/manifests/v1`, { headers: { accept: MT_MANIFEST } });
  const manifestBytes = Buffer.from(await imageManifest.arrayBuffer());
  const manifestDigest = sha256(manifestBytes);
  assert.equal(manifestDigest, desc.digest);
  // The SOCI v1 index: a manifest whose layers are zTOCs, with the image manifest as subject.
  const ztoc = await buildZtoc(layer);
  const empty = Buffer.from('{}');
  await pushBlob(reg.url, repo, ztoc, sha256(ztoc));
  await pushBlob(reg.url, repo, empty, sha256(empty));
  const soci = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT_MANIFEST,
      artifactType: SOCI_INDEX_V1,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: 2 },
      layers: [
        {
          mediaType: 'application/octet-stream',
          digest: sha256(ztoc),
          size: ztoc.byteLength,
          annotations: { [SOCI_LAYER_DIGEST]: sha256(layer) },
        },
      ],
      subject: { mediaType: MT_MANIFEST, digest: manifestDigest, size: manifestBytes.byteLength },
    }),
  );
  await pushManifest(reg.url, repo, sha256(soci), soci, MT_MANIFEST);
  // The referrers tag schema: an index tagged sha256-<hex of the subject> lists the referrers.
  const referrers = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT_INDEX,
      manifests: [{ mediaType: MT_MANIFEST, digest: sha256(soci), size: soci.byteLength, artifactType: SOCI_INDEX_V1 }],
    }),
  );
  await pushManifest(reg.url, repo, `sha256-${manifestDigest.slice(7)}`, referrers, MT_INDEX);

  const env = { OCIFS_CACHE_DIR: join(tmp, 'c-soci') };
  const r = await ocifsOk(['cat', `${reg.host}/${repo}:v1`, '/etc/os-release', '--stats'], { env });
  assert.equal(r.stdout.toString(), await readFile(join(tree, 'etc/os-release'), 'utf8'));
  const fetched = statsOf(r).bytesFetched - ztoc.byteLength;
  assert.ok(
    fetched < layer.byteLength / 4,
    `fetched ${fetched} (besides the zTOC) of a ${layer.byteLength}-byte layer`,
  );
  const info = JSON.parse(
    (
      await ocifsOk(['info', `${reg.host}/${repo}:v1`, '--json'], { env: { OCIFS_CACHE_DIR: join(tmp, 'c-soci2') } })
    ).stdout.toString(),
  );
  assert.equal(info.access, 'soci');
  const sha = createHash('sha256')
    .update((await ocifsOk(['cat', `${reg.host}/${repo}:v1`, '/big/text-2M.txt'], { env })).stdout)
    .digest('hex');
  assert.equal(
    sha,
    createHash('sha256')
      .update(await readFile(join(tree, 'big/text-2M.txt')))
      .digest('hex'),
  );
});
