// Micro-benchmark of the blob cache, side by side with real peers in the same run.
//
//   node --import tsx bench/cache-micro.ts [--size MiB] [--work DIR] [--runs N] [--random N]
//
// Upstream: Debian's docker-registry (distribution) on 127.0.0.1 serving a random blob placed
// straight into its storage; the cache reads it with Range GETs over undici (keep-alive).
//   A. cold sequential read of the whole blob (4 MiB reads, 2 in flight) per chunk size, each
//      in a fresh process and cache dir, including flush and verification, vs `curl -o /dev/null`
//   B. warm sequential read vs reading a local copy with the same reads (FileSource) and vs `cat`;
//      and streaming the verified data file (openVerifiedFile) vs `cat`
//   C. 1,000 random 4 KiB reads of a cold blob per chunk size: bytes fetched / bytes asked
//   D. peak RSS of A
// Prints a table of ratios (ocifs / peer). Work dir defaults to /var/tmp (a real disk: the
// cache's fdatasync costs are part of what is measured).
import { spawnSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Agent, request } from 'undici';
import { BlobCache } from '../src/cache/index.js';
import type { ByteSource, ReadOptions } from '../src/io/byte-source.js';
import { clampRead } from '../src/io/check-range.js';
import { FileSource } from '../src/io/file-source.js';
import { readPieces } from '../src/io/read-stream.js';
import { startRegistry } from '../test/helpers/registry.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const CHUNK_SIZES = [64 * KiB, 256 * KiB, 1 * MiB, 4 * MiB];

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};

/** Range reads over undici, like the registry client does (status and Content-Range checked). */
class UndiciSource implements ByteSource {
  private readonly dispatcher = new Agent({ keepAliveTimeout: 30_000, connections: 16 });
  bytes = 0;
  requests = 0;
  constructor(
    readonly url: string,
    readonly size: number,
  ) {}
  async read(offset: number, length: number, options: ReadOptions = {}): Promise<Uint8Array> {
    const n = clampRead(offset, length, this.size);
    this.requests++;
    const res = await request(this.url, { dispatcher: this.dispatcher, headers: { range: `bytes=${offset}-${offset + n - 1}` }, signal: options.signal });
    if (res.statusCode !== 206 || res.headers['content-range'] !== `bytes ${offset}-${offset + n - 1}/${this.size}`) {
      await res.body.dump();
      throw new Error(`unexpected ${res.statusCode} ${String(res.headers['content-range'])}`);
    }
    const out = new Uint8Array(n);
    let got = 0;
    for await (const b of res.body as AsyncIterable<Buffer>) {
      if (got + b.length > n) throw new Error('long body');
      out.set(b, got);
      got += b.length;
    }
    if (got !== n) throw new Error('short body');
    this.bytes += n;
    return out;
  }
  close(): Promise<void> {
    return this.dispatcher.close();
  }
}

