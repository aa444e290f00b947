// `ocifs store` as podman's additional layer store, against the real podman 4.3 (containers/
// storage 1.43): images in the suite's registry, behind a fault proxy that logs every request,
// so each test can count what the registry served and to whom. A private podman names the
// store in storage.conf (`additionallayerstores = ["ROOT:ref"]`).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, rm, writeFile, chmod, chown, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { startRegistry, skopeoPush, type TestRegistry } from '../helpers/registry.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { umociImage, writeBusyboxRootfs } from '../helpers/busybox-image.js';
import { startPodman, type TestPodman } from '../helpers/podman.js';
import { startContainerd } from '../helpers/containerd.js';
import { startStore, storeLayerPath, type TestStore } from '../helpers/store.js';
import { MT_LAYER_EROFS, sha256, tagInLayout, putImage } from '../helpers/oci-layout.js';
import { runChild } from '../helpers/mount-safety.js';
import { runOk } from '../helpers/run.js';
import { ocifs } from '../helpers/cli.js';

let reg: TestRegistry;
let proxy: FaultProxy;
let store: TestStore;
let pm: TestPodman;
let tmp: string;

/** Registry paths and sizes of the layers of the images pushed below. */
interface Pushed {
  ref: string;
  layers: { digest: string; size: number; annotations?: Record<string, string> }[];
  diffIds: string[];
}
const images: Record<string, Pushed> = {};
const BIG = 6 << 20;

async function manifestOf(ref: string): Promise<Pushed> {
  const [host, ...rest] = ref.split('/');
  const [repo, tag] = rest.join('/').split(':');
  const accept = 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';
  const m = (await (await fetch(`http://${host}/v2/${repo}/manifests/${tag}`, { headers: { accept } })).json()) as {
    config: { digest: string };
    layers: Pushed['layers'];
  };
  const c = (await (await fetch(`http://${host}/v2/${repo}/blobs/${m.config.digest}`)).json()) as {
    rootfs: { diff_ids: string[] };
  };
  return { ref, layers: m.layers, diffIds: c.rootfs.diff_ids };
}

/** Bytes the registry sent for one blob, by client (ocifs or not). */
function servedBytes(digest: string, from: number, ocifsClient: boolean): number {
  return proxy.log
    .slice(from)
    .filter((e) => e.path.endsWith(`/blobs/${digest}`) && /^ocifs\//.test(e.userAgent ?? '') === ocifsClient)
    .reduce((n, e) => n + e.bytes, 0);
}

/** A busybox rootfs with a big incompressible file a short command never reads. */
async function bigRootfs(dir: string, id: string): Promise<void> {
  await writeBusyboxRootfs(dir, `ID=${id}\n`);
  await mkdir(join(dir, 'data'), { recursive: true });
  await writeFile(join(dir, 'data', 'big.bin'), randomBytes(BIG));
}

before(async () => {
  reg = await startRegistry();
  proxy = await startFaultProxy(reg.url);
  tmp = await mkdtemp(join(tmpdir(), 'ocifs-store-podman-'));
  const host = proxy.host;

  // tar+gzip by umoci: the store indexes it in one pass.
  await bigRootfs(join(tmp, 'gz-rootfs'), 'gz');
  await umociImage(join(tmp, 'gz'), 'v1', join(tmp, 'gz-rootfs'));
  await skopeoPush(join(tmp, 'gz'), 'v1', `${reg.host}/store/gz:v1`);

  // eStargz and zstd:chunked by ctr-remote (stargz-snapshotter's converter) in a private containerd.
  const ctd = await startContainerd();
  try {
    await ctd.ctrOk(['image', 'pull', '--plain-http', `${reg.host}/store/gz:v1`]);
    const conv = await ctd.ctrRemote(
      ['image', 'convert', '--estargz', '--oci', `${reg.host}/store/gz:v1`, `${reg.host}/store/esgz:v1`],
      { timeoutMs: 120_000 },
    );
    assert.equal(conv.code, 0, conv.stderr);
    await ctd.ctrOk(['image', 'push', '--plain-http', `${reg.host}/store/esgz:v1`]);
    const zc = await ctd.ctrRemote(
      ['image', 'convert', '--zstdchunked', '--oci', `${reg.host}/store/gz:v1`, `${reg.host}/store/zstdc:v1`],
      { timeoutMs: 120_000 },
    );
    assert.equal(zc.code, 0, zc.stderr);
    await ctd.ctrOk(['image', 'push', '--plain-http', `${reg.host}/store/zstdc:v1`]);
  } finally {
    await ctd.stop();
  }

  // EROFS: two layers made by mkfs.erofs, the top one deleting with overlayfs whiteouts.
  const e0 = join(tmp, 'erofs-rootfs');
  await bigRootfs(e0, 'erofs');
  await mkdir(join(e0, 'data', 'hidden'), { recursive: true });
  await writeFile(join(e0, 'data', 'hidden', 'old.txt'), 'old\n');
  await writeFile(join(e0, 'data', 'gone.txt'), 'gone\n');
  const e1 = join(tmp, 'erofs-top');
  await mkdir(join(e1, 'data', 'hidden'), { recursive: true });
  await writeFile(join(e1, 'data', 'hidden', 'new.txt'), 'new\n');
  await writeFile(join(e1, 'data', 'top.bin'), randomBytes(1 << 20));
  await runOk('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', join(e1, 'data', 'hidden')]);
  await runOk('mknod', [join(e1, 'data', 'gone.txt'), 'c', '0', '0']);
  const layers = [];
  for (const [i, d] of [e0, e1].entries()) {
    await runOk('mkfs.erofs', ['--quiet', '-zlz4hc', join(tmp, `l${i}.erofs`), d]);
    const bytes = await readFile(join(tmp, `l${i}.erofs`));
    layers.push({ bytes, mediaType: MT_LAYER_EROFS, diffId: sha256(bytes) });
  }
  const desc = await putImage(join(tmp, 'erofs'), { layers, config: { Cmd: ['/bin/sh'] } });
  await tagInLayout(join(tmp, 'erofs'), desc, 'v1');
  await skopeoPush(join(tmp, 'erofs'), 'v1', `${reg.host}/store/erofs:v1`);

  for (const name of ['gz', 'esgz', 'zstdc', 'erofs']) images[name] = await manifestOf(`${host}/store/${name}:v1`);
  store = await startStore();
  pm = await startPodman({ insecureRegistries: [host], additionalLayerStores: [`${store.root}:ref`] });
});

