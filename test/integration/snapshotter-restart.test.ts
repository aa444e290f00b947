// What survives what (README "Restarts"): `ocifs snapshotter` killed with SIGKILL while two
// containers read files in a loop — one on FUSE-served tar layers (SOCI), one on kernel EROFS
// layers over a FUSE-served blob — and started again: the containers' reads go on without an
// error (the layer keeper holds the FUSE connections), containerd reconnects, and a new
// container from the same images works. The keeper killed: the snapshotter starts a new one
// and mounts every layer again, and new containers work. Everything killed and the registry
// gone: a restart mounts the layers again from the cache alone and a container runs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { FaultProxy } from '../helpers/fault-proxy.js';
import { startContainerd, type TestContainerd } from '../helpers/containerd.js';
import type { TestSnapshotter } from '../helpers/snapshotter.js';
import { startSnapshotterStack, type SnapshotterStack } from '../helpers/snapshotter-stack.js';
import { MANY_FILES } from '../helpers/runtime-images.js';
import { mountsLeftUnder } from '../helpers/mount-safety.js';

let stack: SnapshotterStack;
let sn: TestSnapshotter;
let proxy: FaultProxy;
let ctd: TestContainerd;
let soci: string;
let erofs: string;

before(async () => {
  stack = await startSnapshotterStack('restart');
  ({ sn, proxy } = stack);
  soci = stack.via(stack.images.soci);
  erofs = stack.via(stack.images.erofs);
  ctd = await startContainerd({ proxySnapshotters: { ocifs: sn.address } });
  for (const ref of [soci, erofs]) {
    const r = await ctd.ctrRemote(['image', 'rpull', '--plain-http', '--snapshotter', 'ocifs', ref], {
      timeoutMs: 180_000,
    });
    assert.equal(r.code, 0, r.stderr);
  }
});

after(async () => {
  await ctd?.stop();
  await stack?.stop();
});

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** `ctr run` that waits for containerd to reach a restarted snapshotter (it reconnects with backoff). */
async function runWhenReachable(ref: string, id: string, cmd: string[]): Promise<string> {
  const deadline = Date.now() + 60_000;
  for (let n = 0; ; n++) {
    const r = await ctd.ctr(['run', '--rm', '--snapshotter', 'ocifs', ref, `${id}-${n}`, ...cmd]);
    if (r.code === 0) return r.stdout.toString();
    if (Date.now() > deadline) throw new Error(`ctr run ${ref} kept failing: ${r.stderr}\n${sn.log().slice(-3000)}`);
    await ctd.ctr(['containers', 'rm', `${id}-${n}`]);
    await sleep(500);
  }
}

/** A shell loop that reads each file of /t/many once (never twice: no page cache helps it), one every 20 ms. */
const READ_LOOP = [
  'sh',
  '-c',
  `i=0; while [ $i -lt ${MANY_FILES} ]; do cat /t/many/f$i > /dev/null || echo FAIL $i; i=$((i+1)); usleep 20000; done; echo DONE`,
];

test('SIGKILL of the snapshotter while containers read: the reads go on, and after a restart new containers run', async () => {
  const keeperBefore = sn.keeperPid();
  assert.ok(keeperBefore, 'a layer keeper serves the lazy layers');
  const readers = [soci, erofs].map((ref, i) =>
    ctd.ctr(['run', '--rm', '--snapshotter', 'ocifs', ref, `reader-${i}`, ...READ_LOOP], { timeoutMs: 120_000 }),
  );
  await sleep(1500);
  await sn.kill9();
  await sleep(1000);
  await sn.restart();
  for (const r of await Promise.all(readers)) {
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'DONE\n', 'every read succeeded across the restart');
  }
  assert.equal(await runWhenReachable(soci, 'after-restart', ['cat', '/t/keep']), 'keep v3\n');
  assert.equal(await runWhenReachable(erofs, 'after-restart-erofs', ['cat', '/t/keep']), 'keep v3\n');
  // The same keeper, still holding every layer: nothing had to be mounted again.
  assert.equal(sn.keeperPid(), keeperBefore);
  assert.match(sn.log(), new RegExp(`connected to the layer keeper \\(pid ${keeperBefore}, 6 layer\\(s\\) mounted\\)`));
  assert.doesNotMatch(sn.log(), /mounting \d+ layer\(s\) again/);
});

test('the layer keeper killed: the snapshotter starts a new one and mounts every layer again', async () => {
  const old = sn.keeperPid()!;
  process.kill(old, 'SIGKILL');
  const deadline = Date.now() + 30_000;
  while (sn.keeperPid() === old || !/mounting 6 layer\(s\) again/.test(sn.log())) {
    if (Date.now() > deadline) throw new Error(`no new keeper: ${sn.log().slice(-3000)}`);
    await sleep(200);
  }
  assert.equal(await runWhenReachable(soci, 'new-keeper', ['cat', '/t/opq/z']), 'z\n');
  assert.equal(await runWhenReachable(erofs, 'new-keeper-erofs', ['cat', '/t/ftd/inner']), 'inner\n');
  assert.doesNotMatch(sn.log(), /ERROR/);
});

test('a clean stop and start keeps every snapshot; all killed and the registry gone, the layers mount again from the cache', async () => {
  const before = (await ctd.ctrOk(['snapshots', '--snapshotter', 'ocifs', 'ls'])).stdout.toString();
  await sn.stop();
  await sn.restart();
  assert.equal(
    await runWhenReachable(soci, 'clean-restart', ['cat', '/etc/os-release']),
    'ID=ocifs-snapshotter-test\n',
  );
  const afterRestart = (await ctd.ctrOk(['snapshots', '--snapshotter', 'ocifs', 'ls'])).stdout.toString();
  assert.deepEqual(afterRestart.split('\n').sort(), before.split('\n').sort());

  // Both processes die (a host crash, short of a reboot); the registry is down meanwhile.
  const keeper = sn.keeperPid()!;
  await sn.kill9();
  process.kill(keeper, 'SIGKILL');
  await sleep(500);
  proxy.addRule({ fault: { kind: 'reset' } });
  const requestsBefore = proxy.log.length;
  try {
    await sn.restart();
    assert.match(sn.log(), /mounting 6 layer\(s\) again/);
    // What containers read before is in the cache: these run without the registry.
    assert.equal(await runWhenReachable(soci, 'offline', ['cat', '/etc/os-release']), 'ID=ocifs-snapshotter-test\n');
    assert.equal(await runWhenReachable(erofs, 'offline-erofs', ['cat', '/t/keep']), 'keep v3\n');
    assert.equal(proxy.log.length, requestsBefore, 'no request reached the registry');
  } finally {
    proxy.clearRules();
  }
  assert.doesNotMatch(sn.log(), /ERROR/);
});

test('nothing is left mounted once the images are removed', async () => {
  for (const ref of [soci, erofs]) await ctd.ctrOk(['images', 'rm', '--sync', ref]);
  assert.deepEqual(mountsLeftUnder(join(sn.root, 'snapshots')), []);
});
