// The runtime test harness itself: a busybox image made with umoci and pushed with skopeo runs
// in a private containerd (overlayfs snapshotter, runc) and in a private podman, and both clean
// up after themselves.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, skopeoPush } from '../helpers/registry.js';
import { umociImage, writeBusyboxRootfs } from '../helpers/busybox-image.js';
import { startContainerd } from '../helpers/containerd.js';
import { startPodman } from '../helpers/podman.js';
import { mountsLeftUnder } from '../helpers/mount-safety.js';

test('a busybox image runs in a private containerd and a private podman, and both clean up', async () => {
  const reg = await startRegistry();
  const tmp = await mkdtemp(join(tmpdir(), 'ocifs-runtime-harness-'));
  after(async () => {
    await reg.stop();
    await rm(tmp, { recursive: true, force: true });
  });
  await writeBusyboxRootfs(join(tmp, 'rootfs'), 'ID=harness\n');
  await umociImage(join(tmp, 'layout'), 'v1', join(tmp, 'rootfs'));
  const ref = `${reg.host}/test/busybox:v1`;
  await skopeoPush(join(tmp, 'layout'), 'v1', ref);

  const ctd = await startContainerd();
  try {
    await ctd.ctrOk(['image', 'pull', '--plain-http', ref]);
    const r = await ctd.ctrOk(['run', '--rm', ref, 'harness-1', 'cat', '/etc/os-release']);
    assert.equal(r.stdout.toString(), 'ID=harness\n');
  } finally {
    await ctd.stop();
  }
  assert.equal(existsSync(ctd.dir), false);

  const pm = await startPodman({ insecureRegistries: [reg.host] });
  try {
    await pm.podmanOk(['pull', '--quiet', ref]);
    const r = await pm.podmanOk(['run', '--rm', '--net=none', ref, 'cat', '/etc/os-release']);
    assert.equal(r.stdout.toString(), 'ID=harness\n');
  } finally {
    await pm.stop();
  }
  assert.deepEqual(mountsLeftUnder(pm.dir), []);
  assert.equal(existsSync(pm.dir), false);
});
