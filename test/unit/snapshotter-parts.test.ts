// The snapshotter's parts that need no daemon: the metadata journal (durable before an answer,
// a torn last line ignored, replay idempotent across a compaction, a failed write undone),
// containerd's filter syntax, the remote-layer labels, and the wire codecs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  COMPACT_AFTER_LINES,
  MetadataCorruptError,
  MetadataStore,
  type SnapshotRecord,
} from '../../src/runtime/snapshotter/metadata-store.js';
import { compileFilters } from '../../src/runtime/snapshotter/filters.js';
import { remoteLayerRequest } from '../../src/runtime/snapshotter/remote-labels.js';
import { wire } from '../../src/runtime/snapshotter/proto.js';
import { SnapshotError } from '../../src/runtime/snapshotter/errors.js';

const rec = (key: string, id: number, extra: Partial<SnapshotRecord> = {}): SnapshotRecord => ({
  key,
  id,
  kind: 'committed',
  parent: '',
  labels: {},
  created: 1,
  updated: 1,
  ...extra,
});

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ocifs-meta-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('metadata: every answered change survives a reopen; commit replaces a key in one step; ids are never reused', async () => {
  await withDir(async (dir) => {
    const s = await MetadataStore.open(dir);
    await s.put(rec('a', s.newId(), { kind: 'active' }));
    await s.put(rec('b', s.newId()));
    await s.commit('a', rec('a-done', 1, { labels: { x: 'y' } }));
    await s.delete('b');
    // Not closed: as after kill -9, the journal is all there is.
    const t = await MetadataStore.open(dir);
    assert.deepEqual(t.all(), [rec('a-done', 1, { labels: { x: 'y' } })]);
    assert.equal(t.newId(), 3, 'b had id 2: a new snapshot gets 3');
    t.noteId(10);
    assert.equal(t.newId(), 11);
    await s.close();
    await t.close();
  });
});

test('metadata: a torn last journal line (a crash mid-write) loses only that change; damage elsewhere is refused', async () => {
  await withDir(async (dir) => {
    const s = await MetadataStore.open(dir);
    await s.put(rec('kept', s.newId()));
    await s.close();
    await appendFile(join(dir, 'journal'), '{"op":"put","rec":{"key":"torn","id":9');
    const t = await MetadataStore.open(dir);
    assert.deepEqual(
      t.all().map((r) => r.key),
      ['kept'],
    );
    await t.put(rec('after', t.newId()));
    await t.close();
    const u = await MetadataStore.open(dir);
    assert.deepEqual(
      u
        .all()
        .map((r) => r.key)
        .sort(),
      ['after', 'kept'],
    );
    await u.close();
    await writeFile(join(dir, 'journal'), 'garbage\n{"op":"del","key":"kept"}\n');
    await assert.rejects(MetadataStore.open(dir), MetadataCorruptError);
    await writeFile(join(dir, 'journal'), '');
    await writeFile(join(dir, 'state.json'), '{"version":1,"snap');
    await assert.rejects(MetadataStore.open(dir), /state\.json: not JSON/);
  });
});

test('metadata: compaction writes the state and empties the journal; replaying an old journal over it changes nothing', async () => {
  await withDir(async (dir) => {
    const s = await MetadataStore.open(dir);
    const puts = [];
    for (let i = 0; i < COMPACT_AFTER_LINES + 10; i++)
      puts.push(s.put(rec(`k${i % 50}`, s.newId(), { labels: { n: String(i) } })));
    await Promise.all(puts);
    await s.close();
    const journal = await readFile(join(dir, 'journal'), 'utf8');
    assert.ok(journal.split('\n').length < 100, 'the journal was emptied once it grew');
    const state = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as { snapshots: SnapshotRecord[] };
    assert.equal(state.snapshots.length, 50);
    // A crash between the new state file and emptying the journal: the old lines replay onto it.
    const before = (await MetadataStore.open(dir)).all();
    await appendFile(
      join(dir, 'journal'),
      `${JSON.stringify({ op: 'put', rec: before[0] })}\n${JSON.stringify({ op: 'del', key: 'missing' })}\n`,
    );
    const again = await MetadataStore.open(dir);
    assert.deepEqual(
      again.all().sort((a, b) => a.key.localeCompare(b.key)),
      before.sort((a, b) => a.key.localeCompare(b.key)),
    );
    await again.close();
  });
});

