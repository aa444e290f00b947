// Benchmark of `ocifs index` (issue 15) on the tar+gzip rootfs image of the tar benchmark
// (bench/tar-image.ts: `umoci insert` of the rootfs tree, pushed with skopeo to a local
// distribution registry), against skopeo in the same run:
//
//   (a) `ocifs index REF --push`, cold cache, vs `skopeo copy` of the image (time): building
//       the zTOCs costs one pass over the layer, which a pull costs too
//   (b) zTOC size / layer size
//   (c) first `ocifs cat` of one ~1 MiB file from a fresh cache: with the SOCI index (the zTOC
//       replaces the pass) vs without (the full pass), bytes fetched and time
//
// Cold: a fresh ocifs cache / skopeo destination and dropped page caches before every run.
// Runs are interleaved, best of N.
//
//   node --import tsx bench/soci-index.ts [--quick] [--runs N] [--fresh]
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { startRegistry, skopeoPush } from '../test/helpers/registry.js';
import { cleanSlate, dir, interleaved } from './lib/compare.js';
import { fmtMiB, fmtS, MiB, ocifs, printTable, saveResults, timed, type Row } from './lib/measure.js';
import { DEFAULT_BENCH_WORK, pickFile, type Rootfs } from './lib/rootfs.js';
import type { BenchTable } from './lib/section.js';
import { tarRootfs, umociImage } from './tar-image.js';

export interface SociIndexBenchOptions {
  quick?: boolean;
  runs?: number;
  fresh?: boolean;
  work?: string;
  rootfs?: Rootfs;
}

interface IndexJson {
  layers: { size: number; ztoc?: { size: number; spans: number; entries: number } }[];
}

/** Runs the benchmark; prints its table and returns it. */
export async function runSociIndexBench(options: SociIndexBenchOptions = {}): Promise<BenchTable> {
  const runs = options.runs ?? (options.quick ? 1 : 3);
  const work = options.work ?? DEFAULT_BENCH_WORK;
  const rootfs = options.rootfs ?? (await tarRootfs({ quick: !!options.quick, fresh: !!options.fresh, work }));
  await dir(work);
  const scratch = await mkdtemp(join(work, 'scratch-index-'));
  const reg = await startRegistry();
  const rows: Row[] = [];
  const info: Record<string, unknown> = { rootfs: { key: rootfs.key, bytes: rootfs.bytes, files: rootfs.files }, runs };
  let title = 'SOCI index of the tar+gzip image';
  try {
    const layout = await umociImage(rootfs, !!options.fresh);
    // Two repositories with the same image: one gets the SOCI index, the other stays without.
    const indexed = `${reg.host}/bench/rootfs-soci:tar`;
    const plain = `${reg.host}/bench/rootfs-plain:tar`;
    await skopeoPush(layout, 'bench', indexed);
    await skopeoPush(layout, 'bench', plain);
    let n = 0;
    const fresh = (what: string) => join(scratch, `${what}-${n++}`);
    const skopeoDir = join(scratch, 'skopeo');
    let cache = '';

    // (a) ocifs index --push (cold) vs skopeo copy.
    process.stderr.write('index: (a) ocifs index --push vs skopeo copy…\n');
    let built: IndexJson | undefined;
    const a = await interleaved(
      runs,
      {
        prepare: () => cleanSlate([skopeoDir], true),
        run: () =>
          timed('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${indexed}`, `dir:${skopeoDir}`]),
      },
      {
        prepare: async () => {
          await cleanSlate([cache], true);
          cache = fresh('cache');
        },
        run: async () => {
          const r = await ocifs(
            ['index', indexed, '--push', '--json'],
            { OCIFS_CACHE_DIR: cache },
            { keepStdout: true },
          );
          built = JSON.parse(r.stdout.toString()) as IndexJson;
          return r;
        },
      },
    );
    const layer = built!.layers.find((l) => l.ztoc)!;
    title = `SOCI index (issue 15) of the tar+gzip image: layer ${fmtMiB(layer.size)}, ${layer.ztoc!.entries} entries, ${layer.ztoc!.spans} spans of 4 MiB; best of ${runs}`;
    const ratioA = a.b.seconds / a.a.seconds;
    rows.push({
      metric: '(a) ocifs index --push (cold cache: one pass over the layer) vs skopeo copy of the image',
      ocifs: `${fmtS(a.b.seconds)}, ${fmtMiB(a.b.stats.bytesFetched)} fetched, ${fmtMiB(a.b.stats.maxRssBytes)} RSS`,
      peer: `skopeo copy ${fmtS(a.a.seconds)}`,
      ratio: ratioA,
      data: { ocifs: a.allB, peer: a.allA, bytesFetched: a.b.stats.bytesFetched, maxRssBytes: a.b.stats.maxRssBytes },
    });
    await cleanSlate([skopeoDir, cache], false);

    // (b) zTOC size / layer size.
    rows.push({
      metric: '(b) zTOC size / layer size',
      ocifs: `zTOC ${fmtMiB(layer.ztoc!.size)} (${layer.ztoc!.spans} checkpoints of 32 KiB windows)`,
      peer: `layer ${fmtMiB(layer.size)}`,
      ratio: layer.ztoc!.size / layer.size,
      data: {
        ztocBytes: layer.ztoc!.size,
        layerBytes: layer.size,
        spans: layer.ztoc!.spans,
        entries: layer.ztoc!.entries,
      },
    });

    // (c) first cat from a fresh cache: with the index vs without.
    const file = pickFile(rootfs, 1 * MiB);
    process.stderr.write(`index: (c) first cat ${file.path} with and without the index…\n`);
    let other = '';
    const c = await interleaved(
      runs,
      {
        prepare: async () => {
          await cleanSlate([other], true);
          other = fresh('plain');
        },
        run: () => ocifs(['cat', plain, file.path], { OCIFS_CACHE_DIR: other }),
      },
      {
        prepare: async () => {
          await cleanSlate([cache], true);
          cache = fresh('soci');
        },
        run: () => ocifs(['cat', indexed, file.path], { OCIFS_CACHE_DIR: cache }),
      },
    );
    rows.push({
      metric: `(c) first cat ${file.path} (${fmtMiB(file.size)}), fresh cache: bytes fetched, with / without the SOCI index`,
      ocifs: `${fmtMiB(c.b.stats.bytesFetched)} in ${c.b.stats.requests} requests`,
      peer: `${fmtMiB(c.a.stats.bytesFetched)} (the pass)`,
      ratio: c.b.stats.bytesFetched / c.a.stats.bytesFetched,
      data: { withIndex: c.b.stats, withoutIndex: c.a.stats },
    });
    rows.push({
      metric: '(c) the same: time, with / without the SOCI index',
      ocifs: fmtS(c.b.seconds),
      peer: fmtS(c.a.seconds),
      ratio: c.b.seconds / c.a.seconds,
      data: { withIndex: c.allB, withoutIndex: c.allA },
    });
    await cleanSlate([cache, other], false);
  } finally {
    await reg.stop();
    await rm(scratch, { recursive: true, force: true });
  }
  printTable(title, rows);
  process.stderr.write(`results: ${await saveResults('soci-index', rows, info)}\n`);
  return { title, rows, info };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const argv = process.argv.slice(2);
  const i = argv.indexOf('--runs');
  await runSociIndexBench({
    quick: argv.includes('--quick'),
    fresh: argv.includes('--fresh'),
    ...(i >= 0 ? { runs: Number(argv[i + 1]) } : {}),
  });
}
