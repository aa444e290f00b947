// Mount lifecycle against the real registry: `startMountDaemon` starts a background server
// that mounts an EROFS image pulled on demand (file-tree and kernel modes), `listMounts` and
// `unmount` manage it, SIGTERM and kill -9 are survived without hung mounts, a registry
// outage gives EIO and recovers, and --prefetch fills the cache with progress in the record.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startMountDaemon } from '../../src/mount/daemon.js';
import { listMounts, unmount } from '../../src/mount/manage.js';
import { readRecord, serverAlive } from '../../src/mount/mount-record.js';
import type { MountSpec } from '../../src/mount/serve-mount.js';
import { startRegistry, skopeoPush, type TestRegistry } from '../helpers/registry.js';
import { writeImageLayout, MT_LAYER_EROFS, MT_LAYER_TAR } from '../helpers/oci-layout.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { assertSameManifest, makeTree, treeManifest } from '../helpers/fs-manifest.js';
import {
  cleanupTempDir,
  isMounted,
  mountsLeftUnder,
  mountTempDir,
  runChild,
  runChildOk,
} from '../helpers/mount-safety.js';

const root = mountTempDir();
const stateDir = join(root, 'state');
const src = join(root, 'tree');
let registry: TestRegistry;
let proxy: FaultProxy;
let expected: string[];
let erofsRef: string;
let tarRef: string;
let n = 0;

before(async () => {
  await makeTree(src, 3);
  await mkdir(join(src, 'exe'));
  await runChildOk('cp', ['/bin/echo', join(src, 'exe/echo')]);
  await runChildOk('touch', ['-h', '-d', '@1700000000', join(src, 'exe/echo'), join(src, 'exe')]);
  expected = await treeManifest(src);
  const image = join(root, 'image.erofs');
  await runChildOk('mkfs.erofs', ['--quiet', '-zlz4hc', image, src], { timeoutMs: 120_000 });
  registry = await startRegistry();
  const layout = join(root, 'layout');
  await writeImageLayout(layout, { layers: [{ bytes: await readFile(image), mediaType: MT_LAYER_EROFS }] }, 'erofs');
  await writeImageLayout(layout, { layers: [{ bytes: new Uint8Array(10240), mediaType: MT_LAYER_TAR }] }, 'tar');
  await skopeoPush(layout, 'erofs', `${registry.host}/mount/test:erofs`);
  await skopeoPush(layout, 'tar', `${registry.host}/mount/test:tar`);
  proxy = await startFaultProxy(registry.url);
  erofsRef = `${proxy.host}/mount/test:erofs`;
  tarRef = `${proxy.host}/mount/test:tar`;
});

after(async () => {
  // Whatever a failed test left: stop servers through the library, then the safety net.
  for (const m of await listMounts({ stateDir }).catch(() => []))
    await unmount(m.mountpoint, { stateDir }).catch(() => {});
  await proxy?.stop();
  await registry?.stop();
  assert.deepEqual(mountsLeftUnder(root), []);
  cleanupTempDir(root);
});

async function newMountpoint(): Promise<string> {
  const mnt = join(root, `mnt-${n++}`);
  await mkdir(mnt);
  return mnt;
}

function spec(mnt: string, mode: 'tree' | 'kernel', extra: Partial<MountSpec> = {}, ref = erofsRef): MountSpec {
  return {
    mountpoint: mnt,
    mode,
    ref,
    source: { kind: 'image', ref, image: { cacheDir: join(root, `cache-${n}`), registry: { maxRetries: 0 } } },
    stateDir,
    ...extra,
  };
}

for (const mode of ['tree', 'kernel'] as const) {
  describe(`${mode} mode in a background server`, () => {
    test('mounts, lists, serves the tree, counts bytes, and unmounts leaving nothing', async () => {
      const mnt = await newMountpoint();
      const rec = await startMountDaemon(spec(mnt, mode));
      assert.equal(rec.mountpoint, mnt);
      assert.equal(rec.mode, mode);
      assert.match(rec.digest ?? '', /^sha256:[0-9a-f]{64}$/);
      assert.notEqual(rec.pid, process.pid);
      assert.equal(isMounted(mnt), true);
      const listed = await listMounts({ stateDir });
      assert.deepEqual(
        listed.map((m) => [m.mountpoint, m.pid]),
        [[mnt, rec.pid]],
      );

      assertSameManifest(await treeManifest(mnt), expected);
      const r = await runChildOk(join(mnt, 'exe/echo'), ['from', mode]);
      assert.equal(r.stdout.toString(), `from ${mode}\n`);

      // The server refreshes its record every second.
      await sleep(1500);
      const later = await readRecord(stateDir, mnt);
      assert.ok(later && later.bytesServed > 0 && later.reads > 0, 'record shows bytes served');
      assert.ok(later.bytesFetched! > 0, 'record shows bytes fetched');

      await unmount(mnt, { stateDir });
      assert.equal(isMounted(mnt), false);
      assert.equal(await readRecord(stateDir, mnt), undefined);
      assert.equal(await serverAlive(rec), false);
      assert.deepEqual(mountsLeftUnder(root), []);
      assert.deepEqual(await listMounts({ stateDir }), []);
    });

    test('kill -9 of the server: reads fail fast instead of hanging, and listMounts clears it', async () => {
      const mnt = await newMountpoint();
      const rec = await startMountDaemon(spec(mnt, mode));
      process.kill(rec.pid, 'SIGKILL');
      await sleep(200);
      const r = await runChild('cat', [join(mnt, 'big/random-1M.bin')], { timeoutMs: 20_000 });
      assert.equal(r.timedOut, false, 'the read did not hang');
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /Transport endpoint is not connected|Input\/output error/);
      // Both ways of clearing a dead mount: `ocifs mounts` (tree) and `ocifs umount` (kernel).
      if (mode === 'tree') assert.deepEqual(await listMounts({ stateDir }), []);
      else await unmount(mnt, { stateDir });
      assert.equal(await readRecord(stateDir, mnt), undefined);
      assert.equal(isMounted(mnt), false);
      assert.deepEqual(mountsLeftUnder(root), []);
    });

    test('SIGTERM: the server unmounts, removes its record and exits', async () => {
      const mnt = await newMountpoint();
      const rec = await startMountDaemon(spec(mnt, mode));
      process.kill(rec.pid, 'SIGTERM');
      for (let i = 0; i < 100 && (await serverAlive(rec)); i++) await sleep(100);
      assert.equal(await serverAlive(rec), false);
      assert.equal(isMounted(mnt), false);
      assert.equal(await readRecord(stateDir, mnt), undefined);
      assert.deepEqual(mountsLeftUnder(root), []);
    });
  });
}

