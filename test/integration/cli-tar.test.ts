// The ocifs command on standard images: tar+gzip layers written by umoci (with real whiteouts
// for deleted and replaced files, over 4 layers, from make-tree.ts trees of two seeds), and the
// same image recompressed to tar+zstd by skopeo, in a real registry. The merged tree that
// `ocifs extract` writes equals `umoci unpack`'s rootfs line for line (tree-manifest.ts), every
// file's bytes equal, and a second read needs no pass over the layers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, mkdir, unlink } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, skopeoPush, type TestRegistry } from '../helpers/registry.js';
import { makeTree, treeManifest, assertSameManifest } from '../helpers/fs-manifest.js';
import { runOk } from '../helpers/run.js';
import { ocifsOk, statsOf } from '../helpers/cli.js';

let tmp = '';
let reg: TestRegistry;
const images: { name: string; ref: string; expected: string[]; rootfs: string }[] = [];

/** Four umoci layers: a tree, then deletions/replacements/an opaque dir, then re-additions. */
async function buildImage(dir: string, seed: number): Promise<string> {
  const layout = join(dir, 'layout');
  const bundle = join(dir, 'bundle');
  const tree = join(dir, 'tree');
  await makeTree(tree, seed);
  await runOk('umoci', ['init', '--layout', layout]);
  await runOk('umoci', ['new', '--image', `${layout}:t`]);
  await runOk('umoci', ['insert', '--image', `${layout}:t`, tree, '/']);
  const edit = async (change: (rootfs: string) => Promise<void>) => {
    await rm(bundle, { recursive: true, force: true });
    await runOk('umoci', ['unpack', '--image', `${layout}:t`, bundle]);
    await change(join(bundle, 'rootfs'));
    await runOk('umoci', ['repack', '--image', `${layout}:t`, bundle]);
  };
  await edit(async (r) => {
    await rm(join(r, 'big'), { recursive: true });
    await unlink(join(r, 'etc/os-release'));
    await writeFile(join(r, 'bin/tool'), `replaced tool ${seed}\n`);
    await rm(join(r, 'deep'), { recursive: true });
    await writeFile(join(r, 'deep'), 'a file where a directory was\n');
  });
  await edit(async (r) => {
    await rm(join(r, 'sizes'), { recursive: true });
    await mkdir(join(r, 'sizes'));
    await writeFile(join(r, 'sizes/only-this'), 'everything else in sizes/ is gone\n');
    await unlink(join(r, 'empty'));
    await mkdir(join(r, 'empty'));
  });
  await edit(async (r) => {
    await mkdir(join(r, 'big'));
    await writeFile(
      join(r, 'big/again.bin'),
      createHash('sha256').update(String(seed)).digest().toString('hex').repeat(5000),
    );
    await writeFile(join(r, 'etc/os-release'), 'ID=changed\n');
  });
  return layout;
}

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ocifs-cli-tar-'));
  reg = await startRegistry();
  for (const seed of [8, 9]) {
    const dir = join(tmp, `s${seed}`);
    const layout = await buildImage(dir, seed);
    const rootfs = join(dir, 'unpacked');
    await runOk('umoci', ['unpack', '--image', `${layout}:t`, rootfs]);
    const expected = await treeManifest(join(rootfs, 'rootfs'));
    await skopeoPush(layout, 't', `${reg.host}/tar/gzip${seed}:t`);
    images.push({
      name: `gzip seed ${seed}`,
      ref: `${reg.host}/tar/gzip${seed}:t`,
      expected,
      rootfs: join(rootfs, 'rootfs'),
    });
    if (seed === 8) {
      // skopeo reuses known blobs (its blob-info cache); drop it so zstd layers are really written.
      await rm('/var/lib/containers/cache/blob-info-cache-v1.boltdb', { force: true });
      await runOk('skopeo', [
        'copy',
        '--quiet',
        '--dest-tls-verify=false',
        '--dest-compress-format',
        'zstd',
        '--dest-compress',
        `oci:${layout}:t`,
        `docker://${reg.host}/tar/zstd${seed}:t`,
      ]);
      images.push({
        name: `zstd seed ${seed}`,
        ref: `${reg.host}/tar/zstd${seed}:t`,
        expected,
        rootfs: join(rootfs, 'rootfs'),
      });
    }
  }
});

after(async () => {
  await reg?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test('the zstd image really has tar+zstd layers', async () => {
  const z = images.find((i) => i.name.startsWith('zstd'))!;
  const doc = JSON.parse(
    (
      await ocifsOk(['inspect', z.ref, '--json'], { env: { OCIFS_CACHE_DIR: join(tmp, 'c-inspect') } })
    ).stdout.toString(),
  );
  assert.equal(doc.layers.length, 4);
  for (const l of doc.layers) assert.equal(l.mediaType, 'application/vnd.oci.image.layer.v1.tar+zstd');
});

for (const which of [0, 1, 2]) {
  test(`extract of the merged image equals umoci unpack (image ${which})`, async () => {
    const img = images[which];
    const dest = join(tmp, `extract-${which}`);
    await ocifsOk(['extract', img.ref, dest], { env: { OCIFS_CACHE_DIR: join(tmp, `c-${which}`) } });
    assertSameManifest(await treeManifest(dest), img.expected, `${img.name} extract`);
  });

  test(`cat of every file equals the unpacked bytes, and needs no second pass (image ${which})`, async () => {
    const img = images[which];
    const env = { OCIFS_CACHE_DIR: join(tmp, `c-cat-${which}`) };
    const files = img.expected.map((l) => JSON.parse(l)).filter((e) => e.type === 'file');
    const r = await ocifsOk(['cat', img.ref, ...files.map((f) => '/' + f.path), '--stats'], { env });
    let off = 0;
    for (const f of files) {
      assert.equal(
        createHash('sha256')
          .update(r.stdout.subarray(off, off + f.size))
          .digest('hex'),
        f.sha256,
        f.path,
      );
      off += f.size;
    }
    assert.equal(off, r.stdout.byteLength);
    // The indexes are in the cache now: a fresh process reads a file without fetching the layers again.
    const again = await ocifsOk(['cat', img.ref, '/sizes/only-this', '--stats'], { env });
    assert.equal(again.stdout.toString(), 'everything else in sizes/ is gone\n');
    assert.ok(statsOf(again).bytesFetched < 16384, `second run fetched ${statsOf(again).bytesFetched}`);
  });
}

test('the command runs the gzip index pass in its worker (the bundle ships the worker file)', async () => {
  const img = images[0];
  const r = await ocifsOk(['ls', img.ref, '/', '--no-cache'], { env: { NODE_DEBUG: 'ocifs:gzip' } });
  assert.match(r.stderr, /gzip pass in a worker from file:.*\/dist\/bundle\/gzip-pass-worker\.js/);
  assert.doesNotMatch(r.stderr, /running the pass in this thread/);
});

test('--layer shows one layer as it is, whiteouts included', async () => {
  const img = images[0];
  const env = { OCIFS_CACHE_DIR: join(tmp, 'c-layer') };
  const r = await ocifsOk(['ls', img.ref, '/', '--layer', '1'], { env });
  const names = r.stdout.toString().trim().split('\n');
  assert.ok(names.includes('.wh.empty') || names.includes('deep'), names.join(' '));
  const merged = (await ocifsOk(['ls', img.ref, '/'], { env })).stdout.toString().trim().split('\n');
  assert.ok(!merged.some((n) => n.startsWith('.wh.')), merged.join(' '));
});
