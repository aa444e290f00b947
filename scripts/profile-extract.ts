// A quick loop for tuning `extractTree` over an EROFS image file: opens the image (optionally
// through a counting wrapper), extracts it into DEST, and prints wall and CPU time (user+sys of
// this process, all threads), the reads the reader made, and the extract result. Run it under
// `node --cpu-prof` or `perf record` to see where the time goes; compare with
// `/usr/bin/time fsck.erofs --extract=DEST IMAGE` on the same image.
//
//   node --import tsx scripts/profile-extract.ts IMAGE DEST [--count] [--no-spans] [--concurrency N] [--prefetch N] [--runs N] [--meta-mib N] [--keep] [--alloc]
//
// --count      wrap the image in a source that counts reads (and hides fileSpans unless --spans)
// --no-spans   hide the image's fileSpans: every byte goes through read (the pre-copy path)
// DEST is removed before each run and after the last (unless --keep).
import { readFile, rm } from 'node:fs/promises';
import type { ByteSource, FileSpan, ReadOptions } from '../src/io/byte-source.js';
import { FileSource } from '../src/io/file-source.js';
import { openErofs } from '../src/erofs/index.js';
import { extractTree } from '../src/extract/extract.js';

const args = process.argv.slice(2);
const [image, dest] = args;
if (!image || !dest)
  throw new Error('usage: profile-extract.ts IMAGE DEST [--count] [--no-spans] [--concurrency N] [--runs N]');
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};

/** Counts reads (and distinct 4 KiB pages read); passes fileSpans through unless told not to. */
class Counting implements ByteSource {
  reads = 0;
  bytes = 0;
  spanCalls = 0;
  readonly pages = new Set<number>();
  constructor(
    private readonly inner: FileSource,
    private readonly spans: boolean,
  ) {}
  get size(): number {
    return this.inner.size;
  }
  read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    this.reads++;
    this.bytes += length;
    for (let p = Math.floor(offset / 4096); p * 4096 < offset + length; p++) this.pages.add(p);
    return this.inner.read(offset, length, options);
  }
  fileSpans(offset: number, length: number, options?: ReadOptions): Promise<FileSpan[] | undefined> {
    this.spanCalls++;
    return this.spans ? this.inner.fileSpans(offset, length, options) : Promise.resolve(undefined);
  }
}

/** CPU seconds (user+sys) of this process's main thread so far, from /proc (Linux). */
async function mainThreadCpu(): Promise<number> {
  try {
    const f = (await readFile(`/proc/self/task/${process.pid}/stat`, 'utf8')).split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

// --alloc: sample allocations (including objects the GC already collected) and print the
// functions that allocate the most bytes.
const alloc = args.includes('--alloc') ? new (await import('node:inspector')).Session() : undefined;
const post = (method: string, params?: object) =>
  new Promise<any>((resolve, reject) =>
    alloc!.post(method, params ?? {}, (err, r) => (err ? reject(err) : resolve(r))),
  );
if (alloc) {
  alloc.connect();
  await post('HeapProfiler.startSampling', {
    samplingInterval: 16384,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
}

const runs = Number(opt('runs') ?? 1);
for (let r = 0; r < runs; r++) {
  await rm(dest, { recursive: true, force: true });
  const file = await FileSource.open(image);
  const counting =
    args.includes('--count') || args.includes('--no-spans')
      ? new Counting(file, !args.includes('--no-spans'))
      : undefined;
  const cpu0 = process.cpuUsage();
  const main0 = await mainThreadCpu();
  const t0 = performance.now();
  const meta = opt('meta-mib');
  const fs = await openErofs(counting ?? file, meta ? { metaCacheBytes: Number(meta) * 2 ** 20 } : {});
  const concurrency = opt('concurrency');
  const prefetch = opt('prefetch');
  const result = await extractTree(fs, dest, {
    ...(concurrency ? { concurrency: Number(concurrency) } : {}),
    ...(prefetch ? { prefetch: Number(prefetch) } : {}),
  });
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const mainCpu = (await mainThreadCpu()) - main0;
  await file.close();
  console.log(
    `run ${r + 1}: ${(wall / 1000).toFixed(3)} s wall, ${(cpu.user / 1e6).toFixed(3)} user + ${(cpu.system / 1e6).toFixed(3)} sys; ` +
      `main thread ${mainCpu.toFixed(2)} s; ` +
      `${result.files} files, ${(result.bytes / 2 ** 20).toFixed(1)} MiB, ${result.entries} entries` +
      (counting
        ? `; reads ${counting.reads} (${(counting.bytes / 2 ** 20).toFixed(1)} MiB, ${counting.pages.size} distinct pages), fileSpans calls ${counting.spanCalls}`
        : ''),
  );
}
if (!args.includes('--keep')) await rm(dest, { recursive: true, force: true });
if (alloc) {
  const { profile } = await post('HeapProfiler.stopSampling');
  const by = new Map<string, number>();
  const visit = (n: any) => {
    const k = `${n.callFrame.functionName || '(anonymous)'} ${String(n.callFrame.url).split('/').slice(-2).join('/')}:${n.callFrame.lineNumber + 1}`;
    by.set(k, (by.get(k) ?? 0) + n.selfSize);
    for (const c of n.children ?? []) visit(c);
  };
  visit(profile.head);
  const total = [...by.values()].reduce((a, b) => a + b, 0);
  console.log(`allocated (sampled) ${(total / 2 ** 20).toFixed(0)} MiB; by function:`);
  for (const [k, v] of [...by].sort((a, b) => b[1] - a[1]).slice(0, 30))
    console.log(`${(v / 2 ** 20).toFixed(1).padStart(8)} MiB  ${k}`);
}
