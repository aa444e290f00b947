// The merged view of a real layered image equals what `umoci unpack` makes of it. The image is
// built with umoci (repack for its own whiteouts, raw add-layer for GNU tar layers) from
// make-tree.ts trees (seeds 1, 2, 3) over five tar+gzip layers that delete files and
// directories (explicit whiteouts), replace files by directories and back, re-create a deleted
// directory, and add an opaque directory. Layers are read with the tar
// reader (src/tar), stacked by MergedFileSystem, and compared with tree-manifest.ts of umoci's
// rootfs: as a manifest of the FileSystem (contents by sha256) and after extractTree.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSource } from '../../src/io/file-source.js';
import { openGzipLayer } from '../../src/tar/gzip-layer.js';
import { extractTree } from '../../src/extract/extract.js';
import { MergedFileSystem, type MergeLayer } from '../../src/vfs/merge.js';
import { assertSameManifest, makeTree, manifestOf, treeManifest, withoutEmptyXattrs } from '../helpers/fs-manifest.js';
import { runOk } from '../helpers/run.js';

let tmp: string;
const sources: FileSource[] = [];
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ocifs-vfs-umoci-'));
});
after(async () => {
  for (const s of sources) await s.close();
  await rm(tmp, { recursive: true, force: true });
});

const sh = (script: string, cwd: string) => runOk('sh', ['-ec', script], { cwd });

/** Unpacks the image, lets `change` edit the rootfs, repacks: one new layer with umoci's whiteouts. */
async function layerFromChanges(
  layout: string,
  name: string,
  change: (rootfs: string) => Promise<void>,
): Promise<void> {
  const bundle = join(tmp, `bundle-${name}`);
  await runOk('umoci', ['unpack', '--image', `${layout}:t`, bundle]);
  await change(join(bundle, 'rootfs'));
  await runOk('umoci', ['repack', '--image', `${layout}:t`, bundle]);
  await rm(bundle, { recursive: true, force: true });
}

/** Appends a layer made by GNU tar from `names` in `dir` (umoci gzips it). */
async function addRawLayer(layout: string, dir: string, ...names: string[]): Promise<void> {
  const tar = join(tmp, `layer-${Date.now()}-${Math.random()}.tar`);
  await runOk('tar', [
    '--format=pax',
    '--xattrs',
    '--xattrs-include=*',
    '--numeric-owner',
    '-C',
    dir,
    '-cf',
    tar,
    ...names,
  ]);
  await runOk('umoci', ['raw', 'add-layer', '--image', `${layout}:t`, tar]);
  await rm(tar);
}

/** The image's layers, bottom first, opened with the tar reader. */
async function openLayers(layout: string): Promise<MergeLayer[]> {
  const blob = async (digest: string) => readFile(join(layout, 'blobs', ...digest.split(':')), 'utf8');
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
  const manifest = JSON.parse(await blob(index.manifests[0].digest));
  const out: MergeLayer[] = [];
  for (const l of manifest.layers) {
    assert.match(l.mediaType, /tar\+gzip$/);
    const src = await FileSource.open(join(layout, 'blobs', ...l.digest.split(':')));
    sources.push(src);
    const fs = (await openGzipLayer(src)).fs;
    // A directory the tar only implies (no member of its own) keeps the metadata of the layer
    // below, as umoci unpack keeps the existing directory.
    out.push({ fs, impliedDir: (ino) => fs.entry(ino) === undefined });
  }
  return out;
}

