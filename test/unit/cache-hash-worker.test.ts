// The hash worker: digests equal node:crypto's, and an idle or finished worker never keeps a
// process alive (regression: the benchmark's child processes hung after closing the cache).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { newHashState, WORKER_HASH_MIN_BYTES } from '../../src/cache/hash-state.js';

test('worker-hashed digests equal node:crypto, for sha256 and sha512, in odd pieces', async () => {
  const data = randomBytes(3 * WORKER_HASH_MIN_BYTES + 12345);
  for (const alg of ['sha256', 'sha512'] as const) {
    const h = newHashState(alg, data.length);
    for (let off = 0; off < data.length; off += 1_000_003) {
      const piece = data.subarray(off, off + 1_000_003);
      while (!h.update(piece)) await h.waitForRoom(piece.length); // the shared ring is bounded
    }
    assert.equal(await h.digest(), createHash(alg).update(data).digest('hex'));
  }
});

for (const mode of ['idle-worker', 'random', 'full']) {
  test(`regression: a process exits by itself after closing the cache (${mode})`, () => {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', resolve(import.meta.dirname, '../helpers/cache-exit-child.ts'), mode],
      {
        cwd: resolve(import.meta.dirname, '../..'),
        timeout: 60_000,
        encoding: 'utf8',
      },
    );
    assert.equal(r.stdout.trim(), 'closed', r.stderr);
    assert.equal(r.signal, null, 'killed by the timeout: something kept the event loop alive');
    assert.equal(r.status, 0, r.stderr);
  });
}
