// A short run of the cache soak (scripts/soak-cache.ts runs it for minutes): child processes
// filling, streaming, randomly reading and gc-ing shared blobs while some are killed -9.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { soakCache } from '../helpers/cache-soak.js';

test('cache soak: concurrent fills, reads and gc across processes with random kill -9', async () => {
  const r = await soakCache({
    seconds: Number(process.env.OCIFS_CACHE_SOAK_SECONDS ?? 20),
    procs: 4,
    blobs: 2,
    blobBytes: 16 * 1024 * 1024,
  });
  console.log(JSON.stringify(r));
  assert.ok(r.rounds >= 2);
  assert.ok(r.reads > 0);
});
