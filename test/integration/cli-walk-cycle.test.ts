// Hostile trees against every command that walks: an EROFS image made by mkfs.erofs whose
// directory /a/b/loop is forged to be /a again. `ls -R` once printed the endless tree until Node
// ran out of heap (7.8 GB of output in 50 s); every walker now ends with the cycle error, as
// extract already did.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSource } from '../../src/io/file-source.js';
import { openErofs } from '../../src/erofs/index.js';
import { inoToNid } from '../../src/erofs/context.js';
import { resolvePath } from '../../src/vfs/path.js';
import { forgeDirectoryCycle } from '../unit/erofs-helpers.js';
import { openImage } from '../../src/image/index.js';
import { ImageViews } from '../../src/web/image-views.js';
import { diffImages } from '../../src/web/diff.js';
import { ocifs } from '../helpers/cli.js';
import { run } from '../helpers/run.js';

let tmp = '';
let image = '';
/** The same forgery of a tree with one more file at the root (so the two images differ). */
let image2 = '';

/** Builds `tree` (a/b/loop, a/b/file, plus `extra`) with mkfs.erofs and forges /a/b/loop into /a. */
async function forgedImage(name: string, extra: string[]): Promise<string> {
  const tree = join(tmp, `tree-${name}`);
  await mkdir(join(tree, 'a', 'b', 'loop'), { recursive: true });
  await writeFile(join(tree, 'a', 'b', 'file'), 'x\n');
  for (const f of extra) await writeFile(join(tree, f), f);
  const honest = join(tmp, `${name}-honest.erofs`);
  const r = await run('mkfs.erofs', ['--quiet', honest, tree]);
  assert.equal(r.code, 0, r.stderr);
  const src = await FileSource.open(honest);
  const fs = await openErofs(src);
  const [a, b, loop] = [await resolvePath(fs, '/a'), await resolvePath(fs, '/a/b'), await resolvePath(fs, '/a/b/loop')];
  await src.close();
  const out = join(tmp, `${name}.erofs`);
  await writeFile(
    out,
    forgeDirectoryCycle(await readFile(honest), inoToNid(b.ino), inoToNid(loop.ino), inoToNid(a.ino)),
  );
  return out;
}

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ocifs-walk-cycle-'));
  image = await forgedImage('cycle', []);
  image2 = await forgedImage('cycle2', ['z']);
  // The forgery took: /a/b/loop is /a.
  const forged = await FileSource.open(image);
  assert.equal((await resolvePath(await openErofs(forged), '/a/b/loop/b/loop/b')).type, 'dir');
  await forged.close();
});

after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** Runs ocifs with a time limit: a walker that loops is killed and fails the test. */
async function bounded(args: string[]) {
  const r = await run(process.execPath, [new URL('../../bin/ocifs.js', import.meta.url).pathname, ...args], {
    timeout: 30_000,
    killSignal: 'SIGKILL',
  });
  assert.notEqual(
    r.signal,
    'SIGKILL',
    `ocifs ${args.join(' ')} did not end within 30 s (${r.stdout.length} bytes of output)`,
  );
  return r;
}

test('ls -R of an EROFS image whose directory contains its ancestor ends with the cycle error, not a loop', async () => {
  for (const flags of [['-R'], ['-R', '-l'], ['-R', '--json']]) {
    const r = await bounded(['ls', ...flags, image, '/']);
    assert.equal(r.code, 1, `ls ${flags.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^ocifs: \/a\/b\/loop: directory inode \d+ appears twice in the tree/);
    assert.ok(r.stdout.length < 4096, `printed ${r.stdout.length} bytes`);
  }
  // The listing up to the cycle is printed.
  const r = await bounded(['ls', '-R', image, '/']);
  assert.equal(r.stdout.toString(), '/:\na\n\n/a:\nb\n\n/a/b:\nfile\nloop\n');
});

test('extract and a subtree ls -R of the same image end with the same error', async () => {
  const e = await bounded(['extract', '-q', image, join(tmp, 'out')]);
  assert.equal(e.code, 1);
  assert.match(e.stderr, /appears twice in the tree/);
  const sub = await bounded(['ls', '-R', image, '/a/b/loop']);
  assert.equal(sub.code, 1);
  assert.match(sub.stderr, /appears twice in the tree/);
});

test('ls without -R and cat still work on the forged image', async () => {
  const r = await ocifs(['ls', image, '/a/b/loop/b']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.toString(), 'file\nloop\n');
  const c = await ocifs(['cat', image, '/a/b/loop/b/loop/b/file']);
  assert.equal(c.stdout.toString(), 'x\n');
});

test('the web diff of two images with the cycle ends with the cycle error, not a loop', async () => {
  const [ia, ib] = [await openImage(image), await openImage(image2)];
  try {
    const [va, vb] = [await ImageViews.of(ia), await ImageViews.of(ib)];
    const lines: string[] = [];
    const done = diffImages(
      va,
      vb,
      '/',
      true,
      async (l) => void lines.push(JSON.stringify(l)),
      AbortSignal.timeout(30_000),
    );
    await assert.rejects(
      done,
      (e: any) => e.code === 'ERR_OCIFS_CORRUPT_DIRECTORY_CYCLE' && e.data.path === '/a/b/loop',
    );
    assert.ok(
      lines.some((l) => l.includes('"path":"/z"')),
      'the differences before it were reported',
    );
  } finally {
    await ia.close();
    await ib.close();
  }
});
