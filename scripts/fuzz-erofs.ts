// Fuzzes the EROFS reader with mutated images: bit flips and field overwrites aimed at the
// metadata (superblock, inodes, xattrs, directory blocks, compression and chunk indexes), plus
// random flips and truncations, with the superblock checksum usually fixed up so mutants get
// past it. Every mutant is opened, walked and read completely in a worker thread; anything but an
// OcifsError is a bug, and so are a worker that runs past its time budget (a hang) or out of its
// heap limit. Failing images are saved for replay.
//
//   node --import tsx scripts/fuzz-erofs.ts [--count 10000] [--seed 1] [--workers 2]
//        [--budget-ms 20000] [--out /tmp/erofs-fuzz] [--no-mkfs] [--images DIR] [--replay FILE]
//
// Corpus: the EROFS fixture images (test/fixtures/erofs), (unless --no-mkfs) small images made
// with mkfs.erofs from a small tree in several layouts (small images fuzz fast), and every
// *.erofs in --images DIR (e.g. images of a newer mkfs.erofs with metabox, 48-bit or fragment
// layouts).
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { mkdtemp, mkdir, readFile, rm, writeFile, symlink } from 'node:fs/promises';
import { readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { MemorySource } from '../src/io/memory-source.js';
import { OcifsError } from '../src/errors.js';
import { openErofs, type ErofsFileSystem } from '../src/erofs/index.js';
import { crc32cUpdate } from '../src/erofs/crc32c.js';
import { EROFS_FIXTURES, fixturePath } from '../test/unit/erofs-helpers.js';

/** Limits of one exercise run, so a mutant claiming huge files or trees stays bounded. */
const MAX_ENTRIES = 100_000;
const MAX_DEPTH = 128;
const MAX_FILE_READ = 16 * 1024 * 1024;
const MAX_TOTAL_READ = 128 * 1024 * 1024;
const PIECE = 256 * 1024;

/** What one run of {@link exercise} saw. */
export interface ExerciseResult {
  /** Error codes of OcifsErrors met (expected on corrupt images). */
  codes: Record<string, number>;
  /** Non-OcifsError exceptions: bugs. */
  bugs: string[];
  entries: number;
  bytes: number;
}

/** Opens `image`, walks it, and reads everything, collecting errors instead of stopping at them. */
export async function exercise(image: Uint8Array): Promise<ExerciseResult> {
  const res: ExerciseResult = { codes: {}, bugs: [], entries: 0, bytes: 0 };
  const guard = async <T>(what: string, f: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await f();
    } catch (err) {
      if (err instanceof OcifsError) res.codes[err.code] = (res.codes[err.code] ?? 0) + 1;
      else res.bugs.push(`${what}: ${err instanceof Error ? err.stack : String(err)}`);
      return undefined;
    }
  };
  const fs = await guard('open', () =>
    openErofs(new MemorySource(image), { clusterCacheBytes: 4 << 20, metaCacheBytes: 2 << 20 }),
  );
  if (fs === undefined) return res;
  await guard('info', async () => fs.info());
  await guard('statfs', async () => fs.statfs());
  const seenDirs = new Set<number>();
  const seenFiles = new Set<number>();
  const visit = async (ino: number, depth: number): Promise<void> => {
    if (depth > MAX_DEPTH || seenDirs.has(ino)) return;
    seenDirs.add(ino);
    const names: { name: string; ino: number; type: string }[] = [];
    await guard('readdir', async () => {
      for await (const e of fs.readdir(ino)) {
        if (++res.entries > MAX_ENTRIES) return;
        names.push(e);
      }
    });
    for (const e of names) {
      if (res.entries > MAX_ENTRIES) return;
      await guard('lookup', () => fs.lookup(ino, e.name));
      await entry(fs, e.ino, e.type, depth);
    }
  };
  const entry = async (f: ErofsFileSystem, ino: number, type: string, depth: number): Promise<void> => {
    const st = await guard('getattr', () => f.stat(ino));
    await guard('listxattr', () => f.listxattr(ino));
    const t = st?.type ?? type;
    if (t === 'dir') return visit(ino, depth + 1);
    if (t === 'symlink') await guard('readlink', () => f.readlink(ino));
    if (t === 'file' && !seenFiles.has(ino)) {
      seenFiles.add(ino);
      await guard('read', async () => {
        const src = await f.openFile(ino);
        const n = Math.min(src.size, MAX_FILE_READ);
        for (let off = 0; off < n && res.bytes < MAX_TOTAL_READ; off += PIECE) {
          const b = await src.read(off, Math.min(PIECE, n - off));
          if (b.length !== Math.min(PIECE, n - off)) throw new Error(`short read ${b.length} at ${off}`);
          res.bytes += b.length;
        }
        // A few reads at odd offsets (the random-access paths).
        for (const off of [src.size - 1, Math.floor(src.size / 3), src.size >> 1]) {
          if (off >= 0 && off < src.size) await src.read(off, Math.min(70_000, src.size - off));
        }
      });
    }
  };
  await guard('walk', () => visit(fs.rootIno, 0));
  await guard('close', () => fs.close());
  return res;
}

