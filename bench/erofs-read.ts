// Benchmark of the EROFS reader against erofs-utils' C tool on the same images.
//
//   node --import tsx bench/erofs-read.ts [--src DIR] [--work DIR] [--runs N] [--sample N]
//
// Makes two images of DIR (default /usr/share) with mkfs.erofs in WORK (default a tmpfs under
// /dev/shm): uncompressed and -zlz4hc. For each, warm (page cache hot):
//   - fsck.erofs --extract=OUT (C, writes the tree to tmpfs)
//   - ocifs: walk the tree and read every file from a FileSource (no writing)
//   - ocifs: walk, read every file and write it to tmpfs (what an extract does with the data)
// and prints the time ratios ocifs / fsck.erofs. Then, on a cold reader per file, bytes read
// for a lookup + full read of sampled files: bytes / (file size + metadata blocks on the path).
import { mkdir, rm, stat, writeFile, open } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { FileSource } from '../src/io/file-source.js';
import { openErofs, type ErofsFileSystem } from '../src/erofs/index.js';
import type { FileType } from '../src/vfs/types.js';
import { CountingSource } from '../test/unit/erofs-helpers.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const SRC = opt('src', '/usr/share');
const WORK = opt('work', '/dev/shm/ocifs-erofs-bench');
const RUNS = Number(opt('runs', '3'));
const SAMPLE = Number(opt('sample', '300'));
const PIECE = 1 << 20;

function sh(cmd: string, a: string[]): void {
  const r = spawnSync(cmd, a, { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`${cmd} ${a.join(' ')} failed`);
}

/** Best wall time and the CPU time of that run (this process's user+system). */
async function best(n: number, f: () => Promise<void>): Promise<{ wall: number; cpu: number }> {
  let b = { wall: Infinity, cpu: 0 };
  for (let i = 0; i < n; i++) {
    const c = process.cpuUsage();
    const t = process.hrtime.bigint();
    await f();
    const wall = Number(process.hrtime.bigint() - t) / 1e9;
    const u = process.cpuUsage(c);
    if (wall < b.wall) b = { wall, cpu: (u.user + u.system) / 1e6 };
  }
  return b;
}

/** Runs fsck.erofs under /usr/bin/time: best wall time and its CPU time. */
function fsckRuns(n: number, image: string, out: string): { wall: number; cpu: number } {
  let b = { wall: Infinity, cpu: 0 };
  for (let i = 0; i < n; i++) {
    spawnSync('rm', ['-rf', out]);
    const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S', 'fsck.erofs', `--extract=${out}`, image], {
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`fsck.erofs failed: ${r.stderr}`);
    const [wall, user, sys] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number);
    if (wall < b.wall) b = { wall, cpu: user + sys };
  }
  return b;
}

interface Entry {
  path: string;
  ino: number;
  type: FileType;
  size: number;
  depth: number;
}

async function listAll(fs: ErofsFileSystem): Promise<Entry[]> {
  const out: Entry[] = [];
  const visit = async (ino: number, prefix: string, depth: number) => {
    const subdirs: Entry[] = [];
    for await (const e of fs.readdir(ino)) {
      const en = { path: prefix + e.name, ino: e.ino, type: e.type, size: 0, depth };
      if (e.type === 'file') en.size = (await fs.getattr(e.ino)).size;
      out.push(en);
      if (e.type === 'dir') subdirs.push(en);
    }
    for (const d of subdirs) await visit(d.ino, d.path + '/', depth + 1);
  };
  await visit(fs.rootIno, '', 1);
  return out;
}

