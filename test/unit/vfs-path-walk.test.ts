// resolvePath and walk on MemoryFs trees, including hostile ones: symlink loops, absolute
// symlinks, `..` above the root, directories that contain themselves, names with `/`, huge
// generated directories.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryFs } from '../../src/vfs/memory-fs.js';
import { normalizePath, resolveEntry, resolvePath } from '../../src/vfs/path.js';
import { walk, walkDirectories } from '../../src/vfs/walk.js';

const sample = () =>
  MemoryFs.fromEntries([
    { path: 'etc/os-release', type: 'file', content: 'ID=x\n' },
    { path: 'usr/lib/libc.so', type: 'file', content: 'elf' },
    { path: 'lib', type: 'symlink', target: 'usr/lib' },
    { path: 'abs', type: 'symlink', target: '/etc/os-release' },
    { path: 'up', type: 'symlink', target: '../../../../etc' },
    { path: 'loop1', type: 'symlink', target: 'loop2' },
    { path: 'loop2', type: 'symlink', target: '/loop1' },
    { path: 'self', type: 'symlink', target: 'self/x' },
    { path: 'empty', type: 'symlink', target: '' },
    { path: 'dangling', type: 'symlink', target: '/nowhere' },
    { path: 'usr/bin/rel', type: 'symlink', target: '../lib/libc.so' },
  ]);

test('resolvePath follows symlinks inside the image', async () => {
  const fs = sample();
  const ino = (p: string) => fs.inoOf(p);
  assert.equal((await resolvePath(fs, '/lib/libc.so')).ino, ino('usr/lib/libc.so'));
  assert.equal((await resolvePath(fs, 'lib/libc.so')).ino, ino('usr/lib/libc.so'));
  assert.equal((await resolvePath(fs, '/abs')).ino, ino('etc/os-release'));
  assert.equal((await resolvePath(fs, '/abs', { followFinal: false })).ino, ino('abs'));
  assert.equal(
    (await resolvePath(fs, '/up/os-release')).ino,
    ino('etc/os-release'),
    '.. above the root stays at the root',
  );
  assert.equal((await resolvePath(fs, '/../../etc/./os-release')).ino, ino('etc/os-release'));
  assert.equal((await resolvePath(fs, '/usr/bin/rel')).ino, ino('usr/lib/libc.so'));
  assert.equal((await resolvePath(fs, '/')).ino, fs.rootIno);
  assert.equal((await resolvePath(fs, '')).ino, fs.rootIno);
  assert.deepEqual((await resolveEntry(fs, '/lib/../lib/./libc.so')).path, '/usr/lib/libc.so');
  assert.deepEqual((await resolveEntry(fs, '/lib', { followFinal: false })).path, '/lib');
  assert.deepEqual((await resolveEntry(fs, '/lib/')).path, '/usr/lib', 'a trailing slash follows');
});

test('resolvePath errors: not found, not a directory, loops, empty targets', async () => {
  const fs = sample();
  await assert.rejects(
    resolvePath(fs, '/etc/nope'),
    (e: any) => e.code === 'ERR_OCIFS_NOT_FOUND' && e.message.includes('/etc/nope') && e.data.component === '/etc/nope',
  );
  await assert.rejects(
    resolvePath(fs, '/nope/x'),
    (e: any) => e.code === 'ERR_OCIFS_NOT_FOUND' && e.data.component === '/nope',
  );
  await assert.rejects(resolvePath(fs, '/etc/os-release/x'), { code: 'ERR_OCIFS_NOT_A_DIRECTORY' });
  await assert.rejects(resolvePath(fs, '/etc/os-release/..'), { code: 'ERR_OCIFS_NOT_A_DIRECTORY' });
  await assert.rejects(resolvePath(fs, '/abs/'), { code: 'ERR_OCIFS_NOT_A_DIRECTORY' });
  await assert.rejects(
    resolvePath(fs, '/loop1'),
    (e: any) => e.code === 'ERR_OCIFS_SYMLINK_LOOP' && e.message.includes('/loop1'),
  );
  await assert.rejects(resolvePath(fs, '/self'), { code: 'ERR_OCIFS_SYMLINK_LOOP' });
  assert.equal((await resolvePath(fs, '/loop1', { followFinal: false })).type, 'symlink');
  await assert.rejects(resolvePath(fs, '/empty'), { code: 'ERR_OCIFS_NOT_FOUND' });
  await assert.rejects(resolvePath(fs, '/dangling'), { code: 'ERR_OCIFS_NOT_FOUND' });
  await assert.rejects(resolvePath(fs, '/x', { maxSymlinks: -1 }), { code: 'ERR_OCIFS_INVALID_OPTION' });
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(resolvePath(fs, '/etc', { signal: ac.signal }), { code: 'ERR_OCIFS_ABORTED' });
});

