// Measures extractTree's own cost (content already in memory) against `fsck.erofs --extract` of
// an uncompressed EROFS image of the same tree (page-cache warm), alternating runs, and prints
// the ratio of medians. Not the project benchmark (bench/ uses the real EROFS reader and
// registry); a tool to tune the extractor.
//   [OCIFS_BENCH_DIR=/dev/shm] node --import tsx scripts/bench-vfs-extract.ts [SRC_DIR] [ROUNDS] [CONCURRENCY]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { extractTree } from '../src/vfs/extract.js';
import { MemoryFs, type MemoryEntry } from '../src/vfs/memory-fs.js';
import { walk } from '../src/vfs/walk.js';
import { makeTree, memoryFsFromDirectory } from '../test/helpers/fs-manifest.js';
import { runOk } from '../test/helpers/run.js';

const work = await mkdtemp(join(process.env.OCIFS_BENCH_DIR ?? tmpdir(), 'ocifs-bench-extract-'));
try {
  let src = process.argv[2];
  if (!src) {
    src = join(work, 'tree');
    await makeTree(src, 1);
  }
  const rounds = Number(process.argv[3] ?? 5);
  const concurrency = Number(process.argv[4] ?? 8);
  const image = join(work, 'img.erofs');
  await runOk('mkfs.erofs', [image, src]);
  const lazy = await memoryFsFromDirectory(src);
  const mem = new MemoryFs();
  let files = 0;
  let bytes = 0;
  for await (const e of walk(lazy, '/', { includeStart: false })) {
    const st = e.inode;
    const base = { path: e.relPath, mode: st.mode, uid: st.uid, gid: st.gid, mtimeSec: st.mtimeSec, mtimeNsec: st.mtimeNsec, xattrs: await lazy.listxattr(st.ino) };
    let entry: MemoryEntry;
    if (st.type === 'file') {
      const s = await lazy.openFile(st.ino);
      entry = { ...base, type: 'file', content: new Uint8Array(await s.read(0, s.size)) };
      files++;
      bytes += s.size;
    } else if (st.type === 'symlink') entry = { ...base, type: 'symlink', target: await lazy.readlink(st.ino) };
    else entry = { ...base, type: st.type, rdev: st.rdev };
    mem.addPath(entry);
  }
  console.log(`tree: ${files} files, ${(bytes / 1048576).toFixed(1)} MiB; concurrency ${concurrency}`);
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const a = join(work, `fsck-${r}`);
    const b = join(work, `ours-${r}`);
    await runOk('sync', []);
    let t = performance.now();
    await runOk('fsck.erofs', [`--extract=${a}`, image]);
    theirs.push(performance.now() - t);
    await runOk('sync', []);
    t = performance.now();
    await extractTree(mem, b, { concurrency });
    ours.push(performance.now() - t);
    await rm(a, { recursive: true, force: true });
    await rm(b, { recursive: true, force: true });
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  console.log(`fsck.erofs --extract: ${median(theirs).toFixed(0)} ms, extractTree: ${median(ours).toFixed(0)} ms, ratio ${(median(ours) / median(theirs)).toFixed(2)}`);
} finally {
  await rm(work, { recursive: true, force: true });
}
