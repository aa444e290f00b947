// A full disk: the cache (or an extract's DEST) lives on a 2 MiB tmpfs. Writes that fail with
// ENOSPC leave nothing half-marked: reads still return the right bytes (fetched, served, not
// cached), the chunks that did fit are correct, `fill` reports a clear error, and so does an
// extract that runs out of room. Needs root (mount).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobCache } from '../../src/cache/index.js';
import { MemorySource } from '../../src/io/index.js';
import { isOcifsError } from '../../src/errors.js';
import { run, runOk } from '../helpers/run.js';
import { ocifs } from '../helpers/cli.js';
import { serveLayout } from '../../src/serve/layout-registry.js';
import { CountingSource, patternBytes } from '../helpers/cache-sources.js';
import { checkPresentChunks } from '../helpers/cache-procs.js';

const MiB = 1024 * 1024;
const KiB = 1024;
let base = '';
let mnt = '';
let mounted = false;

before(async () => {
  base = await mkdtemp(join(tmpdir(), 'ocifs-cache-enospc-'));
  mnt = join(base, 'mnt');
  await mkdir(mnt);
  const r = await run('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'tmpfs', mnt]);
  mounted = r.code === 0;
});
after(async () => {
  if (mounted) await run('umount', ['-l', mnt]);
  await rm(base, { recursive: true, force: true });
});

function sha256(b: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(b).digest('hex');
}

test('ENOSPC while caching: reads return the right bytes uncached; what was cached is right', async (t) => {
  if (!mounted) return t.skip('cannot mount tmpfs (not root?)');
  const data = patternBytes(4 * MiB, 42);
  const digest = sha256(data);
  const dir = join(mnt, 'c1');
  const cache = await BlobCache.open(dir, { chunkSize: 64 * KiB, readahead: false });
  const up = new CountingSource(new MemorySource(data));
  const src = await cache.openBlob(digest, data.length, up);
  assert.ok(Buffer.from(await src.read(0, data.length)).equals(data));
  assert.ok(src.uncachedBytes > 0, 'some bytes could not be cached');
  assert.equal(src.isComplete, false);
  // Read again: right bytes again (the uncached part is fetched again).
  assert.ok(Buffer.from(await src.read(0, data.length)).equals(data));
  await assert.rejects(src.fill(), (e) => isOcifsError(e, 'ERR_OCIFS_CACHE_FULL'));
  await cache.close();
  const present = await checkPresentChunks(dir, digest, data);
  assert.ok(present > 0 && present < 64, `present chunks: ${present}`);
  const c2 = await BlobCache.open(dir);
  const [v] = await c2.verify(digest);
  assert.equal(v.status, 'partial');
  await c2.removeAll();
  await c2.close();
});

test('no space even to create the instance: reads are served uncached', async (t) => {
  if (!mounted) return t.skip('cannot mount tmpfs (not root?)');
  const dir = join(mnt, 'c2');
  const cache = await BlobCache.open(dir, { chunkSize: 64 * KiB, readahead: false });
  // Fill the file system.
  const filler = join(mnt, 'filler');
  await writeFile(filler, new Uint8Array(2 * MiB)).catch(() => {});
  const data = patternBytes(1 * MiB, 43);
  const up = new CountingSource(new MemorySource(data));
  const src = await cache.openBlob(sha256(data), data.length, up);
  assert.ok(Buffer.from(await src.read(0, data.length)).equals(data));
  assert.ok(Buffer.from(await src.read(100, 1000)).equals(data.subarray(100, 1100)));
  assert.ok(up.bytes >= data.length);
  await cache.close();
  await rm(filler, { force: true });
});

test('a full DEST: extract stops with one clear line naming the file and ENOSPC', async (t) => {
  if (!mounted) return t.skip('cannot mount tmpfs (not root?)');
  const src = join(base, 'tree');
  await mkdir(join(src, 'etc'), { recursive: true });
  await writeFile(join(src, 'etc', 'small'), 'fits\n');
  await writeFile(join(src, 'big.bin'), patternBytes(3 * MiB, 7));
  const image = join(base, 'img.erofs');
  await runOk('mkfs.erofs', ['--quiet', image, src]);
  const dest = join(mnt, 'out');
  const r = await ocifs(['extract', '-q', image, dest]);
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], new RegExp(`^ocifs: ${dest}/big\\.bin: write failed: ENOSPC`));
  await rm(dest, { recursive: true, force: true });
});

test('a full cache disk during a whole-tree extract: the tree is right, and the command says it is unverified', async (t) => {
  if (!mounted) return t.skip('cannot mount tmpfs (not root?)');
  // The sample layer (3.6 MiB) cannot fit on the 2 MiB tmpfs: chunks are served from memory.
  const reg = await serveLayout(new URL('../../sample/layout', import.meta.url).pathname);
  try {
    const cacheDir = join(mnt, 'extract-cache');
    const dest = join(base, 'sample-out');
    const r = await ocifs(['extract', '-q', `${reg.hostPort}/ocifs/sample:latest`, dest], {
      env: { OCIFS_CACHE_DIR: cacheDir },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /^ocifs: warning: the extracted files are not verified against the layer digests: .*(no space|could not keep)/m,
    );
    assert.match(await readFile(join(dest, 'etc/os-release'), 'utf8'), /ocifs sample/);
  } finally {
    await reg.close();
    await rm(join(mnt, 'extract-cache'), { recursive: true, force: true });
  }
});
