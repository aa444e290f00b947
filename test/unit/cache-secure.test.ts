// The cache directory must not be writable by another user (who could poison it): created 0700,
// refused (never chmod-ed) when insecure. Run as root, so offending states are made with
// chmod/chown to uid 65534.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, mkdir, chmod, chown, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobCache } from '../../src/cache/index.js';
import { isOcifsError } from '../../src/errors.js';

const root = await mkdtemp(join(tmpdir(), 'ocifs-cache-secure-'));
after(() => rm(root, { recursive: true, force: true }));
let n = 0;
const OTHER = 65534;
const isRoot = process.geteuid?.() === 0;

async function refused(dir: string, pattern: RegExp) {
  await assert.rejects(BlobCache.open(dir), (e) => {
    assert.ok(isOcifsError(e, 'ERR_OCIFS_CACHE_INSECURE'), String(e));
    assert.match((e as Error).message, pattern);
    return true;
  });
}

test('a missing cache directory is created 0700 with its missing parents, whatever the umask', async () => {
  const base = join(root, `t${n++}`);
  await mkdir(base, { mode: 0o755 });
  await chmod(base, 0o755);
  const old = process.umask(0o000);
  try {
    const cache = await BlobCache.open(join(base, 'a', 'b', 'cache'));
    await cache.close();
  } finally {
    process.umask(old);
  }
  for (const p of ['a', 'a/b', 'a/b/cache', 'a/b/cache/blobs', 'a/b/cache/tmp'])
    assert.equal((await stat(join(base, p))).mode & 0o777, 0o700, p);
  assert.equal((await stat(base)).mode & 0o777, 0o755, 'an existing parent is left alone');
});

test('an existing directory writable by others or by its group is refused and left unchanged', async () => {
  for (const mode of [0o777, 0o770, 0o702, 0o1777]) {
    const dir = join(root, `t${n++}`);
    await mkdir(dir);
    await chmod(dir, mode);
    await refused(dir, /writable by (other users|its group).*chmod go-w/);
    assert.equal((await stat(dir)).mode & 0o7777, mode);
  }
});

test('an existing directory readable by others (0755) but owned by us is accepted and not changed', async () => {
  const dir = join(root, `t${n++}`);
  await mkdir(dir);
  await chmod(dir, 0o755);
  const cache = await BlobCache.open(dir);
  await cache.close();
  assert.equal((await stat(dir)).mode & 0o777, 0o755);
  assert.equal((await stat(join(dir, 'blobs'))).mode & 0o777, 0o700, 'our own layout dirs are private');
});

test('a directory owned by another user is refused', { skip: !isRoot && 'needs root to chown' }, async () => {
  const dir = join(root, `t${n++}`);
  await mkdir(dir, { mode: 0o700 });
  await chown(dir, OTHER, OTHER);
  await refused(dir, /owned by uid 65534/);
});

test(
  'layout subdirectories that another user can write to or owns are refused',
  { skip: !isRoot && 'needs root to chown' },
  async () => {
    for (const [sub, how] of [
      ['blobs', 'chmod'],
      ['blobs/sha256', 'chown'],
      ['tmp', 'chmod'],
      ['partial', 'chown'],
      ['trash', 'chown'],
    ] as const) {
      const dir = join(root, `t${n++}`);
      await (await BlobCache.open(dir)).close();
      if (how === 'chmod') await chmod(join(dir, sub), 0o777);
      else await chown(join(dir, sub), OTHER, OTHER);
      await refused(dir, how === 'chmod' ? /writable by other users/ : /owned by uid 65534/);
    }
  },
);

test('a layout directory replaced by a symlink is refused', async () => {
  const dir = join(root, `t${n++}`);
  await (await BlobCache.open(dir)).close();
  await rm(join(dir, 'blobs'), { recursive: true });
  const elsewhere = join(root, `t${n++}`);
  await mkdir(elsewhere, { mode: 0o700 });
  await symlink(elsewhere, join(dir, 'blobs'));
  await refused(dir, /is not a directory/);
});

test('an ancestor others can write to is refused unless sticky (like /tmp)', async () => {
  const open = join(root, `t${n++}`);
  await mkdir(open);
  await chmod(open, 0o777);
  await refused(join(open, 'cache'), /ancestor .* writable by other users and not sticky/);
  const sticky = join(root, `t${n++}`);
  await mkdir(sticky);
  await chmod(sticky, 0o1777);
  await (await BlobCache.open(join(sticky, 'cache'))).close();
});

test('an ancestor owned by another user is refused', { skip: !isRoot && 'needs root to chown' }, async () => {
  const theirs = join(root, `t${n++}`);
  await mkdir(theirs, { mode: 0o755 });
  await chown(theirs, OTHER, OTHER);
  await refused(join(theirs, 'cache'), /ancestor .* owned by uid 65534/);
});

test('a cache path that is a symlink is judged by its target', { skip: !isRoot && 'needs root to chown' }, async () => {
  const mine = join(root, `t${n++}`);
  await mkdir(mine, { mode: 0o700 });
  await symlink(mine, join(root, `link${n}`));
  const cache = await BlobCache.open(join(root, `link${n}`));
  assert.equal(cache.dir, mine);
  await cache.close();
  const theirs = join(root, `t${n++}`);
  await mkdir(theirs, { mode: 0o700 });
  await chown(theirs, OTHER, OTHER);
  await symlink(theirs, join(root, `link${n}`));
  await refused(join(root, `link${n}`), /owned by uid 65534/);
});
