// The snapshots service of `ocifs snapshotter` spoken to directly over its socket (as
// containerd's proxy plugin does), and bad input: containerd's semantics and error classes for
// every call, labels that ask for a layer of a missing image or of a registry that is down
// (a logged, counted fallback to a normal snapshot — never a half-mounted layer), an rpull
// whose layer blobs cannot be fetched, a second snapshotter on the same root or socket, and
// bad flags.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startRegistry, skopeoPush, type TestRegistry } from '../helpers/registry.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { umociImage, writeBusyboxRootfs } from '../helpers/busybox-image.js';
import { startContainerd } from '../helpers/containerd.js';
import { startSnapshotter, type TestSnapshotter } from '../helpers/snapshotter.js';
import { snapshotsClient, type CallError, type SnapshotsClient } from '../helpers/snapshots-client.js';
import { ocifs } from '../helpers/cli.js';
import { freePort } from '../helpers/run.js';
import { mountsLeftUnder } from '../helpers/mount-safety.js';

let reg: TestRegistry;
let proxy: FaultProxy;
let tmp: string;
let sn: TestSnapshotter;
let client: SnapshotsClient;
let metricsPort: number;
let ref: string;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ocifs-snap-svc-'));
  reg = await startRegistry();
  proxy = await startFaultProxy(reg.url);
  await writeBusyboxRootfs(join(tmp, 'rootfs'), 'ID=svc\n');
  await writeFile(join(tmp, 'rootfs/etc/extra'), 'x'.repeat(100_000));
  await umociImage(join(tmp, 'layout'), 'v1', join(tmp, 'rootfs'));
  await skopeoPush(join(tmp, 'layout'), 'v1', `${reg.host}/svc/busybox:v1`);
  ref = `${proxy.host}/svc/busybox:v1`;
  metricsPort = await freePort();
  sn = await startSnapshotter({ args: ['--metrics-address', `127.0.0.1:${metricsPort}`] });
  client = snapshotsClient(sn.address);
});

after(async () => {
  client?.close();
  await sn?.cleanup();
  await proxy?.stop();
  await reg?.stop();
  await rm(tmp, { recursive: true, force: true });
});

async function rejects(p: Promise<unknown>, code: grpc.status, re: RegExp): Promise<void> {
  await assert.rejects(p, (err: CallError) => {
    assert.equal(err.code, code, `${err.code} ${err.details}`);
    assert.match(err.details, re);
    return true;
  });
}

test("containerd's snapshot semantics: prepare, commit, view, mounts, usage, update, list with filters, remove, cleanup", async () => {
  const base = await client.prepare('k-base');
  assert.equal(base.length, 1);
  assert.equal(base[0].type, 'bind');
  assert.deepEqual(base[0].options, ['rw', 'rbind']);
  await writeFile(join(base[0].source, 'hello'), 'x'.repeat(10_000));
  await client.commit('base', 'k-base', { 'l.a': '1' });
  await rejects(client.stat('k-base'), grpc.status.NOT_FOUND, /k-base/);
  const st = await client.stat('base');
  assert.equal(st.kind, 'COMMITTED');
  assert.deepEqual(st.labels, { 'l.a': '1' });
  const u = await client.usage('base');
  assert.ok(u.size >= 10_000 && u.inodes === 2, JSON.stringify(u));

  const top = await client.prepare('k-top', 'base');
  assert.equal(top[0].type, 'overlay');
  assert.match(top[0].options.join(','), /workdir=.*,upperdir=.*,lowerdir=[^:]+$/);
  assert.deepEqual(await client.mounts('k-top'), top);
  await client.commit('top', 'k-top');
  const view = await client.view('v1', 'top');
  assert.equal(view[0].type, 'overlay');
  assert.match(view[0].options.join(','), /^(index=off,)?lowerdir=[^:,]+:[^:,]+$/);
  assert.equal((await client.view('v0', 'base'))[0].type, 'bind');

  const upd = await client.update({ name: 'top', labels: { 'l.b': '2' } }, ['labels.l.b']);
  assert.deepEqual(upd.labels, { 'l.b': '2' });
  await rejects(client.update({ name: 'top', parent: 'x' }, ['parent']), grpc.status.INVALID_ARGUMENT, /parent/);
  const names = async (filters: string[]) => (await client.list(filters)).map((i) => i.name).sort();
  assert.deepEqual(await names([]), ['base', 'top', 'v0', 'v1']);
  assert.deepEqual(await names(['kind==committed']), ['base', 'top']);
  assert.deepEqual(await names(['parent==top']), ['v1']);
  assert.deepEqual(await names(['labels."l.b"==2', 'name==v0']), ['top', 'v0']);
  assert.deepEqual(await names(['parent==""', 'kind==view']), ['base', 'v0', 'v1']);
  await rejects(client.list(['name=="unterminated']), grpc.status.INVALID_ARGUMENT, /unterminated/);

  // Errors in containerd's classes.
  await rejects(client.prepare('k-x', 'missing'), grpc.status.NOT_FOUND, /missing/);
  await rejects(client.prepare('k-y', 'v1'), grpc.status.INVALID_ARGUMENT, /not a committed/);
  await rejects(client.prepare('v1', 'top'), grpc.status.ALREADY_EXISTS, /v1/);
  await rejects(client.commit('c', 'v1'), grpc.status.FAILED_PRECONDITION, /not active/);
  await rejects(client.commit('base', 'k-none'), grpc.status.NOT_FOUND, /k-none/);
  await rejects(client.mounts('nosuchkey'), grpc.status.NOT_FOUND, /nosuchkey/);
  await rejects(client.remove('nosuchkey'), grpc.status.NOT_FOUND, /nosuchkey/);
  await rejects(client.usage('nosuchkey'), grpc.status.NOT_FOUND, /nosuchkey/);
  await rejects(client.remove('top'), grpc.status.FAILED_PRECONDITION, /children/);
  await rejects(client.mounts('top'), grpc.status.FAILED_PRECONDITION, /committed/);

  for (const k of ['v1', 'v0', 'top', 'base']) await client.remove(k);
  assert.deepEqual(await client.list(), []);
  await client.cleanup();
  assert.deepEqual(mountsLeftUnder(join(sn.root, 'snapshots')), []);
});

