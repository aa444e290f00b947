// Child for cache-hash-worker.test.ts: starts the hash worker (idle, or through a cache whose
// blob is big enough), closes everything, and must then exit by itself (no process.exit()).
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobCache } from '../../src/cache/index.js';
import { newHashState } from '../../src/cache/hash-state.js';
import { MemorySource } from '../../src/io/index.js';
import { patternBytes } from './cache-sources.js';

async function useCache(full: boolean): Promise<void> {
  const size = 16 * 1024 * 1024;
  const blob = patternBytes(size, 5);
  const digest = 'sha256:' + createHash('sha256').update(blob).digest('hex');
  const dir = await mkdtemp(join(tmpdir(), 'ocifs-cache-exit-'));
  const cache = await BlobCache.open(dir, { chunkSize: 64 * 1024 });
  const src = await cache.openBlob(digest, size, new MemorySource(blob));
  for (let i = 0; i < 50; i++) await src.read(size / 2 + i * 100_000, 4096);
  if (full) await src.read(0, size);
  await src.close();
  await cache.close();
  await rm(dir, { recursive: true, force: true });
}

const mode = process.argv[2];
if (mode === 'idle-worker') {
  // The worker started and never used: the bare case of the hang.
  newHashState('sha256', 1 << 30).dispose();
} else {
  await useCache(mode === 'full');
}
process.stdout.write('closed\n');
