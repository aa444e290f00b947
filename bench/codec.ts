// Decompressor benchmark: ocifs's decoders against native peers measured in the same run
// (Node's zlib, the lz4/zstd CLIs, python3's liblzma) and, when installed, npm alternatives.
//
//   node --import tsx bench/codec.ts [--quick]
//
// Data: files under /usr (binaries and libraries, then text: headers, Python, Perl), cut into
// 4/16/64 KiB clusters as EROFS does, plus one 16 MiB stream for the streaming codecs.
// npm alternatives are looked up in $CODEC_CANDIDATES/node_modules (e.g. a scratch directory
// with `npm install lz4-napi lz4-wasm-nodejs lz4js fzstd zstddec`); they are not dependencies.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import {
  createZstdDecoder,
  deflateRawDecompress,
  lz4DecompressBlock,
  microLzmaDecompress,
  zstdDecompress,
} from '../src/codec/index.js';
import { lz4Blocks, python, type Sample } from '../test/unit/codec-helpers.js';

const quick = process.argv.includes('--quick');
const MS = quick ? 150 : 600;

function collect(dirs: string[], limit: number, skip: (p: string) => boolean): Uint8Array {
  const parts: Buffer[] = [];
  let n = 0;
  const walk = (d: string): void => {
    let names: string[];
    try {
      names = readdirSync(d).sort();
    } catch {
      return;
    }
    for (const name of names) {
      if (n >= limit) return;
      const p = join(d, name);
      let st;
      try {
        st = statSync(p);
      } catch {
        continue;
      }
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && st.size > 0 && !skip(p)) {
        const b = readFileSync(p);
        parts.push(b);
        n += b.length;
      }
    }
  };
  for (const d of dirs) walk(d);
  return new Uint8Array(Buffer.concat(parts).subarray(0, limit));
}

const compressed = (p: string) => /\.(gz|xz|bz2|zst|zip|png|jpg|lz4)$/.test(p);
const datasets: [string, Uint8Array][] = [
  ['binaries', collect(['/usr/bin', '/usr/lib/x86_64-linux-gnu'], 8 << 20, compressed)],
  ['text', collect(['/usr/include', '/usr/lib/python3', '/usr/share/perl'], 8 << 20, (p) => compressed(p))],
];

/** MB/s of `fn` over `bytes` decoded bytes per call, best of a few timed rounds. */
function rate(fn: () => void, bytes: number): number {
  fn();
  let best = 0;
  for (let round = 0; round < 3; round++) {
    let n = 0;
    const t0 = performance.now();
    let t: number;
    do {
      fn();
      n++;
      t = performance.now() - t0;
    } while (t < MS / 3);
    best = Math.max(best, (bytes * n) / 1e3 / t);
  }
  return best;
}

function cliRate(cmd: string, args: string[], input: Uint8Array, outBytes: number): number {
  let best = 0;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    execFileSync(cmd, args, { input, maxBuffer: 1 << 30 });
    best = Math.max(best, outBytes / 1e3 / (performance.now() - t0));
  }
  return best;
}

const req = process.env.CODEC_CANDIDATES ? createRequire(join(process.env.CODEC_CANDIDATES, 'x.js')) : undefined;
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the module's shape
function candidate<T>(name: string): T | undefined {
  try {
    return req?.(name) as T;
  } catch {
    return undefined;
  }
}

function row(label: string, results: [string, number][], peer: string): void {
  const base = results.find(([n]) => n === peer)?.[1];
  const cells = results.map(
    ([n, v]) => `${n} ${v.toFixed(0)} MB/s${base && n !== peer ? ` (${(v / base).toFixed(2)}×)` : ''}`,
  );
  console.log(`${label.padEnd(26)} ${cells.join(' | ')}`);
}

const total = (s: Sample[]) => s.reduce((n, x) => n + x.plain.length, 0);

console.log(`# codec benchmark${quick ? ' (quick)' : ''}: MB/s of decoded output; ratios against the peer named first`);