const STARGZ = 'containerd.io/snapshot/remote/stargz';
const remoteLabels = (image: string, layer: string) => ({
  'containerd.io/snapshot.ref': `sha256:${'c'.repeat(64)}`,
  [`${STARGZ}.reference`]: image,
  [`${STARGZ}.digest`]: layer,
});

test('labels naming a missing image, a registry that is down, or garbage: a logged, counted fallback to a normal snapshot', async () => {
  const layer = `sha256:${'a'.repeat(64)}`;
  const down = `127.0.0.1:${await freePort()}/x/y:v1`;
  const cases: [string, Record<string, string>, RegExp][] = [
    ['missing', remoteLabels(`${reg.host}/no/such:v1`, layer), /manifest|not found|unknown/i],
    ['down', remoteLabels(down, layer), /refused|ECONNREFUSED|connect/i],
    ['garbage', remoteLabels('NOT A REF', layer), /bad image reference/],
    ['bad-digest', remoteLabels(`${reg.host}/svc/busybox:v1`, 'sha256:nope'), /bad layer digest/],
  ];
  for (const [key, labels, why] of cases) {
    const started = Date.now();
    const mounts = await client.prepare(`fb-${key}`, '', labels);
    assert.equal(mounts[0].type, 'bind', `${key}: a normal active snapshot to unpack into`);
    assert.ok(Date.now() - started < 15_000, `${key}: the fallback took ${Date.now() - started} ms`);
    const line = sn
      .log()
      .split('\n')
      .reverse()
      .find((l) => l.includes('FALLBACK'));
    assert.match(line ?? '', why, `${key}: ${line}`);
    await client.remove(`fb-${key}`);
  }
  const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  assert.match(metrics, /^ocifs_snapshotter_fallbacks_total 4$/m);
  assert.deepEqual(mountsLeftUnder(join(sn.root, 'snapshots')), [], 'no half-mounted layer');
  assert.deepEqual(await client.list(), []);
});

test('an rpull whose layer blobs cannot be fetched fails clearly and leaves nothing mounted; it works once the registry is back', async () => {
  const ctd = await startContainerd({ proxySnapshotters: { ocifs: sn.address } });
  try {
    // The manifest and config come through; every layer read is reset, ours and containerd's.
    proxy.addRule({ path: /\/blobs\//, ranged: true, fault: { kind: 'reset' } });
    const layerDigests = new Set<string>();
    const m = (await (
      await fetch(`${reg.url}/v2/svc/busybox/manifests/v1`, {
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
      })
    ).json()) as { layers: { digest: string }[] };
    for (const l of m.layers) layerDigests.add(l.digest);
    proxy.addRule({ path: new RegExp(`/blobs/(${[...layerDigests].join('|')})$`), fault: { kind: 'reset' } });
    const r = await ctd.ctrRemote(['image', 'rpull', '--plain-http', '--snapshotter', 'ocifs', ref], {
      timeoutMs: 120_000,
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /reset|EOF|connection/i);
    assert.match(sn.log(), /FALLBACK/);
    assert.deepEqual(mountsLeftUnder(join(sn.root, 'snapshots')), []);
    assert.equal((await client.list(['kind==committed'])).length, 0);
    proxy.clearRules();
    const ok = await ctd.ctrRemote(['image', 'rpull', '--plain-http', '--snapshotter', 'ocifs', ref], {
      timeoutMs: 120_000,
    });
    assert.equal(ok.code, 0, ok.stderr);
    const out = await ctd.ctrOk(['run', '--rm', '--snapshotter', 'ocifs', ref, 'svc-1', 'cat', '/etc/os-release']);
    assert.equal(out.stdout.toString(), 'ID=svc\n');
    await ctd.ctrOk(['images', 'rm', '--sync', ref]);
  } finally {
    proxy.clearRules();
    await ctd.stop();
  }
  assert.deepEqual(mountsLeftUnder(join(sn.root, 'snapshots')), []);
});

test('a second snapshotter on the same root is refused, as is a socket another server listens on; bad flags are usage errors', async () => {
  const same = await ocifs(['snapshotter', '--root', sn.root, '--address', join(tmp, 'other.sock')]);
  assert.equal(same.code, 1);
  assert.match(same.stderr, new RegExp(`^ocifs: .*another ocifs snapshotter \\(pid ${sn.pid}\\) is using this root`));
  assert.equal(existsSync(join(tmp, 'other.sock')), false);
  const sock = await ocifs(['snapshotter', '--root', join(tmp, 'root2'), '--address', sn.address]);
  assert.equal(sock.code, 1);
  assert.match(sock.stderr, /another server is listening on this socket/);
  const bad = await ocifs(['snapshotter', '--root', join(tmp, 'root3'), '--metrics-address', 'nonsense']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^ocifs: invalid option --metrics-address/);
  // The running one was not disturbed.
  assert.deepEqual(await client.list(), []);
});
