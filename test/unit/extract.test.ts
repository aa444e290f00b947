// extractTree against hostile and corrupt trees: nothing may appear outside DEST, errors are
// clear, loops end. Plus the DEST rules (new, empty, non-empty, overwrite) and small cases.
import { test, beforeEach, after } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { extractTree, measureTree } from '../../src/extract/extract.js';
import { MemoryFs } from '../../src/vfs/memory-fs.js';
import { MemorySource } from '../../src/io/memory-source.js';
import type { FileSystem } from '../../src/vfs/types.js';
import { mulberry32 as rng } from '../helpers/prng.js';

const isRoot = process.getuid?.() === 0;
let tmp: string;
let dest: string;
let outside: string;
const made: string[] = [];

/** A new temp dir holding `outside/victim`, with DEST (not yet created) beside it. */
async function fresh(): Promise<void> {
  tmp = await mkdtemp(join(tmpdir(), 'ocifs-extract-unit-'));
  made.push(tmp);
  dest = join(tmp, 'dest');
  outside = join(tmp, 'outside');
  await mkdir(outside);
  await writeFile(join(outside, 'victim'), 'untouched');
}

beforeEach(fresh);
after(async () => {
  for (const d of made) await rm(d, { recursive: true, force: true });
});

/** Every path under `dir`, sorted (lstat, never following). */
async function listAll(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(dir)).sort()) {
    const rel = prefix + name;
    out.push(rel);
    if ((await lstat(join(dir, name))).isDirectory()) out.push(...(await listAll(join(dir, name), rel + '/')));
  }
  return out;
}

/** The temp dir holds only DEST and the untouched `outside` directory. */
async function assertNothingOutside(): Promise<void> {
  const top = (await readdir(tmp)).sort();
  assert.ok(
    top.every((x) => x === 'dest' || x === 'outside'),
    `unexpected entries next to DEST: ${top.join(',')}`,
  );
  assert.deepEqual(await listAll(outside), ['victim']);
  assert.equal(await readFile(join(outside, 'victim'), 'utf8'), 'untouched');
  await rm(tmp, { recursive: true, force: true });
}

test('names that are not one path component are refused before anything is written for them', async () => {
  for (const bad of ['..', '../outside/victim', '/abs', 'a/../../x', '', '.', 'nul\0']) {
    const fs = new MemoryFs();
    fs.addPath({ path: 'ok', type: 'file', content: 'fine' });
    fs.link(fs.rootIno, bad, fs.addInode({ type: 'file', content: 'evil' }));
    await fresh();
    await assert.rejects(extractTree(fs, dest), (e: any) => e.code === 'ERR_OCIFS_UNSAFE_NAME' && e.data.name === bad);
    await assertNothingOutside();
  }
});

test('a symlink and a directory of the same name: never written through', async () => {
  for (const overwrite of [false, true]) {
    const fs = new MemoryFs();
    const link = fs.addInode({ type: 'symlink', target: outside });
    const dir = fs.addInode({ type: 'dir' });
    fs.link(fs.rootIno, 'x', link);
    fs.link(fs.rootIno, 'x', dir);
    fs.link(dir, 'victim', fs.addInode({ type: 'file', content: 'pwned' }));
    await fresh();
    if (overwrite) {
      // Merging: whichever of the two is made first (files, symlinks and nodes are made
      // concurrently), a directory is never replaced by a symlink and a symlink is never
      // followed: either the directory replaces the symlink, or the symlink is a conflict.
      try {
        await extractTree(fs, dest, { overwrite });
        assert.equal(await readFile(join(dest, 'x/victim'), 'utf8'), 'pwned');
        assert.ok((await lstat(join(dest, 'x'))).isDirectory());
      } catch (e: any) {
        assert.equal(e.code, 'ERR_OCIFS_EXTRACT_CONFLICT');
      }
    } else {
      await assert.rejects(
        extractTree(fs, dest),
        (e: any) => e.code === 'ERR_OCIFS_EXTRACT_CONFLICT' && e.data.path === join(dest, 'x'),
      );
    }
    await assertNothingOutside();
  }
});

