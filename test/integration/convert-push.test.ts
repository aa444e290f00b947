// `ocifs convert` straight into a registry (the distribution registry): the converted image is
// pushed as it is produced (chunked uploads for streams; EROFS files and configs skipped after a
// HEAD when the repository has them, mounted from the source repository when that has them),
// the tag last, and ocifs reads it back from there; a terminal shows a progress bar; a registry that refuses an upload midway or a
// repository without push rights gives one line and leaves the tag as it was (old image or
// none), and a rerun completes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { OCIFS_BIN, ocifs, ocifsOk } from '../helpers/cli.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { assertSameManifest, manifestOf, withoutEmptyXattrs } from '../helpers/fs-manifest.js';
import { htpasswdConfig, writeHtpasswd } from '../helpers/htpasswd.js';
import { pushedLayeredImage, type LayeredImage } from '../helpers/layered-image.js';
import { cleanupTempDir, mountTempDir } from '../helpers/mount-safety.js';
import { MT_LAYER_GZIP, putImage, putIndex, tagInLayout, writeImageLayout } from '../helpers/oci-layout.js';
import { skopeoPush, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { runOk } from '../helpers/run.js';
import { gzipSync } from 'node:zlib';
import { END_OF_ARCHIVE, tarHeader, tarPadding } from '../../src/build/tar-write.js';
import { openImage } from '../../src/image/index.js';

const tmp = mountTempDir('ocifs-convert-push-');
let registry: TestRegistry;
let img: LayeredImage;
let ref: string;
const cache = join(tmp, 'cache');

/** The digest the registry's tag names (HEAD of the manifest), or undefined when there is none. */
async function tagDigest(reg: TestRegistry, repoTag: string): Promise<string | undefined> {
  const [repo, tag] = repoTag.split(':');
  const r = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json' },
  });
  return r.status === 200 ? (r.headers.get('docker-content-digest') ?? undefined) : undefined;
}

before(async () => {
  ({ registry, img, ref } = await pushedLayeredImage(tmp));
  // A layer of 24 MiB that does not compress: its eStargz blob goes up in several PATCHes.
  const data = randomBytes(24 * 1024 * 1024);
  const tar = Buffer.concat([
    tarHeader({
      path: 'random.bin',
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtimeSec: 1700000000,
      mtimeNsec: 0,
      size: data.length,
      rdev: 0,
    })!,
    data,
    new Uint8Array(tarPadding(data.length)),
    END_OF_ARCHIVE,
  ]);
  const big = join(tmp, 'big');
  await writeImageLayout(
    big,
    {
      layers: [
        {
          bytes: gzipSync(tar, { level: 1 }),
          mediaType: MT_LAYER_GZIP,
          diffId: `sha256:${createHash('sha256').update(tar).digest('hex')}`,
        },
      ],
    },
    't',
  );
  await skopeoPush(big, 't', `${registry.host}/big:t`);
});

after(async () => {
  await registry?.stop();
  cleanupTempDir(tmp);
});

for (const to of ['erofs', 'estargz', 'zstd-chunked'] as const) {
  test(
    `--to ${to} pushed straight to the registry reads back as umoci unpack's tree`,
    { timeout: 300_000 },
    async () => {
      const dest = `${registry.host}/pushed:${to}`;
      await ocifsOk([
        'convert',
        '-q',
        '--cache-dir',
        cache,
        ref,
        dest,
        '--to',
        to,
        ...(to === 'erofs' ? ['--compress', 'lz4'] : []),
      ]);
      const image = await openImage(dest, { cacheDir: join(tmp, `read-${to}`), config: true });
      try {
        assert.equal(image.layers.length, 3);
        assertSameManifest(
          withoutEmptyXattrs(await manifestOf(await image.openFileSystem())),
          img.expected,
          `${to} image read from the registry vs umoci unpack`,
        );
        assert.deepEqual(image.resolved!.config!.rootfs.diff_ids.length, 3);
      } finally {
        await image.close();
      }
      // skopeo reads it from the registry as well.
      await runOk('skopeo', [
        'copy',
        '--quiet',
        '--src-tls-verify=false',
        `docker://${dest}`,
        `oci:${join(tmp, `skopeo-${to}`)}:x`,
      ]);
    },
  );
}