/** Reads every file; with `dest`, writes each to dest (directories created first). */
async function readTree(image: string, dest?: string): Promise<number> {
  const src = await FileSource.open(image);
  let bytes = 0;
  try {
    const fs = await openErofs(src);
    const seen = new Set<number>();
    const visit = async (ino: number, dir: string): Promise<void> => {
      const files: { ino: number; name: string }[] = [];
      const dirs: { ino: number; name: string }[] = [];
      for await (const e of fs.readdir(ino)) {
        if (e.type === 'dir') dirs.push(e);
        else if (e.type === 'file') files.push(e);
      }
      // A few files in flight: reads overlap with writes.
      let next = 0;
      const worker = async () => {
        while (next < files.length) {
          const f = files[next++];
          if (seen.has(f.ino)) continue;
          seen.add(f.ino);
          const content = await fs.openFile(f.ino);
          if (dest && content.size <= PIECE) {
            const b = await content.read(0, content.size);
            await writeFile(join(dir, f.name), b);
            bytes += b.length;
          } else if (dest) {
            const h = await open(join(dir, f.name), 'w');
            try {
              for (let off = 0; off < content.size; off += PIECE) {
                const b = await content.read(off, Math.min(PIECE, content.size - off));
                await h.write(b);
                bytes += b.length;
              }
            } finally {
              await h.close();
            }
          } else {
            for (let off = 0; off < content.size; off += PIECE)
              bytes += (await content.read(off, Math.min(PIECE, content.size - off))).length;
          }
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      for (const d of dirs) {
        const sub = join(dir, d.name);
        if (dest) await mkdir(sub);
        await visit(d.ino, sub);
      }
    };
    await visit(fs.rootIno, dest ?? '');
  } finally {
    await src.close();
  }
  return bytes;
}

async function bytesNeeded(image: string): Promise<void> {
  const base = await FileSource.open(image);
  try {
    const all = await listAll(await openErofs(base));
    const files = all.filter((e) => e.type === 'file');
    // A spread of sizes: sample evenly over files sorted by size.
    files.sort((a, b) => a.size - b.size);
    const picks = Array.from(
      { length: Math.min(SAMPLE, files.length) },
      (_, i) => files[Math.floor((i * files.length) / Math.min(SAMPLE, files.length))],
    );
    picks.push(files.reduce((a, b) => (Math.abs(b.size - (1 << 20)) < Math.abs(a.size - (1 << 20)) ? b : a)));
    let sumRead = 0;
    let sumDenom = 0;
    let worst = 0;
    let oneMiB = '';
    const bs = (await openErofs(base)).superblock.blockSize;
    for (const f of picks) {
      const counting = new CountingSource(base);
      const fs = await openErofs(counting);
      let ino = fs.rootIno;
      for (const name of f.path.split('/')) ino = (await fs.lookup(ino, name))!.ino;
      const content = await fs.openFile(ino);
      for (let off = 0; off < content.size; off += PIECE) await content.read(off, Math.min(PIECE, content.size - off));
      // Metadata on the path: the superblock block, then per component a directory block and an inode block.
      const denom = f.size + bs * (1 + 2 * f.depth);
      const ratio = counting.bytes / denom;
      sumRead += counting.bytes;
      sumDenom += denom;
      worst = Math.max(worst, ratio);
      if (f === picks[picks.length - 1])
        oneMiB = `${f.path} (${f.size} B): read ${counting.bytes} B in ${counting.reads} reads, ratio ${ratio.toFixed(3)}`;
    }
    console.log(
      `  bytes needed over ${picks.length} files: total ratio ${(sumRead / sumDenom).toFixed(3)}, worst file ${worst.toFixed(3)}`,
    );
    console.log(`  ~1 MiB file: ${oneMiB}`);
  } finally {
    await base.close();
  }
}

async function main(): Promise<void> {
  await mkdir(WORK, { recursive: true });
  const images: [string, string[]][] = [
    ['plain', []],
    ['lz4hc', ['-zlz4hc']],
  ];
  for (const [name, mkfsArgs] of images) {
    const image = join(WORK, `${name}.erofs`);
    if (!existsSync(image)) sh('mkfs.erofs', ['--quiet', ...mkfsArgs, image, SRC]);
    const size = (await stat(image)).size;
    console.log(`${name}: ${image} ${(size / 2 ** 20).toFixed(0)} MiB from ${SRC}`);
    const out = join(WORK, 'out');
    sh('fsck.erofs', [`--extract=${out}`, image]); // warm the page cache
    const c = fsckRuns(RUNS, image, out);
    await rm(out, { recursive: true, force: true });
    let bytes = 0;
    const r = await best(RUNS, async () => {
      bytes = await readTree(image);
    });
    const w = await best(RUNS, async () => {
      await rm(out, { recursive: true, force: true });
      await mkdir(out);
      await readTree(image, out);
    });
    await rm(out, { recursive: true, force: true });
    const fmt = (x: { wall: number; cpu: number }) => `${x.wall.toFixed(2)} s (cpu ${x.cpu.toFixed(2)} s)`;
    console.log(`  fsck.erofs --extract: ${fmt(c)}`);
    console.log(
      `  ocifs read every file: ${fmt(r)}, ${(bytes / 2 ** 20 / r.wall).toFixed(0)} MiB/s; ratio to fsck ${(r.wall / c.wall).toFixed(2)} wall, ${(r.cpu / c.cpu).toFixed(2)} cpu`,
    );
    console.log(
      `  ocifs read + write every file: ${fmt(w)}; ratio to fsck ${(w.wall / c.wall).toFixed(2)} wall, ${(w.cpu / c.cpu).toFixed(2)} cpu`,
    );
    await bytesNeeded(image);
  }
  await writeFile(join(WORK, 'done'), '');
}

await main();
