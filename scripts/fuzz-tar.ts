// Fuzzes the tar header parser, the tar filesystem and the gzip checkpoint pass with mutated
// archives written by GNU tar (pax with xattrs and long names, GNU with sparse files and long
// links, ustar). Every input must end in success or a typed ocifs error; on success the index
// must pass its own validator, every file must read, and a gzip layer must decode to exactly
// what Node's zlib produces.
//   node --import tsx scripts/fuzz-tar.ts [--iterations N] [--seed S]
import { mkdtemp, mkdir, rm, writeFile, readFile, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { gunzipSync, gzipSync } from 'node:zlib';
import { MemorySource } from '../src/io/memory-source.js';
import { scanTar } from '../src/tar/tar-scan.js';
import { TarFileSystem } from '../src/tar/tar-fs.js';
import { decodeTarIndex, encodeTarIndex } from '../src/tar/tar-index.js';
import { buildGzipIndex } from '../src/tar/gzip-indexer.js';
import { GzipIndexedSource } from '../src/tar/gzip-indexed-source.js';
import type { FileSystem } from '../src/vfs/types.js';
import { mulberry32 as prng } from '../test/helpers/prng.js';

/** Codes a hostile input may produce. */
// A hardlink to a name the layer lacks is a link to a lower layer's file: reading it alone says so.
const EXPECTED = new Set([
  'ERR_OCIFS_CORRUPT_TAR',
  'ERR_OCIFS_UNSUPPORTED_LAYER',
  'ERR_OCIFS_CORRUPT_GZIP',
  'ERR_OCIFS_EXTERNAL_HARDLINK',
]);

/** Options of {@link runTarFuzz}. */
export interface TarFuzzOptions {
  iterations: number;
  seed: number;
}

/** What a fuzz run did. */
export interface TarFuzzResult {
  runs: number;
  accepted: number;
  refused: Record<string, number>;
  failures: string[];
}

/** Archives GNU tar writes, in every flavour the parser handles. */
export async function tarCorpus(): Promise<Uint8Array[]> {
  const dir = await mkdtemp(join(tmpdir(), 'ocifs-fuzz-'));
  try {
    const t = join(dir, 't');
    await mkdir(join(t, 'd'.repeat(60), 'e'.repeat(60)), { recursive: true });
    await writeFile(join(t, 'd'.repeat(60), 'e'.repeat(60), 'f'.repeat(40)), 'long name\n');
    await writeFile(join(t, 'small'), 'x'.repeat(700));
    await writeFile(join(t, 'sparse'), 'head');
    await truncate(join(t, 'sparse'), 100000);
    execFileSync('ln', ['-s', 'l'.repeat(150), join(t, 'longlink')]);
    execFileSync('ln', [join(t, 'small'), join(t, 'hard')]);
    execFileSync('python3', [
      '-c',
      'import os,sys; os.setxattr(sys.argv[1], "user.k", b"v\\x00\\xff")',
      join(t, 'small'),
    ]);
    const out: Uint8Array[] = [];
    for (const args of [
      ['--format=pax', '--xattrs', '--xattrs-include=*'],
      ['--format=gnu', '--sparse'],
      ['--format=pax', '--sparse', '--sparse-version=1.0'],
      ['--format=ustar'],
    ]) {
      const f = join(dir, 'a.tar');
      try {
        execFileSync('tar', ['-cf', f, ...args, '-C', t, '.'], { stdio: 'ignore' });
      } catch {
        // ustar cannot hold the long names; GNU tar still writes the rest and exits 2.
      }
      out.push(new Uint8Array(await readFile(f)));
    }
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Recomputes the checksum of the header block at `at`, so mutations reach past it. */
function fixChecksum(b: Uint8Array, at: number): void {
  if (at + 512 > b.length) return;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : b[at + i];
  const s = sum.toString(8).padStart(6, '0');
  for (let i = 0; i < 6; i++) b[at + 148 + i] = s.charCodeAt(i);
  b[at + 154] = 0;
  b[at + 155] = 0x20;
}

function mutate(src: Uint8Array, rnd: () => number): Uint8Array {
  let b = src.slice();
  const kind = rnd();
  if (kind < 0.1) return b.subarray(0, Math.floor(rnd() * b.length));
  const blocks = Math.floor(b.length / 512);
  const n = 1 + Math.floor(rnd() * 4);
  for (let k = 0; k < n; k++) {
    // Mostly header fields: the interesting bytes are in the first blocks and headers.
    const block = Math.floor(rnd() * Math.min(blocks, 24));
    const at = block * 512 + Math.floor(rnd() * 512);
    const r = rnd();
    if (r < 0.4) b[at] = Math.floor(rnd() * 256);
    else if (r < 0.6) b[at] = '0123456789 \0x'.charCodeAt(Math.floor(rnd() * 13));
    else if (r < 0.7)
      b[block * 512 + 124 + Math.floor(rnd() * 11)] = 0x37; // size digits up
    else if (r < 0.8) b[block * 512 + 156] = '0125LKxgS7DV'.charCodeAt(Math.floor(rnd() * 12));
    else b[block * 512 + 124] = rnd() < 0.5 ? 0x80 : 0xff; // base-256
    if (rnd() < 0.7) fixChecksum(b, block * 512);
  }
  if (rnd() < 0.1) b = new Uint8Array(Buffer.concat([b, b.subarray(0, Math.floor(rnd() * 2048))]));
  return b;
}

async function walkAll(fs: FileSystem, ino: number, depth = 0): Promise<void> {
  if (depth > 64) return;
  for await (const e of fs.readdir(ino)) {
    const st = await fs.getattr(e.ino);
    await fs.listxattr(e.ino);
    if (st.type === 'dir') await walkAll(fs, e.ino, depth + 1);
    else if (st.type === 'file') await (await fs.openFile(e.ino)).read(0, Math.min(st.size, 1 << 20));
    else if (st.type === 'symlink') await fs.readlink(e.ino);
  }
}

function classify(err: unknown, res: TarFuzzResult, what: string): void {
  const code = (err as { code?: string }).code;
  if (code && EXPECTED.has(code)) res.refused[code] = (res.refused[code] ?? 0) + 1;
  else res.failures.push(`${what}: ${(err as Error)?.stack ?? String(err)}`);
}

/** Runs the fuzzer; see the file comment. */
export async function runTarFuzz(options: TarFuzzOptions, corpus?: Uint8Array[]): Promise<TarFuzzResult> {
  const rnd = prng(options.seed);
  const inputs = corpus ?? (await tarCorpus());
  const res: TarFuzzResult = { runs: 0, accepted: 0, refused: {}, failures: [] };
  for (let i = 0; i < options.iterations; i++) {
    const base = inputs[i % inputs.length];
    const tar = mutate(base, rnd);
    res.runs++;
    const what = `iteration ${i} (seed ${options.seed})`;
    try {
      const src = new MemorySource(tar);
      const index = await scanTar(src);
      // Whatever the parser accepts, the stored-index validator accepts too.
      await decodeTarIndex(await encodeTarIndex(index));
      await walkAll(new TarFileSystem(index, src), 1);
      res.accepted++;
    } catch (err) {
      classify(err, res, what);
    }
    // Every 8th input also as a gzip layer, mutated after compression.
    if (i % 8 === 0) {
      const gz = gzipSync(tar, { level: 1 + (i % 9) });
      const g = rnd() < 0.5 ? gz : mutate(gz, rnd);
      let want: Buffer | undefined;
      try {
        want = gunzipSync(g);
      } catch {
        want = undefined;
      }
      try {
        const index = await buildGzipIndex(new MemorySource(g), { span: 64 * 1024, worker: false });
        const all = await new GzipIndexedSource(new MemorySource(g), index).read(0, index.tarSize);
        if (!want || !Buffer.from(all).equals(want))
          res.failures.push(`${what}: gzip output differs from zlib's (zlib ${want ? 'accepts' : 'refuses'})`);
      } catch (err) {
        classify(err, res, `${what} (gzip)`);
      }
    }
  }
  return res;
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const arg = (n: string, d: number) => {
    const i = process.argv.indexOf(n);
    return i > 0 ? Number(process.argv[i + 1]) : d;
  };
  const r = await runTarFuzz({ iterations: arg('--iterations', 20000), seed: arg('--seed', Date.now() % 1e9) });
  console.log(JSON.stringify({ ...r, failures: r.failures.length }, null, 1));
  for (const f of r.failures.slice(0, 10)) console.log(f);
  process.exitCode = r.failures.length ? 1 : 0;
}