test('40 symlinks resolve, 41 are a loop (Linux MAXSYMLINKS)', async () => {
  const chain = (n: number) =>
    MemoryFs.fromEntries([
      { path: 'target', type: 'file', content: 'x' },
      ...Array.from({ length: n }, (_, i) => ({
        path: `l${i}`,
        type: 'symlink' as const,
        target: i === n - 1 ? 'target' : `l${i + 1}`,
      })),
    ]);
  assert.equal((await resolvePath(chain(40), '/l0')).type, 'file');
  await assert.rejects(resolvePath(chain(41), '/l0'), { code: 'ERR_OCIFS_SYMLINK_LOOP' });
});

test('normalizePath', () => {
  assert.equal(normalizePath('a/./b/../../../c/'), '/c');
  assert.equal(normalizePath(''), '/');
});

test('walk: depth-first, parents first, exits after contents, relative paths', async () => {
  const fs = sample();
  const events: string[] = [];
  for await (const e of walk(fs, '/usr', { exits: true }))
    events.push(`${e.exit ? '<' : ''}${e.relPath || '.'}:${e.depth}`);
  assert.deepEqual(events, ['.:0', 'lib:1', 'lib/libc.so:2', '<lib:1', 'bin:1', 'bin/rel:2', '<bin:1', '<.:0']);
  const viaLink = [];
  for await (const e of walk(fs, '/lib')) viaLink.push(e.path);
  assert.deepEqual(viaLink, ['/usr/lib', '/usr/lib/libc.so'], 'a symlink start is followed');
  const file = [];
  for await (const e of walk(fs, '/etc/os-release')) file.push(e.path);
  assert.deepEqual(file, ['/etc/os-release']);
});

test('walk: every prefetch width gives the same order', async () => {
  const fs = new MemoryFs();
  for (let i = 0; i < 50; i++) fs.addPath({ path: `d${i % 5}/f${i}`, type: 'file', content: String(i) });
  const order = async (prefetch: number) => {
    const out: string[] = [];
    for await (const e of walk(fs, '/', { prefetch })) out.push(e.path);
    return out;
  };
  const one = await order(1);
  assert.equal(one.length, 56);
  for (const p of [2, 7, 64]) assert.deepEqual(await order(p), one);
  await assert.rejects(order(0), { code: 'ERR_OCIFS_INVALID_OPTION' });
});

/** /a/b/back is /a again: a cycle. */
function cyclicFs(): { fs: MemoryFs; a: number } {
  const fs = new MemoryFs();
  const a = fs.addInode({ type: 'dir' });
  const b = fs.addInode({ type: 'dir' });
  fs.link(fs.rootIno, 'a', a);
  fs.link(a, 'b', b);
  fs.link(b, 'back', a);
  return { fs, a };
}

/** One directory listed as /x and /y. */
function listedTwiceFs(): MemoryFs {
  const dag = new MemoryFs();
  const d = dag.addInode({ type: 'dir' });
  dag.link(dag.rootIno, 'x', d);
  dag.link(dag.rootIno, 'y', d);
  return dag;
}

test('walk: a directory that contains itself is a corrupt-image error, not a loop', async () => {
  const { fs, a } = cyclicFs();
  await assert.rejects(
    (async () => {
      for await (const _ of walk(fs));
    })(),
    (e: any) => e.code === 'ERR_OCIFS_CORRUPT_DIRECTORY_CYCLE' && e.data.path === '/a/b/back' && e.data.ino === a,
  );
  const root = new MemoryFs();
  root.link(root.rootIno, 'again', root.rootIno);
  await assert.rejects(
    (async () => {
      for await (const _ of walk(root));
    })(),
    { code: 'ERR_OCIFS_CORRUPT_DIRECTORY_CYCLE' },
  );
  // A directory listed in two places (exponential paths otherwise) is refused too.
  const dag = listedTwiceFs();
  await assert.rejects(
    (async () => {
      for await (const _ of walk(dag));
    })(),
    { code: 'ERR_OCIFS_CORRUPT_DIRECTORY_CYCLE' },
  );
});

