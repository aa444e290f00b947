// The repository's own test fixtures (test/fixtures): the tree generator writes the same tree for
// a seed and every kind of entry the readers must get right; the manifest tool tells trees apart
// by everything it promises (hardlinks included); the EROFS fixtures are what their README says.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync } from 'node:fs';
import { chmod, copyFile, lchown, mkdtemp, rm, unlink, utimes, writeFile } from 'node:fs/promises';
import { setAttribute } from '@napi-rs/xattr';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { directoryManifest } from '../fixtures/tree-manifest.js';
import { TREE_MTIME } from '../fixtures/make-tree.js';
import { PACKED_IMAGES } from '../fixtures/erofs-images.js';
import { FIXTURES, fixtureToolArgs, makeTree, treeManifest } from '../helpers/fs-manifest.js';
import { run, runOk } from '../helpers/run.js';
import { EROFS_FIXTURE_DIR, seed1Manifest } from './erofs-helpers.js';

interface Line {
  path: string;
  type?: string;
  mode: string;
  uid: number;
  gid: number;
  mtime: number;
  size?: number;
  sha256?: string;
  target?: string;
  xattrs?: Record<string, string>;
  hardlink?: string;
}

const isRoot = process.getuid?.() === 0;
let tmp = '';
let seed1: string[] = [];

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ocifs-fixtures-'));
  await makeTree(join(tmp, 'a'), 1);
  seed1 = directoryManifest(join(tmp, 'a'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

test('make-tree: the same seed writes the same tree (also from the command line); another seed other contents, same names', async () => {
  await runOk(process.execPath, fixtureToolArgs('make-tree.ts', [join(tmp, 'b'), '--seed', '1']));
  assert.deepEqual(directoryManifest(join(tmp, 'b')), seed1);
  await makeTree(join(tmp, 'c'), 2);
  const seed2 = directoryManifest(join(tmp, 'c')).map((l) => JSON.parse(l) as Line);
  const one = seed1.map((l) => JSON.parse(l) as Line);
  assert.deepEqual(
    seed2.map((e) => [e.path, e.type, e.mode]),
    one.map((e) => [e.path, e.type, e.mode]),
  );
  const random = (es: Line[]) => es.find((e) => e.path === 'big/random-1M.bin')!.sha256;
  assert.notEqual(random(seed2), random(one));
  const bad = await run(process.execPath, fixtureToolArgs('make-tree.ts', [join(tmp, 'x'), '--seed', 'one']));
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /usage: make-tree\.ts DIR \[--seed N\]/);
});

test('make-tree: every entry type, odd names and metadata a reader must keep', () => {
  const es = seed1.map((l) => JSON.parse(l) as Line);
  const at = (p: string) => {
    const e = es.find((x) => x.path === p);
    assert.ok(e, `${p} is in the tree`);
    return e;
  };
  assert.deepEqual([...new Set(es.map((e) => e.type))].sort(), ['dir', 'fifo', 'file', 'symlink']);
  assert.equal(es.filter((e) => e.path.startsWith('wide/')).length, 1500);
  assert.ok(
    es.some((e) => e.path.split('/').length >= 26),
    'a path 25 directories deep',
  );
  assert.ok(
    es.some((e) => Buffer.byteLength(e.path.split('/').pop()!) === 250),
    'a 250-byte name',
  );
  assert.ok(
    es.some((e) => Buffer.byteLength(e.path) > 256),
    'a path longer than a ustar header takes',
  );
  assert.ok(
    es.some((e) => /[\u{10000}-\u{10ffff}]/u.test(e.path)) && es.some((e) => /\u0301/.test(e.path)),
    'astral and combining characters',
  );
  assert.equal(at('bin/dangling').target, '/absolute/target/that/does/not/exist');
  assert.ok(at('bin/long-target-1k').target!.length >= 1000);
  assert.equal(at('bin/os-release-link').target, '../etc/os-release');
  assert.equal(at('bin/tool-hardlink').hardlink, 'bin/tool');
  assert.deepEqual(
    ['links/a', 'links/b', 'links/c'].map((p) => at(p).hardlink),
    ['links/a', 'links/a', 'links/a'],
  );
  assert.equal(at('bin/setuid').mode, '0o4755');
  assert.equal(at('bin/setgid').mode, '0o2755');
  assert.equal(at('bin/fifo').type, 'fifo');
  assert.equal(at('emptydir').type, 'dir');
  assert.equal(at('empty').size, 0);
  assert.ok(es.every((e) => e.mtime === TREE_MTIME));
  const sparse = lstatSync(join(tmp, 'a', 'big/sparse-4M.bin'));
  assert.ok(sparse.blocks * 512 < sparse.size / 2, `big/sparse-4M.bin has holes (${sparse.blocks} blocks)`);
  assert.deepEqual(Object.keys(at('etc/os-release').xattrs ?? {}), ['user.ocifs.note']);
  assert.equal(at('home/user').xattrs?.['user.dir'], Buffer.from('on a directory').toString('hex'));
  if (isRoot) {
    assert.deepEqual([at('bin/tool').uid, at('bin/tool').gid], [1000, 1000]);
    assert.deepEqual(
      [at('home/user/notes.txt').uid, at('home/user/notes.txt').gid, at('home/user').mode],
      [1001, 100, '0o750'],
    );
    assert.deepEqual(at('etc/attrs').xattrs, {
      'trusted.ocifs': Buffer.from('seed 1').toString('hex'),
      'user.binary': '000102feff',
      'user.empty': '',
    });
  }
});

test('tree-manifest: the command prints the same lines; a broken hardlink, a changed byte, owner or xattr each show', async () => {
  assert.deepEqual(await treeManifest(join(tmp, 'a')), seed1);
  const copy = join(tmp, 'copy');
  await runOk('cp', ['-a', join(tmp, 'a'), copy]); // keeps hardlinks, modes, owners (as root), xattrs, times
  assert.deepEqual(directoryManifest(copy), seed1);
  // The lines that differ from the source's, after putting back the times of the directories touched.
  const diff = async () => {
    for (const d of ['links', 'sizes']) await utimes(join(copy, d), TREE_MTIME, TREE_MTIME);
    return directoryManifest(copy)
      .filter((l, i) => l !== seed1[i])
      .map((l) => JSON.parse(l) as Line);
  };
  // links/c becomes a copy of links/a with the same metadata: only its hardlink field goes.
  await unlink(join(copy, 'links/c'));
  await copyFile(join(copy, 'links/a'), join(copy, 'links/c'));
  await chmod(join(copy, 'links/c'), 0o600);
  await utimes(join(copy, 'links/c'), TREE_MTIME, TREE_MTIME);
  const { hardlink, ...unlinked } = JSON.parse(seed1.find((l) => l.includes('"path": "links/c"'))!) as Line;
  assert.equal(hardlink, 'links/a');
  assert.deepEqual(await diff(), [unlinked]);
  // Same size, other bytes.
  await writeFile(join(copy, 'sizes/f1'), readFileSync(join(copy, 'sizes/f1'))[0] === 0x61 ? 'b' : 'a');
  await utimes(join(copy, 'sizes/f1'), TREE_MTIME, TREE_MTIME);
  assert.deepEqual(
    (await diff()).map((e) => e.path),
    ['links/c', 'sizes/f1'],
  );
  await setAttribute(join(copy, 'sizes/f512'), 'user.added', Buffer.from('x'));
  if (isRoot) await lchown(join(copy, 'sizes/f513'), 7, 7);
  assert.deepEqual(
    (await diff()).map((e) => e.path),
    ['links/c', 'sizes/f1', 'sizes/f512', ...(isRoot ? ['sizes/f513'] : [])],
  );
  const usage = await run(process.execPath, fixtureToolArgs('tree-manifest.ts', []));
  assert.equal(usage.code, 2);
});

test('EROFS fixtures: the delta base is the seed-1 tree file the README names, and every packed image is below 1 MiB', () => {
  const base = readFileSync(join(EROFS_FIXTURE_DIR, 'seed1-random-1M.bin'));
  const line = seed1Manifest()
    .map((l) => JSON.parse(l) as Line)
    .find((e) => e.path === 'big/random-1M.bin')!;
  assert.equal(createHash('sha256').update(base).digest('hex'), line.sha256);
  for (const p of PACKED_IMAGES) {
    assert.ok(lstatSync(join(EROFS_FIXTURE_DIR, `${p.name}.erofs.zst`)).size < 1 << 20, p.name);
    assert.equal(lstatSync(join(EROFS_FIXTURE_DIR, `${p.name}.erofs`)).size, p.size);
  }
  const readme = readFileSync(join(FIXTURES, 'erofs/README.md'), 'utf8');
  for (const name of ['lzma', 'deflate', 'zstd', 'lz4hc-packed', 'lz4-bigpcluster', 'plain-512b', 'chunked'])
    assert.match(readme, new RegExp(`\\| ${name}\\.erofs \\|`));
});
