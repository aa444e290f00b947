// `ocifs convert --to erofs` of a real layered image (umoci: whiteouts, an opaque directory,
// devices, a sparse file, hardlinks, xattrs, long names) pushed to the distribution registry:
// fsck.erofs (Debian 1.5) checks the uncompressed, lz4 and lz4hc images, the kernel mounts every layer
// and overlayfs stacks them into exactly the tree `umoci unpack` makes; flattened images (lz4hc,
// deflate, and -o FILE) mount to the same tree; and ocifs reads the converted image lazily from
// the registry (skopeo copies it there from the layout).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { blobPath, readLayoutImage } from '../helpers/convert-layout.js';
import { ocifs, ocifsOk, statsOf } from '../helpers/cli.js';
import { assertSameManifest, treeManifest, withoutEmptyXattrs } from '../helpers/fs-manifest.js';
import { pushedLayeredImage, type LayeredImage } from '../helpers/layered-image.js';
import { cleanupTempDir, mountsLeftUnder, mountTempDir, runChildOk } from '../helpers/mount-safety.js';
import type { TestRegistry } from '../helpers/registry.js';
import { runOk } from '../helpers/run.js';

const tmp = mountTempDir('ocifs-convert-erofs-');
let registry: TestRegistry;
let img: LayeredImage;
let ref: string;
const cache = join(tmp, 'cache');
const EROFS_LAYER = 'application/vnd.erofs.layer.v1';

before(async () => {
  ({ registry, img, ref } = await pushedLayeredImage(tmp));
});

after(async () => {
  await registry?.stop();
  assert.deepEqual(mountsLeftUnder(tmp), []);
  cleanupTempDir(tmp);
});