test(
  'blobs the destination has are skipped (HEAD); blobs the source repository has are mounted',
  { timeout: 300_000 },
  async () => {
    const proxy = await startFaultProxy(registry.url);
    try {
      const src = `${proxy.host}/src:t`;
      const uploads = (log: typeof proxy.log) =>
        log.filter((l) => l.method === 'PATCH' || (l.method === 'PUT' && l.path.includes('/blobs/uploads/')));
      // A conversion into the source's own repository leaves its EROFS layers and config there.
      await ocifsOk(['convert', '-q', '--cache-dir', cache, src, `${proxy.host}/src:erofs`, '--to', 'erofs']);
      let mark = proxy.log.length;
      // Again, to the same tag: every blob is found (HEAD 200) and none is sent.
      await ocifsOk(['convert', '-q', '--cache-dir', cache, src, `${proxy.host}/src:erofs`, '--to', 'erofs']);
      let since = proxy.log.slice(mark);
      assert.deepEqual(uploads(since), [], 'nothing uploaded');
      const found = since.filter(
        (l) => l.method === 'HEAD' && /^\/v2\/src\/blobs\/sha256:/.test(l.path) && l.status === 200,
      );
      assert.equal(found.length, 4, 'three layers and the config found');
      // Into another repository: the same blobs are mounted from the source repository.
      mark = proxy.log.length;
      await ocifsOk(['convert', '-q', '--cache-dir', cache, src, `${proxy.host}/mounted:erofs`, '--to', 'erofs']);
      since = proxy.log.slice(mark);
      assert.deepEqual(uploads(since), [], 'nothing uploaded');
      const mounts = since.filter(
        (l) =>
          l.method === 'POST' &&
          /^\/v2\/mounted\/blobs\/uploads\/\?.*mount=sha256.*from=src/.test(l.path) &&
          l.status === 201,
      );
      assert.equal(mounts.length, 4, 'three layers and the config mounted');
      const image = await openImage(`${registry.host}/mounted:erofs`, {
        cacheDir: join(tmp, 'read-mounted'),
        config: true,
      });
      try {
        assertSameManifest(
          withoutEmptyXattrs(await manifestOf(await image.openFileSystem())),
          img.expected,
          'the image of mounted blobs vs umoci unpack',
        );
      } finally {
        await image.close();
      }
    } finally {
      await proxy.stop();
    }
  },
);

test(
  'a terminal gets a progress bar of layers and bytes; a pipe gets the summary line alone',
  { timeout: 300_000 },
  async () => {
    const out = join(tmp, 'progress');
    const args = ['convert', '--cache-dir', cache, `${registry.host}/big:t`, `oci:${out}:t`, '--to', 'estargz'];
    // script(1) runs the command on a pseudo-terminal and copies what it draws to its stdout.
    const quoted = [process.execPath, OCIFS_BIN, ...args].map((a) => `'${a}'`).join(' ');
    const tty = await runOk('script', ['-qefc', quoted, '/dev/null']);
    const drawn = tty.stdout.toString();
    assert.match(drawn, /convert \[[^\]]*\] 100% [\d.]+ MiB\/[\d.]+ MiB, layers 1\/1/, drawn);
    assert.match(drawn, /converted to estargz: oci:/);
    const piped = await ocifsOk(args);
    assert.deepEqual(piped.stderr.trim().split('\n').length, 1, piped.stderr);
    assert.match(piped.stderr, /^converted to estargz: oci:/);
  },
);

test(
  'a registry refusing an upload midway: one line, the tag keeps the old image; a rerun completes',
  { timeout: 300_000 },
  async () => {
    const proxy: FaultProxy = await startFaultProxy(registry.url);
    try {
      const dest = `${proxy.host}/flaky:t`;
      await ocifsOk(['convert', '-q', '--cache-dir', cache, ref, dest, '--to', 'estargz']);
      const old = await tagDigest(registry, 'flaky:t');
      assert.ok(old);
      const mark = proxy.log.length;
      proxy.addRule({
        method: 'PATCH',
        skip: 1,
        fault: {
          kind: 'status',
          status: 400,
          body: '{"errors":[{"code":"BLOB_UPLOAD_INVALID","message":"refused by the test"}]}',
        },
      });
      const r = await ocifs(['convert', '-q', '--cache-dir', cache, `${registry.host}/big:t`, dest, '--to', 'estargz']);
      assert.equal(r.code, 1);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], /^ocifs: /);
      const since = proxy.log.slice(mark);
      assert.ok(
        since.some((l) => l.method === 'PATCH' && l.status === 400),
        'a PATCH was refused',
      );
      assert.equal(await tagDigest(registry, 'flaky:t'), old, 'the tag still names the old image');
      assert.ok(!since.some((l) => l.method === 'PUT' && l.path.endsWith('/manifests/t')), 'the tag was never written');
      proxy.clearRules();
      await ocifsOk(['convert', '-q', '--cache-dir', cache, `${registry.host}/big:t`, dest, '--to', 'estargz']);
      const now = await tagDigest(registry, 'flaky:t');
      assert.ok(now && now !== old);
      const cat = await ocifsOk(['cat', '--cache-dir', join(tmp, 'read-flaky'), dest, '/random.bin']);
      assert.equal(cat.stdout.length, 24 * 1024 * 1024);
    } finally {
      await proxy.stop();
    }
  },
);

