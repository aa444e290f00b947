// The blob cache under `ocifs snapshotter --background-fetch --cache-max-size 4M` (README "Cache
// lifetime"): every mounted layer is downloaded whole in the background, so a container reads a
// file no one read before with the registry down; the size cap (far below one image) never
// evicts a blob a mounted layer reads from, and evicts the blobs of layers containerd removed
// once another blob completes; `ocifs cache gc` from outside may evict a mounted layer's blob,
// and the layer keeps reading the evicted copy it holds open.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { FaultProxy } from '../helpers/fault-proxy.js';
import { startContainerd, type TestContainerd } from '../helpers/containerd.js';
import type { TestSnapshotter } from '../helpers/snapshotter.js';
import { startSnapshotterStack, type SnapshotterStack } from '../helpers/snapshotter-stack.js';
import { BIG_FILE_SIZE } from '../helpers/runtime-images.js';
import { ocifsOk } from '../helpers/cli.js';

const CAP = 4 << 20;

let stack: SnapshotterStack;
let sn: TestSnapshotter;
let proxy: FaultProxy;
let ctd: TestContainerd;
let cacheDir: string;

before(async () => {
  stack = await startSnapshotterStack('cache', {
    skip: ['erofs'],
    args: ['--background-fetch', '--cache-max-size', '4M'],
  });
  ({ sn, proxy } = stack);
  cacheDir = join(sn.root, 'cache');
  ctd = await startContainerd({ proxySnapshotters: { ocifs: sn.address } });
});

after(async () => {
  await ctd?.stop();
  await stack?.stop();
});

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

interface Entry {
  digest: string;
  complete: boolean;
  diskBytes: number;
  sidecarBytes: number;
}

async function cacheEntries(): Promise<Entry[]> {
  return JSON.parse((await ocifsOk(['cache', 'ls', '--json', '--cache-dir', cacheDir])).stdout.toString()) as Entry[];
}

/** Polls `ok` until it holds (the keeper works in the background), failing with `what` after a minute. */
async function eventually(what: () => string, ok: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (!(await ok())) {
    if (Date.now() > deadline) assert.fail(`${what()}\n${sn.keeperLog().slice(-3000)}`);
    await sleep(250);
  }
}

async function rpull(ref: string): Promise<void> {
  const r = await ctd.ctrRemote(['image', 'rpull', '--plain-http', '--snapshotter', 'ocifs', ref], {
    timeoutMs: 180_000,
  });
  assert.equal(r.code, 0, `rpull ${ref}: ${r.stderr}\n${sn.log()}`);
}

/** Reads the base layer's big file (which no earlier command read) in a container, the registry unreachable. */
async function readBigOffline(ref: string, id: string): Promise<void> {
  proxy.addRule({ fault: { kind: 'reset' } });
  const before = proxy.log.length;
  try {
    const r = await ctd.ctrOk(['run', '--rm', '--snapshotter', 'ocifs', ref, id, 'wc', '-c', '/big/random'], {
      timeoutMs: 120_000,
    });
    assert.equal(r.stdout.toString().trim().split(/\s+/)[0], String(BIG_FILE_SIZE));
    assert.equal(proxy.log.length, before, 'no request reached the registry');
  } finally {
    proxy.clearRules();
  }
}

test('--background-fetch downloads every mounted layer whole; the cap keeps the blobs of mounted layers', async () => {
  const ref = stack.via(stack.images.soci);
  const layers = stack.images.layers.soci;
  const total = layers.reduce((n, l) => n + l.size, 0);
  await rpull(ref);
  const out = await ctd.ctrOk(['run', '--rm', '--snapshotter', 'ocifs', ref, 'soci-os', 'cat', '/etc/os-release']);
  assert.equal(out.stdout.toString(), 'ID=ocifs-snapshotter-test\n');
  await eventually(
    () =>
      `the registry served ${stack.servedLayerBytes(
        stack.images.soci,
        layers.map((l) => l.digest),
      )} of ${total} layer bytes`,
    () =>
      stack.servedLayerBytes(
        stack.images.soci,
        layers.map((l) => l.digest),
      ) >= total,
  );
  await eventually(
    () => 'the layer blobs did not complete in the cache',
    async () => {
      const entries = await cacheEntries();
      return layers.every((l) => entries.some((e) => e.digest === l.digest && e.complete));
    },
  );
  const entries = await cacheEntries();
  const usage = entries.reduce((n, e) => n + e.diskBytes + e.sidecarBytes, 0);
  assert.ok(usage > CAP, `the cache holds ${usage} bytes, above the ${CAP}-byte cap, for the mounted layers`);
  assert.doesNotMatch(sn.keeperLog(), /background fetch of .* failed/);
  await readBigOffline(ref, 'soci-big');
});

test('removed layers are evicted once another blob completes; mounted ones are not', async () => {
  const soci = stack.via(stack.images.soci);
  const tar = stack.via(stack.images.tar);
  await ctd.ctrOk(['images', 'rm', '--sync', soci]);
  await eventually(
    () => 'the soci layers were not unmounted',
    () => (sn.keeperLog().match(/unmounted sha256:/g) ?? []).length >= stack.images.layers.soci.length,
  );
  await rpull(tar);
  const out = await ctd.ctrOk(['run', '--rm', '--snapshotter', 'ocifs', tar, 'tar-os', 'cat', '/etc/os-release']);
  assert.equal(out.stdout.toString(), 'ID=ocifs-snapshotter-test\n');
  const isGone = (digests: string[], entries: Entry[]) => digests.every((d) => !entries.some((e) => e.digest === d));
  const sociDigests = stack.images.layers.soci.map((l) => l.digest);
  await eventually(
    () => 'the removed layers stayed in the cache',
    async () => isGone(sociDigests, await cacheEntries()),
  );
  const entries = await cacheEntries();
  for (const l of stack.images.layers.tar)
    assert.ok(
      entries.some((e) => e.digest === l.digest && e.complete),
      `mounted layer ${l.digest} kept whole`,
    );
  await readBigOffline(tar, 'tar-big');
});

test('ocifs cache gc from outside evicts a mounted layer; the layer keeps serving from the copy it holds open', async () => {
  const tar = stack.via(stack.images.tar);
  await ocifsOk(['cache', 'gc', '--max-size', '0', '--cache-dir', cacheDir]);
  assert.deepEqual(
    (await cacheEntries()).filter((e) => stack.images.layers.tar.some((l) => l.digest === e.digest)),
    [],
  );
  proxy.addRule({ fault: { kind: 'reset' } });
  try {
    // Files no container of this image read before (not in the page cache).
    const r = await ctd.ctrOk(
      ['run', '--rm', '--snapshotter', 'ocifs', tar, 'tar-evicted', 'sh', '-c', 'cat /t/many/* | wc -c'],
      { timeoutMs: 120_000 },
    );
    assert.ok(Number(r.stdout.toString().trim()) > 0, r.stdout.toString());
  } finally {
    proxy.clearRules();
  }
  await ctd.ctrOk(['images', 'rm', '--sync', tar]);
  assert.doesNotMatch(sn.keeperLog(), /ERROR|failed/);
});