test('overwrite: symlinks already in DEST are replaced, not followed (directories and files)', async () => {
  await mkdir(dest);
  await symlink(outside, join(dest, 'etc'));
  await symlink(join(outside, 'victim'), join(dest, 'file'));
  await symlink('../outside', join(dest, 'rel'));
  const fs = MemoryFs.fromEntries([
    { path: 'etc/victim', type: 'file', content: 'new' },
    { path: 'file', type: 'file', content: 'new file' },
    { path: 'rel', type: 'fifo' },
  ]);
  await assert.rejects(
    extractTree(fs, dest),
    { code: 'ERR_OCIFS_EXTRACT_CONFLICT' },
    'a non-empty DEST needs overwrite',
  );
  await extractTree(fs, dest, { overwrite: true });
  assert.equal(await readFile(join(dest, 'etc/victim'), 'utf8'), 'new');
  assert.equal(await readFile(join(dest, 'file'), 'utf8'), 'new file');
  assert.ok((await lstat(join(dest, 'rel'))).isFIFO());
  await assertNothingOutside();
});

test('overwrite keeps host entries the image does not name and refuses to replace a directory by a file', async () => {
  await mkdir(join(dest, 'keep'), { recursive: true });
  await writeFile(join(dest, 'keep/mine'), 'mine');
  await mkdir(join(dest, 'd'));
  await writeFile(join(dest, 'd/x'), 'x');
  await extractTree(MemoryFs.fromEntries([{ path: 'keep/new', type: 'file', content: 'n' }]), dest, {
    overwrite: true,
  });
  assert.deepEqual(await listAll(dest), ['d', 'd/x', 'keep', 'keep/mine', 'keep/new']);
  await assert.rejects(
    extractTree(MemoryFs.fromEntries([{ path: 'd', type: 'file', content: 'f' }]), dest, { overwrite: true }),
    (e: any) => e.code === 'ERR_OCIFS_EXTRACT_CONFLICT' && /is a directory/.test(e.message),
  );
  assert.equal(await readFile(join(dest, 'd/x'), 'utf8'), 'x');
  await assertNothingOutside();
});

test('DEST rules: created when missing, an empty directory is fine, a file or non-empty directory is refused', async () => {
  const fs = MemoryFs.fromEntries([{ path: 'a', type: 'file', content: 'a' }], { mode: 0o750, mtimeSec: 1000 });
  await extractTree(fs, join(dest, 'deeper'));
  const created = await lstat(join(dest, 'deeper'));
  assert.equal(created.mode & 0o7777, 0o750, 'a DEST extract created gets the root directory metadata');
  assert.equal(created.mtimeMs, 1000 * 1000);
  await mkdir(join(tmp, 'empty'), { mode: 0o700 });
  await extractTree(fs, join(tmp, 'empty'));
  assert.equal((await lstat(join(tmp, 'empty'))).mode & 0o7777, 0o700, 'an existing DEST keeps its own metadata');
  await rm(join(tmp, 'empty'), { recursive: true });
  await assert.rejects(
    extractTree(fs, join(dest, 'deeper')),
    (e: any) => e.code === 'ERR_OCIFS_EXTRACT_CONFLICT' && /not empty/.test(e.message),
  );
  await assert.rejects(
    extractTree(fs, join(outside, 'victim')),
    (e: any) => e.code === 'ERR_OCIFS_EXTRACT_CONFLICT' && /not a directory/.test(e.message),
  );
  await assertNothingOutside();
});

test('a directory that contains itself ends with a corrupt-image error', async () => {
  const fs = new MemoryFs();
  const a = fs.addInode({ type: 'dir' });
  fs.link(fs.rootIno, 'a', a);
  fs.link(a, 'f', fs.addInode({ type: 'file', content: 'x' }));
  fs.link(a, 'loop', a);
  await assert.rejects(extractTree(fs, dest), { code: 'ERR_OCIFS_CORRUPT_DIRECTORY_CYCLE' });
  await assertNothingOutside();
});

test('the same name twice in a directory is a conflict, not a silent overwrite', async () => {
  const fs = new MemoryFs();
  fs.link(fs.rootIno, 'f', fs.addInode({ type: 'file', content: 'first' }));
  fs.link(fs.rootIno, 'f', fs.addInode({ type: 'file', content: 'second' }));
  await assert.rejects(
    extractTree(fs, dest),
    (e: any) => e.code === 'ERR_OCIFS_EXTRACT_CONFLICT' && /twice/.test(e.message),
  );
  await assertNothingOutside();
});