test('no push rights: one line naming the problem, nothing tagged', { timeout: 120_000 }, async () => {
  const htpasswd = await writeHtpasswd({ owner: 'secret' }, tmp);
  const locked = await startRegistry({ extraConfig: htpasswdConfig(htpasswd), readyStatus: 401 });
  try {
    const r = await ocifs(
      ['convert', '-q', '--cache-dir', cache, ref, `${locked.host}/app:t`, '--to', 'zstd-chunked'],
      { env: { DOCKER_CONFIG: join(tmp, 'no-docker-config'), REGISTRY_AUTH_FILE: join(tmp, 'no-auth.json') } },
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^ocifs: .*no push rights.*\n$/);
    const head = await fetch(`${locked.url}/v2/app/manifests/t`, {
      method: 'HEAD',
      headers: { authorization: `Basic ${Buffer.from('owner:secret').toString('base64')}` },
    });
    assert.equal(head.status, 404);
  } finally {
    await locked.stop();
  }
});

/** A tar+gzip layer holding one file. */
function oneFileLayer(name: string, text: string): { bytes: Uint8Array; mediaType: string; diffId: string } {
  const data = Buffer.from(text);
  const tar = Buffer.concat([
    tarHeader({
      path: name,
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtimeSec: 1700000000,
      mtimeNsec: 0,
      size: data.length,
      rdev: 0,
    })!,
    data,
    new Uint8Array(tarPadding(data.length)),
    END_OF_ARCHIVE,
  ]);
  return {
    bytes: gzipSync(tar),
    mediaType: MT_LAYER_GZIP,
    diffId: `sha256:${createHash('sha256').update(tar).digest('hex')}`,
  };
}

test(
  '--all-platforms converts every platform of an index; without it, the host platform alone',
  { timeout: 120_000 },
  async () => {
    const layout = join(tmp, 'multi');
    const amd = await putImage(layout, { layers: [oneFileLayer('arch', 'amd64\n')], architecture: 'amd64' });
    const arm = await putImage(layout, {
      layers: [oneFileLayer('arch', 'arm64\n')],
      architecture: 'arm64',
      variant: 'v8',
    });
    await tagInLayout(layout, await putIndex(layout, [amd, arm]), 't');
    await runOk('skopeo', [
      'copy',
      '--quiet',
      '--all',
      '--dest-tls-verify=false',
      `oci:${layout}:t`,
      `docker://${registry.host}/multi:t`,
    ]);
    const dest = `${registry.host}/multi-conv:all`;
    await ocifsOk([
      'convert',
      '-q',
      '--cache-dir',
      cache,
      `${registry.host}/multi:t`,
      dest,
      '--to',
      'erofs',
      '--all-platforms',
    ]);
    const index = (await (
      await fetch(`${registry.url}/v2/multi-conv/manifests/all`, {
        headers: { accept: 'application/vnd.oci.image.index.v1+json' },
      })
    ).json()) as { mediaType: string; manifests: { platform: { architecture: string; variant?: string } }[] };
    assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.deepEqual(
      index.manifests.map((m) => m.platform),
      [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64', variant: 'v8' },
      ],
    );
    for (const [platform, want] of [
      ['linux/amd64', 'amd64\n'],
      ['linux/arm64/v8', 'arm64\n'],
    ]) {
      const r = await ocifsOk(['cat', '--cache-dir', join(tmp, 'read-multi'), '--platform', platform, dest, '/arch']);
      assert.equal(r.stdout.toString(), want);
    }
    await ocifsOk([
      'convert',
      '-q',
      '--cache-dir',
      cache,
      `${registry.host}/multi:t`,
      `${registry.host}/multi-conv:one`,
      '--to',
      'estargz',
      '--platform',
      'linux/arm64/v8',
    ]);
    const one = (await (
      await fetch(`${registry.url}/v2/multi-conv/manifests/one`, {
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
      })
    ).json()) as { layers: { mediaType: string }[] };
    assert.equal(one.layers[0].mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
    const r = await ocifsOk([
      'cat',
      '--cache-dir',
      join(tmp, 'read-multi'),
      `${registry.host}/multi-conv:one`,
      '/arch',
    ]);
    assert.equal(r.stdout.toString(), 'arm64\n');
  },
);
