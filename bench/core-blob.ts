// Benchmark of the core (issue 2): a ≥ 512 MiB random blob in a local distribution registry,
// ocifs against curl, cat and itself, all measured in this run.
//   (a) cold full read `ocifs blob` to /dev/null vs `curl` of the same blob     target ≤ 1.25
//   (b) warm full read vs `cat` of a local copy                                 target ≤ 1.5
//   (c) 1,000 random 4 KiB reads: bytes fetched / bytes asked, per chunk size
//   (d) 8 processes reading the same cold 64 MiB range at once: fetched / 64 MiB  target ≤ 2
//       and 8 concurrent readers inside one process                              target = 1
//   (e) peak RSS of (a)                                                          target < 200 MiB
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { startRegistry, skopeoPush } from '../test/helpers/registry.js';
import { writeImageLayout } from '../test/helpers/oci-layout.js';
import {
  atMost,
  best,
  dropCaches,
  fmtMiB,
  fmtS,
  MiB,
  ocifs,
  printTable,
  ROOT,
  saveResults,
  timed,
  timedShell,
  type Row,
} from './lib/measure.js';

export interface CoreBenchOptions {
  /** Blob size in MiB (default 512). */
  sizeMiB?: number;
  /** Runs per measurement; the best is kept (default 3). */
  runs?: number;
  /** Where the blob, its local copy and the caches live (a real disk, default /var/tmp). */
  work?: string;
}

