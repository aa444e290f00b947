// The extractor's writer thread(s): ordering and failure rules that keep writes inside DEST when
// operations travel in batches (and, with several writer threads, on different threads), and the
// `copy` operation that makes files from spans of local files.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { extractTree } from '../../src/extract/extract.js';
import { MemoryFs } from '../../src/vfs/memory-fs.js';
import { assertSameManifest, makeTree, memoryFsFromDirectory, treeManifest } from '../helpers/fs-manifest.js';
import { mulberry32 as rng } from '../helpers/prng.js';

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
      for (let i = 0; i < pad; i++)
        fs.link(fs.rootIno, `f${String(i).padStart(4, '0')}`, fs.addInode({ type: 'file', content: `file ${i}` }));
      const dir = fs.addInode({ type: 'dir' });
      fs.link(fs.rootIno, 'x', dir);
      for (let i = 0; i < 40; i++)
        fs.link(dir, i === 0 ? 'victim' : `v${i}`, fs.addInode({ type: 'file', content: 'pwned' }));
      await assert.rejects(
        extractTree(fs, dest, { concurrency: 1, writers }),
        (e: any) => e.code === 'ERR_OCIFS_EXTRACT_CONFLICT',
      );
      assert.deepEqual(
        (await readdir(outside)).sort(),
        ['victim'],
        `writers ${writers}, pad ${pad}: something was written outside DEST`,
      );
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
  for (const writers of [0, 17, 1.5])
    await assert.rejects(extractTree(new MemoryFs(), dest, { writers }), { code: 'ERR_OCIFS_INVALID_OPTION' });
});

/**
 * A random tree whose names collide often (a, b, c in every directory), as symlinks out of
 * DEST, directories, files and hardlinks: with several writer threads, entries of the same name
 * may be made on different threads in either order.
 */
function collidingTree(seed: number, outside: string): MemoryFs {
  const r = rng(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)];
  const fs = new MemoryFs();
  const dirs = [fs.rootIno];
  const files: number[] = [];
  for (let i = 0; i < 60; i++) {
    const parent = pick(dirs);
    const name = r() < 0.5 ? pick(['a', 'b', 'c']) : `n${i}`;
    const k = r();
    if (k < 0.35) {
      const d = fs.addInode({ type: 'dir' });
      fs.link(parent, name, d);
      dirs.push(d);
    } else if (k < 0.6) {
      const f = fs.addInode({ type: 'file', content: `pwned ${i}` });
      fs.link(parent, name, f);
      files.push(f);
    } else if (k < 0.85) {
      fs.link(
        parent,
        name,
        fs.addInode({ type: 'symlink', target: pick([outside, `${outside}/victim`, '../../outside', '/']) }),
      );
    } else if (files.length > 0) {
      fs.link(parent, name, pick(files));
    }
  }
  return fs;
}

test('random trees of colliding names with several writer threads: never a write outside DEST', async () => {
  const count = Number(process.env.OCIFS_VFS_FUZZ_TREES ?? 40);
  for (let seed = 1; seed <= count; seed++) {
    for (const [writers, overwrite] of [
      [2, false],
      [3, true],
      [2, true],
    ] as const) {
      const { tmp, dest, outside } = await scratch();
      const fs = collidingTree(seed, outside);
      try {
        await extractTree(fs, dest, { writers, overwrite, concurrency: 1 + (seed % 4) });
      } catch (e: any) {
        assert.ok(
          ['ERR_OCIFS_EXTRACT_CONFLICT', 'ERR_OCIFS_EXTRACT_IO'].includes(e.code),
          `seed ${seed}: ${e.code} ${e.message}`,
        );
      }
      assert.deepEqual(
        (await readdir(outside)).sort(),
        ['victim'],
        `seed ${seed}, ${writers} writers, overwrite ${overwrite}: written outside DEST`,
      );
      assert.equal(await readFile(join(outside, 'victim'), 'utf8'), 'untouched');
      await rm(tmp, { recursive: true, force: true });
    }
  }
});

test('with NODE_DEBUG=ocifs:extract each writer thread reports how long it worked and waited (the bottleneck diagnosis)', async () => {
  const { dest } = await scratch();
  // debuglog reads NODE_DEBUG at start-up: a child process with it set.
  const script = `
    import { extractTree } from ${JSON.stringify(new URL('../../src/extract/extract.ts', import.meta.url).href)};
    import { MemoryFs } from ${JSON.stringify(new URL('../../src/vfs/memory-fs.ts', import.meta.url).href)};
    const fs = new MemoryFs();
    for (let i = 0; i < 50; i++) fs.link(fs.rootIno, 'f' + i, fs.addInode({ type: 'file', content: 'x'.repeat(i) }));
    await extractTree(fs, process.argv[1], { writers: 2 });`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, dest], {
    encoding: 'utf8',
    env: { ...process.env, NODE_DEBUG: 'ocifs:extract' },
  });
  assert.equal(r.status, 0, r.stderr);
  for (const t of [0, 1])
    assert.match(r.stderr, new RegExp(`writer thread ${t}: busy \\d+\\.\\d{3} s, waiting for work \\d+\\.\\d{3} s`));
  assert.equal((await readdir(dest)).length, 50);
});

test('the walk stays a few batches ahead of the writer: the queue of operations is bounded, and progress counts are close to what is done', async () => {
  const { dest } = await scratch();
  const fs = new MemoryFs();
  for (let d = 0; d < 20; d++) {
    const dir = fs.addInode({ type: 'dir' });
    fs.link(fs.rootIno, `d${d}`, dir);
    for (let i = 0; i < 1000; i++) fs.link(dir, `f${i}`, fs.addInode({ type: 'file', content: '' }));
  }
  let maxAhead = 0;
  const r = await extractTree(fs, dest, {
    onProgress: (p) => {
      maxAhead = Math.max(maxAhead, p.entries - p.files);
    },
  });
  assert.equal(r.files, 20_000);
  // 16 batches of 256 operations on their way, one being filled, the lookups in flight, the directories.
  assert.ok(maxAhead <= 17 * 256 + 64 + 20, `the walk ran ${maxAhead} entries ahead of the writer`);
});