describe('a mount removed from outside', () => {
  test('umount by someone else: the server notices, removes its record and exits', async () => {
    const mnt = await newMountpoint();
    const rec = await startMountDaemon(spec(mnt, 'tree'));
    await runChildOk('umount', [mnt]);
    for (let i = 0; i < 100 && (await serverAlive(rec)); i++) await sleep(100);
    assert.equal(await serverAlive(rec), false);
    assert.equal(await readRecord(stateDir, mnt), undefined);
    assert.deepEqual(mountsLeftUnder(root), []);
  });
});

describe('registry outage and prefetch', () => {
  test('an outage gives EIO on blocks not yet cached; reads recover when the registry returns', async () => {
    const mnt = await newMountpoint();
    const rec = await startMountDaemon(spec(mnt, 'tree'));
    try {
      // Metadata is read; then the registry "goes down" for blob range requests.
      await runChildOk('ls', ['-la', join(mnt, 'big')]);
      proxy.addRule({ path: /\/blobs\//, fault: { kind: 'status', status: 503 } });
      const bad = await runChild('sha256sum', [join(mnt, 'big/random-1M.bin')], { timeoutMs: 60_000 });
      assert.equal(bad.timedOut, false);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /Input\/output error/);
      proxy.clearRules();
      const good = await runChildOk('sha256sum', [join(mnt, 'big/random-1M.bin')]);
      const want = await runChildOk('sha256sum', [join(src, 'big/random-1M.bin')]);
      assert.equal(good.stdout.toString().split(' ')[0], want.stdout.toString().split(' ')[0]);
    } finally {
      proxy.clearRules();
      await unmount(mnt, { stateDir });
    }
    assert.equal(await serverAlive(rec), false);
  });

  test('--prefetch fills the whole blob in the background, progress in the record, then works offline', async () => {
    const mnt = await newMountpoint();
    const rec = await startMountDaemon(spec(mnt, 'kernel', { prefetch: true }));
    try {
      let r = await readRecord(stateDir, mnt);
      for (let i = 0; i < 200 && r?.prefetch?.state !== 'done'; i++) {
        await sleep(100);
        r = await readRecord(stateDir, mnt);
      }
      assert.equal(r?.prefetch?.state, 'done');
      assert.ok(r.prefetch.total > 0);
      assert.equal(r.prefetch.done, r.prefetch.total);
      // Everything is cached: with the registry refusing every request, the whole tree reads.
      proxy.addRule({ fault: { kind: 'status', status: 503 } });
      assertSameManifest(await treeManifest(mnt), expected);
    } finally {
      proxy.clearRules();
      await unmount(mnt, { stateDir });
    }
    assert.equal(await serverAlive(rec), false);
  });
});

describe('bad input through the background server', () => {
  test('a missing mountpoint fails before a server starts', async () => {
    await assert.rejects(startMountDaemon(spec(join(root, 'nope'), 'tree')), { code: 'ERR_OCIFS_MOUNTPOINT_MISSING' });
  });

  test('kernel mode of a tar image: not EROFS, one clear error, nothing mounted, no server left', async () => {
    const mnt = await newMountpoint();
    await assert.rejects(startMountDaemon(spec(mnt, 'kernel', {}, tarRef)), { code: 'ERR_OCIFS_NOT_EROFS' });
    assert.deepEqual(mountsLeftUnder(root), []);
    assert.deepEqual(await listMounts({ stateDir }), []);
  });

  test('an unknown image fails with the registry error, nothing mounted', async () => {
    const mnt = await newMountpoint();
    await assert.rejects(
      startMountDaemon(spec(mnt, 'tree', {}, `${proxy.host}/mount/none:latest`)),
      (err: Error & { code?: string }) => {
        assert.match(err.code ?? '', /^ERR_OCIFS_/);
        assert.doesNotMatch(err.message, /\n/);
        return true;
      },
    );
    assert.deepEqual(mountsLeftUnder(root), []);
  });
});