function seconds(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function drain(src: ByteSource): Promise<void> {
  for await (const p of readPieces(src, { pieceSize: 4 * MiB, readAhead: 2 })) void p;
}

interface ChildArgs {
  mode: 'cold' | 'warm' | 'warm-file' | 'file' | 'random' | 'clustered';
  url: string;
  digest: string;
  size: number;
  cacheDir: string;
  chunkSize: number;
  file?: string;
  random?: number;
}

/** Runs one measurement in this (child) process and prints a JSON line. */
async function child(a: ChildArgs): Promise<void> {
  const out: Record<string, number> = {};
  // Peak RSS by sampling: getrusage's maxRSS of a spawned child includes the parent's memory
  // at fork time (Linux keeps it across exec), and this parent holds the whole blob.
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 10);
  let cpu0 = process.cpuUsage();
  if (a.mode === 'file') {
    const f = await FileSource.open(a.file!);
    const t0 = process.hrtime.bigint();
    await drain(f);
    out.seconds = seconds(t0);
    await f.close();
  } else {
    const up = new UndiciSource(a.url, a.size);
    const cache = await BlobCache.open(a.cacheDir, { chunkSize: a.chunkSize });
    const src = await cache.openBlob(a.digest, a.size, up);
    cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    if (a.mode === 'random' || a.mode === 'clustered') {
      // clustered: 4 reads in 5 land within 512 KiB of the previous one (metadata, small files
      // of one directory); the rest anywhere.
      let x = 2463534242;
      let off = 0;
      for (let i = 0; i < a.random!; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        const r = x >>> 0;
        if (a.mode === 'clustered' && r % 5 !== 0 && i > 0) off = Math.max(0, Math.min(a.size - 4096, off + (r % (1024 * 1024)) - 512 * 1024));
        else off = r % (a.size - 4096);
        await src.read(off, 4096);
      }
    } else if (a.mode === 'warm-file') {
      // What a whole-blob copy of a verified blob can do: stream the data file itself.
      const fh = await src.openVerifiedFile();
      if (!fh) throw new Error('not verified');
      await pipeline(fh.createReadStream({ highWaterMark: 1024 * 1024 }), createWriteStream('/dev/null'));
    } else {
      await drain(src);
    }
    await src.close(); // flush + claims
    out.seconds = seconds(t0);
    out.fetched = up.bytes;
    out.requests = up.requests;
    out.complete = src.isComplete ? 1 : 0;
    await cache.close();
    await up.close();
  }
  const cpu = process.cpuUsage(cpu0);
  clearInterval(sampler);
  out.maxRssMiB = Math.max(peakRss, process.memoryUsage().rss) / MiB;
  out.cpuSeconds = (cpu.user + cpu.system) / 1e6;
  process.stdout.write(JSON.stringify(out) + '\n');
}

function runChild(a: ChildArgs): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', import.meta.filename, '--child', JSON.stringify(a)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let s = '';
    p.stdout.on('data', (b: Buffer) => (s += b.toString()));
    p.on('close', (code) => (code === 0 ? resolve(JSON.parse(s.trim().split('\n').at(-1)!)) : reject(new Error(`child failed: ${code}`))));
  });
}

/** Runs a command; wall seconds and CPU seconds (user + system, from /usr/bin/time). */
function timeCmd(cmd: string, argv: string[]): number {
  return timeCmdCpu(cmd, argv).wall;
}