let mounts = 0;
/** Mounts each image (loop, read-only) and optionally an overlay of them (first = top); runs `fn`. */
async function withMounts(
  images: string[],
  overlay: boolean,
  fn: (dirs: string[], merged?: string) => Promise<void>,
): Promise<void> {
  const dirs: string[] = [];
  let merged: string | undefined;
  try {
    for (const image of images) {
      const d = join(tmp, `mnt-${mounts++}`);
      await mkdir(d);
      await runChildOk('mount', ['-t', 'erofs', '-o', 'ro,loop', image, d]);
      dirs.push(d);
    }
    if (overlay) {
      merged = join(tmp, `mnt-${mounts++}`);
      await mkdir(merged);
      await runChildOk('mount', ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${dirs.join(':')}`, merged]);
    }
    await fn(dirs, merged);
  } finally {
    if (merged) await runChildOk('umount', [merged]);
    for (const d of dirs.reverse()) await runChildOk('umount', [d]);
  }
}

for (const comp of ['none', 'lz4'] as const) {
  test(
    `per-layer EROFS (${comp}): fsck.erofs passes, the kernel mounts each layer, overlayfs stacks them into umoci unpack's tree`,
    { timeout: 300_000 },
    async () => {
      const out = join(tmp, `out-${comp}`);
      await ocifsOk([
        'convert',
        ref,
        `oci:${out}:${comp}`,
        '--to',
        'erofs',
        '--compress',
        comp,
        '--cache-dir',
        cache,
        '-q',
      ]);
      const { manifest, config } = await readLayoutImage(out, comp);
      assert.equal(manifest.layers.length, 3);
      assert.deepEqual(
        manifest.layers.map((l) => l.mediaType),
        [EROFS_LAYER, EROFS_LAYER, EROFS_LAYER],
      );
      assert.deepEqual(
        config.rootfs.diff_ids,
        manifest.layers.map((l) => l.digest),
        'an EROFS layer is its own diff',
      );
      const blobs = manifest.layers.map((l) => blobPath(out, l.digest));
      for (const b of blobs) await runOk('fsck.erofs', [b]);
      await withMounts([...blobs].reverse(), true, async ([top], merged) => {
        assertSameManifest(
          withoutEmptyXattrs(await treeManifest(merged!)),
          img.expected,
          'overlayfs of the converted layers vs umoci unpack',
        );
        // The top layer alone: its OCI whiteouts became overlayfs ones.
        const layer3 = await treeManifest(top);
        const line = (p: string) => JSON.parse(layer3.find((l) => JSON.parse(l).path === p) ?? 'null');
        assert.deepEqual(line('sizes'), {
          gid: 0,
          mode: '0o0',
          mtime: 1700000000,
          path: 'sizes',
          rdev: [0, 0],
          type: 'chr',
          uid: 0,
        });
        assert.equal(line('deep').xattrs['trusted.overlay.opaque'], '79');
        assert.equal(line('deep/.wh..wh..opq'), null);
      });
    },
  );
}

test(
  "flattened EROFS (lz4hc into the layout, deflate with -o FILE) mounts to umoci unpack's tree",
  { timeout: 300_000 },
  async () => {
    const out = join(tmp, 'out-flat');
    await ocifsOk([
      'convert',
      ref,
      `oci:${out}:flat`,
      '--to',
      'erofs',
      '--flatten',
      '--compress',
      'lz4hc',
      '--cache-dir',
      cache,
      '-q',
    ]);
    const { manifest, config } = await readLayoutImage(out, 'flat');
    assert.equal(manifest.layers.length, 1);
    assert.deepEqual(config.rootfs.diff_ids, [manifest.layers[0].digest]);
    assert.equal(
      config.history?.filter((h) => !h.empty_layer).length,
      1,
      'one non-empty history entry for the one layer',
    );
    const file = join(tmp, 'flat-deflate.erofs');
    await ocifsOk([
      'convert',
      ref,
      '--to',
      'erofs',
      '--flatten',
      '--compress',
      'deflate',
      '-o',
      file,
      '--cache-dir',
      cache,
      '-q',
    ]);
    const plain = join(tmp, 'flat-none.erofs');
    await ocifsOk(['convert', ref, '--to', 'erofs', '--flatten', '-o', plain, '--cache-dir', cache, '-q']);
    // fsck.erofs 1.5 knows lz4hc (lz4 blocks) but not deflate: the kernel is the reader of that one.
    for (const image of [plain, blobPath(out, manifest.layers[0].digest)]) await runOk('fsck.erofs', [image]);
    for (const image of [blobPath(out, manifest.layers[0].digest), file, plain]) {
      await withMounts([image], false, async ([dir]) => {
        assertSameManifest(withoutEmptyXattrs(await treeManifest(dir)), img.expected, `${image} vs umoci unpack`);
      });
    }
    assert.ok((await stat(file)).size < (await stat(plain)).size / 2, 'deflate compresses');
  },
);

test('ocifs reads the converted image lazily from the registry', { timeout: 300_000 }, async () => {
  const out = join(tmp, 'out-none');
  await runOk('skopeo', [
    'copy',
    '--quiet',
    '--dest-tls-verify=false',
    `oci:${out}:none`,
    `docker://${registry.host}/conv:erofs`,
  ]);
  const conv = `${registry.host}/conv:erofs`;
  const fresh = join(tmp, 'cache-lazy');
  const path = `/special/${'long-directory-name-'.repeat(6)}/${'f'.repeat(120)}`;
  const r = await ocifsOk(['cat', '--stats', '--cache-dir', fresh, conv, path]);
  assert.equal(r.stdout.toString(), 'deep\n');
  const { manifest } = await readLayoutImage(out, 'none');
  const total = manifest.layers.reduce((n, l) => n + l.size, 0);
  assert.ok(statsOf(r).bytesFetched < total / 20, `fetched ${statsOf(r).bytesFetched} of ${total}`);
  // The whole merged tree, as ocifs sees it through the registry, is umoci's.
  const ls = await ocifsOk(['ls', '-R', '--json', '--cache-dir', fresh, conv, '/']);
  const paths = ls.stdout
    .toString()
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { path: string }).path.replace(/^\//, ''))
    .sort();
  const want = img.expected.map((l) => (JSON.parse(l) as { path: string }).path).sort();
  assert.deepEqual(paths, want);
  const bad = await ocifs(['cat', '--cache-dir', fresh, conv, '/sizes/f4096']);
  assert.equal(bad.code, 1, 'a whited-out directory is gone');
});
