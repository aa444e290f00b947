// Benchmark of ocifs on a tar+gzip root filesystem image (issue 5), against skopeo, GNU tar
// and umoci in the same run. The image is made at bench time with `umoci insert` of the
// rootfs tree (bench/lib/rootfs.ts) and pushed with skopeo to a local distribution registry;
// ocifs is the real CLI (bin/ocifs.js over dist/: run `npm run build` first).
//
//   (a) first `ocifs cat` of one ~1 MiB file, index pass included, cold
//       vs `skopeo copy` + `tar xzf LAYER --occurrence=1 MEMBER`               target ≤ 1.0
//   (b) second `ocifs cat` of a different file in a fresh process: bytes fetched,
//       target ≤ 2 checkpoints' span (compressed bytes of the spans around the file, taken
//       from the gzip index ocifs stored as a cache sidecar):
//         - with the cache left by (a) (the pass cached the whole blob), and
//         - with only the index kept (a fresh cache holding just (a)'s sidecars: the case of a
//           blob evicted or an index from elsewhere), which shows what a span read costs
//   (c) index size / blob size (`ocifs cache ls --json` sidecarBytes)
//   (d) cold `ocifs extract` of the whole image vs `skopeo copy` + `umoci unpack`  target ≤ 1.0
//
// Cold: a fresh ocifs cache / skopeo destination and dropped page caches before every run.
// Runs are interleaved, best of N.
//
//   node --import tsx bench/tar-image.ts [--quick] [--runs N] [--fresh]
import { cp, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BlobCache } from '../src/cache/index.js';
import { SIDECARS_DIR } from '../src/cache/layout.js';
import { decodeGzipIndex, GZIP_INDEX_NAME, type GzipIndex } from '../src/tar/gzip-index.js';
import { DEFAULT_CHECKPOINT_SPAN } from '../src/tar/gzip-indexer.js';
import { startRegistry, skopeoPush } from '../test/helpers/registry.js';
import { cleanSlate, dir, interleaved, listingDiff, treeListing } from './lib/compare.js';
import { atMost, fmtMiB, fmtS, MiB, OCIFS, ocifs, printTable, saveResults, timed, type Row } from './lib/measure.js';
import { benchRootfs, cachedArtifact, DEFAULT_BENCH_WORK, pickFile, type Rootfs } from './lib/rootfs.js';
import type { BenchTable } from './lib/section.js';

export interface TarImageBenchOptions {
  quick?: boolean;
  /** Runs per measurement, best kept (default 3; 1 with quick). */
  runs?: number;
  fresh?: boolean;
  work?: string;
  rootfs?: Rootfs;
}

/**
 * Tree size for the full tar benchmark: the issue asks for a ≥ 300 MiB tar+gzip image, and
 * this machine's files gzip to about 43%, so the tree is larger than the EROFS one.
 */
export const TAR_TREE_MIN_BYTES = 720 * MiB;
/** The minimum size of the tar+gzip layer. */
export const TAR_LAYER_MIN_BYTES = 300 * MiB;

/** The tree of the tar benchmark (the small one with quick). */
export function tarRootfs(options: { quick?: boolean; fresh?: boolean; work?: string } = {}): Promise<Rootfs> {
  return benchRootfs({ ...options, minBytes: TAR_TREE_MIN_BYTES });
}

interface CacheEntry {
  digest: string;
  size: number | null;
  presentBytes: number;
  sidecarBytes: number;
  sidecars: string[];
}

/** The umoci layout of the tree (tag `bench`), cached by tree key. */
export function umociImage(rootfs: Rootfs, fresh = false): Promise<string> {
  return cachedArtifact(rootfs, 'umoci-layout', fresh, async (tmp) => {
    process.stderr.write(`rootfs: umoci insert of ${rootfs.dir} (tar+gzip)…\n`);
    await timed('umoci', ['init', '--layout', tmp]);
    await timed('umoci', ['new', '--image', `${tmp}:bench`]);
    await timed('umoci', ['insert', '--image', `${tmp}:bench`, rootfs.dir, '/']);
  });
}

/** The layer blob of a one-layer umoci layout: its digest, path and size. */
async function layoutLayer(layout: string): Promise<{ digest: string; path: string; size: number }> {
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const blob = (d: string) => join(layout, 'blobs', 'sha256', d.slice('sha256:'.length));
  const manifest = JSON.parse(await readFile(blob(index.manifests[0].digest), 'utf8')) as {
    layers: { digest: string; size: number; mediaType: string }[];
  };
  if (manifest.layers.length !== 1) throw new Error(`expected one layer in ${layout}, found ${manifest.layers.length}`);
  const l = manifest.layers[0];
  if (!l.mediaType.endsWith('tar+gzip')) throw new Error(`layer is ${l.mediaType}, not tar+gzip`);
  return { digest: l.digest, path: blob(l.digest), size: l.size };
}

