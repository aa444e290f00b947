// The extractor's writer thread(s): ordering and failure rules that keep writes inside DEST when
// operations travel in batches (and, with several writer threads, on different threads), and the
// `copy` operation that makes files from spans of local files.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { extractTree } from '../../src/vfs/extract.js';
import { MemoryFs } from '../../src/vfs/memory-fs.js';
import { assertSameManifest, makeTree, memoryFsFromDirectory, treeManifest } from '../helpers/fs-manifest.js';

const made: string[] = [];
after(async () => {
  for (const d of made) await rm(d, { recursive: true, force: true });
});

async function scratch(): Promise<{ tmp: string; dest: string; outside: string }> {
  const tmp = await mkdtemp(join(tmpdir(), 'ocifs-vfs-writer-unit-'));
  made.push(tmp);
  const outside = join(tmp, 'outside');
  await mkdir(outside);
  await writeFile(join(outside, 'victim'), 'untouched');
  return { tmp, dest: join(tmp, 'dest'), outside };
}

test('a failed operation stops every later batch: nothing is written through a symlink named like a directory', async () => {
  // `x` is a symlink out of DEST and then a directory with a file in it. mkdir x fails (the
  // name exists); the ops for x/victim may already be in the next batch on their way to the
  // writer thread, and must not run (O_NOFOLLOW guards only the last component). With several
  // writer threads, the symlink and the directory may be made on different threads in either
  // order: whichever comes second fails, and nothing goes through the symlink.
  for (const writers of [1, 2, 3])
  for (let pad = 240; pad <= 270; pad += 2) {
    const { tmp, dest, outside } = await scratch();
    const fs = new MemoryFs();
    fs.link(fs.rootIno, 'x', fs.addInode({ type: 'symlink', target: outside }));
    for (let i = 0; i < pad; i++) fs.link(fs.rootIno, `f${String(i).padStart(4, '0')}`, fs.addInode({ type: 'file', content: `file ${i}` }));
    const dir = fs.addInode({ type: 'dir' });
    fs.link(fs.rootIno, 'x', dir);
    for (let i = 0; i < 40; i++) fs.link(dir, i === 0 ? 'victim' : `v${i}`, fs.addInode({ type: 'file', content: 'pwned' }));
    await assert.rejects(extractTree(fs, dest, { concurrency: 1, writers }), (e: any) => e.code === 'ERR_OCIFS_EXTRACT_CONFLICT');
    assert.deepEqual((await readdir(outside)).sort(), ['victim'], `writers ${writers}, pad ${pad}: something was written outside DEST`);
    assert.equal(await readFile(join(outside, 'victim'), 'utf8'), 'untouched', `writers ${writers}, pad ${pad}`);
    if (writers === 1) assert.ok((await lstat(join(dest, 'x'))).isSymbolicLink());
    await rm(tmp, { recursive: true, force: true });
  }
});

test('several writer threads reproduce a tree with hardlinks across directories, deep paths and directory metadata', async () => {
  const { tmp } = await scratch();
  const src = join(tmp, 'src');
  await makeTree(src, 1);
  const fs = await memoryFsFromDirectory(src);
  const expected = await treeManifest(src);
  for (const writers of [2, 3]) {
    const dest = join(tmp, `out-${writers}`);
    await extractTree(fs, dest, { writers });
    assertSameManifest(await treeManifest(dest), expected, `extract with ${writers} writer threads`);
  }
});

test('writers must be an integer from 1 to 16', async () => {
  const { dest } = await scratch();
  for (const writers of [0, 17, 1.5]) await assert.rejects(extractTree(new MemoryFs(), dest, { writers }), { code: 'ERR_OCIFS_INVALID_OPTION' });
});
