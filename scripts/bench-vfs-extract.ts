// Measures extractTree against `fsck.erofs --extract` of an EROFS image of the same tree
// (page-cache warm), alternating runs, and prints the ratio of medians: once with the content
// already in memory (MemoryFs: the extractor's own cost) and once through the EROFS reader over
// the image file (what `ocifs extract` of a warm image does). Not the project benchmark
// (bench/ adds the registry and cache); a tool to tune the extractor.
//   [OCIFS_BENCH_DIR=/dev/shm] node --import tsx scripts/bench-vfs-extract.ts [SRC_DIR] [ROUNDS] [CONCURRENCY] [MKFS_ARGS]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openErofs } from '../src/erofs/index.js';
import { FileSource } from '../src/io/file-source.js';
import { extractTree } from '../src/extract/extract.js';
import type { FileSystem } from '../src/vfs/types.js';
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
  const mkfsArgs = (process.argv[5] ?? '').split(' ').filter(Boolean);
  await runOk('mkfs.erofs', [...mkfsArgs, image, src]);
  const file = await FileSource.open(image);
  const erofs = await openErofs(file);
  const lazy = await memoryFsFromDirectory(src);
  const mem = new MemoryFs();
  let files = 0;
  let bytes = 0;
  for await (const e of walk(lazy, '/', { includeStart: false })) {
    const st = e.inode;
    const base = {
      path: e.relPath,
      mode: st.mode,
      uid: st.uid,
      gid: st.gid,
      mtimeSec: st.mtimeSec,
      mtimeNsec: st.mtimeNsec,
      xattrs: await lazy.listxattr(st.ino),
    };
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
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  const compare = async (label: string, fs: FileSystem) => {
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
      await extractTree(fs, b, { concurrency });
      ours.push(performance.now() - t);
      await rm(a, { recursive: true, force: true });
      await rm(b, { recursive: true, force: true });
    }
    console.log(
      `${label}: fsck.erofs --extract ${median(theirs).toFixed(0)} ms, extractTree ${median(ours).toFixed(0)} ms, ratio ${(median(ours) / median(theirs)).toFixed(2)}`,
    );
  };
  await compare('content in memory (MemoryFs)', mem);
  await compare(`EROFS reader over the image (${mkfsArgs.join(' ') || 'uncompressed'})`, erofs);
  await file.close();
} finally {
  await rm(work, { recursive: true, force: true });
}
