// `ocifs convert --to estargz` and `--to zstd-chunked` of a real layered image (umoci, pushed to
// the distribution registry): the blobs stay ordinary tar+gzip / tar+zstd (gzip -t, zstd -t and
// GNU tar accept them, and `tar x` of each equals `tar x` of the source layer, the format's TOC
// and landmark files aside); prioritized files come first, then `.prefetch.landmark`; skopeo
// copies the result to the registry; and ocifs reads it from there through the TOC, with no pass
// over a layer, to the tree `umoci unpack` makes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openImage } from '../../src/image/index.js';
import { blobPath, readLayoutImage } from '../helpers/convert-layout.js';
import { ocifsOk, statsOf } from '../helpers/cli.js';
import { assertSameManifest, manifestOf, treeManifest, withoutEmptyXattrs } from '../helpers/fs-manifest.js';
import { pushedLayeredImage, type LayeredImage } from '../helpers/layered-image.js';
import { cleanupTempDir, mountTempDir } from '../helpers/mount-safety.js';
import type { TestRegistry } from '../helpers/registry.js';
import { runOk } from '../helpers/run.js';

const tmp = mountTempDir('ocifs-convert-lazy-');
let registry: TestRegistry;
let img: LayeredImage;
let ref: string;
let sourceLayers: { digest: string; mediaType: string }[];
const cache = join(tmp, 'cache');
const PRIORITIZED = ['/bin/tool/now-a-dir', 'etc/passwd-like-missing', '/special/sparse'];

before(async () => {
  ({ registry, img, ref } = await pushedLayeredImage(tmp));
  sourceLayers = (await readLayoutImage(img.layout, 't')).manifest.layers;
});

after(async () => {
  await registry?.stop();
  cleanupTempDir(tmp);
});

/** When the test started: a directory GNU tar leaves with the time of extraction is later. */
const started = Math.floor(Date.now() / 1000) - 2;

/**
 * `tar x` of a layer blob into a new directory (GNU tar, as root: owners, devices, xattrs), as
 * tree-manifest.py lines. GNU tar restores a directory's mtime when it leaves it in the archive,
 * so a directory with a member further on (or one the archive only implies) keeps the time of
 * extraction: such times are left out (the headers' own times are compared by {@link tarListing}).
 */
async function untar(blob: string, dest: string, decompress: 'gzip' | 'zstd'): Promise<string[]> {
  await mkdir(dest, { recursive: true });
  await runOk('tar', [
    '-x',
    '-I',
    decompress,
    '-f',
    blob,
    '-C',
    dest,
    '--xattrs',
    '--xattrs-include=*',
    '--numeric-owner',
    '--same-permissions',
  ]);
  for (const f of ['stargz.index.json', '.prefetch.landmark', '.no.prefetch.landmark'])
    await rm(join(dest, f), { force: true });
  return (await treeManifest(dest)).map((l) => {
    const e = JSON.parse(l) as { path: string; type: string; mtime?: number };
    if (e.type === 'dir' && e.mtime! >= started) delete e.mtime;
    return JSON.stringify(e);
  });
}

