// `ocifs convert` of a real distribution image: a debootstrap minbase root (layer 1) and a layer
// of changes on top (a deleted directory tree, an opaque directory, replaced files), pushed to
// the distribution registry. Per-layer lz4 EROFS layers pass fsck.erofs, mount in the kernel and
// stack in overlayfs into the tree `umoci unpack` makes; a flattened uncompressed image mounts to
// the same tree; eStargz layers keep every member of the source layers (tar tv).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ocifsOk } from '../helpers/cli.js';
import { blobPath, readLayoutImage } from '../helpers/convert-layout.js';
import { debootstrapTar } from '../helpers/debootstrap-image.js';
import { assertSameManifest, treeManifest } from '../helpers/fs-manifest.js';
import { cleanupTempDir, mountsLeftUnder, mountTempDir, runChildOk } from '../helpers/mount-safety.js';
import { skopeoPush, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { runOk } from '../helpers/run.js';

const tmp = mountTempDir('ocifs-convert-deb-');
let registry: TestRegistry;
let ref: string;
let expected: string[];
let layout: string;
const cache = join(tmp, 'cache');

before(async () => {
  const rootTar = await debootstrapTar();
  registry = await startRegistry();
  layout = join(tmp, 'layout');
  await runOk('umoci', ['init', '--layout', layout]);
  await runOk('umoci', ['new', '--image', `${layout}:t`]);
  await runOk('umoci', ['raw', 'add-layer', '--image', `${layout}:t`, rootTar]);
  const stage = join(tmp, 'stage');
  await mkdir(join(stage, 'usr/share'), { recursive: true });
  await mkdir(join(stage, 'var/cache'), { recursive: true });
  await mkdir(join(stage, 'etc'), { recursive: true });
  await writeFile(join(stage, 'usr/share/.wh.doc'), '');
  await writeFile(join(stage, 'var/cache/.wh..wh..opq'), '');
  await writeFile(join(stage, 'var/cache/fresh'), 'a new cache\n');
  await writeFile(join(stage, 'etc/motd'), 'converted by ocifs\n');
  await runOk(
    'sh',
    [
      '-ec',
      'touch -h -d @1700000000 usr/share/.wh.doc var/cache/.wh..wh..opq var/cache/fresh etc/motd var/cache var etc usr/share usr',
      '--',
    ],
    { cwd: stage },
  );
  const tar = join(tmp, 'changes.tar');
  await runOk('tar', ['--format=pax', '--numeric-owner', '-C', stage, '-cf', tar, 'usr', 'var', 'etc']);
  await runOk('umoci', ['raw', 'add-layer', '--image', `${layout}:t`, tar]);
  await runOk('umoci', ['unpack', '--image', `${layout}:t`, join(tmp, 'unpacked')]);
  expected = await treeManifest(join(tmp, 'unpacked/rootfs'));
  assert.ok(expected.length > 5000, `${expected.length} entries`);
  ref = `${registry.host}/debian:t`;
  await skopeoPush(layout, 't', ref);
});

after(async () => {
  await registry?.stop();
  assert.deepEqual(mountsLeftUnder(tmp), []);
  cleanupTempDir(tmp);
});

let n = 0;
async function mountErofs(image: string): Promise<string> {
  const d = join(tmp, `mnt-${n++}`);
  await mkdir(d);
  await runChildOk('mount', ['-t', 'erofs', '-o', 'ro,loop', image, d]);
  return d;
}

test(
  "debootstrap image: lz4 EROFS layers pass fsck.erofs and stack in overlayfs into umoci unpack's tree",
  { timeout: 600_000 },
  async () => {
    const out = join(tmp, 'out');
    await ocifsOk(['convert', '-q', '--cache-dir', cache, ref, `oci:${out}:lz4`, '--to', 'erofs', '--compress', 'lz4']);
    const { manifest } = await readLayoutImage(out, 'lz4');
    const blobs = manifest.layers.map((l) => blobPath(out, l.digest));
    for (const b of blobs) await runOk('fsck.erofs', [b]);
    const dirs: string[] = [];
    let merged: string | undefined;
    try {
      for (const b of blobs) dirs.push(await mountErofs(b));
      merged = join(tmp, 'merged');
      await mkdir(merged);
      await runChildOk('mount', [
        '-t',
        'overlay',
        'overlay',
        '-o',
        `ro,lowerdir=${[...dirs].reverse().join(':')}`,
        merged,
      ]);
      assertSameManifest(await treeManifest(merged), expected, 'overlayfs of the EROFS layers vs umoci unpack');
    } finally {
      if (merged) await runChildOk('umount', [merged]).catch(() => {});
      for (const d of dirs) await runChildOk('umount', [d]);
    }
  },
);

test(
  "debootstrap image: flattened EROFS passes fsck.erofs and mounts to umoci unpack's tree",
  { timeout: 600_000 },
  async () => {
    const file = join(tmp, 'flat.erofs');
    await ocifsOk(['convert', '-q', '--cache-dir', cache, ref, '--to', 'erofs', '--flatten', '-o', file]);
    await runOk('fsck.erofs', [file]);
    const d = await mountErofs(file);
    try {
      assertSameManifest(await treeManifest(d), expected, 'flattened EROFS vs umoci unpack');
    } finally {
      await runChildOk('umount', [d]);
    }
  },
);

test('debootstrap image: eStargz layers hold every member of the source layers', { timeout: 600_000 }, async () => {
  const out = join(tmp, 'out');
  await ocifsOk(['convert', '-q', '--cache-dir', cache, ref, `oci:${out}:estargz`, '--to', 'estargz']);
  const { manifest } = await readLayoutImage(out, 'estargz');
  const src = (await readLayoutImage(layout, 't')).manifest.layers;
  const members = async (blob: string) =>
    (await runOk('tar', ['-tvz', '--full-time', '--numeric-owner', '-f', blob])).stdout
      .toString()
      .split('\n')
      .filter((l) => l !== '' && !/ (stargz\.index\.json|\.no\.prefetch\.landmark)$/.test(l))
      .map((l) =>
        l
          .replace(/ +/g, ' ')
          .replace(/ \.\/(?=\S)/g, ' ')
          .replace(/ \.\/$/, ' .')
          .replace(/ link to \.\//, ' link to '),
      )
      .sort();
  for (const [i, l] of manifest.layers.entries()) {
    await runOk('gzip', ['-t', blobPath(out, l.digest)]);
    assert.deepEqual(
      await members(blobPath(out, l.digest)),
      await members(blobPath(layout, src[i].digest)),
      `layer ${i}`,
    );
  }
});
