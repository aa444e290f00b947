// Real compressed data for the codec tests and benchmarks, made by the real tools: the `lz4`,
// `zstd` and `xz` CLIs and python3's zlib/lzma modules.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTreeSync } from '../fixtures/make-tree.js';

/** One compressed block and the bytes it decodes to. */
export interface Sample {
  compressed: Uint8Array;
  plain: Uint8Array;
}

/** Deterministic pseudo-random bytes (xorshift32). */
export function pseudoRandom(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Text-like, compressible bytes: words drawn from a small vocabulary by a seeded generator. */
export function textLike(n: number, seed = 1): Uint8Array {
  const words = [
    'the',
    'erofs',
    'cluster',
    'layer',
    'registry',
    'blob',
    'digest',
    'inode',
    '\n',
    'of',
    'a',
    'zstd',
    'lz4',
    'int',
    '{',
    '}',
    ';',
    'return',
    '0x1f',
    'static',
  ];
  const r = pseudoRandom(n, seed);
  const parts: string[] = [];
  let len = 0;
  for (let i = 0; len < n; i++) {
    const w = words[r[i % n] % words.length] + (r[(i * 7) % n] & 1 ? ' ' : '');
    parts.push(w);
    len += w.length;
  }
  return new TextEncoder().encode(parts.join('')).subarray(0, n);
}

function withTemp<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'ocifs-codec-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Splits `data` into independent raw LZ4 blocks of `blockSize` bytes with the `lz4` CLI
 * (`-BI -B<size>`, HC at `level` ≥ 3) and returns the blocks the CLI compressed (it stores
 * incompressible blocks raw, which are skipped).
 */
export function lz4Blocks(data: Uint8Array, blockSize: number, level = 1): Sample[] {
  const frame = withTemp((dir) => {
    const f = join(dir, 'in');
    writeFileSync(f, data);
    return new Uint8Array(
      execFileSync('lz4', ['-q', `-${level}`, '-BI', `-B${blockSize}`, '--no-frame-crc', '-c', f], {
        maxBuffer: 1 << 30,
      }),
    );
  });
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (dv.getUint32(0, true) !== 0x184d2204) throw new Error('not an lz4 frame');
  const flg = frame[4];
  let p = 4 + 2 + ((flg & 8) !== 0 ? 8 : 0) + 1;
  const blockChecksum = (flg & 16) !== 0;
  const out: Sample[] = [];
  let at = 0;
  for (;;) {
    const word = dv.getUint32(p, true);
    p += 4;
    if (word === 0) break;
    const size = word & 0x7fffffff;
    const plainLen = Math.min(blockSize, data.length - at);
    if ((word & 0x80000000) === 0)
      out.push({ compressed: frame.slice(p, p + size), plain: data.slice(at, at + plainLen) });
    p += size + (blockChecksum ? 4 : 0);
    at += plainLen;
  }
  return out;
}

/** Runs python3 with `script`, feeding `input` on stdin, and returns stdout. */
export function python(script: string, input: Uint8Array = new Uint8Array(0)): Uint8Array {
  return new Uint8Array(execFileSync('python3', ['-c', script], { input, maxBuffer: 1 << 30 }));
}

/** Raw deflate of `data` by python3's zlib (wbits -15) at `level`. */
export function rawDeflate(data: Uint8Array, level = 6): Uint8Array {
  return python(
    `import sys,zlib;c=zlib.compressobj(${level},zlib.DEFLATED,-15);sys.stdout.buffer.write(c.compress(sys.stdin.buffer.read())+c.flush())`,
    data,
  );
}

/** Runs a CLI on `data` and returns its stdout. */
export function cli(cmd: string, args: string[], data: Uint8Array): Uint8Array {
  return new Uint8Array(execFileSync(cmd, args, { input: data, maxBuffer: 1 << 30 }));
}

/** Reads a file as a Uint8Array. */
export function readBytes(path: string): Uint8Array {
  return new Uint8Array(readFileSync(path));
}

/** One extent of a compressed EROFS file, as `dump.erofs -e` prints it. */
export interface ErofsExtent {
  /** Logical (file) offset and length. */
  la: number;
  llen: number;
  /** Physical offset and length of its cluster in the image. */
  pa: number;
  plen: number;
}

/**
 * The extents of `path` in an EROFS image, from Debian's `dump.erofs -e` (1.5; it knows lz4 and
 * lzma clusters, not deflate or zstd). Returns undefined for a file that is not compressed.
 */
export function erofsExtents(image: string, path: string): ErofsExtent[] | undefined {
  const text = execFileSync('dump.erofs', ['-e', `--path=${path}`, image], { encoding: 'utf8' });
  if (!/Layout: [34]\b/.test(text)) return undefined;
  const out: ErofsExtent[] = [];
  for (const m of text.matchAll(
    /^\s*\d+:\s+(\d+)\.\.\s*(\d+)\s*\|\s*(\d+)\s*:\s*(\d+)\.\.\s*(\d+)\s*\|\s*(\d+)\s*$/gm,
  )) {
    out.push({ la: Number(m[1]), llen: Number(m[3]), pa: Number(m[4]), plen: Number(m[6]) });
  }
  return out;
}

/** Writes the deterministic fixture tree of `seed` (test/fixtures/make-tree.ts) into a new temp dir. */
export function makeTree(seed: number): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'ocifs-codec-tree-'));
  makeTreeSync(join(dir, 't'), seed);
  return { dir: join(dir, 't'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The repository's fixtures directory (`test/fixtures`, as `FIXTURES` of test/helpers/fs-manifest.ts). */
export const SHARED_FIXTURES = join(import.meta.dirname, '../fixtures');