test('content whose size disagrees with the inode is refused', async () => {
  const inner = MemoryFs.fromEntries([{ path: 'f', type: 'file', content: 'twelve bytes' }]);
  const liar: FileSystem = Object.create(inner);
  liar.openFile = async () => new MemorySource(new Uint8Array(3));
  await assert.rejects(
    extractTree(liar, dest),
    (e: any) => e.code === 'ERR_OCIFS_CORRUPT_SIZE' && e.data.expected === 12 && e.data.actual === 3,
  );
  await assertNothingOutside();
});

test('hardlinks: first path gets the data, later ones link; symlinks keep targets; sockets are skipped with a warning', async () => {
  const fs = MemoryFs.fromEntries([
    { path: 'a/one', type: 'file', content: 'shared', mode: 0o640 },
    { path: 'b/two', link: 'a/one' },
    { path: 'three', link: 'a/one' },
    { path: 'l', type: 'symlink', target: '../../../outside/victim', mtimeSec: 5 },
    { path: 'sock', type: 'socket' },
    { path: 'big', type: 'file', content: new Uint8Array(3 * 1024 * 1024 + 7).map((_, i) => i % 251) },
  ]);
  const warnings: string[] = [];
  const r = await extractTree(fs, dest, { pieceSize: 1 << 20, onWarning: (w) => warnings.push(w.kind) });
  assert.equal(r.hardlinks, 2);
  assert.equal(r.skipped, 1);
  assert.deepEqual(warnings, ['socket']);
  const ino = (await lstat(join(dest, 'a/one'))).ino;
  assert.equal((await lstat(join(dest, 'b/two'))).ino, ino);
  assert.equal((await lstat(join(dest, 'three'))).ino, ino);
  assert.equal((await lstat(join(dest, 'three'))).mode & 0o777, 0o640);
  assert.equal(await readlink(join(dest, 'l')), '../../../outside/victim');
  assert.equal((await lstat(join(dest, 'l'))).mtimeMs, 5000);
  const big = await readFile(join(dest, 'big'));
  assert.equal(big.length, 3 * 1024 * 1024 + 7);
  assert.ok(big.every((b, i) => b === i % 251));
  assert.deepEqual(await measureTree(fs), { entries: 8, bytes: 6 + 3 * 1024 * 1024 + 7 });
  await assertNothingOutside();
});

test('devices are made when root (with their numbers), fifos always', { skip: !isRoot && 'needs root' }, async () => {
  const fs = MemoryFs.fromEntries([
    { path: 'dev/null', type: 'chardev', rdev: (1 << 8) | 3, mode: 0o666 },
    { path: 'dev/-rf', type: 'blockdev', rdev: 0x10300, mode: 0o600 },
    { path: 'p', type: 'fifo', mode: 0o620, uid: 5, gid: 6 },
  ]);
  await extractTree(fs, dest);
  const c = await lstat(join(dest, 'dev/null'));
  assert.ok(c.isCharacterDevice());
  assert.equal(c.rdev, (1 << 8) | 3);
  assert.equal(c.mode & 0o7777, 0o666);
  const b = await lstat(join(dest, 'dev/-rf'));
  assert.ok(b.isBlockDevice());
  assert.equal(b.rdev, 0x10300);
  const p = await lstat(join(dest, 'p'));
  assert.ok(p.isFIFO());
  assert.deepEqual([p.mode & 0o7777, p.uid, p.gid], [0o620, 5, 6]);
  await assertNothingOutside();
});

test('abort stops the extraction with ERR_OCIFS_ABORTED', async () => {
  const fs = new MemoryFs();
  for (let i = 0; i < 3000; i++) fs.addPath({ path: `d${i % 20}/f${i}`, type: 'file', content: 'x' });
  // A slow reader (1 ms per file), so the writer reports progress while the walk goes on.
  const slow: FileSystem = Object.create(fs);
  slow.openFile = async (ino, o) => {
    await new Promise((r) => setTimeout(r, 1));
    return fs.openFile(ino, o);
  };
  const ac = new AbortController();
  let files = 0;
  await assert.rejects(
    extractTree(slow, dest, {
      signal: ac.signal,
      onProgress: (p) => {
        files = p.files;
        if (p.files > 0) ac.abort();
      },
    }),
    { code: 'ERR_OCIFS_ABORTED' },
  );
  assert.ok(files > 0 && files < 3000, `stopped after ${files} files`);
  await assertNothingOutside();
});

