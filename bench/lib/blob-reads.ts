// Child process of the core benchmark: reads a blob through the library and prints one JSON
// line with the blob bytes fetched (network bytes after the image was opened).
//   node --import tsx bench/lib/blob-reads.ts random REF CACHE_DIR CHUNK_SIZE COUNT SEED
//   node --import tsx bench/lib/blob-reads.ts concurrent REF CACHE_DIR READERS LENGTH
import { openImage } from '../../src/image/index.js';
import { IoStats } from '../../src/io/io-stats.js';
import { mulberry32 as rng } from '../../test/helpers/prng.js';

const [mode, ref, cacheDir, a, b, c] = process.argv.slice(2);
const stats = new IoStats();

const image = await openImage(ref, { cacheDir, stats, ...(mode === 'random' ? { chunkSize: Number(a) } : {}) });
try {
  const blob = await image.openBlob({ layer: 0 });
  const before = stats.bytesFetched;
  const t0 = performance.now();
  let asked = 0;
  if (mode === 'random') {
    const next = rng(Number(c));
    for (let i = 0; i < Number(b); i++) {
      const off = Math.floor(next() * (blob.size - 4096));
      await blob.read(off, 4096);
      asked += 4096;
    }
  } else {
    const length = Number(b);
    const reads = Array.from({ length: Number(a) }, () => blob.read(0, length));
    for (const r of await Promise.all(reads)) if (r.byteLength !== length) throw new Error('short read');
    asked = length;
  }
  const seconds = (performance.now() - t0) / 1000;
  process.stdout.write(
    JSON.stringify({ blobBytesFetched: stats.bytesFetched - before, asked, seconds, requests: stats.requests }) + '\n',
  );
} finally {
  await image.close();
}
