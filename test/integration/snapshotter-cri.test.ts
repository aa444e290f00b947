// The Kubernetes path: containerd's CRI plugin configured by deploy/containerd/config.toml
// (`snapshotter = "ocifs"`, snapshot annotations on, the proxy plugin), and the kubelet's PullImage
// call on containerd's socket. The CRI plugin's own labels (cri.image-ref, cri.layer-digest,
// cri.manifest-digest …) make ocifs mount every layer lazily: containerd downloads no layer and
// the registry serves a fraction of the image.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { startContainerd, type TestContainerd } from '../helpers/containerd.js';
import { startSnapshotterStack, type SnapshotterStack } from '../helpers/snapshotter-stack.js';
import { criImageClient } from '../helpers/cri-client.js';

let stack: SnapshotterStack;
let ctd: TestContainerd;

before(async () => {
  stack = await startSnapshotterStack('cri', { skip: ['erofs'] });
  // The node configuration of deploy/containerd/config.toml, with this test's socket, plus a
  // mirror entry that makes the CRI plugin reach the loopback registry over plain HTTP.
  const deployed = (await readFile(new URL('../../deploy/containerd/config.toml', import.meta.url), 'utf8'))
    .replace(/^version = 2$/m, '')
    .replace('/run/ocifs/snapshotter.sock', stack.sn.address);
  const proxy = stack.proxy.host;
  ctd = await startContainerd({
    cri: true,
    extraConfig: [
      deployed,
      `[plugins."io.containerd.grpc.v1.cri".registry.mirrors."${proxy}"]`,
      `  endpoint = ["http://${proxy}"]`,
    ].join('\n'),
  });
});

after(async () => {
  await ctd?.stop();
  await stack?.stop();
});

test("CRI PullImage with snapshotter = ocifs: every layer mounted lazily from the CRI plugin's labels, none downloaded", async () => {
  const { images, sn, proxy } = stack;
  const ref = stack.via(images.soci);
  const cri = criImageClient(ctd.address);
  try {
    const imageRef = await cri.pullImage(ref);
    assert.match(imageRef, /^sha256:[0-9a-f]{64}$/);
    const status = await cri.imageStatus(ref);
    assert.equal(status.id, imageRef);
    assert.ok(status.repoTags.includes(ref), JSON.stringify(status));
  } finally {
    cri.close();
  }
  const lazy = sn
    .log()
    .split('\n')
    .filter((l) => /mounted lazily .*\(labels from cri\)/.test(l));
  assert.equal(lazy.length, images.layers.soci.length, sn.log());
  // containerd's content store holds no layer blob.
  const content = (await ctd.ctrOk(['-n', 'k8s.io', 'content', 'ls', '-q'])).stdout.toString();
  for (const l of images.layers.soci) assert.ok(!content.includes(l.digest), `layer ${l.digest} was downloaded`);
  const check = (await ctd.ctrOk(['-n', 'k8s.io', 'images', 'check'])).stdout
    .toString()
    .split('\n')
    .find((l) => l.startsWith(ref + ' '));
  assert.match(check ?? '', /incomplete \(1\/\d+\)/);
  const total = images.layers.soci.reduce((n, l) => n + l.size, 0);
  const served = proxy.log
    .filter((e) => images.layers.soci.some((l) => e.path.endsWith(l.digest)))
    .reduce((n, e) => n + e.bytes, 0);
  assert.ok(served < total * 0.1, `the registry served ${served} of ${total} layer bytes`);
  // The image runs from the lazily mounted layers (the CRI plugin's snapshots, in its namespace).
  const out = await ctd.ctrOk([
    '-n',
    'k8s.io',
    'run',
    '--rm',
    '--snapshotter',
    'ocifs',
    ref,
    'cri-run',
    'cat',
    '/t/keep',
  ]);
  assert.equal(out.stdout.toString(), 'keep v3\n');
});