async function cacheEntries(cacheDir: string): Promise<CacheEntry[]> {
  const r = await timed(process.execPath, [OCIFS, 'cache', 'ls', '--json', '--cache-dir', cacheDir], {
    keepStdout: true,
  });
  return JSON.parse(r.stdout.toString()) as CacheEntry[];
}

/** The gzip index ocifs stored with the verified layer `digest` in `cacheDir`, decoded (with its file size). */
async function readGzipIndex(cacheDir: string, digest: string): Promise<{ index: GzipIndex; fileBytes: number }> {
  const cache = await BlobCache.open(cacheDir);
  try {
    const payload = await cache.getSidecar(digest, GZIP_INDEX_NAME);
    if (!payload) throw new Error(`${cacheDir}: no ${GZIP_INDEX_NAME} stored with the verified ${digest}`);
    const file = join(cache.path(digest), '..', SIDECARS_DIR, GZIP_INDEX_NAME);
    return { index: await decodeGzipIndex(payload), fileBytes: (await stat(file)).size };
  } finally {
    await cache.close();
  }
}

/** Compressed bytes of each span (checkpoint i to i+1, the last to the end of the blob). */
function spanSizes(index: GzipIndex): number[] {
  const cps = index.checkpoints;
  return cps.map(
    (c, i) => Math.ceil((i + 1 < cps.length ? cps[i + 1].bit : index.blobSize * 8) / 8) - Math.floor(c.bit / 8),
  );
}

/** Indexes of the spans holding uncompressed bytes [start, end). */
function spansOf(index: GzipIndex, start: number, end: number): number[] {
  const cps = index.checkpoints;
  let i = 0;
  while (i + 1 < cps.length && cps[i + 1].out <= start) i++;
  const out = [i];
  while (i + 1 < cps.length && cps[i + 1].out < end) out.push(++i);
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : 0;
}

