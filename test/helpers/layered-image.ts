// A multi-layer tar+gzip image built with umoci from make-tree.py trees, for the convert tests:
// layer 1 is the seed-1 tree (GNU tar: pax, xattrs, hardlinks, a fifo, long symlink targets),
// layer 2 comes from `umoci repack` (whiteouts for a deleted file and directory, a file
// replaced, a file turned into a directory), layer 3 is written by GNU tar with an opaque
// directory, an explicit whiteout, devices, a sparse file, a long path and nanosecond mtimes.
// `expected` is what `umoci unpack` makes of the image (tree-manifest lines): umoci drops
// empty-valued xattrs, so compare other trees with `withoutEmptyXattrs`.
import { mkdir, rm, writeFile, symlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTree, treeManifest } from './fs-manifest.js';
import { skopeoPush, startRegistry, type TestRegistry } from './registry.js';
import { runOk } from './run.js';

export interface LayeredImage {
  /** OCI layout with the image under tag `t`. */
  layout: string;
  /** umoci's unpacked rootfs. */
  rootfs: string;
  /** tree-manifest.py of the rootfs. */
  expected: string[];
}

const sh = (script: string, cwd: string) => runOk('sh', ['-ec', script], { cwd });

/** Builds the image under `dir` (which must exist and be empty). Needs root (devices, owners). */
export async function buildLayeredImage(dir: string): Promise<LayeredImage> {
  const layout = join(dir, 'layout');
  await runOk('umoci', ['init', '--layout', layout]);
  await runOk('umoci', ['new', '--image', `${layout}:t`]);
  const addRaw = async (src: string, ...names: string[]) => {
    const tar = join(dir, `layer-${Math.random().toString(36).slice(2)}.tar`);
    await runOk('tar', [
      '--format=pax',
      '--sparse',
      '--xattrs',
      '--xattrs-include=*',
      '--numeric-owner',
      '-C',
      src,
      '-cf',
      tar,
      ...names,
    ]);
    await runOk('umoci', ['raw', 'add-layer', '--image', `${layout}:t`, tar]);
    await rm(tar);
  };
  const seed1 = join(dir, 'seed1');
  await makeTree(seed1, 1);
  await addRaw(seed1, '.');

  const bundle = join(dir, 'bundle');
  await runOk('umoci', ['unpack', '--image', `${layout}:t`, bundle]);
  const r = join(bundle, 'rootfs');
  await rm(join(r, 'etc/os-release'));
  await rm(join(r, 'wide'), { recursive: true });
  await writeFile(join(r, 'sizes/f4096'), 'replaced in layer 2\n');
  await rm(join(r, 'bin/tool'));
  await mkdir(join(r, 'bin/tool'));
  await writeFile(join(r, 'bin/tool/now-a-dir'), 'tool became a directory\n');
  await runOk('umoci', ['repack', '--image', `${layout}:t`, bundle]);
  await rm(bundle, { recursive: true, force: true });

  const stage = join(dir, 'stage3');
  const seed3 = join(dir, 'seed3');
  await makeTree(seed3, 3);
  await mkdir(join(stage, 'special'), { recursive: true });
  await sh(
    [
      `cp -a "${join(seed3, 'deep')}" deep`,
      ': > deep/.wh..wh..opq',
      ': > .wh.sizes',
      'mknod special/null c 1 3',
      'mknod special/loop9 b 7 9',
      'chmod 0640 special/null special/loop9',
      'truncate -s 3M special/sparse && printf middle | dd of=special/sparse bs=1 seek=1048576 conv=notrunc status=none && printf end | dd of=special/sparse bs=1 seek=3145725 conv=notrunc status=none',
      `mkdir -p "special/${'long-directory-name-'.repeat(6)}" && echo deep > "special/${'long-directory-name-'.repeat(6)}/${'f'.repeat(120)}"`,
      "touch -d '2023-01-02 03:04:05.123456789' special/sparse",
      'touch -h -d @1700000000 deep/.wh..wh..opq deep .wh.sizes special',
    ].join(' && '),
    stage,
  );
  await symlink('null', join(stage, 'special/null-link'));
  await utimes(join(stage, 'special'), 1700000001, 1700000001);
  await addRaw(stage, 'deep', '.wh.sizes', 'special');

  const unpacked = join(dir, 'unpacked');
  await runOk('umoci', ['unpack', '--image', `${layout}:t`, unpacked]);
  const rootfs = join(unpacked, 'rootfs');
  return { layout, rootfs, expected: await treeManifest(rootfs) };
}

/** The image built under `dir/src` and pushed to a new registry as `src:t`. */
export async function pushedLayeredImage(
  dir: string,
): Promise<{ registry: TestRegistry; img: LayeredImage; ref: string }> {
  const registry = await startRegistry();
  await mkdir(join(dir, 'src'));
  const img = await buildLayeredImage(join(dir, 'src'));
  const ref = `${registry.host}/src:t`;
  await skopeoPush(img.layout, 't', ref);
  return { registry, img, ref };
}
