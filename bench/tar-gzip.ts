// Benchmark of the gzip checkpoint index, with ratios against real peers measured in the same run:
//   node --import tsx bench/tar-gzip.ts [--tar FILE.tar] [--mib 300]
// Without --tar it builds a tar of /usr/share and /usr/bin (capped at --mib MiB) in a temp dir.
// Prints: index pass vs `gzip -dc > /dev/null` and vs Node's zlib; index size / blob size;
// bytes fetched for random files after indexing; sequential read vs Node's zlib.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { FileSource } from '../src/io/file-source.js';
import type { ByteSource, ReadOptions } from '../src/io/byte-source.js';
import { buildGzipIndex } from '../src/tar/gzip-indexer.js';
import { encodeGzipIndex } from '../src/tar/gzip-index.js';
import { GzipIndexedSource } from '../src/tar/gzip-indexed-source.js';
import { TarFileSystem } from '../src/tar/tar-fs.js';

const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};

class Counting implements ByteSource {
  bytes = 0;
  constructor(private readonly inner: ByteSource) {}
  get size() {
    return this.inner.size;
  }
  read(o: number, n: number, opt?: ReadOptions) {
    this.bytes += Math.min(n, this.size - o);
    return this.inner.read(o, n, opt);
  }
}

function sh(cmd: string): number {
  const t = performance.now();
  const r = spawnSync('sh', ['-c', cmd], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`${cmd} failed`);
  return (performance.now() - t) / 1000;
}

async function nodeGunzip(path: string): Promise<number> {
  const t = performance.now();
  await new Promise<void>((res, rej) => {
    const g = createGunzip({ chunkSize: 1 << 20 });
    g.on('data', () => {});
    g.on('end', res);
    g.on('error', rej);
    createReadStream(path, { highWaterMark: 1 << 20 }).pipe(g);
  });
  return (performance.now() - t) / 1000;
}

const work = await mkdtemp(join(tmpdir(), 'ocifs-bench-tar-'));
try {
  let tarPath = arg('--tar');
  if (!tarPath) {
    tarPath = join(work, 'root.tar');
    const mib = Number(arg('--mib') ?? 300);
    sh(
      `tar -cf - /usr/share /usr/bin /usr/lib/x86_64-linux-gnu 2>/dev/null | head -c ${mib * 1024 * 1024} > ${tarPath}; true`,
    );
    // `head` cut the archive mid-member: close it with end-of-archive blocks after the last whole member.
    sh(`python3 - ${tarPath} <<'EOF'
import sys, tarfile
p = sys.argv[1]
end = 0
try:
    with tarfile.open(p, 'r:') as t:
        for m in t:
            e = m.offset_data + ((m.size + 511) // 512) * 512
            with open(p, 'rb') as f: f.seek(0, 2); size = f.tell()
            if e > size: break
            end = e
except Exception:
    pass
with open(p, 'r+b') as f:
    f.truncate(end); f.seek(end); f.write(bytes(1024))
EOF`);
  }
  const gzPath = join(work, 'root.tar.gz');
  const tGzip = sh(`gzip -6 -n -c ${tarPath} > ${gzPath}`);
  const tarSize = (await stat(tarPath)).size;
  const gzSize = (await stat(gzPath)).size;
  console.log(
    `tar ${(tarSize / 2 ** 20).toFixed(0)} MiB, tar.gz ${(gzSize / 2 ** 20).toFixed(0)} MiB (gzip -6 took ${tGzip.toFixed(1)} s)`,
  );

  const tGunzip = sh(`gzip -dc ${gzPath} > /dev/null`);
  const tNode = await nodeGunzip(gzPath);
  const blob = await FileSource.open(gzPath);
  let t = performance.now();
  await buildGzipIndex(blob, { worker: false, inflater: 'pako' });
  const tPassPako = (performance.now() - t) / 1000;
  t = performance.now();
  await buildGzipIndex(blob, { worker: false });
  const tPassInThread = (performance.now() - t) / 1000;
  t = performance.now();
  const index = await buildGzipIndex(blob);
  const tPass = (performance.now() - t) / 1000;
  const stored = await encodeGzipIndex(index);
  const rows: [string, string][] = [
    ['gzip -dc > /dev/null', `${tGunzip.toFixed(2)} s`],
    ['Node zlib gunzip', `${tNode.toFixed(2)} s`],
    [
      'ocifs index pass (checkpoints + tar index)',
      `${tPass.toFixed(2)} s (native, worker), ${tPassInThread.toFixed(2)} s (native, same thread), ${tPassPako.toFixed(2)} s (pako)`,
    ],
    ['pass / gzip -dc', (tPass / tGunzip).toFixed(2)],
    ['pass / Node zlib', (tPass / tNode).toFixed(2)],
    ['checkpoints', String(index.checkpoints.length)],
    ['entries', String(index.tar.entries.length)],
    [
      'index size / blob size',
      `${((stored.length / gzSize) * 100).toFixed(2)} % (${(stored.length / 2 ** 20).toFixed(2)} MiB)`,
    ],
  ];

  // Random files after indexing: compressed bytes read per file, fresh source each time.
  const files = index.tar.entries.filter((e) => e.type === 'file' && e.size > 4096);
  let fetched = 0;
  let asked = 0;
  const N = 30;
  for (let k = 0; k < N; k++) {
    const e = files[Math.floor(((k + 0.5) / N) * files.length)];
    const c = new Counting(blob);
    const fs = new TarFileSystem(index.tar, new GzipIndexedSource(c, index, { readAhead: false }));
    const ino = index.tar.entries.indexOf(e) + 2;
    const src = await fs.openFile(ino);
    await src.read(0, src.size);
    fetched += c.bytes;
    asked += e.size;
  }
  rows.push([
    'random file: compressed bytes read / file',
    `${(fetched / N / 2 ** 20).toFixed(2)} MiB for files of ${(asked / N / 1024).toFixed(0)} KiB avg`,
  ]);

  t = performance.now();
  const seq = new GzipIndexedSource(blob, index);
  for (let off = 0; off < seq.size; off += 1 << 20) await seq.read(off, 1 << 20);
  const tSeq = (performance.now() - t) / 1000;
  rows.push(['sequential read via checkpoints', `${tSeq.toFixed(2)} s (${(tSeq / tNode).toFixed(2)} × Node zlib)`]);
  await blob.close();
  for (const [k, v] of rows) console.log(`${k.padEnd(44)} ${v}`);
} finally {
  await rm(work, { recursive: true, force: true });
}