// ---- mutation ----

/** xorshift32 with a 53-bit float helper. */
export class Rng {
  constructor(private s: number) {
    this.s = s >>> 0 || 1;
  }
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  int(n: number): number {
    return Math.floor((this.next() / 2 ** 32) * n);
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }
}

/** Byte ranges of an image that hold metadata, found by walking the clean image. */
export async function metadataRanges(image: Uint8Array): Promise<[number, number][]> {
  const ranges: [number, number][] = [[1024, 1024 + 256]];
  const fs = await openErofs(new MemorySource(image));
  const sb = fs.superblock;
  const bs = sb.blockSize;
  const seen = new Set<number>();
  const add = async (ino: number) => {
    if (seen.has(ino)) return;
    seen.add(ino);
    const st = await fs.stat(ino);
    const iloc = sb.metaBlkaddr * bs + Number(BigInt(st.erofs.nid) & ((1n << 63n) - 1n)) * 32;
    const isize = st.erofs.version === 'compact' ? 32 : 64;
    let extra = 0;
    if (st.erofs.layout.startsWith('compressed')) extra = 16 + Math.ceil(st.size / bs) * 8;
    else if (st.erofs.layout === 'chunk-based') extra = 8 + Math.ceil(st.size / (st.erofs.chunkSize ?? bs)) * 8;
    else if (st.erofs.layout === 'flat-inline') extra = st.size % bs || bs;
    ranges.push([iloc, Math.min(image.length, iloc + isize + st.erofs.xattrSize + Math.min(extra, 2 * bs))]);
    if (st.type === 'dir') {
      if (st.erofs.startBlock !== null)
        ranges.push([st.erofs.startBlock * bs, Math.min(image.length, st.erofs.startBlock * bs + st.size)]);
      for await (const e of fs.readdir(ino)) await add(e.ino);
    }
  };
  await add(fs.rootIno);
  if (sb.packedNid) await add(Number(sb.packedNid));
  if (sb.xattrBlkaddr) ranges.push([sb.xattrBlkaddr * bs, Math.min(image.length, sb.xattrBlkaddr * bs + 4 * bs)]);
  return ranges.filter(([a, b]) => b > a);
}

const INTERESTING = [
  0, 1, 2, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 4096, 12, 36,
];

/** Fixes the superblock crc32c of a (mutated) image in place, if it has the feature. */
export function fixChecksum(b: Uint8Array): void {
  if (b.length < 1024 + 128) return;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (!(dv.getUint32(1024 + 8, true) & 1)) return;
  const bits = b[1024 + 12];
  if (bits < 9 || bits > 16) return;
  const bs = 2 ** bits;
  const len = bs > 1024 ? bs - 1024 : bs;
  if (1024 + len > b.length) return;
  const region = b.slice(1024, 1024 + len);
  region.fill(0, 4, 8);
  dv.setUint32(1028, crc32cUpdate(0xffffffff, region), true);
}

/** A mutant of `base`: 1–4 mutations, usually in metadata, sometimes a truncation. */
export function mutate(base: Uint8Array, meta: [number, number][], rng: Rng): { bytes: Uint8Array; what: string[] } {
  let b = base.slice();
  const what: string[] = [];
  const metaOffset = () => {
    const [s, e] = rng.pick(meta);
    return s + rng.int(e - s);
  };
  const n = 1 + rng.int(4);
  for (let i = 0; i < n; i++) {
    const r = rng.int(100);
    if (r < 45) {
      const o = metaOffset();
      const bit = rng.int(8);
      b[o] ^= 1 << bit;
      what.push(`flip ${o}:${bit}`);
    } else if (r < 65) {
      const o = metaOffset();
      b[o] = rng.int(3) === 0 ? rng.int(256) : rng.pick(INTERESTING) & 0xff;
      what.push(`byte ${o}=${b[o]}`);
    } else if (r < 85) {
      const width = rng.pick([2, 4, 8]);
      const o = metaOffset() & ~(width === 8 ? 3 : width - 1);
      if (o + width > b.length) continue;
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      const v = rng.int(4) === 0 ? rng.next() : rng.pick(INTERESTING);
      if (width === 2) dv.setUint16(o, v & 0xffff, true);
      else if (width === 4) dv.setUint32(o, v >>> 0, true);
      else dv.setBigUint64(o, rng.int(2) ? BigInt(v >>> 0) : (BigInt(v >>> 0) << 32n) | BigInt(rng.next()), true);
      what.push(`u${width * 8} ${o}=${v}`);
    } else if (r < 92) {
      const o = rng.int(b.length);
      b[o] ^= 1 << rng.int(8);
      what.push(`anyflip ${o}`);
    } else {
      const len = rng.int(3) === 0 ? rng.int(8192) : rng.int(b.length);
      b = b.slice(0, len);
      what.push(`truncate ${len}`);
    }
  }
  if (rng.int(10) !== 0) fixChecksum(b);
  else what.push('no-csum-fix');
  return { bytes: b, what };
}