after(async () => {
  await pm?.stop();
  await store?.stop();
  await proxy?.stop();
  await reg?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const FORMAT_LINE: Record<string, string> = {
  esgz: 'tar\\+gzip \\(estargz\\)',
  zstdc: 'tar\\+zstd \\(zstd:chunked\\)',
  erofs: 'erofs',
};

for (const name of ['esgz', 'zstdc', 'erofs']) {
  test(`${name}: podman pull and run through the store; the registry serves no whole layer, podman no layer at all`, async () => {
    const img = images[name];
    const from = proxy.log.length;
    await pm.podmanOk(['pull', '--quiet', img.ref]);
    const r = await pm.podmanOk(['run', '--rm', '--net=none', img.ref, 'cat', '/etc/os-release']);
    assert.equal(r.stdout.toString(), `ID=${name === 'erofs' ? 'erofs' : 'gz'}\n`);
    for (const l of img.layers) {
      assert.equal(servedBytes(l.digest, from, false), 0, `podman fetched layer ${l.digest}`);
      const mine = servedBytes(l.digest, from, true);
      assert.ok(mine < l.size / 2, `the store fetched ${mine} of ${l.size} bytes of ${l.digest}`);
    }
    // The layer the container read is listed under its reference.
    const listing = await readdir(join(store.root, Buffer.from(img.ref).toString('base64')));
    assert.ok(listing.includes(img.layers[0].digest), listing.join(' '));
    await store.waitForLine(
      new RegExp(`serving ${img.ref} layer ${img.layers[0].digest} lazily: ${FORMAT_LINE[name]}`),
    );
  });
}

const EROFS_TREE = ['.', './big.bin', './hidden', './hidden/new.txt', './top.bin', 'new'].join('\n') + '\n';

test('erofs: the kernel mounts each layer, diff links to it; the upper layer deletes and hides inside the container', async () => {
  const img = images.erofs;
  for (const l of img.layers) {
    const diff = join(storeLayerPath(store.root, img.ref, l.digest), 'diff');
    const target = (await runChild('readlink', [diff])).stdout.toString().trim();
    assert.ok(target.startsWith(join(store.stateDir, 'store-layers') + '/'), target);
    assert.ok((await readFile('/proc/self/mountinfo', 'utf8')).includes(` ${target} `), `${target} is a mount`);
  }
  const r = await pm.podmanOk([
    'run',
    '--rm',
    '--net=none',
    img.ref,
    'sh',
    '-c',
    'cd /data && find . | sort && cat hidden/new.txt',
  ]);
  assert.equal(r.stdout.toString(), EROFS_TREE);
});

test('erofs with --no-kernel-erofs: the same through the FUSE tree', async () => {
  const img = images.erofs;
  const other = await startStore(['--no-kernel-erofs']);
  const pm2 = await startPodman({ insecureRegistries: [proxy.host], additionalLayerStores: [`${other.root}:ref`] });
  try {
    const from = proxy.log.length;
    await pm2.podmanOk(['pull', '--quiet', img.ref]);
    const r = await pm2.podmanOk([
      'run',
      '--rm',
      '--net=none',
      img.ref,
      'sh',
      '-c',
      'cd /data && find . | sort && cat hidden/new.txt',
    ]);
    assert.equal(r.stdout.toString(), EROFS_TREE);
    for (const l of img.layers) assert.equal(servedBytes(l.digest, from, false), 0, `podman fetched layer ${l.digest}`);
    await other.waitForLine(new RegExp(`serving ${img.ref} layer ${img.layers[0].digest} lazily: erofs$`));
  } finally {
    await pm2.stop();
    await other.stop();
  }
});

test('tar+gzip with no index: served after one pass over the layer, and the log says so', async () => {
  const img = images.gz;
  await pm.podmanOk(['pull', '--quiet', img.ref]);
  const r = await pm.podmanOk(['run', '--rm', '--net=none', img.ref, 'cat', '/etc/os-release']);
  assert.equal(r.stdout.toString(), 'ID=gz\n');
  await store.waitForLine(
    new RegExp(`serving ${img.ref} layer ${img.layers[0].digest} after reading it whole once: tar\\+gzip \\(gzip\\)`),
  );
});

test('tar+gzip with a SOCI index (ocifs index --push): served lazily from the zTOC, no pass', async () => {
  await bigRootfs(join(tmp, 'soci-rootfs'), 'soci');
  await umociImage(join(tmp, 'soci'), 'v1', join(tmp, 'soci-rootfs'));
  await skopeoPush(join(tmp, 'soci'), 'v1', `${reg.host}/store/soci:v1`);
  const indexed = await ocifs([
    'index',
    `${reg.host}/store/soci:v1`,
    '--push',
    '--min-layer-size',
    '1M',
    '--span',
    '1M',
    '--cache-dir',
    join(tmp, 'index-cache'),
  ]);
  assert.equal(indexed.code, 0, indexed.stderr);
  const img = await manifestOf(`${proxy.host}/store/soci:v1`);
  const from = proxy.log.length;
  await pm.podmanOk(['pull', '--quiet', img.ref]);
  const r = await pm.podmanOk(['run', '--rm', '--net=none', img.ref, 'cat', '/etc/os-release']);
  assert.equal(r.stdout.toString(), 'ID=soci\n');
  const l = img.layers[0];
  assert.equal(servedBytes(l.digest, from, false), 0, 'podman fetched the layer');
  const mine = servedBytes(l.digest, from, true);
  // Spans of the big file stay unfetched (the source decodes at most two spans ahead of a
  // program reading in order, here /bin/busybox).
  const ranges = proxy.log
    .slice(from)
    .filter((e) => e.path.endsWith(`/blobs/${l.digest}`))
    .map((e) => e.range);
  assert.ok(mine < l.size / 2, `the store fetched ${mine} of ${l.size} bytes: ${ranges.join(' ')}`);
  await store.waitForLine(new RegExp(`serving ${img.ref} layer ${l.digest} lazily: tar\\+gzip \\(soci\\)`));
});

test('info is the layer record containers/storage reads; blob is the layer, byte for byte', async () => {
  const img = images.esgz;
  const dir = storeLayerPath(store.root, img.ref, img.layers[0].digest);
  const info = JSON.parse((await runChild('cat', [join(dir, 'info')])).stdout.toString());
  assert.deepEqual(info, {
    'compressed-diff-digest': img.layers[0].digest,
    'compressed-size': img.layers[0].size,
    'diff-digest': img.diffIds[0],
    'diff-size': info['diff-size'],
    compression: 2,
  });
  assert.ok(info['diff-size'] > BIG, 'eStargz announces its uncompressed size');
  const sum = await runChild('sha256sum', [join(dir, 'blob')]);
  assert.equal(sum.stdout.toString().split(' ')[0], img.layers[0].digest.slice(7));

  // containers/storage 1.54+ (podman 5.1+) looks eStargz and zstd:chunked layers up by TOC digest.
  const toc = img.layers[0].annotations?.['containerd.io/snapshot/stargz/toc.digest'];
  assert.ok(toc, 'ctr-remote annotates the TOC digest');
  const byToc = JSON.parse(
    (await runChild('cat', [join(storeLayerPath(store.root, img.ref, toc), 'info')])).stdout.toString(),
  );
  assert.deepEqual(byToc, { ...info, 'toc-digest': toc, flags: { 'expected-layer-diffid': img.diffIds[0] } });
  assert.equal(
    (
      await runChild('stat', ['-c', '%F', join(storeLayerPath(store.root, img.ref, toc), 'diff', 'etc', 'os-release')])
    ).stdout.toString(),
    'regular file\n',
  );
});

/** Copies `bin` and the shared libraries `ldd` names into `rootfs`, at the same paths. */
async function copyDynamicBinary(bin: string, rootfs: string): Promise<void> {
  const ldd = (await runOk('ldd', [bin])).stdout.toString();
  const paths = [bin, ...[...ldd.matchAll(/(\/\S+) \(0x/g)].map((m) => m[1])];
  for (const p of paths) {
    await mkdir(dirname(join(rootfs, p)), { recursive: true });
    await copyFile(p, join(rootfs, p));
  }
}

/**
 * Three tar+gzip layers by umoci: a base, a layer that deletes a file and a directory, replaces
 * a directory and adds a setuid binary owned by uid 4242 (umoci repack writes the whiteouts),
 * and a layer with an opaque-directory marker (umoci raw add-layer).
 */
async function pushLayeredImage(ref: string): Promise<void> {
  const base = join(tmp, 'layered-rootfs');
  await writeBusyboxRootfs(base, 'ID=layered\n');
  const data = join(base, 'data');
  for (const d of ['gone-dir', 'replaced', 'opq']) await mkdir(join(data, d), { recursive: true });
  for (const [p, text] of [
    ['keep.txt', 'v1'],
    ['gone.txt', 'x'],
    ['gone-dir/a', 'a'],
    ['gone-dir/b', 'b'],
    ['replaced/old.txt', 'old'],
    ['opq/x', 'x'],
    ['opq/y', 'y'],
  ])
    await writeFile(join(data, p), text + '\n');
  const layout = join(tmp, 'layered');
  await umociImage(layout, 'v1', base);
  const bundle = join(tmp, 'layered-bundle');
  await runOk('umoci', ['unpack', '--image', `${layout}:v1`, bundle]);
  const root = join(bundle, 'rootfs');
  await rm(join(root, 'data', 'gone.txt'));
  await rm(join(root, 'data', 'gone-dir'), { recursive: true });
  await rm(join(root, 'data', 'replaced'), { recursive: true });
  await mkdir(join(root, 'data', 'replaced'));
  await writeFile(join(root, 'data', 'replaced', 'new.txt'), 'new\n');
  await writeFile(join(root, 'data', 'keep.txt'), 'v2\n');
  await copyDynamicBinary('/usr/bin/id', root);
  await chown(join(root, 'usr', 'bin', 'id'), 4242, 4242);
  await chmod(join(root, 'usr', 'bin', 'id'), 0o4755);
  await runOk('umoci', ['repack', '--image', `${layout}:v1`, bundle]);
  const opq = join(tmp, 'opq-layer');
  await mkdir(join(opq, 'data', 'opq'), { recursive: true });
  await writeFile(join(opq, 'data', 'opq', '.wh..wh..opq'), '');
  await writeFile(join(opq, 'data', 'opq', 'fresh.txt'), 'fresh\n');
  await runOk('tar', ['-C', opq, '--owner=0', '--group=0', '-cf', join(tmp, 'opq.tar'), 'data']);
  await runOk('umoci', ['raw', 'add-layer', '--image', `${layout}:v1`, join(tmp, 'opq.tar')]);
  await skopeoPush(layout, 'v1', ref);
}

/** Every entry under the given paths with its type, mode, owner, size, target and content digest. */
const TREE_SCRIPT =
  'for p in $(find /data /usr /lib /lib64 | sort); do stat -c "%n %f %u %g %s %N" "$p"; [ -f "$p" ] && md5sum "$p"; done; true';

let layeredRef = '';

test('a layered image with deletions, a replaced and an opaque directory: the container sees exactly what plain podman extracts', async () => {
  await pushLayeredImage(`${reg.host}/store/layered:v1`);
  const ref = (layeredRef = `${proxy.host}/store/layered:v1`);
  const from = proxy.log.length;
  await pm.podmanOk(['pull', '--quiet', ref]);
  const withStore = await pm.podmanOk(['run', '--rm', '--net=none', ref, 'sh', '-c', TREE_SCRIPT]);
  const img = await manifestOf(ref);
  assert.equal(img.layers.length, 3);
  for (const l of img.layers) assert.equal(servedBytes(l.digest, from, false), 0, `podman fetched layer ${l.digest}`);

  const plain = await startPodman({ insecureRegistries: [proxy.host] });
  try {
    await plain.podmanOk(['pull', '--quiet', ref]);
    const extracted = await plain.podmanOk(['run', '--rm', '--net=none', ref, 'sh', '-c', TREE_SCRIPT]);
    assert.equal(withStore.stdout.toString(), extracted.stdout.toString());
  } finally {
    await plain.stop();
  }
  const tree = withStore.stdout.toString();
  assert.match(tree, /^\/data\/keep\.txt /m);
  assert.doesNotMatch(tree, /gone|old\.txt|\/data\/opq\/x/);
  assert.match(tree, /^\/data\/replaced\/new\.txt /m);
  assert.match(tree, /^\/data\/opq\/fresh\.txt /m);
});

test('a setuid binary runs as its owner, and other users read the layers', async () => {
  const ref = layeredRef;
  const r = await pm.podmanOk([
    'run',
    '--rm',
    '--net=none',
    '--user',
    '65534:65534',
    ref,
    'sh',
    '-c',
    '/usr/bin/id; cat /data/keep.txt',
  ]);
  assert.match(
    r.stdout.toString(),
    /^uid=65534\(nobody\) gid=65534\(nogroup\) euid=4242 groups=65534\(nogroup\)\nv2\n$/,
  );
});

test('podman save reads the layers through blob: the saved layers are the images diffs', async () => {
  const img = images.esgz;
  const out = join(tmp, 'saved.tar');
  await pm.podmanOk(['save', '--format', 'docker-archive', '-o', out, img.ref]);
  const names = (await runOk('tar', ['-tf', out])).stdout.toString().split('\n');
  // docker-archive stores each layer uncompressed under its diff_id.
  const layerTar = names.find((n) => n.endsWith('.tar') && n.includes(img.diffIds[0].slice(7)));
  assert.ok(layerTar, names.join(' '));
  const sum = (await runOk('sh', ['-c', `tar -xOf ${out} ${layerTar} | sha256sum`])).stdout.toString().split(' ')[0];
  assert.equal(`sha256:${sum}`, img.diffIds[0]);
});

test('bad input: an unresolvable reference, a digest not in the image, a second store on the root', async () => {
  const zeros = `sha256:${'0'.repeat(64)}`;
  const nope = storeLayerPath(store.root, `${proxy.host}/store/nope:v1`, zeros);
  const r1 = await runChild('stat', [join(nope, 'diff')]);
  assert.notEqual(r1.code, 0);
  await store.waitForLine(new RegExp(`cannot serve ${proxy.host}/store/nope:v1 layer ${zeros}: .*manifest`));
  const r2 = await runChild('stat', [join(storeLayerPath(store.root, images.esgz.ref, zeros), 'info')]);
  assert.match(r2.stderr, /No such file or directory/);
  await store.waitForLine(new RegExp(`no layer with digest or TOC digest ${zeros}`));
  // Neither left anything behind: the root lists only references with layers in use.
  assert.ok(!(await readdir(store.root)).includes(Buffer.from(`${proxy.host}/store/nope:v1`).toString('base64')));
  // podman itself says what is wrong with the reference (and the store served nothing).
  const p = await pm.podman(['pull', '--quiet', `${proxy.host}/store/nope:v1`]);
  assert.notEqual(p.code, 0);
  assert.match(p.stderr, /manifest unknown/);

  const second = await ocifs(['store', '--root', store.root, '--cache-dir', store.cacheDir], {
    env: { OCIFS_STATE_DIR: store.stateDir },
  });
  assert.equal(second.code, 1);
  assert.equal(second.stderr.trim(), `ocifs: ${store.root}: another ocifs process (pid ${store.pid()}) serves it`);
});

test('the store cannot reach the registry: podman pulls the layer itself, and the store says why', async () => {
  // A layer podman has not stored yet (it would reuse a known one without asking anyone).
  await writeBusyboxRootfs(join(tmp, 'down-rootfs'), 'ID=down\n');
  await umociImage(join(tmp, 'down'), 'v1', join(tmp, 'down-rootfs'));
  await skopeoPush(join(tmp, 'down'), 'v1', `${reg.host}/store/down:v1`);
  const ref = `${proxy.host}/store/down:v1`;
  const { layers } = await manifestOf(ref);
  const digest = layers[0].digest;
  proxy.addRule({ userAgent: /^ocifs\//, fault: { kind: 'status', status: 503 } });
  const from = proxy.log.length;
  try {
    await pm.podmanOk(['pull', '--quiet', ref]);
  } finally {
    proxy.clearRules();
  }
  assert.equal(servedBytes(digest, from, false), layers[0].size, 'podman downloaded the layer');
  await store.waitForLine(new RegExp(`cannot serve ${ref} layer ${digest}: .*503`));
  assert.ok(!(await readdir(store.root)).includes(Buffer.from(ref).toString('base64')));
  const r = await pm.podmanOk(['run', '--rm', '--net=none', ref, 'cat', '/etc/os-release']);
  assert.equal(r.stdout.toString(), 'ID=down\n');
});

test('podman rmi: the store releases the layers and lists them no more', async () => {
  const ref = layeredRef;
  const encoded = Buffer.from(ref).toString('base64');
  assert.ok((await readdir(store.root)).includes(encoded));
  await pm.podmanOk(['rmi', ref]);
  for (const l of (await manifestOf(ref)).layers)
    await store.waitForLine(new RegExp(`released ${ref} layer ${l.digest}`));
  assert.ok(!(await readdir(store.root)).includes(encoded));
});

test('kill -9 and restart: images stay pulled, new containers run from the cache, running ones lose their layers', async () => {
  const img = images.esgz;
  assert.equal(
    (await pm.podmanOk(['run', '--rm', '--net=none', img.ref, 'cat', '/etc/os-release'])).stdout.toString(),
    'ID=gz\n',
  );
  await pm.podmanOk(['run', '-d', '--name', 'keeps-running', '--net=none', img.ref, 'sleep', '600']);
  await store.kill();
  await store.restart();
  await store.waitForLine(/cleared the mount a stopped store left at /);
  await store.waitForLine(/cleared [1-9]\d* EROFS layer mount\(s\) a stopped store left/);
  const from = proxy.log.length;
  const r = await pm.podmanOk(['run', '--rm', '--net=none', img.ref, 'cat', '/etc/os-release']);
  assert.equal(r.stdout.toString(), 'ID=gz\n');
  assert.equal(servedBytes(img.layers[0].digest, from, true), 0, 'what was read before came from the cache');
  // EROFS layers are mounted by the kernel again, as they are looked up.
  const e = await pm.podmanOk(['run', '--rm', '--net=none', images.erofs.ref, 'cat', '/etc/os-release']);
  assert.equal(e.stdout.toString(), 'ID=erofs\n');
  // The container started before the kill still has the old, dead mount under its layers: a
  // page of its program not yet in memory kills it (SIGBUS) or fails it, a file it opens fails
  // with ENOTCONN.
  const state = (
    await pm.podmanOk(['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', 'keeps-running'])
  ).stdout
    .toString()
    .trim();
  if (state.startsWith('running')) {
    const old = await pm.podman(['exec', 'keeps-running', 'cat', '/etc/os-release']);
    assert.notEqual(old.code, 0);
    // ENOTCONN: runc reports the program as not found, a shell as not connected.
    assert.match(old.stderr, /not connected|executable file not found/i);
  } else {
    // Killed (SIGBUS: 135) or failed (1) when its program could not be paged in.
    assert.match(state, /^(exited|stopped) [1-9]\d*$/);
  }
  await pm.podman(['rm', '--force', '--time', '0', 'keeps-running']);
});
