// Long fuzz run of every decompressor: mutated real streams (bit flips, byte overwrites,
// truncations, splices, random garbage) must decode to exactly outputSize bytes or throw
// CorruptCompressedDataError (UnsupportedCodecError for zstd dictionaries) — never another
// error, a hang, or an output of another size. A short run of the same checks is in the default
// test suite (test/unit/codec-*.test.ts).
//
//   node --import tsx scripts/fuzz-codecs.ts [--iterations N] [--seed S] [--codec lz4|deflate|lzma|zstd]
//
// Prints one line per codec with the counts, and the first failing input (hex) if any; exits 1
// on a failure. A case slower than 5 s counts as a hang.
import {
  CorruptCompressedDataError,
  UnsupportedCodecError,
  createZstdDecoder,
  decompress,
  type CodecName,
} from '../src/codec/index.js';
import { cli, lz4Blocks, pseudoRandom, python, rawDeflate, textLike } from '../test/unit/codec-helpers.js';
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const iterations = Number(opt('--iterations', '20000'));
const seed = Number(opt('--seed', String(Date.now() % 1e9)));
const only = opt('--codec', '');

interface Stream {
  compressed: Uint8Array;
  size: number;
}

const binary = new Uint8Array(readFileSync(process.execPath)).subarray(5 << 20, (5 << 20) + 200_000);
const plains = [
  textLike(30_000, 1),
  binary.subarray(0, 40_000),
  pseudoRandom(5000, 3),
  new Uint8Array(20_000).fill(9),
  binary.subarray(100_000, 110_000),
];

function corpus(codec: CodecName): Stream[] {
  switch (codec) {
    case 'lz4':
      return plains.flatMap((p) =>
        [1, 9].flatMap((l) => lz4Blocks(p, 16384, l).map((b) => ({ compressed: b.compressed, size: b.plain.length }))),
      );
    case 'deflate':
      return plains.flatMap((p) => [1, 9].map((l) => ({ compressed: rawDeflate(p, l), size: p.length })));
    case 'lzma':
      return plains.map((p) => {
        const c = python(
          `import sys,lzma;sys.stdout.buffer.write(lzma.compress(sys.stdin.buffer.read(),format=lzma.FORMAT_RAW,filters=[{'id':lzma.FILTER_LZMA1,'dict_size':1<<16,'lc':3,'lp':0,'pb':2}]))`,
          p,
        ).slice();
        c[0] = ~0x5d & 0xff;
        return { compressed: c, size: p.length };
      });
    case 'zstd':
      return plains.flatMap((p) =>
        ['-1', '-19'].map((l) => ({ compressed: cli('zstd', ['-q', '-c', l], p), size: p.length })),
      );
  }
}

let rnd = seed >>> 0 || 1;
function next(n: number): number {
  rnd ^= rnd << 13;
  rnd ^= rnd >>> 17;
  rnd ^= rnd << 5;
  return (rnd >>> 0) % n;
}

function mutate(c: Uint8Array): Uint8Array {
  const kind = next(6);
  const b = c.slice();
  if (kind === 0) for (let i = 0, n = 1 + next(4); i < n; i++) b[next(b.length)] ^= 1 << next(8);
  else if (kind === 1) for (let i = 0, n = 1 + next(8); i < n; i++) b[next(b.length)] = next(256);
  else if (kind === 2) return c.subarray(0, next(c.length));
  else if (kind === 3) {
    const at = next(b.length);
    const len = Math.min(b.length - at, 1 + next(64));
    b.copyWithin(at, next(b.length), next(b.length) + len);
  } else if (kind === 4) {
    const g = new Uint8Array(1 + next(300));
    for (let i = 0; i < g.length; i++) g[i] = next(256);
    const out = new Uint8Array(b.length + g.length);
    const at = next(b.length);
    out.set(b.subarray(0, at));
    out.set(g, at);
    out.set(b.subarray(at), at + g.length);
    return out;
  } else for (let i = 0; i < 16; i++) b[next(Math.min(b.length, 32))] = next(256); // headers
  return b;
}

let failed = false;
for (const codec of ['lz4', 'deflate', 'lzma', 'zstd'] as CodecName[]) {
  if (only && only !== codec) continue;
  const streams = corpus(codec);
  const counts = { ok: 0, corrupt: 0, unsupported: 0 };
  const t0 = performance.now();
  for (let i = 0; i < iterations && !failed; i++) {
    const s = streams[next(streams.length)];
    const bad = mutate(s.compressed);
    const partial = next(2) === 1;
    const size = next(4) === 0 ? next(s.size + 100) : s.size;
    const runs: [string, () => number][] = [
      [
        `decompress partial=${partial} size=${size}`,
        () => decompress(codec, bad, size, { partial, dictSize: 1 << 16 }).length,
      ],
    ];
    if (codec === 'zstd') {
      runs.push([
        'stream',
        () => {
          const d = createZstdDecoder({ maxWindowSize: 1 << 24 });
          for (let p = 0; p < bad.length; p += 777) d.push(bad.subarray(p, p + 777));
          d.end();
          return size;
        },
      ]);
    }
    for (const [what, run] of runs) {
      const t = performance.now();
      try {
        const n = run();
        if (n !== size) throw new Error(`output of ${n} bytes, expected ${size}`);
        counts.ok++;
      } catch (err) {
        if (err instanceof CorruptCompressedDataError && err.codec === codec) counts.corrupt++;
        else if (err instanceof UnsupportedCodecError) counts.unsupported++;
        else {
          failed = true;
          console.log(
            `FAIL ${codec} ${what} (seed ${seed}, iteration ${i}): ${(err as Error).stack}\ninput: ${Buffer.from(bad).toString('hex')}`,
          );
        }
      }
      if (performance.now() - t > 5000) {
        failed = true;
        console.log(
          `HANG ${codec} ${what} took ${(performance.now() - t).toFixed(0)} ms (seed ${seed}, iteration ${i})`,
        );
      }
    }
  }
  console.log(
    `${codec}: ${iterations} mutated inputs in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${counts.ok} decoded, ${counts.corrupt} corrupt, ${counts.unsupported} unsupported`,
  );
}
console.log(failed ? 'fuzz: FAILED' : `fuzz: passed (seed ${seed})`);
process.exit(failed ? 1 : 0);
