// A short run of scripts/fuzz-tar.ts (the long run: `node --import tsx scripts/fuzz-tar.ts`):
// mutated GNU tar archives and gzip streams end in success or a typed error, never a crash,
// and accepted gzip streams decode exactly as zlib decodes them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runTarFuzz } from '../../scripts/fuzz-tar.js';

test('fuzz: tar headers, tar filesystem and the gzip pass survive mutated input', async () => {
  const r = await runTarFuzz({ iterations: 1500, seed: 20251129 });
  assert.deepEqual(r.failures, []);
  assert.ok(r.accepted > 100 && (r.refused.ERR_OCIFS_CORRUPT_TAR ?? 0) > 100, JSON.stringify(r));
});
