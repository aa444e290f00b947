// `ocifs snapshotter` under a private containerd 1.6 (proxy plugin), with images in every layer
// format served lazily: EROFS (kernel EROFS over the cache), tar+gzip with a SOCI index,
// eStargz made by ctr-remote, and plain tar+gzip (the gzip pass). `ctr-remote image rpull`
// then `ctr run` print the right output and show exactly the tree containerd's own overlayfs
// snapshotter shows for the same image (deletions, a replaced directory, a file turned into a
// directory); the registry (counted by a proxy in front of it) serves a fraction of the lazy
// images and `ctr images check` shows their layers not downloaded. A setuid binary runs as its
// owner and a 0600 file is readable only by its user. A plain `ctr image pull` works too (the
// normal snapshotter path). Removing the images lets containerd's GC unmount every layer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestRegistry } from '../helpers/registry.js';
import { startContainerd, type TestContainerd } from '../helpers/containerd.js';
import type { TestSnapshotter } from '../helpers/snapshotter.js';
import { startSnapshotterStack, type SnapshotterStack } from '../helpers/snapshotter-stack.js';
import { OTHER_USER, SETUID_OWNER, treeCommand, type RuntimeImages } from '../helpers/runtime-images.js';
import { freePort } from '../helpers/run.js';
import { mountsLeftUnder } from '../helpers/mount-safety.js';

let stack: SnapshotterStack;
let reg: TestRegistry;
let images: RuntimeImages;
let estargzLayers: { digest: string; size: number }[] = [];
let sn: TestSnapshotter;
let ctd: TestContainerd;
let metricsPort: number;
/** The tree as containerd's overlayfs snapshotter shows it (the reference). */
let reference: string;

const viaProxy = (ref: string) => stack.via(ref);
before(async () => {
  metricsPort = await freePort();
  stack = await startSnapshotterStack('containerd', { args: ['--metrics-address', `127.0.0.1:${metricsPort}`] });
  ({ reg, images, sn } = stack);
  // eStargz made by the real producer, in a containerd of its own (so its content store keeps the blobs, not the test's).
  const conv = await startContainerd();
  try {
    const estargz = `${reg.host}/snap/estargz:v1`;
    await conv.ctrOk(['image', 'pull', '--plain-http', images.tar], { timeoutMs: 180_000 });
    const c = await conv.ctrRemote(['image', 'convert', '--estargz', '--oci', images.tar, estargz], {
      timeoutMs: 300_000,
    });
    assert.equal(c.code, 0, c.stderr);
    await conv.ctrOk(['image', 'push', '--plain-http', estargz, estargz], { timeoutMs: 180_000 });
  } finally {
    await conv.stop();
  }
  const m = await (
    await fetch(`${reg.url}/v2/snap/estargz/manifests/v1`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    })
  ).json();
  estargzLayers = (m as { layers: { digest: string; size: number; annotations?: Record<string, string> }[] }).layers;
  assert.ok(
    (m as { layers: { annotations?: Record<string, string> }[] }).layers.every(
      (l) => l.annotations?.['containerd.io/snapshot/stargz/toc.digest'],
    ),
    'ctr-remote made eStargz layers',
  );

  ctd = await startContainerd({ proxySnapshotters: { ocifs: sn.address } });
  // The reference: containerd's own overlayfs snapshotter unpacks the tar image.
  await ctd.ctrOk(['image', 'pull', '--plain-http', images.tar], { timeoutMs: 180_000 });
  reference = (await ctd.ctrOk(['run', '--rm', images.tar, 'reference', ...treeCommand])).stdout.toString();
});

after(async () => {
  await ctd?.stop();
  await stack?.stop();
});

/** The tree equals the reference; the message shows only the lines that differ. */
function assertSameTree(got: string, what: string): void {
  if (got === reference) return;
  const a = new Set(reference.split('\n'));
  const b = new Set(got.split('\n'));
  const missing = [...a].filter((l) => !b.has(l));
  const extra = [...b].filter((l) => !a.has(l));
  assert.fail(
    `${what}: the tree differs from containerd's overlayfs snapshotter's\nmissing:\n${missing.join('\n')}\nextra:\n${extra.join('\n')}`,
  );
}

async function lazyRun(ref: string, id: string): Promise<void> {
  const r = await ctd.ctrRemote(['image', 'rpull', '--plain-http', '--snapshotter', 'ocifs', ref], {
    timeoutMs: 180_000,
  });
  assert.equal(r.code, 0, `rpull ${ref}: ${r.stderr}\n${sn.log()}`);
  const out = await ctd.ctrOk(['run', '--rm', '--snapshotter', 'ocifs', ref, `${id}-os`, 'cat', '/etc/os-release']);
  assert.equal(out.stdout.toString(), 'ID=ocifs-snapshotter-test\n');
  const tree = await ctd.ctrOk(['run', '--rm', '--snapshotter', 'ocifs', ref, `${id}-tree`, ...treeCommand]);
  assertSameTree(tree.stdout.toString(), id);
}

