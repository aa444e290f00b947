// eStargz and zstd:chunked layers made by the real producers, not by these tests: stargz-snapshotter's
// `ctr-remote image convert --estargz|--zstdchunked` (Debian's 0.12, against a private containerd)
// and `podman push --compression-format zstd:chunked` (Debian's podman 4.3, containers/storage
// before the `io.github.containers.*` rename: 40-byte footer, `io.containers.*` annotations).
// Each is read through its TOC: a cold `cat` of a small file fetches a small part of the layer,
// the landmark and TOC entries stay hidden, and the extracted tree is the source tree.
import { randomBytes } from 'node:crypto';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemorySource } from '../../src/io/memory-source.js';
import { detectZstdChunked } from '../../src/tar/zstd-chunked.js';
import { umociImage, writeBusyboxRootfs } from '../helpers/busybox-image.js';
import { ocifs, ocifsOk, statsOf } from '../helpers/cli.js';
import { startContainerd } from '../helpers/containerd.js';
import { assertSameManifest, treeManifest } from '../helpers/fs-manifest.js';
import { startPodman } from '../helpers/podman.js';
import { skopeoPush, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { runOk } from '../helpers/run.js';

let reg: TestRegistry;
let tmp: string;
let rootfs: string;
let expected: string[];
/** Image references by producer. */
const refs: Record<'estargz' | 'stargzZstd' | 'podmanZstd', string> = { estargz: '', stargzZstd: '', podmanZstd: '' };

interface LayerDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

async function layerOf(ref: string): Promise<LayerDescriptor> {
  const [repo, tag] = ref.slice(reg.host.length + 1).split(':');
  const r = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, {
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  const m = (await r.json()) as { layers: LayerDescriptor[] };
  assert.equal(m.layers.length, 1);
  return m.layers[0];
}

async function blobOf(ref: string, digest: string): Promise<Uint8Array> {
  const repo = ref.slice(reg.host.length + 1).split(':')[0];
  return new Uint8Array(await (await fetch(`${reg.url}/v2/${repo}/blobs/${digest}`)).arrayBuffer());
}

before(async () => {
  reg = await startRegistry();
  tmp = await mkdtemp(join(tmpdir(), 'ocifs-real-producers-'));
  rootfs = join(tmp, 'rootfs');
  await writeBusyboxRootfs(rootfs, 'ID=real-producers\n');
  await mkdir(join(rootfs, 'data'));
  // 8 MiB that do not compress, so that a small file's share of the layer is small; a run of
  // zeros (containers/storage stores it as a `zeros` chunk); a file unique to this run, so that
  // no blob cache of podman's offers an old compressed copy.
  await writeFile(join(rootfs, 'data', 'random.bin'), randomBytes(8 << 20));
  await writeFile(join(rootfs, 'data', 'zeros.bin'), Buffer.alloc(2 << 20));
  await writeFile(join(rootfs, 'data', 'unique'), `${process.pid} ${Date.now()}\n`);
  // Whole-second mtimes: umoci's tar rounds to the nearest second, eStargz TOCs keep seconds,
  // tree-manifest.py truncates; sub-second source times would make those disagree.
  await runOk('find', [rootfs, '-exec', 'touch', '-h', '-d', '@1700000000', '{}', '+']);
  expected = await treeManifest(rootfs);

  await umociImage(join(tmp, 'layout'), 'v1', rootfs);
  const src = `${reg.host}/real/busybox:v1`;
  await skopeoPush(join(tmp, 'layout'), 'v1', src);

  const ctd = await startContainerd();
  try {
    await ctd.ctrOk(['image', 'pull', '--plain-http', src]);
    for (const [flag, key, tag] of [
      ['--estargz', 'estargz', 'esgz'],
      ['--zstdchunked', 'stargzZstd', 'zstdchunked'],
    ] as const) {
      const dst = `${reg.host}/real/busybox:${tag}`;
      const r = await ctd.ctrRemote(['image', 'convert', flag, '--oci', src, dst]);
      if (r.code !== 0) throw new Error(`ctr-remote image convert ${flag} failed: ${r.stderr}`);
      await ctd.ctrOk(['image', 'push', '--plain-http', dst]);
      refs[key] = dst;
    }
  } finally {
    await ctd.stop();
  }

  const pm = await startPodman({ insecureRegistries: [reg.host] });
  try {
    // podman 4.3's zstd:chunked writer stops at the end-of-archive blocks and fails with "short
    // write" on the record padding GNU tar adds by default: a blocking factor of 1 adds none.
    await runOk('tar', ['-b', '1', '-cf', join(tmp, 'rootfs.tar'), '-C', rootfs, '.']);
    await pm.podmanOk(['import', join(tmp, 'rootfs.tar'), 'localhost/real-producers:v1']);
    refs.podmanZstd = `${reg.host}/real/podman:zstd-chunked`;
    await pm.podmanOk([
      'push',
      '--compression-format',
      'zstd:chunked',
      'localhost/real-producers:v1',
      `docker://${refs.podmanZstd}`,
    ]);
  } finally {
    await pm.stop();
  }
});

after(async () => {
  await reg?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test('the producers wrote the forms this test is about', async () => {
  const esgz = await layerOf(refs.estargz);
  assert.equal(esgz.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
  assert.match(esgz.annotations?.['containerd.io/snapshot/stargz/toc.digest'] ?? '', /^sha256:/);
  for (const ref of [refs.stargzZstd, refs.podmanZstd]) {
    const l = await layerOf(ref);
    assert.equal(l.mediaType, 'application/vnd.oci.image.layer.v1.tar+zstd');
    // The names before containers/storage 1.45 renamed them to io.github.containers.*.
    assert.match(l.annotations?.['io.containers.zstd-chunked.manifest-position'] ?? '', /^\d+:\d+:\d+:1$/, ref);
    assert.match(l.annotations?.['io.containers.zstd-chunked.manifest-checksum'] ?? '', /^sha256:/, ref);
    // And the 40-byte footer (magic "GnUlInUx") in a skippable frame at the very end.
    const blob = await blobOf(ref, l.digest);
    const tail = Buffer.from(blob.subarray(blob.length - 48));
    assert.equal(tail.readUInt32LE(0), 0x184d2a50, ref);
    assert.equal(tail.readUInt32LE(4), 40, ref);
    assert.equal(tail.subarray(40).toString('latin1'), 'GnUlInUx', ref);
    // The footer alone gives the same position as the annotation.
    const [offset, lengthCompressed, lengthUncompressed] = l
      .annotations!['io.containers.zstd-chunked.manifest-position'].split(':')
      .map(Number);
    assert.deepEqual(
      await detectZstdChunked(new MemorySource(blob)),
      { offset, lengthCompressed, lengthUncompressed },
      ref,
    );
  }
});

for (const [key, format] of [
  ['estargz', 'estargz'],
  ['stargzZstd', 'zstd:chunked'],
  ['podmanZstd', 'zstd:chunked'],
] as const) {
  test(`a ${key} layer is read through its TOC: a cold cat fetches little, no landmark, the tree is the source's`, async () => {
    const ref = refs[key];
    const layer = await layerOf(ref);
    const cache = join(tmp, `cache-${key}`);
    const info = await ocifsOk(['info', '--cache-dir', cache, ref]);
    assert.match(info.stdout.toString(), new RegExp(`Layer format: +tar \\(${format.replace('.', '\\.')}\\)`));
    await rm(cache, { recursive: true, force: true });

    const cat = await ocifsOk(['cat', '--stats', '--cache-dir', cache, ref, '/etc/os-release']);
    assert.equal(cat.stdout.toString(), 'ID=real-producers\n');
    const stats = statsOf(cat);
    // The footer, the TOC and the file's chunk, each rounded up to the cache's 64 KiB chunks.
    assert.ok(
      stats.bytesFetched < layer.size / 10,
      `a cold cat of one small file fetched ${stats.bytesFetched} of a ${layer.size}-byte layer`,
    );

    const ls = await ocifsOk(['ls', '--cache-dir', cache, ref, '/']);
    assert.deepEqual(ls.stdout.toString().trim().split('\n'), ['bin', 'data', 'etc', 'tmp']);
    const landmark = await ocifs(['stat', '--cache-dir', cache, ref, '/.no.prefetch.landmark']);
    assert.equal(landmark.code, 1);

    const dest = join(tmp, `extract-${key}`);
    await ocifsOk(['extract', '-q', '--cache-dir', cache, ref, dest]);
    assertSameManifest(await treeManifest(dest), expected, `${key} extract`);
    await rm(dest, { recursive: true, force: true });
  });
}