function timeCmdCpu(cmd: string, argv: string[]): { wall: number; cpu: number } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S', cmd, ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
  const wall = seconds(t0);
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr.toString()}`);
  const [u, sy] = r.stderr.toString().trim().split('\n').at(-1)!.split(' ').map(Number);
  return { wall, cpu: u + sy };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main(): Promise<void> {
  const ci = args.indexOf('--child');
  if (ci >= 0) return child(JSON.parse(args[ci + 1]) as ChildArgs);
  const size = Number(opt('size', '256')) * MiB;
  const work = opt('work', '/var/tmp/ocifs-cache-bench');
  const runs = Number(opt('runs', '3'));
  const randomReads = Number(opt('random', '1000'));
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true, mode: 0o700 });
  const reg = await startRegistry();
  try {
    // A random blob, placed straight into the registry's storage and linked into a repository.
    const blob = randomBytes(size);
    const hex = createHash('sha256').update(blob).digest('hex');
    const digest = `sha256:${hex}`;
    const blobDir = join(reg.dataDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex);
    await mkdir(blobDir, { recursive: true });
    await writeFile(join(blobDir, 'data'), blob);
    const linkDir = join(reg.dataDir, 'docker/registry/v2/repositories/bench/blob/_layers/sha256', hex);
    await mkdir(linkDir, { recursive: true });
    await writeFile(join(linkDir, 'link'), digest);
    const localCopy = join(work, 'blob');
    await writeFile(localCopy, blob);
    const url = `${reg.url}/v2/bench/blob/blobs/${digest}`;
    timeCmd('curl', ['-sf', '-o', '/dev/null', url]); // warm the registry's page cache
    const rows: string[][] = [];
    const base = { url, digest, size };

    // A + D: cold sequential per chunk size vs curl, each in a fresh process and cache.
    for (const cs of CHUNK_SIZES) {
      const ours: number[] = [];
      const curl: number[] = [];
      const oursCpu: number[] = [];
      const curlCpu: number[] = [];
      let rss = 0;
      for (let r = 0; r < runs; r++) {
        const t = timeCmdCpu('curl', ['-sf', '-o', '/dev/null', url]);
        curl.push(t.wall);
        curlCpu.push(t.cpu);
        const dir = join(work, `cold-${cs}-${r}`);
        const res = await runChild({ ...base, mode: 'cold', cacheDir: dir, chunkSize: cs });
        if (res.fetched !== size || res.complete !== 1) throw new Error(`cold read fetched ${res.fetched}, complete ${res.complete}`);
        ours.push(res.seconds);
        oursCpu.push(res.cpuSeconds);
        rss = Math.max(rss, res.maxRssMiB);
        if (r < runs - 1 || cs !== 256 * KiB) await rm(dir, { recursive: true, force: true });
      }
      const o = median(ours);
      const c = median(curl);
      rows.push([
        `A cold sequential, chunk ${cs / KiB} KiB`,
        `${(size / MiB / o).toFixed(0)} MiB/s`,
        `curl ${(size / MiB / c).toFixed(0)} MiB/s`,
        (o / c).toFixed(2),
        `cpu ${median(oursCpu).toFixed(2)} s vs curl ${median(curlCpu).toFixed(2)} s peak RSS ${rss.toFixed(0)} MiB (tsx loaded: ~75 MiB of it)`,
      ]);
    }

    // B: warm sequential (the 256 KiB cache kept from A) vs the same reads of a local file, vs cat.
    const warmDir = join(work, `cold-${256 * KiB}-${runs - 1}`);
    const warm: number[] = [];
    const warmFile: number[] = [];
    const file: number[] = [];
    const cat: number[] = [];
    for (let r = 0; r < runs; r++) {
      warm.push((await runChild({ ...base, mode: 'warm', cacheDir: warmDir, chunkSize: 256 * KiB })).seconds);
      warmFile.push((await runChild({ ...base, mode: 'warm-file', cacheDir: warmDir, chunkSize: 256 * KiB })).seconds);
      file.push((await runChild({ ...base, mode: 'file', cacheDir: warmDir, chunkSize: 256 * KiB, file: localCopy })).seconds);
      cat.push(timeCmd('sh', ['-c', `cat '${localCopy}' > /dev/null`]));
    }
    const w = median(warm);
    rows.push(['B warm sequential vs FileSource (same reads)', `${(size / MiB / w).toFixed(0)} MiB/s`, `fs ${(size / MiB / median(file)).toFixed(0)} MiB/s`, (w / median(file)).toFixed(2), '']);
    rows.push(['B warm sequential vs cat', `${(size / MiB / w).toFixed(0)} MiB/s`, `cat ${(size / MiB / median(cat)).toFixed(0)} MiB/s`, (w / median(cat)).toFixed(2), '']);
    const wf = median(warmFile);
    rows.push(['B warm openVerifiedFile stream vs cat', `${(size / MiB / wf).toFixed(0)} MiB/s`, `cat ${(size / MiB / median(cat)).toFixed(0)} MiB/s`, (wf / median(cat)).toFixed(2), 'to /dev/null']);

    // C: random 4 KiB reads of a cold blob (uniform, and clustered).
    for (const [mode, cs] of CHUNK_SIZES.flatMap((c) => [['random', c], ['clustered', c]] as const)) {
      const dir = join(work, `random-${cs}`);
      const res = await runChild({ ...base, mode, cacheDir: dir, chunkSize: cs, random: randomReads });
      const asked = randomReads * 4096;
      rows.push([
        `C ${randomReads} ${mode} 4 KiB reads, chunk ${cs / KiB} KiB`,
        `${((res.seconds * 1000) / randomReads).toFixed(2)} ms/read`,
        `${res.requests} requests`,
        `fetched/asked ${(res.fetched / asked).toFixed(1)}`,
        '',
      ]);
      await rm(dir, { recursive: true, force: true });
    }

    const widths = [0, 1, 2, 3, 4].map((i) => Math.max(...rows.map((r) => r[i].length), 8));
    console.log(`blob ${size / MiB} MiB, ${runs} runs (median); ratio = ocifs time / peer time`);
    console.log(['measure', 'ocifs', 'peer', 'ratio', 'note'].map((h, i) => h.padEnd(widths[i])).join('  '));
    for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i])).join('  '));
  } finally {
    await reg.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();

