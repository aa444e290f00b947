// Benchmark of the file commands on EROFS images (issue 3), against skopeo and fsck.erofs in
// the same run. The images are mkfs.erofs images (uncompressed and -zlz4hc) of a realistic
// root filesystem tree (bench/lib/rootfs.ts, ≥ 500 MiB and ≥ 30,000 files), pushed with skopeo
// to a local distribution registry; ocifs is the real CLI (bin/ocifs.js over dist/: run
// `npm run build` first).
//
//   (a) cold `ocifs cat` of one ~1 MiB file: bytes fetched / (file + metadata)   target ≤ 1.5
//       and time vs `skopeo copy` of the whole image                           target ≤ 1/20
//   (b) warm `ocifs extract` vs `fsck.erofs --extract` of a local copy          target ≤ 1.0
//   (c) cold `ocifs extract` vs `skopeo copy` + `fsck.erofs --extract`          target ≤ 1.0
//   (d) cold `ocifs ls -R /`: bytes fetched / image size
//
// "Cold": a fresh ocifs cache dir (the peer: a fresh skopeo destination), and the page cache
// dropped before every run of either side, so both read the registry's files from disk.
// "Warm": the ocifs cache holds the whole blob and the peer's image is a local file; before
// every run the page cache is dropped and then the inputs (the image file, the cache dir) are
// read back into it, so the destination filesystem starts from the same clean state (see
// warmSlate). Both tools extract into directories on the same filesystem (the scratch dir on
// /var/tmp), removed before every run. Runs are interleaved, best of N.
//
//   node --import tsx bench/erofs-image.ts [--quick] [--runs N] [--fresh] [--kinds plain,lz4hc]
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { startRegistry } from '../test/helpers/registry.js';
import { MT_LAYER_EROFS } from '../test/helpers/oci-layout.js';
import {
  cleanSlate,
  dir,
  interleaved,
  listingDiff,
  pushImageFile,
  skopeoPull,
  treeListing,
  warmSlate,
} from './lib/compare.js';
import { erofsNeededBytes } from './lib/erofs-needed.js';
import { atMost, fmtMiB, fmtS, MiB, ocifs, printTable, saveResults, timed, type Row } from './lib/measure.js';
import type { BenchTable } from './lib/section.js';
import { benchRootfs, DEFAULT_BENCH_WORK, erofsImage, pickFile, type ErofsKind, type Rootfs } from './lib/rootfs.js';

export interface ErofsImageBenchOptions {
  /** Small tree and one run (a smoke run). */
  quick?: boolean;
  /** Runs per measurement, best kept (default 3; 1 with quick). */
  runs?: number;
  /** Rebuild the tree and the images. */
  fresh?: boolean;
  /** Image kinds (default both). */
  kinds?: ErofsKind[];
  /** Parent of trees, images and scratch dirs (default /var/tmp/ocifs-bench). */
  work?: string;
  /** A tree already made by the caller. */
  rootfs?: Rootfs;
}

/** Runs the benchmark; prints its table and returns the rows. */
export async function runErofsImageBench(options: ErofsImageBenchOptions = {}): Promise<BenchTable> {
  const runs = options.runs ?? (options.quick ? 1 : 3);
  const work = options.work ?? DEFAULT_BENCH_WORK;
  const rootfs = options.rootfs ?? (await benchRootfs({ quick: !!options.quick, fresh: !!options.fresh, work }));
  const kinds = options.kinds ?? ['plain', 'lz4hc'];
  await dir(work);
  const scratch = await mkdtemp(join(work, 'scratch-erofs-'));
  const reg = await startRegistry();
  const rows: Row[] = [];
  const file = pickFile(rootfs, 1 * MiB);
  const info: Record<string, unknown> = {
    rootfs: {
      key: rootfs.key,
      selection: rootfs.selection,
      bytes: rootfs.bytes,
      files: rootfs.files,
      entries: rootfs.entries,
    },
    file,
    runs,
  };
  try {
    for (const kind of kinds) {
      const image = await erofsImage(rootfs, kind, !!options.fresh);
      const imageBytes = (await stat(image)).size;
      process.stderr.write(`erofs: pushing the ${kind} image (${fmtMiB(imageBytes)})…\n`);
      const ref = await pushImageFile(reg, scratch, image, MT_LAYER_EROFS, `bench/rootfs:${kind}`);
      info[kind] = { image, imageBytes, ref };
      rows.push(
        ...(await measureImage({
          kind,
          image,
          imageBytes,
          ref,
          scratch,
          runs,
          file: file.path,
          fileSize: file.size,
          sourceDir: rootfs.dir,
        })),
      );
    }
  } finally {
    await reg.stop();
    await rm(scratch, { recursive: true, force: true });
  }
  const title = `EROFS images: ${fmtMiB(rootfs.bytes)} in ${rootfs.files} files (${rootfs.entries} entries) from ${rootfs.selection.join(' ')}; best of ${runs}`;
  printTable(title, rows);
  process.stderr.write(`results: ${await saveResults('erofs-image', rows, info)}\n`);
  return { title, rows, info };
}