for (const variant of ['erofs', 'soci', 'estargz'] as const) {
  test(`${variant}: rpull and run lazily; the registry serves a fraction of the layers and containerd downloads none`, async () => {
    const direct = variant === 'estargz' ? `${reg.host}/snap/estargz:v1` : images[variant];
    const ref = viaProxy(direct);
    const layers = variant === 'estargz' ? estargzLayers : images.layers[variant];
    const total = layers.reduce((n, l) => n + l.size, 0);
    await lazyRun(ref, variant);
    const served = stack.servedLayerBytes(
      direct,
      layers.map((l) => l.digest),
    );
    assert.ok(served < total * 0.3, `${variant}: the registry served ${served} of ${total} layer bytes`);
    const check = (await ctd.ctrOk(['images', 'check'])).stdout
      .toString()
      .split('\n')
      .find((l) => l.startsWith(ref + ' '));
    assert.match(check ?? '', /incomplete \(1\/\d+\)/, `containerd downloaded layers of ${ref}: ${check}`);
    assert.match(
      sn.log(),
      new RegExp(`mounted lazily \\(${variant === 'erofs' ? 'erofs' : `tar\\+gzip \\(${variant}\\)`}\\)`),
    );
  });
}

test('plain tar+gzip without an index: served through the gzip pass (the whole layer read once), and says so', async () => {
  const ref = viaProxy(images.tar);
  await lazyRun(ref, 'tar');
  assert.match(sn.log(), /mounted lazily \(tar\+gzip \(gzip\)\)/);
});

test('a setuid binary runs as its owner; a 0600 file is readable by its user only', async () => {
  const ref = viaProxy(images.soci);
  // ctr 1.6 has no --user: busybox su (as root, no password) runs the program as each user.
  // ctr sets no_new_privs unless told not to, which would ignore every setuid bit.
  for (const user of ['root', 'nobody', 'other']) {
    const r = await ctd.ctr([
      'run',
      '--rm',
      '--allow-new-privs',
      '--snapshotter',
      'ocifs',
      ref,
      `euid-${user}`,
      'su',
      '-s',
      '/t/euid',
      user,
    ]);
    assert.equal(r.code, SETUID_OWNER % 256, `run as ${user}: exit ${r.code} (${r.stderr})`);
  }
  const own = await ctd.ctrOk([
    'run',
    '--rm',
    '--snapshotter',
    'ocifs',
    ref,
    'private-own',
    'su',
    '-s',
    '/bin/cat',
    'nobody',
    '/t/private',
  ]);
  assert.equal(own.stdout.toString(), 'only 65534\n');
  const other = await ctd.ctr([
    'run',
    '--rm',
    '--snapshotter',
    'ocifs',
    ref,
    'private-other',
    'su',
    '-s',
    '/bin/cat',
    'other',
    '/t/private',
  ]);
  assert.notEqual(other.code, 0);
  assert.match(other.stdout.toString() + other.stderr, /Permission denied/);
  // Without the setuid bit honoured, the program would say its caller's uid (other = 1000).
  assert.notEqual(SETUID_OWNER % 256, OTHER_USER % 256);
});

test('a plain ctr image pull works as with any snapshotter: layers unpacked by containerd and committed', async () => {
  const ref = `${reg.host}/snap/tar:v1`;
  await ctd.ctrOk(['image', 'pull', '--plain-http', '--snapshotter', 'ocifs', ref], { timeoutMs: 180_000 });
  const tree = await ctd.ctrOk(['run', '--rm', '--snapshotter', 'ocifs', ref, 'plain-tree', ...treeCommand]);
  assertSameTree(tree.stdout.toString(), 'plain pull');
  // A container's writes land in its own upper directory.
  const w = await ctd.ctrOk([
    'run',
    '--rm',
    '--snapshotter',
    'ocifs',
    ref,
    'plain-write',
    'sh',
    '-c',
    'echo hi > /t/keep && rm /t/new && cat /t/keep && ls /t',
  ]);
  assert.match(w.stdout.toString(), /^hi\n/);
  assert.doesNotMatch(w.stdout.toString(), /\bnew\b/);
});

test('metrics: lazy layers, fetch latency, bytes fetched and from the cache, mounts, fallbacks', async () => {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
  assert.ok(value(/^ocifs_snapshotter_layers_lazy_total\{format="erofs"\} (\d+)/m) >= 3, text.slice(0, 2000));
  assert.ok(value(/^ocifs_bytes_fetched_total (\d+)/m) > 0);
  assert.ok(value(/^ocifs_cache_hit_bytes_total (\d+)/m) > 0);
  assert.ok(value(/^ocifs_fetch_duration_seconds_count (\d+)/m) > 0);
  assert.ok(value(/^ocifs_layer_mounts\{mode="kernel"\} (\d+)/m) >= 3);
  assert.ok(value(/^ocifs_layer_mounts\{mode="tree"\} (\d+)/m) >= 6);
  assert.equal(value(/^ocifs_snapshotter_fallbacks_total (\d+)/m), 0);
  assert.match(text, /^ocifs_snapshotter_snapshots\{kind="committed"\} \d+/m);
});

test('removing the images lets containerd garbage-collect the snapshots: every layer unmounted, nothing left', async () => {
  const refs = (await ctd.ctrOk(['images', 'ls', '-q'])).stdout.toString().split('\n').filter(Boolean);
  for (const r of refs) await ctd.ctrOk(['images', 'rm', '--sync', r]);
  const left = (await ctd.ctrOk(['snapshots', '--snapshotter', 'ocifs', 'ls'])).stdout
    .toString()
    .trim()
    .split('\n')
    .slice(1);
  assert.deepEqual(left, []);
  assert.deepEqual(mountsLeftUnder(join(sn.root, 'snapshots')), []);
  // The kernel EROFS mounts' backing files were served by one FUSE directory, now empty.
  assert.deepEqual(mountsLeftUnder(join(sn.root, 'backing')), [join(sn.root, 'backing/shared')]);
  assert.deepEqual(await readdir(join(sn.root, 'backing/shared')), []);
  assert.match(sn.keeperLog(), /unmounted sha256:/);
});
