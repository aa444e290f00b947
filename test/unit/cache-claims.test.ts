// Download claims between processes, simulated with claim files written by hand: a claim of a
// dead process is taken over at once, a silent one after claimStaleMs, and a live owner stuck
// for long does not stall readers (they fetch without caching). A claim never changes bytes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { mkdtemp, rm, writeFile, utimes, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobCache } from '../../src/cache/index.js';
import { MemorySource } from '../../src/io/index.js';
import { CountingSource, patternBytes } from '../helpers/cache-sources.js';
import { instanceDir } from '../helpers/cache-procs.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const root = await mkdtemp(join(tmpdir(), 'ocifs-cache-claims-'));
after(() => rm(root, { recursive: true, force: true }));
let n = 0;

function sha256(b: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(b).digest('hex');
}

/** A cache with an (empty) instance of a 4 MiB blob; returns its claims dir. */
async function setup(claimStaleMs: number) {
  const data = patternBytes(4 * MiB, ++n);
  const digest = sha256(data);
  const dir = join(root, `c${n}`);
  const cache = await BlobCache.open(dir, { chunkSize: 64 * KiB, readahead: false, claimStaleMs });
  const up = new CountingSource(new MemorySource(data));
  const src = await cache.openBlob(digest, data.length, up);
  const claims = join(instanceDir(dir, digest), 'claims');
  return { data, digest, cache, up, src, claims };
}

function claimText(pid: number): string {
  return `ocifs-claim ${pid} ${hostname().replace(/\s/g, '_') || 'localhost'} 0123456789abcdef ${Date.now()}\n`;
}

test('a claim left by a dead process is taken over at once', async () => {
  const { data, cache, up, src, claims } = await setup(60_000);
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
  await writeFile(join(claims, '0'), claimText(Number(dead)));
  const t0 = Date.now();
  assert.ok(Buffer.from(await src.read(0, 100)).equals(data.subarray(0, 100)));
  assert.ok(Date.now() - t0 < 30_000, 'not after the 60 s stale time');
  assert.equal(up.requests, 1);
  await src.flush();
  assert.equal(src.presentBytes, 64 * KiB, 'fetched under our own claim, so cached');
  await cache.close();
});

test('a silent claim (no heartbeat) is taken over after claimStaleMs', async () => {
  const { data, cache, src, claims } = await setup(400);
  await writeFile(join(claims, '0'), claimText(process.pid)); // "alive" owner that never refreshes
  const t0 = Date.now();
  assert.ok(Buffer.from(await src.read(70_000, 100)).equals(data.subarray(70_000, 70_100)));
  const waited = Date.now() - t0;
  assert.ok(waited >= 300 && waited < 20_000, `waited ${waited} ms`);
  await src.flush();
  assert.equal(src.presentBytes, 64 * KiB);
  await cache.close();
});

test('an unreadable (half-written) claim goes stale after 2 s', async () => {
  const { data, cache, src, claims } = await setup(60_000);
  await writeFile(join(claims, '0'), '');
  const old = new Date(Date.now() - 5000);
  await utimes(join(claims, '0'), old, old);
  assert.ok(Buffer.from(await src.read(0, 10)).equals(data.subarray(0, 10)));
  await cache.close();
});

test('a live owner that keeps its claim fresh but delivers nothing does not stall readers forever', async () => {
  const { data, cache, up, src, claims } = await setup(1000);
  const path = join(claims, '0');
  await writeFile(path, claimText(process.pid));
  const beat = setInterval(() => void utimes(path, new Date(), new Date()).catch(() => {}), 100);
  try {
    const t0 = Date.now();
    assert.ok(Buffer.from(await src.read(0, 2 * MiB)).equals(data.subarray(0, 2 * MiB)));
    const waited = Date.now() - t0;
    assert.ok(waited >= 2500 && waited < 10_000, `waited ${waited} ms`);
    // Block 0 was not ours: fetched for the reader, not written. Block 1 was ours: cached.
    await src.flush();
    assert.equal(src.presentBytes, 1 * MiB);
    assert.equal(up.bytes, 2 * MiB);
  } finally {
    clearInterval(beat);
  }
  await cache.close();
});

test('claims are released once the chunks are marked; none are left behind', async () => {
  const { data, digest, cache, src, claims } = await setup(60_000);
  assert.ok(Buffer.from(await src.read(0, data.length / 2)).equals(data.subarray(0, data.length / 2)));
  await src.flush();
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(
    (await readdir(claims)).filter((n) => !n.startsWith('.owner-')),
    [],
    'partial instance',
  );
  assert.ok(Buffer.from(await src.read(0, data.length)).equals(data));
  await cache.close();
  // Verified: the instance (claims directory included) moved into blobs/.
  assert.deepEqual(await readdir(join(instanceDir(cache.dir, digest), 'claims')), []);
});
