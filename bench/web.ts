// Benchmark of `ocifs web` (issue 16) on the bench's EROFS image (lz4hc, the ≥ 500 MiB rootfs
// tree) and its tar+gzip image (umoci), in one run, against what `dive` must do before it
// shows anything: pull the image and unpack it (`skopeo copy` + `tar x` of the layer; for
// the EROFS image `skopeo copy` + `fsck.erofs --extract`, its unpacker).
//
//   (a) cold: time from starting `ocifs web REF` (a fresh cache, page cache dropped) to the root
//       listing rendered in Chromium (a browser already running), and the bytes fetched for it
//   (b) warm: the same with the cache (a) left, in a new `ocifs web` process
//   (c) opening a ~1 MiB text file from there (in-page navigation, as a click does): time to
//       its first lines on screen, and the bytes that fetched
//
// ocifs is the real CLI (bin/ocifs.js over dist/: `npm run build` first); the page is the one
// the package ships. Runs are interleaved with the peer's, best of N.
//
//   node --import tsx bench/web.ts [--quick] [--runs N] [--fresh]
import { readFile, mkdtemp, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { startRegistry, skopeoPush, type TestRegistry } from '../test/helpers/registry.js';
import { MT_LAYER_EROFS } from '../test/helpers/oci-layout.js';
import { launchChromium, type TestBrowser } from '../test/helpers/browser.js';
import { startWeb } from '../test/helpers/web.js';
import { looksLikeText } from '../src/web/sniff.js';
import type { StatusDoc } from '../src/web/api-types.js';
import { cleanSlate, dir, interleaved, pushImageFile, q, skopeoPull } from './lib/compare.js';
import { fmtMiB, fmtS, MiB, printTable, saveResults, timed, timedShell, type Row } from './lib/measure.js';
import { benchRootfs, DEFAULT_BENCH_WORK, erofsImage, pickFile, type Rootfs, type RootfsFile } from './lib/rootfs.js';
import type { BenchTable } from './lib/section.js';
import { tarRootfs, umociImage } from './tar-image.js';

export interface WebBenchOptions {
  quick?: boolean;
  /** Runs per measurement, best kept (default 3; 1 with quick). */
  runs?: number;
  fresh?: boolean;
  work?: string;
  /** The tree of the EROFS image (the tar image uses its own, larger one unless quick). */
  rootfs?: Rootfs;
}

/** One `ocifs web` session: root listing, then a text file. */
interface WebRun {
  seconds: number;
  rootBytes: number;
  rootRequests: number;
  fileSeconds: number;
  fileBytes: number;
}

/** A ~1 MiB text file of the tree (its first 8 KiB are UTF-8 text). */
async function textFile(rootfs: Rootfs): Promise<RootfsFile> {
  const candidates = rootfs.regular
    .filter((f) => f.size > 512 * 1024 && f.size < 4 * MiB)
    .sort((a, b) => Math.abs(a.size - MiB) - Math.abs(b.size - MiB));
  for (const f of candidates.slice(0, 200)) {
    const head = (await readFile(join(rootfs.dir, f.path))).subarray(0, 8192);
    if (looksLikeText(head)) return f;
  }
  return pickFile(rootfs, MiB);
}

async function status(web: Awaited<ReturnType<typeof startWeb>>, ref: string): Promise<StatusDoc> {
  return (await (await web.api(`/api/status?ref=${encodeURIComponent(ref)}`)).json()) as StatusDoc;
}

/** Starts `ocifs web`, times the root listing in the browser, then the text file. */
async function session(browser: TestBrowser, ref: string, cache: string, file: string): Promise<WebRun> {
  const t0 = process.hrtime.bigint();
  const web = await startWeb([ref, '--cache-dir', cache]);
  let page: Page | undefined;
  try {
    page = await browser.context.newPage();
    await page.goto(`${web.url}&tab=files`);
    await page.waitForSelector('a.entry', { timeout: 600_000 });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const s1 = await status(web, ref);
    const t1 = process.hrtime.bigint();
    // What a click on a file does: the URL changes and the page follows it.
    await page.evaluate(
      `history.pushState(null, '', ${JSON.stringify(`/image/${ref}?tab=files&path=${file}`)}); dispatchEvent(new PopStateEvent('popstate'))`,
    );
    await page.waitForSelector(`[data-pane-path=${JSON.stringify(file)}] [data-list="text"] .line`, {
      timeout: 600_000,
    });
    const fileSeconds = Number(process.hrtime.bigint() - t1) / 1e9;
    const s2 = await status(web, ref);
    return {
      seconds,
      rootBytes: s1.bytesFetched,
      rootRequests: s1.requests,
      fileSeconds,
      fileBytes: s2.bytesFetched - s1.bytesFetched,
    };
  } finally {
    await page?.close().catch(() => {});
    await web.stop();
  }
}

interface Case {
  name: string;
  ref: string;
  imageBytes: number;
  file: RootfsFile;
  /** The peer: pull the image into `dest` and unpack it into `out`. */
  peer: (dest: string, out: string) => Promise<void>;
}

async function measure(c: Case, browser: TestBrowser, scratch: string, runs: number): Promise<Row[]> {
  const pulled = join(scratch, `${c.name}-pulled`);
  const out = join(scratch, `${c.name}-out`);
  let cache = '';
  let n = 0;
  process.stderr.write(`web ${c.name}: (a) cold root listing vs pull + unpack…\n`);
  const cold = await interleaved(
    runs,
    {
      prepare: () => cleanSlate([pulled, out], true),
      run: async () => {
        const t0 = process.hrtime.bigint();
        await c.peer(pulled, out);
        return { seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
      },
    },
    {
      prepare: async () => {
        await cleanSlate([cache], true);
        cache = join(scratch, `${c.name}-cache-${n++}`);
      },
      run: () => session(browser, c.ref, cache, c.file.path),
    },
  );
  await cleanSlate([pulled, out], false);
  process.stderr.write(`web ${c.name}: (b) warm…\n`);
  const warmCache = cache; // what the last cold run left
  let warm: WebRun | undefined;
  for (let i = 0; i < runs; i++) {
    await cleanSlate([], false);
    const r = await session(browser, c.ref, warmCache, c.file.path);
    if (!warm || r.seconds < warm.seconds) warm = r;
  }
  await cleanSlate([warmCache], false);
  const a = cold.b;
  const peer = `${fmtS(cold.a.seconds)} (${c.name === 'erofs' ? 'skopeo copy + fsck.erofs --extract' : 'skopeo copy + tar x'})`;
  return [
    {
      metric: `[${c.name}] (a) cold: ocifs web start → root listing rendered in Chromium`,
      ocifs: `${fmtS(a.seconds)}, ${fmtMiB(a.rootBytes)} fetched in ${a.rootRequests} requests`,
      peer,
      ratio: a.seconds / cold.a.seconds,
      data: { ocifs: cold.allB, peer: cold.allA, ...a },
    },
    {
      metric: `[${c.name}] (a) cold: bytes fetched for the root listing / image size`,
      ocifs: fmtMiB(a.rootBytes),
      peer: `image ${fmtMiB(c.imageBytes)}`,
      ratio: a.rootBytes / c.imageBytes,
    },
    {
      metric: `[${c.name}] (b) warm: ocifs web start → root listing rendered`,
      ocifs: `${fmtS(warm!.seconds)}, ${fmtMiB(warm!.rootBytes)} fetched`,
      peer,
      ratio: warm!.seconds / cold.a.seconds,
      data: { ...warm },
    },
    {
      metric: `[${c.name}] (c) open ${c.file.path} (${fmtMiB(c.file.size)} text) after the cold listing: first lines on screen`,
      ocifs: `${fmtS(a.fileSeconds)}, ${fmtMiB(a.fileBytes)} fetched`,
      peer,
      ratio: a.fileSeconds / cold.a.seconds,
      data: { fileSeconds: a.fileSeconds, fileBytes: a.fileBytes, file: c.file },
    },
  ];
}

/** Runs the benchmark; prints its table and returns it. */
export async function runWebBench(options: WebBenchOptions = {}): Promise<BenchTable> {
  const runs = options.runs ?? (options.quick ? 1 : 3);
  const work = options.work ?? DEFAULT_BENCH_WORK;
  const rootfs = options.rootfs ?? (await benchRootfs({ quick: !!options.quick, fresh: !!options.fresh, work }));
  const tarTree = options.quick ? rootfs : await tarRootfs({ fresh: !!options.fresh, work });
  await dir(work);
  const scratch = await mkdtemp(join(work, 'scratch-web-'));
  let reg: TestRegistry | undefined;
  let browser: TestBrowser | undefined;
  const rows: Row[] = [];
  const info: Record<string, unknown> = { runs };
  try {
    reg = await startRegistry();
    browser = await launchChromium();
    const erofs = await erofsImage(rootfs, 'lz4hc', !!options.fresh);
    const erofsBytes = (await stat(erofs)).size;
    process.stderr.write(`web: pushing the EROFS image (${fmtMiB(erofsBytes)})…\n`);
    const erofsRef = await pushImageFile(reg, scratch, erofs, MT_LAYER_EROFS, 'bench/web:erofs');
    const layout = await umociImage(tarTree, !!options.fresh);
    const tarRef = `${reg.host}/bench/web:tar`;
    process.stderr.write('web: pushing the tar+gzip image…\n');
    await skopeoPush(layout, 'bench', tarRef);
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const manifest = JSON.parse(
      await readFile(join(layout, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'),
    ) as { layers: { digest: string; size: number }[] };
    const tarLayer = manifest.layers[0];
    info.erofs = { image: erofs, bytes: erofsBytes, ref: erofsRef };
    info.tar = { layout, layer: tarLayer, ref: tarRef };
    const cases: Case[] = [
      {
        name: 'erofs',
        ref: erofsRef,
        imageBytes: erofsBytes,
        file: await textFile(rootfs),
        peer: async (dest, out) => {
          await skopeoPull(erofsRef, dest);
          const m = JSON.parse(await readFile(join(dest, 'manifest.json'), 'utf8')) as { layers: { digest: string }[] };
          await timed('fsck.erofs', [`--extract=${out}`, join(dest, m.layers[0].digest.slice(7))]);
        },
      },
      {
        name: 'tar+gzip',
        ref: tarRef,
        imageBytes: tarLayer.size,
        file: await textFile(tarTree),
        peer: async (dest, out) => {
          await skopeoPull(tarRef, dest);
          await dir(out);
          // umoci 0.4.7 ends its archives right after the last member: GNU tar then says
          // "Unexpected EOF" and exits 2 after extracting everything.
          await timedShell(
            `tar -xzf ${q(join(dest, tarLayer.digest.slice(7)))} -C ${q(out)} 2>/dev/null; [ $? -le 2 ] && [ -d ${q(join(out, 'etc'))} ]`,
          );
        },
      },
    ];
    for (const c of cases) rows.push(...(await measure(c, browser, scratch, runs)));
  } finally {
    await browser?.close();
    await reg?.stop();
    await rm(scratch, { recursive: true, force: true });
  }
  const title = `ocifs web: EROFS (lz4hc) of ${fmtMiB(rootfs.bytes)} in ${rootfs.files} files and tar+gzip (umoci) of ${fmtMiB(tarTree.bytes)}; best of ${runs}`;
  printTable(title, rows);
  process.stderr.write(`results: ${await saveResults('web', rows, info)}\n`);
  return { title, rows, info };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const argv = process.argv.slice(2);
  const i = argv.indexOf('--runs');
  await runWebBench({
    quick: argv.includes('--quick'),
    fresh: argv.includes('--fresh'),
    ...(i >= 0 ? { runs: Number(argv[i + 1]) } : {}),
  });
}
