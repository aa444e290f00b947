// Benchmark of `ocifs convert` (issue 15) on the tar+gzip root filesystem image of the tar
// benchmark (bench/tar-image.ts: `umoci insert` of the rootfs tree, pushed with skopeo to a
// local distribution registry), against the tools that do the same in steps, in the same run:
//
//   (a) `ocifs convert REF --to erofs --flatten -o FILE`, cold (fresh cache, dropped page cache)
//       vs `skopeo copy` + `umoci unpack` + `mkfs.erofs` of the same image: time and peak RSS
//       (the peer's peak is the largest of its three processes)                  target ≤ 0.7
//       and the converted image, mounted by the kernel, holds the source tree
//   (b) a cold `ocifs cat` of one ~1 MiB file from a fresh cache: bytes fetched and time for the
//       original gzip image (no index: the one-pass index of the whole layer), the same with a
//       SOCI index (`ocifs index --push`), the image converted to EROFS, and converted to
//       eStargz (both pushed to the registry by convert)
//
//   node --import tsx bench/convert-image.ts [--quick] [--runs N]
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { startRegistry } from '../test/helpers/registry.js';
import { cleanSlate, dir, interleaved, listingDiff, treeListing } from './lib/compare.js';
import { atMost, fmtMiB, fmtS, MiB, ocifs, printTable, saveResults, timed, type Row } from './lib/measure.js';
import { DEFAULT_BENCH_WORK, pickFile, type Rootfs } from './lib/rootfs.js';
import type { BenchTable } from './lib/section.js';
import { tarRootfs, umociImage } from './tar-image.js';

export interface ConvertBenchOptions {
  quick?: boolean;
  runs?: number;
  fresh?: boolean;
  work?: string;
  rootfs?: Rootfs;
}

/** Runs a command under `/usr/bin/time` and returns its wall time and peak RSS (bytes). */
async function timedRss(cmd: string, args: string[]): Promise<{ seconds: number; rss: number }> {
  const r = await timed('/usr/bin/time', ['-f', '%M', cmd, ...args]);
  const kb = Number(r.stderr.trim().split('\n').pop());
  return { seconds: r.seconds, rss: kb * 1024 };
}

/** Mounts an EROFS image read-only (loop), lists it like the source tree, unmounts. */
async function erofsListing(image: string, mnt: string): Promise<string[]> {
  await mkdir(mnt, { recursive: true });
  await timed('mount', ['-t', 'erofs', '-o', 'ro,loop', image, mnt]);
  try {
    return await treeListing(mnt);
  } finally {
    await timed('umount', [mnt]);
  }
}