/** `tar -tv --full-time` lines (names without `./`), sorted, the format's own members left out. */
async function tarListing(blob: string, decompress: 'gzip' | 'zstd'): Promise<string[]> {
  const out = (
    await runOk('tar', ['-tv', '--full-time', '--numeric-owner', '-I', decompress, '-f', blob])
  ).stdout.toString();
  return out
    .split('\n')
    .filter((l) => l !== '' && !/ (stargz\.index\.json|\.prefetch\.landmark|\.no\.prefetch\.landmark)$/.test(l))
    .map((l) =>
      l
        .replace(/ +/g, ' ')
        .replace(/ \.\/(?=\S)/g, ' ')
        .replace(/ \.\/$/, ' .')
        .replace(/ link to \.\//, ' link to '),
    )
    .sort();
}

const FORMATS = [
  { to: 'estargz', mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', decompress: 'gzip', test: ['gzip', '-t'] },
  {
    to: 'zstd-chunked',
    mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd',
    decompress: 'zstd',
    test: ['zstd', '-q', '-t'],
  },
] as const;

for (const f of FORMATS) {
  test(
    `--to ${f.to}: valid ${f.decompress} tar layers whose tar x equals the source layer's`,
    { timeout: 300_000 },
    async () => {
      const out = join(tmp, `out-${f.to}`);
      const extra: string[] = [];
      if (f.to === 'estargz') {
        const list = join(tmp, 'prioritized.txt');
        await writeFile(list, `# start-up files\n${PRIORITIZED.join('\n')}\n`);
        extra.push('--prioritize-files', list);
      }
      await ocifsOk(['convert', ref, `oci:${out}:${f.to}`, '--to', f.to, '--cache-dir', cache, '-q', ...extra]);
      const { manifest, config } = await readLayoutImage(out, f.to);
      assert.equal(manifest.layers.length, sourceLayers.length);
      for (const [i, layer] of manifest.layers.entries()) {
        assert.equal(layer.mediaType, f.mediaType);
        const blob = blobPath(out, layer.digest);
        await runOk(f.test[0], [...f.test.slice(1), blob]);
        // diff_id: the sha256 of the uncompressed tar.
        const sum = await runOk('sh', ['-c', `${f.decompress} -dc "${blob}" | sha256sum`]);
        assert.equal(`sha256:${sum.stdout.toString().split(' ')[0]}`, config.rootfs.diff_ids[i]);
        const listing = (await runOk('tar', ['-t', '-I', f.decompress, '-f', blob])).stdout.toString().split('\n');
        if (f.to === 'estargz') {
          assert.ok(layer.annotations?.['containerd.io/snapshot/stargz/toc.digest']?.startsWith('sha256:'));
          assert.equal(
            Number(layer.annotations?.['io.containers.estargz.uncompressed-size']),
            Number((await runOk('sh', ['-c', `gzip -dc "${blob}" | wc -c`])).stdout.toString().trim()),
          );
          assert.equal(listing[listing.length - 2], 'stargz.index.json', 'the TOC is the last member');
          // Layer 2 has /bin/tool/now-a-dir, layer 3 /special/sparse: they come first, then the landmark.
          const want =
            i === 1
              ? ['bin/tool/now-a-dir', '.prefetch.landmark']
              : i === 2
                ? ['special/sparse', '.prefetch.landmark']
                : ['.no.prefetch.landmark'];
          assert.deepEqual(listing.slice(0, want.length), want);
        } else {
          for (const k of ['manifest-checksum', 'manifest-position', 'tarsplit-position'])
            assert.ok(layer.annotations?.[`io.github.containers.zstd-chunked.${k}`], k);
        }
        const sourceBlob = blobPath(img.layout, sourceLayers[i].digest);
        assert.deepEqual(
          await tarListing(blob, f.decompress),
          await tarListing(sourceBlob, 'gzip'),
          `tar tv of ${f.to} layer ${i} vs the source layer`,
        );
        const got = await untar(blob, join(tmp, `x-${f.to}-${i}`), f.decompress);
        const want = await untar(sourceBlob, join(tmp, `x-src-${f.to}-${i}`), 'gzip');
        assertSameManifest(got, want, `tar x of ${f.to} layer ${i} vs the source layer`);
      }
    },
  );

  test(
    `--to ${f.to}: skopeo copies it to the registry and ocifs reads it there through the TOC`,
    { timeout: 300_000 },
    async () => {
      const conv = `${registry.host}/conv:${f.to}`;
      await runOk('skopeo', [
        'copy',
        '--quiet',
        '--dest-tls-verify=false',
        `oci:${join(tmp, `out-${f.to}`)}:${f.to}`,
        `docker://${conv}`,
      ]);
      const fresh = join(tmp, `cache-${f.to}`);
      const info = await ocifsOk(['info', '--cache-dir', fresh, conv, '--layer', '-1']);
      assert.match(info.stdout.toString(), new RegExp(`tar \\(${f.to === 'estargz' ? 'estargz' : 'zstd:chunked'}\\)`));
      const r = await ocifsOk(['cat', '--stats', '--cache-dir', fresh, conv, '/special/sparse']);
      assert.equal(r.stdout.length, 3 * 1024 * 1024);
      const { manifest } = await readLayoutImage(join(tmp, `out-${f.to}`), f.to);
      const total = manifest.layers.reduce((n, l) => n + l.size, 0);
      assert.ok(
        statsOf(r).bytesFetched < total / 4,
        `fetched ${statsOf(r).bytesFetched} of ${total}: no pass over the layers`,
      );
      const image = await openImage(conv, { cacheDir: join(tmp, `cache-lib-${f.to}`), config: false });
      try {
        assertSameManifest(
          withoutEmptyXattrs(await manifestOf(await image.openFileSystem())),
          img.expected,
          `ocifs's merged view of the ${f.to} image vs umoci unpack`,
        );
      } finally {
        await image.close();
      }
    },
  );
}
