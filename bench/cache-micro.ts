// Micro-benchmark of the blob cache, side by side with real peers in the same run.
//
//   node --import tsx bench/cache-micro.ts [--size MiB] [--work DIR] [--runs N] [--random N] [--only A,B,C]
//
// Upstream: Debian's docker-registry (distribution) on 127.0.0.1 serving a random blob placed
// straight into its storage, read through ocifs's own registry client (undici, keep-alive).
//   A. cold whole blob through the cache, each run in a fresh process and cache dir, including
//      flush and verification:
//        - streamRange (what `ocifs blob` and `prefetch` do: one GET, bytes to the consumer,
//          the data file and the hash as they arrive), per chunk size;
//        - the same bytes as 4 MiB reads (2 in flight: Range requests, readahead) for comparison;
//      peers: `curl -o /dev/null` (the network), `curl -o FILE` and `curl -o FILE; sync -d FILE`
//      (writing the bytes, durably: the floor of any on-disk cache on this disk), and the same
//      GET through ocifs's client to nowhere (the floor of Node + undici).
//   B. warm whole blob: streamRange and reads vs reading a local copy with the same reads, vs
//      `cat`; and copying the verified data file (openVerifiedFile) vs `cat`
//   C. 1,000 random 4 KiB reads of a cold blob per chunk size: bytes fetched / bytes asked
//   D. peak RSS of A
// CPU is user+system of the measured process (the hash worker and I/O threads included) and of
// the registry process (its share of serving). Times are medians of --runs; the load average is
// printed with each row (other work on the machine shows there). Work dir defaults to /var/tmp
// (a real disk: the cache's fdatasync costs are part of what is measured).
import { spawnSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { createWriteStream } from 'node:fs';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { BlobCache } from '../src/cache/index.js';
import type { ByteSource } from '../src/io/byte-source.js';
import { FileSource } from '../src/io/file-source.js';
import { IoStats } from '../src/io/io-stats.js';
import { readPieces } from '../src/io/read-stream.js';
import { RegistryClient } from '../src/registry/index.js';
import { startRegistry } from '../test/helpers/registry.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const CHUNK_SIZES = [64 * KiB, 256 * KiB, 1 * MiB, 4 * MiB];

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};

function seconds(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ')[0];

async function drain(src: ByteSource): Promise<void> {
  for await (const _ of readPieces(src, { pieceSize: 4 * MiB, readAhead: 2 }));
}

type Mode = 'stream' | 'reads' | 'net' | 'warm-stream' | 'warm-reads' | 'warm-file' | 'file' | 'random' | 'clustered';

interface ChildArgs {
  mode: Mode;
  host: string;
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
  if (a.mode === 'file') {
    const f = await FileSource.open(a.file!);
    const t0 = process.hrtime.bigint();
    await drain(f);
    out.seconds = seconds(t0);
    await f.close();
  } else {
    const stats = new IoStats();
    const client = new RegistryClient({ stats });
    const blobInfo = { digest: a.digest, size: a.size };
    const ref = `${a.host}/bench/blob@${a.digest}`;
    const t0 = process.hrtime.bigint();
    if (a.mode === 'net') {
      await client.blobSource(ref, blobInfo).streamRange(0, a.size, () => {});
    } else {
      const cache = await BlobCache.open(a.cacheDir, { chunkSize: a.chunkSize, stats });
      // onExtraBytes may run before the assignment: it must find the variable declared (no TDZ error).
      // eslint-disable-next-line prefer-const -- see above
      let src: Awaited<ReturnType<BlobCache['openBlob']>>;
      const up = client.blobSource(ref, blobInfo, { onExtraBytes: (o, b) => src.storeExtra(o, b) });
      src = await cache.openBlob(a.digest, a.size, up);
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
          if (a.mode === 'clustered' && r % 5 !== 0 && i > 0)
            off = Math.max(0, Math.min(a.size - 4096, off + (r % (1024 * 1024)) - 512 * 1024));
          else off = r % (a.size - 4096);
          await src.read(off, 4096);
        }
      } else if (a.mode === 'warm-file') {
        // What a whole-blob copy of a verified blob does: stream the data file itself.
        const fh = await src.openVerifiedFile();
        if (!fh) throw new Error('not verified');
        await pipeline(fh.createReadStream({ highWaterMark: 1024 * 1024 }), createWriteStream('/dev/null'));
      } else if (a.mode === 'stream' || a.mode === 'warm-stream') {
        await src.streamRange(0, a.size, () => {});
      } else {
        await drain(src);
      }
      await src.close(); // flush + claims
      out.complete = src.isComplete ? 1 : 0;
      await cache.close();
    }
    out.seconds = seconds(t0);
    out.fetched = stats.bytesFetched;
    out.requests = stats.requests;
    await client.close();
  }
  const cpu = process.cpuUsage();
  clearInterval(sampler);
  out.maxRssMiB = Math.max(peakRss, process.memoryUsage().rss) / MiB;
  // The whole process (module loading included: a few tenths of a second with tsx).
  out.cpuSeconds = (cpu.user + cpu.system) / 1e6;
  process.stdout.write(JSON.stringify(out) + '\n');
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
function procCpu(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** The registry process serving `dataDir` (its config sits next to it). */
async function registryPid(dataDir: string): Promise<number> {
  const config = join(dirname(dataDir), 'config.yml');
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmd = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(config)) return Number(name);
  }
  throw new Error('registry process not found');
}