// ---- corpus ----

/** Small images made with mkfs.erofs from a small tree, in several layouts. */
async function mkfsImages(): Promise<{ name: string; bytes: Uint8Array }[]> {
  const dir = await mkdtemp(join(tmpdir(), 'erofs-fuzz-'));
  try {
    const tree = join(dir, 'tree');
    await mkdir(join(tree, 'd/e/f'), { recursive: true });
    await mkdir(join(tree, 'many'));
    await writeFile(join(tree, 'd/e/f/leaf'), 'leaf\n');
    await writeFile(join(tree, 'text'), 'erofs fuzz text '.repeat(6000));
    await writeFile(join(tree, 'small'), 'x'.repeat(5000));
    const rnd = new Rng(99);
    await writeFile(
      join(tree, 'random'),
      Uint8Array.from({ length: 20000 }, () => rnd.int(256)),
    );
    for (let i = 0; i < 300; i++) await writeFile(join(tree, 'many', `n${i}-${'y'.repeat(i % 40)}`), String(i));
    await symlink('text', join(tree, 'link'));
    await symlink('y'.repeat(200), join(tree, 'longlink'));
    execFileSync('python3', [
      '-c',
      'import os,sys; os.setxattr(sys.argv[1], "user.a", b"1"*100); os.setxattr(sys.argv[1], "trusted.b", b"2")',
      join(tree, 'small'),
    ]);
    const variants: [string, string[]][] = [
      ['plain', []],
      ['lz4', ['-zlz4']],
      ['lz4hc-tail', ['-zlz4hc', '-Eztailpacking']],
      ['lz4hc-big', ['-zlz4hc', '-C16384']],
      ['legacy', ['-zlz4', '-Elegacy-compress']],
      ['chunk', ['--chunksize=4096']],
      ['chunk-idx', ['--chunksize=8192', '-Eforce-chunk-indexes']],
      ['compact-shared', ['-Eforce-inode-compact', '-x0', '-T0']],
    ];
    const out: { name: string; bytes: Uint8Array }[] = [];
    for (const [name, args] of variants) {
      const img = join(dir, `${name}.erofs`);
      execFileSync('mkfs.erofs', ['--quiet', ...args, img, tree]);
      out.push({ name: `mkfs-${name}`, bytes: new Uint8Array(await readFile(img)) });
    }
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The images to mutate, with their metadata ranges. */
export async function corpus(
  withMkfs: boolean,
  extraDir?: string,
): Promise<{ name: string; bytes: Uint8Array; meta: [number, number][] }[]> {
  const images: { name: string; bytes: Uint8Array }[] = EROFS_FIXTURES.map((n) => ({
    name: n,
    bytes: new Uint8Array(readFileSync(fixturePath(n))),
  }));
  if (withMkfs) images.push(...(await mkfsImages()));
  if (extraDir) {
    for (const f of readdirSync(extraDir)
      .filter((n) => n.endsWith('.erofs'))
      .sort()) {
      // Named mkfs-* so they count as small images in the pick.
      images.push({ name: `mkfs-extra-${f}`, bytes: new Uint8Array(readFileSync(join(extraDir, f))) });
    }
  }
  return Promise.all(images.map(async (i) => ({ ...i, meta: await metadataRanges(i.bytes) })));
}

// ---- runner ----

/** Options of {@link runFuzz}. */
export interface FuzzOptions {
  count: number;
  seed: number;
  workers: number;
  budgetMs: number;
  /** Where failing images are written (none if undefined). */
  out?: string;
  mkfs: boolean;
  /** A directory of more images (*.erofs) to mutate. */
  images?: string;
  /** Small mkfs images are picked this often (0..1) when present. */
  smallShare?: number;
  log?: (line: string) => void;
}

/** What a fuzz run found. */
export interface FuzzReport {
  images: number;
  bugs: { image: string; what: string[]; problem: string }[];
  codes: Record<string, number>;
  seconds: number;
}

interface Job {
  id: number;
  name: string;
  what: string[];
  bytes: Uint8Array;
}

/** Runs `count` mutants through worker threads. */
export async function runFuzz(o: FuzzOptions): Promise<FuzzReport> {
  const t0 = Date.now();
  const log = o.log ?? (() => {});
  const images = await corpus(o.mkfs, o.images);
  const small = images.filter((i) => i.name.startsWith('mkfs-'));
  const big = images.filter((i) => !i.name.startsWith('mkfs-'));
  const rng = new Rng(o.seed);
  const report: FuzzReport = { images: 0, bugs: [], codes: {}, seconds: 0 };
  let next = 0;
  const makeJob = (): Job | undefined => {
    if (next >= o.count) return undefined;
    const pool = small.length && rng.int(1000) < (o.smallShare ?? 0.7) * 1000 ? small : big;
    const base = rng.pick(pool);
    const m = mutate(base.bytes, base.meta, rng);
    return { id: next++, name: base.name, what: m.what, bytes: m.bytes };
  };
  const save = async (job: Job, problem: string) => {
    report.bugs.push({ image: job.name, what: job.what, problem });
    log(
      `BUG in mutant ${job.id} of ${job.name} [${job.what.join(', ')}]: ${problem.split('\n').slice(0, 6).join('\n')}`,
    );
    if (o.out) {
      await mkdir(o.out, { recursive: true });
      await writeFile(join(o.out, `bug-${o.seed}-${job.id}-${job.name}.erofs`), job.bytes);
    }
  };
  const lane = async () => {
    let worker: Worker | undefined;
    // Workers do not inherit the tsx loader: register it, then load this file.
    const boot = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((t) => { t.register(); return import(${JSON.stringify(import.meta.url)}); })`;
    const spawn = () =>
      new Worker(boot, {
        eval: true,
        workerData: { fuzzWorker: true },
        resourceLimits: { maxOldGenerationSizeMb: 768, maxYoungGenerationSizeMb: 64 },
      });
    for (let job = makeJob(); job !== undefined; job = makeJob()) {
      worker ??= spawn();
      const w = worker;
      const outcome = await new Promise<{ ok: ExerciseResult } | { problem: string }>((resolve) => {
        const timer = setTimeout(() => resolve({ problem: `hang: no result within ${o.budgetMs} ms` }), o.budgetMs);
        const done = (v: { ok: ExerciseResult } | { problem: string }) => {
          clearTimeout(timer);
          w.off('message', onMsg);
          w.off('error', onErr);
          w.off('exit', onExit);
          resolve(v);
        };
        const onMsg = (m: ExerciseResult) => done({ ok: m });
        const onErr = (e: Error & { code?: string }) =>
          done({ problem: `${e.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'out of memory' : 'worker error'}: ${e.stack}` });
        const onExit = (c: number) => done({ problem: `worker exited with ${c}` });
        w.on('message', onMsg);
        w.on('error', onErr);
        w.on('exit', onExit);
        const copy = job.bytes.slice();
        w.postMessage(copy, [copy.buffer]);
      });
      report.images++;
      if ('ok' in outcome) {
        for (const [k, v] of Object.entries(outcome.ok.codes)) report.codes[k] = (report.codes[k] ?? 0) + v;
        for (const b of outcome.ok.bugs) await save(job, b);
      } else {
        await save(job, outcome.problem);
        await w.terminate();
        worker = undefined;
      }
      if (report.images % 500 === 0)
        log(`${report.images} images, ${report.bugs.length} bugs, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    }
    await worker?.terminate();
  };
  await Promise.all(Array.from({ length: o.workers }, lane));
  report.seconds = (Date.now() - t0) / 1000;
  return report;
}

if (!isMainThread && (workerData as { fuzzWorker?: boolean } | undefined)?.fuzzWorker) {
  // A rejection is an unhandled rejection: the fuzz worker dies and the run reports it.
  // eslint-disable-next-line @typescript-eslint/no-misused-promises -- see above
  parentPort!.on('message', async (bytes: Uint8Array) => {
    parentPort!.postMessage(await exercise(bytes));
  });
} else if (isMainThread && process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const opt = (name: string, dflt: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : dflt;
  };
  const replay = opt('replay', '');
  if (replay) {
    const r = await exercise(new Uint8Array(await readFile(replay)));
    console.log(JSON.stringify(r, null, 2));
    process.exit(r.bugs.length ? 1 : 0);
  }
  const report = await runFuzz({
    count: Number(opt('count', '10000')),
    seed: Number(opt('seed', String(Date.now() % 1e6))),
    workers: Number(opt('workers', '2')),
    budgetMs: Number(opt('budget-ms', '20000')),
    out: opt('out', join(tmpdir(), 'erofs-fuzz')),
    mkfs: !args.includes('--no-mkfs'),
    images: opt('images', '') || undefined,
    log: (l) => console.log(l),
  });
  console.log(
    JSON.stringify(
      { images: report.images, bugs: report.bugs.length, seconds: report.seconds, codes: report.codes },
      null,
      2,
    ),
  );
  process.exit(report.bugs.length ? 1 : 0);
}