// --- LZ4 (EROFS -zlz4 / -zlz4hc clusters) ----------------------------------------------------
type Lz4Napi = { uncompressSync(b: Uint8Array): Uint8Array };
type Lz4Wasm = { decompress(b: Uint8Array): Uint8Array };
type Lz4Js = { decompressBlock(src: Uint8Array, dst: Uint8Array, s: number, n: number, d: number): number };
const lz4napi = candidate<Lz4Napi>('lz4-napi');
const lz4wasm = candidate<Lz4Wasm>('lz4-wasm-nodejs');
const lz4js = candidate<Lz4Js>('lz4js');
const prepend = (b: Sample) => {
  const x = new Uint8Array(b.compressed.length + 4);
  new DataView(x.buffer).setUint32(0, b.plain.length, true);
  x.set(b.compressed, 4);
  return x;
};
console.log('\n## lz4 block (peer: lz4 CLI -d on the same blocks as one frame, process start included)');
for (const [name, data] of datasets) {
  for (const level of [1, 9]) {
    for (const size of [4096, 16384, 65536]) {
      const blocks = lz4Blocks(data, size, level);
      const bytes = total(blocks);
      const frame = execFileSync('lz4', ['-q', `-${level}`, '-BI', `-B${size}`, '-c'], {
        input: data,
        maxBuffer: 1 << 30,
      });
      const r: [string, number][] = [['lz4 CLI', cliRate('lz4', ['-d', '-q', '-c'], frame, data.length)]];
      r.push(['ocifs', rate(() => blocks.forEach((b) => lz4DecompressBlock(b.compressed, b.plain.length)), bytes)]);
      if (lz4napi) {
        const pre = blocks.map(prepend);
        r.push(['lz4-napi', rate(() => pre.forEach((b) => lz4napi.uncompressSync(b)), bytes)]);
      }
      if (lz4wasm) {
        const pre = blocks.map(prepend);
        r.push(['lz4-wasm', rate(() => pre.forEach((b) => lz4wasm.decompress(b)), bytes)]);
      }
      if (lz4js)
        r.push([
          'lz4js',
          rate(
            () =>
              blocks.forEach((b) =>
                lz4js.decompressBlock(b.compressed, new Uint8Array(b.plain.length), 0, b.compressed.length, 0),
              ),
            bytes,
          ),
        ]);
      row(`${name} ${level === 9 ? 'hc' : 'fast'} ${size / 1024}K`, r, 'lz4 CLI');
      console.log(
        `${''.padEnd(26)} per cluster: ${r
          .slice(1)
          .map(([n, v]) => `${n} ${(bytes / blocks.length / v).toFixed(1)} µs`)
          .join(' | ')}`,
      );
    }
  }
}

// --- deflate (EROFS -zdeflate clusters) ------------------------------------------------------
console.log('\n## raw deflate (peer: Node zlib inflateRawSync)');
for (const [name, data] of datasets) {
  for (const size of [4096, 16384, 65536]) {
    const clusters: Sample[] = [];
    for (let i = 0; i + size <= Math.min(data.length, 2 << 20); i += size)
      clusters.push({ plain: data.subarray(i, i + size), compressed: new Uint8Array(0) });
    const all = python(
      `import sys,zlib\nd=sys.stdin.buffer.read()\nfor i in range(0,len(d),${size}):\n c=zlib.compressobj(9,zlib.DEFLATED,-15);x=c.compress(d[i:i+${size}])+c.flush();sys.stdout.buffer.write(len(x).to_bytes(4,'little')+x)`,
      data.subarray(0, clusters.length * size),
    );
    for (let i = 0, p = 0; i < clusters.length; i++) {
      const n = all[p] | (all[p + 1] << 8) | (all[p + 2] << 16);
      clusters[i].compressed = all.subarray(p + 4, p + 4 + n);
      p += 4 + n;
    }
    const bytes = total(clusters);
    row(
      `${name} ${size / 1024}K`,
      [
        ['zlib', rate(() => clusters.forEach((c) => inflateRawSync(c.compressed)), bytes)],
        ['ocifs full', rate(() => clusters.forEach((c) => deflateRawDecompress(c.compressed, c.plain.length)), bytes)],
        [
          'ocifs partial (pako)',
          rate(
            () => clusters.forEach((c) => deflateRawDecompress(c.compressed, c.plain.length, { partial: true })),
            bytes,
          ),
        ],
        [
          'ocifs partial, first half',
          rate(
            () => clusters.forEach((c) => deflateRawDecompress(c.compressed, c.plain.length >> 1, { partial: true })),
            bytes / 2,
          ),
        ],
      ],
      'zlib',
    );
  }
}

// --- MicroLZMA (EROFS -zlzma clusters) -------------------------------------------------------
console.log('\n## MicroLZMA / raw LZMA1 (peer: liblzma via python3, timed inside python)');
for (const [name, data] of datasets) {
  for (const size of [16384, 65536]) {
    const slice = data.subarray(0, quick ? 1 << 20 : 2 << 20);
    const script = `import sys,lzma,time
d=sys.stdin.buffer.read();n=${size};f=[{'id':lzma.FILTER_LZMA1,'preset':6,'dict_size':1<<16,'lc':3,'lp':0,'pb':2}]
cs=[lzma.compress(d[i:i+n],format=lzma.FORMAT_RAW,filters=f) for i in range(0,len(d),n)]
best=0
for r in range(3):
  t=time.perf_counter();k=0
  while time.perf_counter()-t<${MS / 3000}:
    for c in cs: lzma.decompress(c,format=lzma.FORMAT_RAW,filters=f)
    k+=1
  best=max(best,len(d)*k/1e6/(time.perf_counter()-t))
out=sys.stdout.buffer
out.write(repr(best).encode()+b'\\n')
for c in cs: out.write(len(c).to_bytes(4,'little')+c)`;
    const res = python(script, slice);
    const nl = res.indexOf(10);
    const pyRate = Number(new TextDecoder().decode(res.subarray(0, nl)));
    const streams: Sample[] = [];
    for (let p = nl + 1, i = 0; p < res.length; i += size) {
      const n = res[p] | (res[p + 1] << 8) | (res[p + 2] << 16) | (res[p + 3] << 24);
      const c = res.slice(p + 4, p + 4 + n);
      c[0] = ~0x5d & 0xff; // MicroLZMA framing: lc=3 lp=0 pb=2
      streams.push({ compressed: c, plain: slice.subarray(i, i + size) });
      p += 4 + n;
    }
    const bytes = total(streams);
    row(
      `${name} ${size / 1024}K`,
      [
        ['liblzma', pyRate],
        [
          'ocifs',
          rate(
            () => streams.forEach((s) => microLzmaDecompress(s.compressed, s.plain.length, { partial: true })),
            bytes,
          ),
        ],
      ],
      'liblzma',
    );
  }
}