test('bad options are refused with their name', async () => {
  const fs = new MemoryFs();
  await assert.rejects(
    extractTree(fs, dest, { concurrency: 0 }),
    (e: any) => e.code === 'ERR_OCIFS_INVALID_OPTION' && e.data.option === 'concurrency',
  );
  await assert.rejects(
    extractTree(fs, dest, { pieceSize: 10 }),
    (e: any) => e.code === 'ERR_OCIFS_INVALID_OPTION' && e.data.option === 'pieceSize',
  );
  await assert.rejects(extractTree(fs, dest, { path: '/missing' }), { code: 'ERR_OCIFS_NOT_FOUND' });
});

/**
 * A random hostile tree: symlinks pointing out of DEST (absolute, relative, to `outside`),
 * hardlinks, fifos, unwritable directory modes; and by `seed % 4`: nothing else (1), duplicate
 * names (2), unsafe names (3: `..`, `x/y`, absolute paths, NUL), directories linked back to
 * ancestors or listed twice (0).
 */
function hostileTree(seed: number, outsideDir: string): MemoryFs {
  const r = rng(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)];
  const mode = seed % 4;
  const fs = new MemoryFs();
  const dirs = [fs.rootIno];
  const files: number[] = [];
  const unsafe = ['..', '.', '', 'x/y', '../outside', `${outsideDir}/victim`, 'n\0'];
  for (let i = 0; i < 40; i++) {
    const parent = pick(dirs);
    const name =
      mode === 2 && r() < 0.2 ? pick(['a', 'b', 'victim']) : mode === 3 && r() < 0.1 ? pick(unsafe) : `n${i}`;
    const k = r();
    if (k < 0.3) {
      const d = fs.addInode({ type: 'dir', mode: pick([0o755, 0o500, 0o000]) });
      fs.link(parent, name, d);
      dirs.push(d);
    } else if (k < 0.55) {
      const f = fs.addInode({ type: 'file', content: `pwned ${i}` });
      fs.link(parent, name, f);
      files.push(f);
    } else if (k < 0.75) {
      fs.link(
        parent,
        name,
        fs.addInode({
          type: 'symlink',
          target: pick([outsideDir, `${outsideDir}/victim`, '../../outside/victim', '..', '/']),
        }),
      );
    } else if (k < 0.85 && files.length > 0) {
      fs.link(parent, name, pick(files)); // a hardlink
    } else if (mode === 0 && k < 0.95) {
      fs.link(parent, name, pick(dirs), 'dir'); // a cycle or a directory listed twice
    } else {
      fs.link(parent, name, fs.addInode({ type: 'fifo' }));
    }
  }
  return fs;
}

test('random hostile trees: extraction ends, with or without an error, and never writes outside DEST', async () => {
  const count = Number(process.env.OCIFS_VFS_FUZZ_TREES ?? 40);
  const codes = new Map<string, number>();
  for (let seed = 1; seed <= count; seed++) {
    await fresh();
    const fs = hostileTree(seed, outside);
    for (const overwrite of [false, true]) {
      try {
        await extractTree(fs, dest, { overwrite });
        codes.set('ok', (codes.get('ok') ?? 0) + 1);
      } catch (e: any) {
        assert.ok(
          typeof e.code === 'string' && e.code.startsWith('ERR_OCIFS_'),
          `seed ${seed}: untyped error ${e?.stack ?? e}`,
        );
        codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
      }
    }
    await assertNothingOutside();
  }
  // The generator must produce both clean runs and each kind of refusal, or the test proves little.
  for (const c of ['ok', 'ERR_OCIFS_UNSAFE_NAME', 'ERR_OCIFS_CORRUPT_DIRECTORY_CYCLE', 'ERR_OCIFS_EXTRACT_CONFLICT']) {
    assert.ok(codes.has(c) || count < 40, `no run ended with ${c}: ${JSON.stringify([...codes])}`);
  }
});

test('regression: the writer thread runs when the parent process has --input-type=module', async () => {
  const { runOk } = await import('../helpers/run.js');
  const src = new URL('../../src/', import.meta.url).pathname;
  const script = `
    const { extractTree } = await import(${JSON.stringify(src + 'extract/extract.ts')});
    const { MemoryFs } = await import(${JSON.stringify(src + 'vfs/memory-fs.ts')});
    const r = await extractTree(MemoryFs.fromEntries([{ path: 'f', type: 'file', content: 'ok' }]), ${JSON.stringify(dest)});
    console.log(r.files);`;
  const r = await runOk(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]);
  assert.equal(r.stdout.toString().trim(), '1');
  assert.equal(await readFile(join(dest, 'f'), 'utf8'), 'ok');
  await assertNothingOutside();
});
