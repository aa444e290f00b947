// manifestOf(FileSystem) must print exactly what test/fixtures/tree-manifest.ts prints for a real
// tree: checked on a MemoryFs loaded from a make-tree.ts tree against the tool on the same
// directory, and on odd trees.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  assertSameManifest,
  compareCodePoints,
  majorMinor,
  makeTree,
  manifestOf,
  memoryFsFromDirectory,
  pythonJson,
  pythonMtime,
  treeManifest,
} from '../helpers/fs-manifest.js';
import { MemoryFs } from '../../src/vfs/memory-fs.js';

let tmp: string;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ocifs-vfs-manifest-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

test('manifestOf a MemoryFs of a make-tree.ts tree equals tree-manifest.ts', async () => {
  const dir = join(tmp, 'seed1');
  await makeTree(dir, 1);
  const fs = await memoryFsFromDirectory(dir);
  const lines = await manifestOf(fs);
  const tool = await treeManifest(dir);
  assert.ok(tool.length > 1500, `tree-manifest.ts printed ${tool.length} lines`);
  assert.ok(tool.filter((l) => l.includes('"hardlink": ')).length >= 5, 'hardlink groups are named');
  assertSameManifest(lines, tool, 'manifestOf vs tree-manifest.ts');
});

test('manifestOf matches tree-manifest.ts on devices, sockets-free odd names and sub-second mtimes', async () => {
  const dir = join(tmp, 'odd');
  await makeTree(dir, 2);
  const { runOk } = await import('../helpers/run.js');
  // Names that sort differently by UTF-16 unit and by code point, a newline and a quote in a
  // name, a char device, a sub-second and a pre-1970 mtime.
  await runOk('sh', [
    '-c',
    `cd "$1" && touch "\u{ff5e}" "\u{1f600}" "$(printf 'nl\\nq\\"')" && mkfifo f2 && touch -d '1969-12-31 23:59:58.5 UTC' old && touch -d '2001-02-03 04:05:06.999999999 UTC' frac` +
      (process.getuid?.() === 0 ? ' && mknod cdev c 1 3 && mknod bdev b 259 70000' : ''),
    'sh',
    dir,
  ]);
  const fs = await memoryFsFromDirectory(dir);
  assertSameManifest(await manifestOf(fs), await treeManifest(dir), 'manifestOf vs tree-manifest.ts');
  assertSameManifest(await manifestOf(fs, '/wide'), await treeManifest(join(dir, 'wide')), 'subtree');
});

test('helpers: Python order, JSON, rdev and mtime rules', () => {
  assert.ok(compareCodePoints('\u{ff5e}', '\u{1f600}') < 0); // JS '<' says the opposite
  assert.ok('\u{ff5e}' > '\u{1f600}');
  assert.ok(compareCodePoints('a-b', 'a/b') < 0);
  assert.equal(
    pythonJson({ b: [1, 2], a: 'x"\n', c: { z: '1', y: '2' } }),
    '{"a": "x\\"\\n", "b": [1, 2], "c": {"y": "2", "z": "1"}}',
  );
  assert.deepEqual(majorMinor(0x10300), [259, 0]); // glibc makedev(259, 0)
  assert.deepEqual(majorMinor((8 << 8) | 1), [8, 1]);
  assert.deepEqual(majorMinor(17592491883589), [0x1abc, 0x12345]); // os.makedev(0x1abc, 0x12345)
  assert.equal(pythonMtime({ mtimeSec: 1700000000, mtimeNsec: 999999999 }), 1700000001); // the float rounds up
  assert.equal(pythonMtime({ mtimeSec: -2, mtimeNsec: 500000000 }), -1);
});

test('manifestOf of a built MemoryFs: sockets have no type, symlinks no xattrs', async () => {
  const fs = MemoryFs.fromEntries([
    { path: 's', type: 'socket', mode: 0o755 },
    { path: 'l', type: 'symlink', target: 't', xattrs: { 'trusted.x': 'y' } },
    { path: 'd/c', type: 'chardev', rdev: (5 << 8) | 1, xattrs: { 'security.x': 'no', 'user.a': 'AB' } },
  ]);
  assert.deepEqual(await manifestOf(fs), [
    '{"gid": 0, "mode": "0o755", "mtime": 1700000000, "path": "d", "type": "dir", "uid": 0}',
    '{"gid": 0, "mode": "0o600", "mtime": 1700000000, "path": "d/c", "rdev": [5, 1], "type": "chr", "uid": 0, "xattrs": {"user.a": "4142"}}',
    '{"gid": 0, "mode": "0o777", "mtime": 1700000000, "path": "l", "target": "t", "type": "symlink", "uid": 0}',
    '{"gid": 0, "mode": "0o755", "mtime": 1700000000, "path": "s", "uid": 0}',
  ]);
});