// --- zstd -------------------------------------------------------------------------------------
type Fzstd = {
  decompress(b: Uint8Array, out?: Uint8Array): Uint8Array;
  Decompress: new (cb: (d: Uint8Array) => void) => { push(b: Uint8Array, f?: boolean): void };
};
const fzstd = candidate<Fzstd>('fzstd');
console.log(
  '\n## zstd clusters, one frame each (peer: zstd CLI -d on the concatenated frames, process start included)',
);
for (const [name, data] of datasets) {
  for (const size of [4096, 16384, 65536]) {
    const slice = data.subarray(0, 2 << 20);
    const frames: Sample[] = [];
    for (let i = 0; i + size <= slice.length; i += size) {
      const p = slice.subarray(i, i + size);
      frames.push({ plain: p, compressed: new Uint8Array(0) });
    }
    // One zstd process for all frames: --stream-size makes each a single-segment frame like mkfs.erofs's.
    const joined = python(
      `import sys,subprocess\nd=sys.stdin.buffer.read()\nfor i in range(0,len(d),${size}):\n x=subprocess.run(['zstd','-q','-c','-3','--no-check','--stream-size=${size}'],input=d[i:i+${size}],capture_output=True).stdout;sys.stdout.buffer.write(len(x).to_bytes(4,'little')+x)`,
      slice.subarray(0, frames.length * size),
    );
    const concat: Uint8Array[] = [];
    for (let i = 0, p = 0; i < frames.length; i++) {
      const n = joined[p] | (joined[p + 1] << 8) | (joined[p + 2] << 16);
      frames[i].compressed = joined.subarray(p + 4, p + 4 + n);
      concat.push(frames[i].compressed);
      p += 4 + n;
    }
    const bytes = total(frames);
    const r: [string, number][] = [['zstd CLI', cliRate('zstd', ['-d', '-q', '-c'], Buffer.concat(concat), bytes)]];
    r.push(['ocifs', rate(() => frames.forEach((f) => zstdDecompress(f.compressed, f.plain.length)), bytes)]);
    if (fzstd)
      r.push([
        'fzstd',
        rate(() => frames.forEach((f) => fzstd.decompress(f.compressed, new Uint8Array(f.plain.length))), bytes),
      ]);
    row(`${name} ${size / 1024}K`, r, 'zstd CLI');
    if (quick) break;
  }
}
console.log('\n## zstd stream, 16 MiB (tar+zstd layers; peer: zstd CLI -d)');
for (const [name, data] of datasets) {
  for (const level of [3, 19]) {
    const big = Buffer.concat([data, data]).subarray(0, 16 << 20);
    const c = execFileSync('zstd', ['-q', '-c', `-${level}`, '-T1'], { input: big, maxBuffer: 1 << 30 });
    const r: [string, number][] = [['zstd CLI', cliRate('zstd', ['-d', '-q', '-c'], c, big.length)]];
    const stream = () => {
      const d = createZstdDecoder();
      for (let i = 0; i < c.length; i += 65536) d.push(c.subarray(i, i + 65536));
      d.end();
    };
    r.push(['ocifs stream', rate(stream, big.length)]);
    r.push(['ocifs one-shot', rate(() => zstdDecompress(c, big.length), big.length)]);
    r.push(['ocifs no checksum', rate(() => zstdDecompress(c, big.length, { verifyChecksum: false }), big.length)]);
    if (fzstd) {
      r.push([
        'fzstd stream',
        rate(() => {
          const d = new fzstd.Decompress(() => {});
          for (let i = 0; i < c.length; i += 65536) d.push(c.subarray(i, i + 65536), i + 65536 >= c.length);
        }, big.length),
      ]);
    }
    row(`${name} -${level}`, r, 'zstd CLI');
    if (quick) break;
  }
}