interface ImageCase {
  kind: ErofsKind;
  image: string;
  imageBytes: number;
  ref: string;
  scratch: string;
  runs: number;
  file: string;
  fileSize: number;
  /** The tree the image was made from. */
  sourceDir: string;
}

async function measureImage(c: ImageCase): Promise<Row[]> {
  const rows: Row[] = [];
  const tag = `[${c.kind}]`;
  let n = 0;
  const fresh = (what: string) => join(c.scratch, `${c.kind}-${what}-${n++}`);
  const skopeoDir = join(c.scratch, `${c.kind}-skopeo`);
  const fsckOut = join(c.scratch, `${c.kind}-fsck-out`);
  const ocifsOut = join(c.scratch, `${c.kind}-ocifs-out`);
  let cache = '';

  // (a) cold cat of one ~1 MiB file vs skopeo copy of the whole image.
  process.stderr.write(`erofs ${c.kind}: (a) cold cat ${c.file} vs skopeo copy…\n`);
  const needed = await erofsNeededBytes(c.image, c.file);
  const a = await interleaved(
    c.runs,
    { prepare: () => cleanSlate([skopeoDir], true), run: () => skopeoPull(c.ref, skopeoDir) },
    {
      prepare: async () => {
        await cleanSlate([cache], true);
        cache = fresh('cache');
      },
      run: () => ocifs(['cat', c.ref, c.file], { OCIFS_CACHE_DIR: cache }),
    },
  );
  const catBytes = a.b.stats.bytesFetched;
  const bytesRatio = catBytes / needed.bytes;
  rows.push({
    metric: `${tag} (a) cold cat ${c.file} (${fmtMiB(c.fileSize)}): bytes fetched / needed`,
    ocifs: `${fmtMiB(catBytes)} in ${a.b.stats.requests} requests, ${fmtMiB(a.b.stats.maxRssBytes)} RSS`,
    peer: `needed ${fmtMiB(needed.bytes)} (${needed.fileDataBlocks} data + ${needed.metadataBlocks} metadata blocks)`,
    ratio: bytesRatio,
    ...atMost(bytesRatio, 1.5),
    data: { bytesFetched: catBytes, requests: a.b.stats.requests, maxRssBytes: a.b.stats.maxRssBytes, needed },
  });
  const catRatio = a.b.seconds / a.a.seconds;
  rows.push({
    metric: `${tag} (a) cold cat time vs skopeo copy of the image`,
    ocifs: fmtS(a.b.seconds),
    peer: `skopeo copy ${fmtS(a.a.seconds)} (${fmtMiB(c.imageBytes)})`,
    ratio: catRatio,
    target: '≤ 0.05 (1/20)',
    ok: catRatio <= 0.05,
    data: { ocifs: a.allB, skopeo: a.allA },
  });

  // (b) warm extract vs fsck.erofs --extract of a local copy of the image.
  process.stderr.write(`erofs ${c.kind}: (b) warm extract vs fsck.erofs --extract…\n`);
  const warmCache = fresh('warm-cache');
  await ocifs(['prefetch', c.ref], { OCIFS_CACHE_DIR: warmCache });
  const localCopy = join(c.scratch, `${c.kind}-local.erofs`);
  await timed('cp', [c.image, localCopy]);
  // Untimed warm-up of both: page cache of the image / cached blob, and of the tools' code.
  await cleanSlate([fsckOut, ocifsOut], false);
  await timed('fsck.erofs', [`--extract=${fsckOut}`, localCopy]);
  await ocifs(['extract', '-q', c.ref, ocifsOut], { OCIFS_CACHE_DIR: warmCache });
  // Both trees against the source tree (fsck.erofs 1.5 drops setgid bits: it chowns after chmod).
  const source = await treeListing(c.sourceDir);
  const ocifsDiff = listingDiff(await treeListing(ocifsOut), source, ['ocifs', 'the source tree']);
  const fsckDiff = listingDiff(await treeListing(fsckOut), source, ['fsck.erofs', 'the source tree']);
  const b = await interleaved(
    c.runs,
    {
      prepare: () => warmSlate([fsckOut], [localCopy]),
      run: () => timed('fsck.erofs', [`--extract=${fsckOut}`, localCopy]),
    },
    {
      prepare: () => warmSlate([ocifsOut], [warmCache]),
      run: () => ocifs(['extract', '-q', c.ref, ocifsOut], { OCIFS_CACHE_DIR: warmCache }),
    },
  );
  const warmRatio = b.b.seconds / b.a.seconds;
  rows.push({
    metric: `${tag} (b) warm extract of the whole tree`,
    ocifs: `${fmtS(b.b.seconds)}, ${fmtMiB(b.b.stats.maxRssBytes)} RSS`,
    peer: `fsck.erofs --extract ${fmtS(b.a.seconds)}`,
    ratio: warmRatio,
    ...atMost(warmRatio, 1.0),
    data: {
      ocifs: b.allB,
      fsck: b.allA,
      bytesFetched: b.b.stats.bytesFetched,
      maxRssBytes: b.b.stats.maxRssBytes,
      ocifsTreeDiff: ocifsDiff ?? null,
      fsckTreeDiff: fsckDiff ?? null,
    },
  });
  if (ocifsDiff)
    rows.push({
      metric: `${tag} (b) ocifs extract differs from the source tree`,
      ocifs: ocifsDiff,
      peer: '',
      ratio: NaN,
      target: 'same tree',
      ok: false,
    });
  if (fsckDiff) process.stderr.write(`erofs ${c.kind}: note: fsck.erofs's tree differs from the source: ${fsckDiff}\n`);
  await rm(warmCache, { recursive: true, force: true });
  await rm(localCopy, { force: true });

  // (c) cold extract vs skopeo copy + fsck.erofs --extract.
  process.stderr.write(`erofs ${c.kind}: (c) cold extract vs skopeo copy + fsck.erofs --extract…\n`);
  const c1 = await interleaved(
    c.runs,
    {
      prepare: () => cleanSlate([skopeoDir, fsckOut], true),
      run: async () => {
        const t0 = process.hrtime.bigint();
        await skopeoPull(c.ref, skopeoDir);
        const layer = await layerFile(skopeoDir, c.imageBytes);
        await timed('fsck.erofs', [`--extract=${fsckOut}`, layer]);
        return { seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
      },
    },
    {
      prepare: async () => {
        await cleanSlate([cache, ocifsOut], true);
        cache = fresh('cache');
      },
      run: () => ocifs(['extract', '-q', c.ref, ocifsOut], { OCIFS_CACHE_DIR: cache }),
    },
  );
  const coldRatio = c1.b.seconds / c1.a.seconds;
  rows.push({
    metric: `${tag} (c) cold extract of the whole tree`,
    ocifs: `${fmtS(c1.b.seconds)}, ${fmtMiB(c1.b.stats.bytesFetched)} fetched`,
    peer: `skopeo copy + fsck.erofs --extract ${fmtS(c1.a.seconds)}`,
    ratio: coldRatio,
    ...atMost(coldRatio, 1.0),
    data: {
      ocifs: c1.allB,
      peer: c1.allA,
      bytesFetched: c1.b.stats.bytesFetched,
      requests: c1.b.stats.requests,
      maxRssBytes: c1.b.stats.maxRssBytes,
    },
  });
  await cleanSlate([skopeoDir, fsckOut, ocifsOut, cache], false);

  // (d) cold ls -R of the whole tree: bytes fetched / image size.
  process.stderr.write(`erofs ${c.kind}: (d) cold ls -R…\n`);
  let best: Awaited<ReturnType<typeof ocifs>> | undefined;
  for (let i = 0; i < c.runs; i++) {
    await cleanSlate([cache], true);
    cache = fresh('cache');
    const r = await ocifs(['ls', '-R', c.ref, '/'], { OCIFS_CACHE_DIR: cache });
    if (!best || r.seconds < best.seconds) best = r;
  }
  await cleanSlate([cache], false);
  const lsRatio = best!.stats.bytesFetched / c.imageBytes;
  rows.push({
    metric: `${tag} (d) cold ls -R /: bytes fetched / image size`,
    ocifs: `${fmtMiB(best!.stats.bytesFetched)} in ${fmtS(best!.seconds)}, ${best!.stats.requests} requests`,
    peer: `image ${fmtMiB(c.imageBytes)}`,
    ratio: lsRatio,
    data: {
      bytesFetched: best!.stats.bytesFetched,
      requests: best!.stats.requests,
      seconds: best!.seconds,
      imageBytes: c.imageBytes,
    },
  });
  return rows;
}

/** The layer file in a `skopeo copy … dir:D` directory: the one blob of the image's size. */
async function layerFile(skopeoDir: string, size: number): Promise<string> {
  for (const name of await readdir(skopeoDir)) {
    const p = join(skopeoDir, name);
    if ((await stat(p)).size === size) return p;
  }
  throw new Error(`no ${size}-byte layer in ${skopeoDir}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const argv = process.argv.slice(2);
  const arg = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  await runErofsImageBench({
    quick: argv.includes('--quick'),
    fresh: argv.includes('--fresh'),
    ...(arg('runs') ? { runs: Number(arg('runs')) } : {}),
    ...(arg('kinds') ? { kinds: arg('kinds')!.split(',') as ErofsKind[] } : {}),
  });
}