test(
  'merged view of a 5-layer umoci image equals umoci unpack (manifest and extract)',
  { timeout: 300_000 },
  async () => {
    const layout = join(tmp, 'layout');
    await runOk('umoci', ['init', '--layout', layout]);
    await runOk('umoci', ['new', '--image', `${layout}:t`]);

    // Layer 1: the seed-1 tree, as GNU tar writes it (pax, xattrs, numeric owners, a `./` root).
    // (`umoci insert` 0.4.7 writes archives that end without the last member's padding and the
    // end-of-archive blocks; GNU tar calls them truncated, so they are not used here.)
    const seed1 = join(tmp, 'seed1');
    await makeTree(seed1, 1);
    await addRawLayer(layout, seed1, '.');

    // Layer 2: deletions (a file, a whole directory), replacements both ways, a new subtree.
    const seed2 = join(tmp, 'seed2');
    await makeTree(seed2, 2);
    await layerFromChanges(layout, '2', async (r) => {
      await rm(join(r, 'etc/os-release'));
      await rm(join(r, 'wide'), { recursive: true });
      await writeFile(join(r, 'sizes/f4096'), 'replaced in layer 2\n');
      await rm(join(r, 'bin/tool'));
      await mkdir(join(r, 'bin/tool'));
      await writeFile(join(r, 'bin/tool/now-a-dir'), 'tool became a directory\n');
      await sh(`cp -a "${seed2}" seed2`, r);
      await chmod(join(r, 'emptydir'), 0o700);
      await utimes(join(r, 'emptydir'), 1650000000, 1650000000);
    });

    // Layer 3: a deleted directory comes back with other content, a directory emptied and
    // refilled, a symlink replaced by a file, a layer-2 directory replaced by a symlink.
    await layerFromChanges(layout, '3', async (r) => {
      await mkdir(join(r, 'wide'));
      await writeFile(join(r, 'wide/entry-0001.txt'), 'wide is back, smaller\n');
      await writeFile(join(r, 'wide/only-in-layer-3'), 'new\n');
      await sh('rm seed2/wide/entry-00*', r);
      await rm(join(r, 'seed2/big/random-1M.bin'));
      await sh('rm -rf big && mkdir big && echo new > big/new && chmod 0750 big', r);
      await rm(join(r, 'bin/os-release-link'));
      await writeFile(join(r, 'bin/os-release-link'), 'no longer a symlink\n');
      await chmod(join(r, 'bin/setuid'), 0o2711);
    });

    // Layer 4: an opaque directory (`.wh..wh..opq`) over seed-2's deep tree, with seed-3's in it.
    const seed3 = join(tmp, 'seed3');
    await makeTree(seed3, 3);
    const stage4 = join(tmp, 'stage4');
    await mkdir(join(stage4, 'seed2'), { recursive: true });
    await sh(
      `cp -a "${join(seed3, 'deep')}" seed2/deep && : > seed2/deep/.wh..wh..opq && touch -h -d @1700000000 seed2/deep/.wh..wh..opq seed2/deep seed2`,
      stage4,
    );
    await addRawLayer(layout, stage4, 'seed2');
    // Layer 5: an explicit whiteout of a directory that several layers contributed to.
    const stage5 = join(tmp, 'stage5');
    await mkdir(stage5);
    await writeFile(join(stage5, '.wh.sizes'), '');
    await addRawLayer(layout, stage5, '.wh.sizes');

    await compareWithUmoci(layout, 5, 1400);
  },
);

/** umoci unpack of the image vs the merged view of its layers, as a manifest and extracted. */
async function compareWithUmoci(layout: string, layerCount: number, minEntries: number): Promise<void> {
  const unpacked = join(tmp, `unpacked-${layerCount}-${minEntries}`);
  await runOk('umoci', ['unpack', '--image', `${layout}:t`, unpacked]);
  const expected = await treeManifest(join(unpacked, 'rootfs'));
  assert.ok(expected.length > minEntries, `umoci's rootfs has ${expected.length} entries`);

  const layers = await openLayers(layout);
  assert.equal(layers.length, layerCount);
  const merged = new MergedFileSystem(layers);
  // umoci unpack leaves out empty-valued xattrs (GNU tar wrote them; ocifs keeps them).
  assertSameManifest(withoutEmptyXattrs(await manifestOf(merged)), expected, 'manifestOf(merged) vs umoci unpack');

  const dest = join(tmp, `extracted-${layerCount}-${minEntries}`);
  await extractTree(merged, dest);
  assertSameManifest(withoutEmptyXattrs(await treeManifest(dest)), expected, 'extractTree(merged) vs umoci unpack');
}

// umoci repack writes whiteouts for the old children BELOW the path that replaced a directory
// (`deep/d00/d01` the file, then `deep/d00/d01/.wh.d02`); umoci unpack ignores them (their
// parent is not a directory). TarFileSystem currently turns such a path back into a directory
// (a member below a non-directory replaces it), so the merged view shows a directory where
// umoci has the file or symlink. Fix belongs in src/tar/tar-fs.ts (a `.wh.` member must not
// replace a non-directory parent); this test turns green then.
test('a directory replaced by a file and by a symlink (umoci repack)', { timeout: 300_000 }, async () => {
  const layout = join(tmp, 'layout-replace');
  await runOk('umoci', ['init', '--layout', layout]);
  await runOk('umoci', ['new', '--image', `${layout}:t`]);
  const seed4 = join(tmp, 'seed4');
  await makeTree(seed4, 4);
  await addRawLayer(layout, seed4, '.');
  await layerFromChanges(layout, 'r2', async (r) => {
    await rm(join(r, 'deep/d00/d01'), { recursive: true });
    await writeFile(join(r, 'deep/d00/d01'), 'a directory became a file\n');
    await rm(join(r, 'bin/tool'));
    await mkdir(join(r, 'bin/tool'));
    await writeFile(join(r, 'bin/tool/now-a-dir'), 'tool became a directory\n');
  });
  await layerFromChanges(layout, 'r3', async (r) => {
    await rm(join(r, 'bin/tool'), { recursive: true });
    await symlink('/etc/os-release', join(r, 'bin/tool'));
  });
  await compareWithUmoci(layout, 3, 1500);
});