/** Runs the benchmark; prints its table and returns it. */
export async function runConvertBench(options: ConvertBenchOptions = {}): Promise<BenchTable> {
  const runs = options.runs ?? (options.quick ? 1 : 3);
  const work = options.work ?? DEFAULT_BENCH_WORK;
  const rootfs = options.rootfs ?? (await tarRootfs({ quick: !!options.quick, fresh: !!options.fresh, work }));
  await dir(work);
  const scratch = await mkdtemp(join(work, 'scratch-convert-'));
  const reg = await startRegistry();
  const rows: Row[] = [];
  const info: Record<string, unknown> = {
    rootfs: { key: rootfs.key, selection: rootfs.selection, bytes: rootfs.bytes, files: rootfs.files },
    runs,
  };
  let title = 'convert of the tar+gzip image';
  try {
    const layout = await umociImage(rootfs, !!options.fresh);
    const ref = `${reg.host}/bench/rootfs:tar`;
    await timed('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:bench`, `docker://${ref}`]);
    title = `ocifs convert of the tar+gzip image of ${fmtMiB(rootfs.bytes)} in ${rootfs.files} files (umoci insert); best of ${runs}`;
    let n = 0;
    const fresh = (what: string) => join(scratch, `${what}-${n++}`);
    let cache = '';
    const out = join(scratch, 'flat.erofs');
    const ociDir = join(scratch, 'oci');
    const bundle = join(scratch, 'bundle');
    const peerImage = join(scratch, 'peer.erofs');

    // (a) convert --to erofs --flatten vs skopeo copy + umoci unpack + mkfs.erofs.
    process.stderr.write(
      'convert: (a) ocifs convert --to erofs --flatten vs skopeo copy + umoci unpack + mkfs.erofs…\n',
    );
    const a = await interleaved(
      runs,
      {
        prepare: () => cleanSlate([ociDir, bundle, peerImage], true),
        run: async () => {
          const s = await timedRss('skopeo', [
            'copy',
            '--quiet',
            '--src-tls-verify=false',
            `docker://${ref}`,
            `oci:${ociDir}:bench`,
          ]);
          const u = await timedRss('umoci', ['unpack', '--image', `${ociDir}:bench`, bundle]);
          const m = await timedRss('mkfs.erofs', ['--quiet', peerImage, join(bundle, 'rootfs')]);
          return {
            seconds: s.seconds + u.seconds + m.seconds,
            rss: Math.max(s.rss, u.rss, m.rss),
            steps: [s.seconds, u.seconds, m.seconds],
          };
        },
      },
      {
        prepare: async () => {
          await cleanSlate([cache, out], true);
          cache = fresh('cache');
        },
        run: () => ocifs(['convert', '-q', ref, '--to', 'erofs', '--flatten', '-o', out], { OCIFS_CACHE_DIR: cache }),
      },
    );
    const ratio = a.b.seconds / a.a.seconds;
    rows.push({
      metric: '(a) image → one EROFS image of the tree, cold',
      ocifs: `convert --flatten -o: ${fmtS(a.b.seconds)}, ${fmtMiB(a.b.stats.maxRssBytes)} peak RSS, ${fmtMiB(a.b.stats.bytesFetched)} fetched`,
      peer: `skopeo copy + umoci unpack + mkfs.erofs: ${fmtS(a.a.seconds)} (${a.a.steps.map(fmtS).join(' + ')}), ${fmtMiB(a.a.rss)} peak RSS`,
      ratio,
      ...atMost(ratio, 0.7),
      data: { ocifs: a.allB, peer: a.allA, ocifsRss: a.b.stats.maxRssBytes, peerRss: a.a.rss, peerSteps: a.a.steps },
    });
    rows.push({
      metric: '(a) peak RSS',
      ocifs: fmtMiB(a.b.stats.maxRssBytes),
      peer: `largest of the three: ${fmtMiB(a.a.rss)}`,
      ratio: a.b.stats.maxRssBytes / a.a.rss,
    });
    const source = await treeListing(rootfs.dir);
    const diff = listingDiff(await erofsListing(out, join(scratch, 'mnt')), source, [
      'the converted image',
      'the source tree',
    ]);
    rows.push({
      metric: '(a) the converted image, mounted by the kernel, vs the source tree',
      ocifs: diff ?? 'same tree',
      peer: '',
      ratio: diff ? NaN : 1,
      target: 'same tree',
      ok: !diff,
    });
    await cleanSlate([cache, ociDir, bundle, peerImage], false);

    // (b) cold cat of one file: the gzip original (index pass) vs converted to EROFS and eStargz.
    const file = pickFile(rootfs, 1 * MiB);
    process.stderr.write(`convert: (b) cold cat ${file.path}: gzip, EROFS, eStargz…\n`);
    const convCache = fresh('cache');
    for (const to of ['erofs', 'estargz'] as const)
      await ocifs(['convert', '-q', ref, `${reg.host}/bench/rootfs:${to}`, '--to', to], { OCIFS_CACHE_DIR: convCache });
    await cleanSlate([convCache], false);
    const catCold = async (tag: string) => {
      const best = { seconds: Infinity, bytes: 0, requests: 0 };
      for (let i = 0; i < runs; i++) {
        const c = fresh('cache');
        await cleanSlate([], true);
        const r = await ocifs(['cat', `${reg.host}/bench/rootfs:${tag}`, file.path], { OCIFS_CACHE_DIR: c });
        if (r.seconds < best.seconds)
          Object.assign(best, { seconds: r.seconds, bytes: r.stats.bytesFetched, requests: r.stats.requests });
        await rm(c, { recursive: true, force: true });
      }
      return best;
    };
    const gz = await catCold('tar');
    const label = `cold cat ${file.path} (${fmtMiB(file.size)})`;
    rows.push({
      metric: `(b) ${label}: original gzip, no index`,
      ocifs: `${fmtMiB(gz.bytes)} fetched in ${fmtS(gz.seconds)}`,
      peer: 'the baseline',
      ratio: 1,
      data: gz,
    });
    // The same image with a SOCI index published beside it (`ocifs index --push`, every layer).
    const idxCache = fresh('cache');
    await ocifs(['index', '--push', '--min-layer-size', '0', ref], { OCIFS_CACHE_DIR: idxCache });
    await rm(idxCache, { recursive: true, force: true });
    for (const tag of ['soci', 'erofs', 'estargz']) {
      const c = await catCold(tag === 'soci' ? 'tar' : tag);
      rows.push({
        metric: `(b) ${label}: ${tag === 'soci' ? 'original gzip with a SOCI index' : `converted to ${tag === 'erofs' ? 'EROFS' : 'eStargz'}`}`,
        ocifs: `${fmtMiB(c.bytes)} fetched in ${fmtS(c.seconds)}, ${c.requests} requests`,
        peer: `gzip: ${fmtMiB(gz.bytes)} in ${fmtS(gz.seconds)}`,
        ratio: c.seconds / gz.seconds,
        data: { ...c, bytesRatio: c.bytes / gz.bytes },
      });
    }
    info.file = file;
  } finally {
    await reg.stop();
    await rm(scratch, { recursive: true, force: true });
  }
  printTable(title, rows);
  process.stderr.write(`results: ${await saveResults('convert-image', rows, info)}\n`);
  return { title, rows, info };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const argv = process.argv.slice(2);
  const i = argv.indexOf('--runs');
  await runConvertBench({
    quick: argv.includes('--quick'),
    fresh: argv.includes('--fresh'),
    ...(i >= 0 ? { runs: Number(argv[i + 1]) } : {}),
  });
}