export async function runCoreBench(options: CoreBenchOptions = {}): Promise<Row[]> {
  const size = (options.sizeMiB ?? 512) * MiB;
  const runs = options.runs ?? 3;
  const work = await mkdtemp(join(options.work ?? '/var/tmp', 'ocifs-bench-core-'));
  const reg = await startRegistry();
  const rows: Row[] = [];
  try {
    process.stderr.write(`core: writing and pushing a ${fmtMiB(size)} random blob…\n`);
    const blob = randomBytes(size);
    const local = join(work, 'blob.bin');
    await writeFile(local, blob);
    const digest = 'sha256:' + createHash('sha256').update(blob).digest('hex');
    await writeImageLayout(
      join(work, 'layout'),
      { layers: [{ bytes: blob, mediaType: 'application/octet-stream' }] },
      'v1',
    );
    await skopeoPush(join(work, 'layout'), 'v1', `${reg.host}/bench/blob:v1`);
    const ref = `${reg.host}/bench/blob:v1`;
    const url = `${reg.url}/v2/bench/blob/blobs/${digest}`;
    let n = 0;
    const freshCache = () => join(work, `cache-${n++}`);

    // (a) cold full read vs curl, and (e) its peak RSS.
    // Both sides start from a dropped page cache, so both make the registry read the blob from
    // disk (curl once ran page-cache-hot against ocifs's dropped caches).
    const curl = await best(runs, () => timed('curl', ['-sf', '-o', '/dev/null', url]), dropCaches);
    const cold = await best(
      runs,
      () => ocifs(['blob', ref, '--layer', '0', '-o', '/dev/null'], { OCIFS_CACHE_DIR: freshCache() }),
      dropCaches,
    );
    const coldRatio = cold.seconds / curl.seconds;
    rows.push({
      metric: '(a) cold full read to /dev/null',
      ocifs: fmtS(cold.seconds),
      peer: `curl ${fmtS(curl.seconds)}`,
      ratio: coldRatio,
      ...atMost(coldRatio, 1.25),
      data: { ocifs: cold.seconds, curl: curl.seconds, bytes: size },
    });
    // The cold read also makes the blob durable in the cache (fdatasync before a chunk is marked
    // present), which curl -o /dev/null does not: the same download kept durably, for scale.
    const curlOut = join(work, 'curl.out');
    const curlDurable = await best(
      runs,
      () => timedShell(`curl -sf -o ${curlOut} ${url} && sync ${curlOut}`),
      async () => {
        await rm(curlOut, { force: true });
        await dropCaches();
      },
    );
    await rm(curlOut, { force: true });
    const durableRatio = cold.seconds / curlDurable.seconds;
    rows.push({
      metric: '(a) same, peer keeping the blob durably',
      ocifs: fmtS(cold.seconds),
      peer: `curl -o FILE && sync FILE ${fmtS(curlDurable.seconds)}`,
      ratio: durableRatio,
      data: { ocifs: cold.seconds, curlDurable: curlDurable.seconds },
    });

    // (b) warm full read vs cat of a local copy (both from the page cache).
    const warmDir = freshCache();
    await ocifs(['prefetch', ref], { OCIFS_CACHE_DIR: warmDir });
    await timedShell(`cat ${local} > /dev/null`);
    const cat = await best(runs, () => timedShell(`cat ${local} > /dev/null`));
    const warm = await best(runs, () =>
      ocifs(['blob', ref, '--layer', '0', '-o', '/dev/null'], { OCIFS_CACHE_DIR: warmDir }),
    );
    const warmRatio = warm.seconds / cat.seconds;
    rows.push({
      metric: '(b) warm full read to /dev/null',
      ocifs: fmtS(warm.seconds),
      peer: `cat ${fmtS(cat.seconds)}`,
      ratio: warmRatio,
      ...atMost(warmRatio, 1.5),
      data: { ocifs: warm.seconds, cat: cat.seconds, fetched: warm.stats.bytesFetched },
    });

    // (c) 1,000 random 4 KiB reads per chunk size.
    for (const chunk of [64 * 1024, 256 * 1024, 1 * MiB, 4 * MiB]) {
      const r = await timed(
        process.execPath,
        [
          '--import',
          'tsx',
          join(ROOT, 'bench/lib/blob-reads.ts'),
          'random',
          ref,
          freshCache(),
          String(chunk),
          '1000',
          '42',
        ],
        { keepStdout: true, cwd: ROOT },
      );
      const j = JSON.parse(r.stdout.toString()) as {
        blobBytesFetched: number;
        asked: number;
        seconds: number;
        requests: number;
      };
      const ratio = j.blobBytesFetched / j.asked;
      rows.push({
        metric: `(c) 1000 random 4 KiB reads, chunk ${chunk / 1024} KiB`,
        ocifs: `${fmtMiB(j.blobBytesFetched)} in ${fmtS(j.seconds)}`,
        peer: `asked ${fmtMiB(j.asked)}`,
        ratio,
        data: { chunk, ...j },
      });
    }

    // (d) 8 processes at once on the same cold 64 MiB range, one cache.
    const range = 64 * MiB;
    const openCost = (await ocifs(['inspect', ref], { OCIFS_CACHE_DIR: freshCache() })).stats.bytesFetched;
    const shared = freshCache();
    const procs = await Promise.all(
      Array.from({ length: 8 }, () =>
        ocifs(['blob', ref, '--layer', '0', '--range', `0-${range - 1}`, '-o', '/dev/null'], {
          OCIFS_CACHE_DIR: shared,
        }),
      ),
    );
    const fetched = procs.reduce((s, p) => s + p.stats.bytesFetched - openCost, 0);
    const procRatio = fetched / range;
    rows.push({
      metric: '(d) 8 processes, same cold 64 MiB range',
      ocifs: fmtMiB(fetched),
      peer: 'range 64.00 MiB',
      ratio: procRatio,
      ...atMost(procRatio, 2),
      data: { fetched, perProcess: procs.map((p) => p.stats.bytesFetched - openCost) },
    });
    const inproc = await timed(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'bench/lib/blob-reads.ts'), 'concurrent', ref, freshCache(), '8', String(range)],
      { keepStdout: true, cwd: ROOT },
    );
    const ij = JSON.parse(inproc.stdout.toString()) as { blobBytesFetched: number };
    const inRatio = ij.blobBytesFetched / range;
    rows.push({
      metric: '(d) 8 readers in one process, same range',
      ocifs: fmtMiB(ij.blobBytesFetched),
      peer: 'range 64.00 MiB',
      ratio: inRatio,
      target: '= 1',
      ok: inRatio === 1,
      data: ij,
    });

    // (e) peak RSS of (a).
    const rss = cold.stats.maxRssBytes;
    rows.push({
      metric: '(e) peak RSS of (a)',
      ocifs: fmtMiB(rss),
      peer: 'limit 200 MiB',
      ratio: rss / (200 * MiB),
      target: '< 200 MiB',
      ok: rss < 200 * MiB,
      data: { maxRssBytes: rss },
    });
  } finally {
    await reg.stop();
    await rm(work, { recursive: true, force: true });
  }
  printTable(`Core: ${options.sizeMiB ?? 512} MiB random blob in a local registry`, rows);
  process.stderr.write(`results: ${await saveResults('core-blob', rows, { sizeMiB: options.sizeMiB ?? 512 })}\n`);
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  await runCoreBench({
    sizeMiB: Number(arg('size') ?? 512),
    runs: Number(arg('runs') ?? 3),
    ...(arg('work') ? { work: arg('work') } : {}),
  });
}