let regPid = 0;

function runChild(a: ChildArgs): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const r0 = procCpu(regPid);
    const p = spawn(process.execPath, ['--import', 'tsx', import.meta.filename, '--child', JSON.stringify(a)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let s = '';
    p.stdout.on('data', (b: Buffer) => (s += b.toString()));
    p.on('close', (code) => {
      if (code !== 0) return reject(new Error(`child failed: ${code}`));
      resolve({
        ...(JSON.parse(s.trim().split('\n').at(-1)!) as Record<string, number>),
        regCpu: procCpu(regPid) - r0,
      });
    });
  });
}

/** Runs a command; wall seconds, CPU seconds (user + system, from /usr/bin/time) and the registry's CPU. */
function timeCmd(cmd: string, argv: string[]): { wall: number; cpu: number; regCpu: number } {
  const r0 = procCpu(regPid);
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S', cmd, ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
  const wall = seconds(t0);
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr.toString()}`);
  const [u, sy] = r.stderr.toString().trim().split('\n').at(-1)!.split(' ').map(Number);
  return { wall, cpu: u + sy, regCpu: procCpu(regPid) - r0 };
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
  const only = new Set(opt('only', 'A,B,C').split(','));
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true, mode: 0o700 });
  const reg = await startRegistry();
  try {
    regPid = await registryPid(reg.dataDir);
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
    const base = { host: reg.host, digest, size };
    const mibs = (s: number) => `${(size / MiB / s).toFixed(0)} MiB/s`;
    const cpuNote = (own: number, regCpu: number) => `cpu ${own.toFixed(2)} s + registry ${regCpu.toFixed(2)} s`;
    const curlFile = join(work, 'curl-out');
    const peer = (name: string, argv: string[]) => {
      const t: { wall: number; cpu: number; regCpu: number }[] = [];
      for (let r = 0; r < runs; r++) {
        spawnSync('rm', ['-f', curlFile]);
        t.push(timeCmd(argv[0], argv.slice(1)));
      }
      spawnSync('rm', ['-f', curlFile]);
      const w = median(t.map((x) => x.wall));
      rows.push([
        `  peer: ${name}`,
        mibs(w),
        '',
        '',
        `${cpuNote(median(t.map((x) => x.cpu)), median(t.map((x) => x.regCpu)))}, load ${load()}`,
      ]);
      return w;
    };

    if (only.has('A')) {
      const curl = peer('curl -o /dev/null', ['curl', '-sf', '-o', '/dev/null', url]);
      peer('curl -o FILE', ['curl', '-sf', '-o', curlFile, url]);
      peer('curl -o FILE; sync -d FILE', ['sh', '-c', `curl -sf -o '${curlFile}' '${url}' && sync -d '${curlFile}'`]);
      const measure = async (label: string, mode: Mode, cs: number, keep?: string) => {
        const t: Record<string, number>[] = [];
        for (let r = 0; r < runs; r++) {
          const dir = join(work, `cold-${mode}-${cs}-${r}`);
          const res = await runChild({ ...base, mode, cacheDir: dir, chunkSize: cs });
          if (res.fetched < size || (mode !== 'net' && res.complete !== 1))
            throw new Error(`${label}: fetched ${res.fetched}, complete ${res.complete}`);
          t.push(res);
          if (keep && r === runs - 1)
            await rm(keep, { recursive: true, force: true }).then(() => spawnSync('mv', [dir, keep]));
          else await rm(dir, { recursive: true, force: true });
        }
        const s = median(t.map((x) => x.seconds));
        const rss = Math.max(...t.map((x) => x.maxRssMiB));
        rows.push([
          label,
          mibs(s),
          `curl ${mibs(curl)}`,
          (s / curl).toFixed(2),
          `${cpuNote(median(t.map((x) => x.cpuSeconds)), median(t.map((x) => x.regCpu)))}, ${median(t.map((x) => x.requests))} requests, peak RSS ${rss.toFixed(0)} MiB, load ${load()}`,
        ]);
      };
      await measure('A ocifs client GET to nowhere (no cache)', 'net', 256 * KiB);
      for (const cs of CHUNK_SIZES)
        await measure(
          `A cold streamRange, chunk ${cs / KiB} KiB`,
          'stream',
          cs,
          cs === 256 * KiB ? join(work, 'warm') : undefined,
        );
      await measure('A cold 4 MiB reads, chunk 256 KiB', 'reads', 256 * KiB);
      rows.push(['  (process CPU includes module loading through tsx, ~0.3-0.5 s)', '', '', '', '']);
    }

    if (only.has('B')) {
      // The 256 KiB cache kept from A (or made here).
      const warmDir = join(work, 'warm');
      if (!only.has('A')) await runChild({ ...base, mode: 'stream', cacheDir: warmDir, chunkSize: 256 * KiB });
      const t: Record<string, number[]> = { 'warm-stream': [], 'warm-reads': [], 'warm-file': [], file: [], cat: [] };
      for (let r = 0; r < runs; r++) {
        for (const mode of ['warm-stream', 'warm-reads', 'warm-file', 'file'] as const) {
          t[mode].push(
            (await runChild({ ...base, mode, cacheDir: warmDir, chunkSize: 256 * KiB, file: localCopy })).seconds,
          );
        }
        t.cat.push(timeCmd('sh', ['-c', `cat '${localCopy}' > /dev/null`]).wall);
      }
      const cat = median(t.cat);
      const file = median(t.file);
      for (const [mode, label] of [
        ['warm-stream', 'B warm streamRange'],
        ['warm-reads', 'B warm 4 MiB reads'],
        ['warm-file', 'B warm openVerifiedFile stream'],
      ] as const) {
        const s = median(t[mode]);
        rows.push([
          `${label} vs cat`,
          mibs(s),
          `cat ${mibs(cat)}`,
          (s / cat).toFixed(2),
          `same reads of a local file (FileSource) ${mibs(file)}; load ${load()}`,
        ]);
      }
    }

    if (only.has('C')) {
      // Random 4 KiB reads of a cold blob (uniform, and clustered).
      for (const [mode, cs] of CHUNK_SIZES.flatMap(
        (c) =>
          [
            ['random', c],
            ['clustered', c],
          ] as const,
      )) {
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