/** Runs the benchmark; prints its table and returns it. */
export async function runTarImageBench(options: TarImageBenchOptions = {}): Promise<BenchTable> {
  const runs = options.runs ?? (options.quick ? 1 : 3);
  const work = options.work ?? DEFAULT_BENCH_WORK;
  const rootfs = options.rootfs ?? (await tarRootfs({ quick: !!options.quick, fresh: !!options.fresh, work }));
  await dir(work);
  const scratch = await mkdtemp(join(work, 'scratch-tar-'));
  const reg = await startRegistry();
  const rows: Row[] = [];
  const info: Record<string, unknown> = {
    rootfs: { key: rootfs.key, selection: rootfs.selection, bytes: rootfs.bytes, files: rootfs.files },
    runs,
  };
  let title = 'tar+gzip image';
  try {
    const layout = await umociImage(rootfs, !!options.fresh);
    const layer = await layoutLayer(layout);
    const ref = `${reg.host}/bench/rootfs:tar`;
    process.stderr.write(`tar: pushing the tar+gzip image (${fmtMiB(layer.size)})…\n`);
    await skopeoPush(layout, 'bench', ref);
    const small =
      !options.quick && layer.size < TAR_LAYER_MIN_BYTES ? ` (BELOW the issue's ${fmtMiB(TAR_LAYER_MIN_BYTES)})` : '';
    title = `tar+gzip image (umoci): layer ${fmtMiB(layer.size)}${small} gzip of ${fmtMiB(rootfs.bytes)} in ${rootfs.files} files from ${rootfs.selection.join(' ')}; best of ${runs}`;
    info.layer = layer;
    let n = 0;
    const fresh = (what: string) => join(scratch, `${what}-${n++}`);
    const skopeoDir = join(scratch, 'skopeo');
    const tarOut = join(scratch, 'tar-out');
    let cache = '';

    // (a) first cat, cold, index pass included vs skopeo copy + tar x of that one file.
    const fileA = pickFile(rootfs, 1 * MiB);
    process.stderr.write(`tar: (a) first cat ${fileA.path} vs skopeo copy + tar x…\n`);
    const a = await interleaved(
      runs,
      {
        prepare: () => cleanSlate([skopeoDir, tarOut], true),
        run: async () => {
          const t0 = process.hrtime.bigint();
          await timed('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `dir:${skopeoDir}`]);
          await dir(tarOut);
          // --occurrence=1: stop once the member is out. umoci 0.4.7 ends its archives right after
          // the last member's data, so a full pass of GNU tar ends in "Unexpected EOF" (exit 2).
          await timed('tar', [
            '-xzf',
            join(skopeoDir, layer.digest.slice('sha256:'.length)),
            '--occurrence=1',
            '-C',
            tarOut,
            fileA.path.slice(1),
          ]);
          const got = (await stat(join(tarOut, fileA.path))).size;
          if (got !== fileA.size) throw new Error(`tar x gave ${got} bytes of ${fileA.path}, not ${fileA.size}`);
          return { seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
        },
      },
      {
        prepare: async () => {
          await cleanSlate([cache], true);
          cache = fresh('cache');
        },
        run: () => ocifs(['cat', ref, fileA.path], { OCIFS_CACHE_DIR: cache }),
      },
    );
    const firstRatio = a.b.seconds / a.a.seconds;
    rows.push({
      metric: `(a) first cat ${fileA.path} (${fmtMiB(fileA.size)}), cold, index pass included`,
      ocifs: `${fmtS(a.b.seconds)}, ${fmtMiB(a.b.stats.bytesFetched)} fetched`,
      peer: `skopeo copy + tar x ${fmtS(a.a.seconds)}`,
      ratio: firstRatio,
      ...atMost(firstRatio, 1.0),
      data: { ocifs: a.allB, peer: a.allA, bytesFetched: a.b.stats.bytesFetched, maxRssBytes: a.b.stats.maxRssBytes },
    });
    await cleanSlate([skopeoDir, tarOut], false);
    const warmCache = cache; // the cache left by (a)'s last run (earlier runs' were removed)

    // (b) second cat of a different file, fresh process.
    const { index, fileBytes } = await readGzipIndex(warmCache, layer.digest);
    const spans = spanSizes(index);
    const medianSpan = median(spans);
    const entryA = index.tar.entries.find((e) => e.path === fileA.path.slice(1));
    const byPath = new Map(index.tar.entries.filter((e) => e.type === 'file').map((e) => [e.path, e]));
    // A different ~1 MiB file stored at least two spans away from A (not a hardlink to it).
    const fileB = pickFile(rootfs, 1 * MiB, (f) => {
      const e = byPath.get(f.path.slice(1));
      return (
        !!e &&
        f.path !== fileA.path &&
        f.size !== fileA.size &&
        (!entryA || Math.abs(e.dataOffset - entryA.dataOffset) > 2 * DEFAULT_CHECKPOINT_SPAN)
      );
    });
    const entryB = byPath.get(fileB.path.slice(1))!;
    // The spans a checkpoint reader must inflate for B (one, or two when B straddles a
    // checkpoint); the target is two spans of that size: 2 × the largest of them.
    const touched = spansOf(index, entryB.dataOffset, entryB.dataOffset + entryB.storedSize).map((i) => spans[i]);
    const neededB = touched.reduce((a, b2) => a + b2, 0);
    const target = 2 * Math.max(...touched);
    process.stderr.write(`tar: (b) second cat ${fileB.path}…\n`);
    const b1 = await ocifs(['cat', ref, fileB.path], { OCIFS_CACHE_DIR: warmCache });
    const spanNote = `2 spans = ${fmtMiB(target)} (B lies in ${touched.length} span(s), ${fmtMiB(neededB)}; median span ${fmtMiB(medianSpan)}, ${index.checkpoints.length} checkpoints every ${fmtMiB(DEFAULT_CHECKPOINT_SPAN)} of tar)`;
    rows.push({
      metric: `(b) second cat ${fileB.path} (${fmtMiB(fileB.size)}), fresh process, same cache`,
      ocifs: `${fmtMiB(b1.stats.bytesFetched)} fetched in ${fmtS(b1.seconds)}`,
      peer: spanNote,
      ratio: b1.stats.bytesFetched / target,
      target: '≤ 1 (≤ 2 spans)',
      ok: b1.stats.bytesFetched <= target,
      data: {
        bytesFetched: b1.stats.bytesFetched,
        seconds: b1.seconds,
        target,
        touched,
        medianSpan,
        neededB,
        checkpoints: index.checkpoints.length,
      },
    });
    const indexOnly = fresh('index-only');
    await dir(indexOnly);
    await cp(join(warmCache, 'sidecars'), join(indexOnly, 'sidecars'), { recursive: true, preserveTimestamps: true });
    await cleanSlate([], true);
    const b2 = await ocifs(['cat', ref, fileB.path], { OCIFS_CACHE_DIR: indexOnly });
    rows.push({
      metric: `(b) second cat ${fileB.path}, fresh process, index only (blob evicted)`,
      ocifs: `${fmtMiB(b2.stats.bytesFetched)} fetched in ${fmtS(b2.seconds)}, ${b2.stats.requests} requests`,
      peer: spanNote,
      ratio: b2.stats.bytesFetched / target,
      target: '≤ 1 (≤ 2 spans)',
      ok: b2.stats.bytesFetched <= target,
      data: {
        bytesFetched: b2.stats.bytesFetched,
        seconds: b2.seconds,
        requests: b2.stats.requests,
        target,
        touched,
        medianSpan,
        neededB,
      },
    });
    await rm(indexOnly, { recursive: true, force: true });

    // (c) index size / blob size.
    const entry = (await cacheEntries(warmCache)).find((e) => e.digest === layer.digest);
    if (!entry) throw new Error(`no cache entry for ${layer.digest} in ${warmCache}`);
    rows.push({
      metric: '(c) index size / blob size',
      ocifs: `sidecars ${fmtMiB(entry.sidecarBytes)} (${entry.sidecars.join(', ')}; gzip-index file ${fmtMiB(fileBytes)})`,
      peer: `blob ${fmtMiB(layer.size)}`,
      ratio: entry.sidecarBytes / layer.size,
      data: {
        sidecarBytes: entry.sidecarBytes,
        gzipIndexFileBytes: fileBytes,
        blobBytes: layer.size,
        entries: index.tar.entries.length,
      },
    });
    await cleanSlate([warmCache], false);

    // (d) cold extract of the whole image vs skopeo copy + umoci unpack.
    process.stderr.write('tar: (d) cold extract vs skopeo copy + umoci unpack…\n');
    const ocifsOut = join(scratch, 'ocifs-out');
    const bundle = join(scratch, 'bundle');
    const ociDir = join(scratch, 'oci');
    const d = await interleaved(
      runs,
      {
        prepare: () => cleanSlate([ociDir, bundle], true),
        run: async () => {
          const t0 = process.hrtime.bigint();
          await timed('skopeo', [
            'copy',
            '--quiet',
            '--src-tls-verify=false',
            `docker://${ref}`,
            `oci:${ociDir}:bench`,
          ]);
          await timed('umoci', ['unpack', '--image', `${ociDir}:bench`, bundle]);
          return { seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
        },
      },
      {
        prepare: async () => {
          await cleanSlate([cache, ocifsOut], true);
          cache = fresh('cache');
        },
        run: () => ocifs(['extract', '-q', ref, ocifsOut], { OCIFS_CACHE_DIR: cache }),
      },
    );
    const source = await treeListing(rootfs.dir);
    const ocifsDiff = listingDiff(await treeListing(ocifsOut), source, ['ocifs', 'the source tree']);
    const umociDiff = listingDiff(await treeListing(join(bundle, 'rootfs')), source, ['umoci', 'the source tree']);
    const extractRatio = d.b.seconds / d.a.seconds;
    rows.push({
      metric: '(d) cold extract of the whole image',
      ocifs: `${fmtS(d.b.seconds)}, ${fmtMiB(d.b.stats.bytesFetched)} fetched, ${fmtMiB(d.b.stats.maxRssBytes)} RSS`,
      peer: `skopeo copy + umoci unpack ${fmtS(d.a.seconds)}`,
      ratio: extractRatio,
      ...atMost(extractRatio, 1.0),
      data: {
        ocifs: d.allB,
        peer: d.allA,
        bytesFetched: d.b.stats.bytesFetched,
        maxRssBytes: d.b.stats.maxRssBytes,
        ocifsTreeDiff: ocifsDiff ?? null,
        umociTreeDiff: umociDiff ?? null,
      },
    });
    if (ocifsDiff)
      rows.push({
        metric: '(d) ocifs extract differs from the source tree',
        ocifs: ocifsDiff,
        peer: '',
        ratio: NaN,
        target: 'same tree',
        ok: false,
      });
    if (umociDiff) process.stderr.write(`tar: note: umoci's tree differs from the source: ${umociDiff}\n`);
    await cleanSlate([cache, ocifsOut, ociDir, bundle], false);
  } finally {
    await reg.stop();
    await rm(scratch, { recursive: true, force: true });
  }
  printTable(title, rows);
  process.stderr.write(`results: ${await saveResults('tar-image', rows, info)}\n`);
  return { title, rows, info };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const argv = process.argv.slice(2);
  const i = argv.indexOf('--runs');
  await runTarImageBench({
    quick: argv.includes('--quick'),
    fresh: argv.includes('--fresh'),
    ...(i >= 0 ? { runs: Number(argv[i + 1]) } : {}),
  });
}