test('walk: unsafe names are an error or skipped', async () => {
  for (const bad of ['', '.', '..', 'a/b', 'nul\0x']) {
    const fs = new MemoryFs();
    fs.link(fs.rootIno, bad, fs.addInode({ type: 'file', content: 'x' }));
    fs.link(fs.rootIno, 'ok', fs.addInode({ type: 'file', content: 'x' }));
    await assert.rejects(
      (async () => {
        for await (const _ of walk(fs));
      })(),
      (e: any) => e.code === 'ERR_OCIFS_UNSAFE_NAME' && e.data.name === bad,
    );
    const names = [];
    for await (const e of walk(fs, '/', { unsafeNames: 'skip', includeStart: false })) names.push(e.name);
    assert.deepEqual(names, ['ok']);
  }
});

test('walk: an entry typed dir whose inode is a file is treated as the file it is', async () => {
  const fs = new MemoryFs();
  const f = fs.addInode({ type: 'file', content: 'data' });
  fs.link(fs.rootIno, 'liar', f, 'dir');
  const seen = [];
  for await (const e of walk(fs, '/', { includeStart: false })) seen.push([e.path, e.inode.type]);
  assert.deepEqual(seen, [['/liar', 'file']]);
});

test('walk: a million-entry generated directory streams in bounded memory; break closes it', async () => {
  const fs = new MemoryFs();
  const leaf = fs.addInode({ type: 'file', content: '' });
  const big = fs.addInode({ type: 'dir' });
  fs.link(fs.rootIno, 'big', big);
  fs.setGeneratedChildren(big, { count: 1_000_000, entry: (i) => ({ name: `e${i}`, ino: leaf, type: 'file' }) });
  let n = 0;
  const before = process.memoryUsage().heapUsed;
  for await (const e of walk(fs, '/big', { includeStart: false })) {
    n++;
    if (n === 200_000) {
      assert.equal(e.name, 'e199999');
      break;
    }
  }
  assert.equal(n, 200_000);
  assert.ok(process.memoryUsage().heapUsed - before < 64 * 1024 * 1024, 'memory did not grow with the directory');
});

test('walk: aborts', async () => {
  const fs = sample();
  const ac = new AbortController();
  await assert.rejects(
    (async () => {
      for await (const _ of walk(fs, '/', { signal: ac.signal })) ac.abort();
    })(),
    { code: 'ERR_OCIFS_ABORTED' },
  );
});

test('walkDirectories (ls -R): listings in name order, and a cycle or a listed-twice directory ends with an error', async () => {
  const fs = sample();
  const seen: string[] = [];
  const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  for await (const d of walkDirectories(
    fs,
    { path: '/', ino: fs.rootIno },
    { order: byName, ahead: 2, describe: async (_p, entries) => entries.length },
  )) {
    seen.push(`${d.path}:${d.entries.map((e) => e.name).join(',')}:${d.data}`);
  }
  assert.deepEqual(seen.slice(0, 3), [
    '/:abs,dangling,empty,etc,lib,loop1,loop2,self,up,usr:10',
    '/etc:os-release:1',
    '/usr:bin,lib:2',
  ]);
  const { fs: cyclic, a } = cyclicFs();
  const listed: string[] = [];
  await assert.rejects(
    (async () => {
      for await (const d of walkDirectories(cyclic, { path: '/', ino: cyclic.rootIno })) listed.push(d.path);
    })(),
    (e: any) => e.code === 'ERR_OCIFS_CORRUPT_DIRECTORY_CYCLE' && e.data.path === '/a/b/back' && e.data.ino === a,
  );
  assert.deepEqual(listed, ['/', '/a', '/a/b']);
  const dag = listedTwiceFs();
  await assert.rejects(
    (async () => {
      for await (const _ of walkDirectories(dag, { path: '/', ino: dag.rootIno }));
    })(),
    { code: 'ERR_OCIFS_CORRUPT_DIRECTORY_CYCLE' },
  );
});