test("filters: containerd's syntax — quoted paths and values, ==, !=, ~=, presence, AND within, OR across", () => {
  const s = {
    name: 'sha256:abc',
    parent: '',
    kind: 'committed',
    labels: { 'containerd.io/snapshot.ref': 'sha256:abc', x: 'y' },
  };
  const m = (...f: string[]) => compileFilters(f)(s);
  assert.equal(m(), true);
  assert.equal(m('labels."containerd.io/snapshot.ref"==sha256:abc,parent==""'), true);
  assert.equal(m('labels."containerd.io/snapshot.ref"==sha256:abc,parent=="p"'), false);
  assert.equal(m('kind!=view'), true);
  assert.equal(m('name~=^sha256:a'), true);
  assert.equal(m('labels.x'), true);
  assert.equal(m('labels.z'), false);
  assert.equal(m('labels.z', 'labels.x==y'), true);
  for (const bad of ['name=="open', 'labels.', 'name~=(', 'name==a b,', '==x']) {
    assert.throws(
      () => compileFilters([bad]),
      (e: SnapshotError) => e.errorClass === 'invalid-argument',
      bad,
    );
  }
});

test('remote labels: ctr-remote and CRI forms, and what is wrong with bad ones', () => {
  const d = `sha256:${'1'.repeat(64)}`;
  assert.equal(remoteLayerRequest({ 'containerd.io/snapshot.ref': d }), undefined);
  assert.deepEqual(
    remoteLayerRequest({
      'containerd.io/snapshot/remote/stargz.reference': 'reg:5000/a/b:1',
      'containerd.io/snapshot/remote/stargz.digest': d,
      'containerd.io/snapshot/remote/stargz.layers': `${d},junk`,
    }),
    { ref: 'reg:5000/a/b:1', layerDigest: d, layers: [d], source: 'ctr-remote' },
  );
  assert.deepEqual(
    remoteLayerRequest({
      'containerd.io/snapshot/cri.image-ref': 'docker.io/library/x:1',
      'containerd.io/snapshot/cri.layer-digest': d,
      'containerd.io/snapshot/cri.manifest-digest': d,
    }),
    { ref: 'docker.io/library/x:1', layerDigest: d, layers: [], source: 'cri', manifestDigest: d },
  );
  assert.match(
    remoteLayerRequest({ 'containerd.io/snapshot/cri.layer-digest': d }) as string,
    /without an image reference/,
  );
  assert.match(
    remoteLayerRequest({
      'containerd.io/snapshot/cri.image-ref': 'Bad Ref',
      'containerd.io/snapshot/cri.layer-digest': d,
    }) as string,
    /bad image reference/,
  );
  assert.match(
    remoteLayerRequest({
      'containerd.io/snapshot/cri.image-ref': 'a/b',
      'containerd.io/snapshot/cri.layer-digest': d,
      'containerd.io/snapshot/cri.manifest-digest': 'x',
    }) as string,
    /bad manifest digest/,
  );
});

test('wire: field numbers as containerd encodes them (Prepare request, Mount, Info with timestamps, Usage int64)', () => {
  // PrepareSnapshotRequest{snapshotter:"s" (1), key:"k" (2), parent:"p" (3), labels:{a:"b"} (4)}, as Go's proto encodes it.
  const req = Buffer.from('0a017312016b1a017022060a0161120162', 'hex');
  assert.deepEqual(wire.PrepareSnapshotRequest.decode(req), {
    snapshotter: 's',
    key: 'k',
    parent: 'p',
    labels: { a: 'b' },
  } as never);
  const mounts = wire.MountsResponse.encode({ mounts: [{ type: 'bind', source: '/x', options: ['ro'] }] });
  assert.equal(mounts.toString('hex'), '0a0e' + '0a0462696e64' + '12022f78' + '2202726f');
  const info = wire.StatSnapshotResponse.decode(
    wire.StatSnapshotResponse.encode({
      info: { name: 'n', parent: '', kind: 'COMMITTED', createdAt: { seconds: 1700000000, nanos: 5 }, labels: {} },
    }),
  );
  assert.equal(info.info.kind, 'COMMITTED');
  assert.deepEqual(info.info.createdAt, { seconds: 1700000000, nanos: 5 });
  assert.deepEqual(wire.UsageResponse.decode(wire.UsageResponse.encode({ size: 2 ** 40, inodes: 3 })), {
    size: 2 ** 40,
    inodes: 3,
  });
});
