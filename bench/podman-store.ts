// Benchmark of podman with `ocifs store` as its additional layer store (issue 14) against plain
// podman (which downloads and extracts every layer), in the same run, on the bench's root
// filesystem tree (bench/lib/rootfs.ts, ≥ 500 MiB / 30,000 files) with a busybox layer on top
// (so that the image runs: /bin/sh, cat, tar, /etc/os-release, /etc/passwd). Three images of
// the same tree, pushed to a local distribution registry:
//   erofs    two mkfs.erofs layers (-zlz4hc), read by ocifs's EROFS reader
//   estargz  the tar+gzip image converted by ctr-remote (stargz-snapshotter) in a private containerd
//   gzip     umoci's tar+gzip layers (no index: the store reads each layer once to index it)
// The peer is always plain podman pulling the tar+gzip image. Rows per image:
//   (i)  cold start: `podman pull` + `podman run --rm IMG cat /etc/os-release` from nothing
//        cached (podman's storage emptied, the store's cache emptied and the store restarted,
//        page cache dropped)                                                  target ≤ 0.25
//        bytes the store fetched / bytes of the files the start reads (the busybox binary,
//        os-release, passwd, group)                                           target ≤ 1.5
//   warm start: the same `podman run` again (image pulled, caches warm)         target ≤ 1.2
//   (ii) `tar c /usr > /dev/null` in the container, warm (second run)          target ≤ 1.3
// Plain podman is measured first, then the store on each image; best of N each.
//
//   node --import tsx bench/podman-store.ts [--quick] [--runs N] [--fresh]
import { cp, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRegistry, skopeoPush, type TestRegistry } from '../test/helpers/registry.js';
import { MT_LAYER_EROFS, writeImageLayout } from '../test/helpers/oci-layout.js';
import { writeBusyboxRootfs } from '../test/helpers/busybox-image.js';
import { startContainerd } from '../test/helpers/containerd.js';
import { startPodman, type TestPodman } from '../test/helpers/podman.js';
import { startStore, type TestStore } from '../test/helpers/store.js';
import { dir } from './lib/compare.js';
import { atMost, dropCaches, fmtMiB, fmtS, OCIFS, printTable, saveResults, timed, type Row, type Timed } from './lib/measure.js';
import { benchRootfs, DEFAULT_BENCH_WORK, erofsImage, type Rootfs } from './lib/rootfs.js';
import type { BenchTable } from './lib/section.js';
import { umociImage } from './tar-image.js';

export interface PodmanStoreBenchOptions {
  quick?: boolean;
  /** Runs per measurement, best kept (default 3; 1 with quick). */
  runs?: number;
  fresh?: boolean;
  work?: string;
  rootfs?: Rootfs;
}

// busybox by its path: the tree's own /usr/bin (the host's dynamic binaries, without their
// libraries) comes first in PATH.
const COMMAND = ['/bin/busybox', 'cat', '/etc/os-release'];
const READ_ALL = '/bin/busybox tar c /usr > /dev/null';
/** What the cold start reads in the container: the program (busybox) and the files podman and cat open. */
const START_FILES = ['bin/busybox', 'etc/os-release', 'etc/passwd', 'etc/group'];

interface Images {
  erofs: string;
  estargz: string;
  gzip: string;
  /** Compressed bytes of the tar+gzip image's layers (what plain podman downloads). */
  gzipBytes: number;
}

/** The tar+gzip image: umoci's cached layout of the tree plus a busybox layer. */
async function pushGzip(reg: TestRegistry, rootfs: Rootfs, busybox: string, scratch: string, fresh: boolean): Promise<{ ref: string; bytes: number }> {
  const layout = join(scratch, 'gzip-layout');
  await cp(await umociImage(rootfs, fresh), layout, { recursive: true });
  await timed('umoci', ['insert', '--image', `${layout}:bench`, busybox, '/']);
  await timed('umoci', ['config', '--image', `${layout}:bench`, '--config.cmd', '/bin/sh']);
  const ref = `${reg.host}/bench/podman:gzip`;
  await skopeoPush(layout, 'bench', ref);
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const blob = (d: string) => join(layout, 'blobs', 'sha256', d.slice(7));
  const manifest = JSON.parse(await readFile(blob(index.manifests[0].digest), 'utf8')) as { layers: { size: number }[] };
  await rm(layout, { recursive: true, force: true });
  return { ref, bytes: manifest.layers.reduce((n, l) => n + l.size, 0) };
}

/** The EROFS image: the tree's cached lz4hc image and a busybox EROFS layer. */
async function pushErofs(reg: TestRegistry, rootfs: Rootfs, busybox: string, scratch: string, fresh: boolean): Promise<string> {
  const top = join(scratch, 'busybox.erofs');
  await timed('mkfs.erofs', ['--quiet', '-zlz4hc', top, busybox]);
  const layout = join(scratch, 'erofs-layout');
  const layers = [];
  for (const f of [await erofsImage(rootfs, 'lz4hc', fresh), top]) layers.push({ bytes: await readFile(f), mediaType: MT_LAYER_EROFS });
  await writeImageLayout(layout, { layers, config: { Cmd: ['/bin/sh'] } }, 'bench');
  const ref = `${reg.host}/bench/podman:erofs`;
  await skopeoPush(layout, 'bench', ref);
  await rm(layout, { recursive: true, force: true });
  return ref;
}

/** The eStargz image: ctr-remote's conversion of the tar+gzip image, in a private containerd. */
async function pushEstargz(gzipRef: string): Promise<string> {
  const ref = gzipRef.replace(/:gzip$/, ':estargz');
  const ctd = await startContainerd();
  try {
    await ctd.ctrOk(['image', 'pull', '--plain-http', gzipRef], { timeoutMs: 1_200_000 });
    const r = await ctd.ctrRemote(['image', 'convert', '--estargz', '--oci', gzipRef, ref], { timeoutMs: 1_800_000 });
    if (r.code !== 0) throw new Error(`ctr-remote image convert: ${r.stderr}`);
    await ctd.ctrOk(['image', 'push', '--plain-http', ref], { timeoutMs: 1_200_000 });
  } finally {
    await ctd.stop();
  }
  return ref;
}

/** Bytes the store has fetched so far (its mount record, refreshed every second). */
async function storeFetched(store: TestStore): Promise<number> {
  await sleep(1_200);
  const r = await timed(process.execPath, [OCIFS, 'mounts', '--json'], { keepStdout: true, env: { ...process.env, OCIFS_STATE_DIR: store.stateDir } });
  const rec = (JSON.parse(r.stdout.toString()) as { mountpoint: string; bytesFetched?: number }[]).find((m) => m.mountpoint === store.root);
  if (!rec) throw new Error('the store has no mount record');
  return rec.bytesFetched ?? 0;
}

/** A shell line run in a podman environment, timed, its stdout kept. */
function inPodman(pm: TestPodman, line: string): Promise<Timed> {
  return timed('/bin/sh', ['-c', line], { env: pm.env, keepStdout: true });
}

const runLine = (ref: string, cmd: string) => `podman run --rm --net=none ${ref} ${cmd}`;
const startLine = (ref: string) => `podman pull --quiet ${ref} > /dev/null && ${runLine(ref, COMMAND.join(' '))}`;
const readAllLine = (ref: string) => runLine(ref, `/bin/busybox sh -c '${READ_ALL}'`);

/** Cold start, warm start and a warm read of everything, best of `runs` each. */
interface Figures {
  cold: number;
  warm: number;
  readAllFirst: number;
  readAll: number;
  /** Bytes the store fetched during the best cold start (store only). */
  fetched?: number;
}

async function measure(runs: number, pm: TestPodman, ref: string, emptyCaches: () => Promise<void>, fetchedSoFar?: () => Promise<number>): Promise<Figures> {
  let cold = Infinity;
  let fetched: number | undefined;
  for (let i = 0; i < runs; i++) {
    await pm.podman(['rmi', '--all', '--force']);
    await emptyCaches();
    await dropCaches();
    const before = await fetchedSoFar?.();
    const r = await inPodman(pm, startLine(ref));
    if (r.stdout.toString() !== 'ID=ocifs-bench\n') throw new Error(`${ref}: the container printed ${JSON.stringify(r.stdout.toString())}`);
    if (r.seconds < cold) {
      cold = r.seconds;
      if (before !== undefined) fetched = (await fetchedSoFar!()) - before;
    }
  }
  let warm = Infinity;
  for (let i = 0; i < runs; i++) warm = Math.min(warm, (await inPodman(pm, runLine(ref, COMMAND.join(' ')))).seconds);
  const readAllFirst = (await inPodman(pm, readAllLine(ref))).seconds;
  let readAll = Infinity;
  for (let i = 0; i < runs; i++) readAll = Math.min(readAll, (await inPodman(pm, readAllLine(ref))).seconds);
  return { cold, warm, readAllFirst, readAll, ...(fetched !== undefined ? { fetched } : {}) };
}

/** Runs the benchmark; prints its table and returns it. */
export async function runPodmanStoreBench(options: PodmanStoreBenchOptions = {}): Promise<BenchTable> {
  const runs = options.runs ?? (options.quick ? 1 : 3);
  const work = options.work ?? DEFAULT_BENCH_WORK;
  const rootfs = options.rootfs ?? (await benchRootfs({ quick: !!options.quick, fresh: !!options.fresh, work }));
  await dir(work);
  const scratch = await mkdtemp(join(work, 'scratch-podman-'));
  const reg = await startRegistry();
  let store: TestStore | undefined;
  let withStore: TestPodman | undefined;
  let plain: TestPodman | undefined;
  const rows: Row[] = [];
  const info: Record<string, unknown> = { rootfs: { key: rootfs.key, bytes: rootfs.bytes, files: rootfs.files }, runs };
  try {
    const busybox = join(scratch, 'busybox');
    await writeBusyboxRootfs(busybox, 'ID=ocifs-bench\n');
    const startBytes = (await Promise.all(START_FILES.map((f) => stat(join(busybox, f))))).reduce((n, st) => n + st.size, 0);
    process.stderr.write('podman: making and pushing the images (tar+gzip, EROFS, eStargz)…\n');
    const gzip = await pushGzip(reg, rootfs, busybox, scratch, !!options.fresh);
    const images: Images = { gzip: gzip.ref, gzipBytes: gzip.bytes, erofs: await pushErofs(reg, rootfs, busybox, scratch, !!options.fresh), estargz: await pushEstargz(gzip.ref) };
    info.images = images;

    process.stderr.write('podman: plain podman, tar+gzip…\n');
    plain = await startPodman({ insecureRegistries: [reg.host] });
    const peer = await measure(runs, plain, images.gzip, async () => {});
    await plain.stop();
    plain = undefined;
    info.plain = peer;

    const s = (store = await startStore());
    withStore = await startPodman({ insecureRegistries: [reg.host], additionalLayerStores: [`${s.root}:ref`] });
    const emptyStore = async () => {
      await s.halt();
      await rm(s.cacheDir, { recursive: true, force: true });
      await s.restart();
    };
    for (const kind of ['erofs', 'estargz', 'gzip'] as const) {
      process.stderr.write(`podman: with the store, ${kind}…\n`);
      const f = await measure(runs, withStore, images[kind], emptyStore, () => storeFetched(s));
      info[kind] = f;
      const lazy = kind !== 'gzip';
      const coldRatio = f.cold / peer.cold;
      rows.push({
        metric: `${kind}: cold start (pull + run cat /etc/os-release)`,
        ocifs: fmtS(f.cold),
        peer: `${fmtS(peer.cold)} plain podman, tar+gzip (${fmtMiB(images.gzipBytes)} downloaded)`,
        ratio: coldRatio,
        ...(lazy ? atMost(coldRatio, 0.25) : {}),
      });
      const fetched = f.fetched ?? NaN;
      rows.push({
        metric: `${kind}: bytes fetched by the cold start / bytes of the files it reads`,
        ocifs: fmtMiB(fetched),
        peer: `${fmtMiB(startBytes)} (${START_FILES.join(', ')})`,
        ratio: fetched / startBytes,
        ...(lazy ? atMost(fetched / startBytes, 1.5) : {}),
      });
      rows.push({ metric: `${kind}: warm start (run again)`, ocifs: fmtS(f.warm), peer: `${fmtS(peer.warm)} plain podman`, ratio: f.warm / peer.warm, ...atMost(f.warm / peer.warm, 1.2) });
      rows.push({
        metric: `${kind}: ${READ_ALL}, warm (first: ${fmtS(f.readAllFirst)} vs ${fmtS(peer.readAllFirst)})`,
        ocifs: fmtS(f.readAll),
        peer: `${fmtS(peer.readAll)} plain podman`,
        ratio: f.readAll / peer.readAll,
        ...atMost(f.readAll / peer.readAll, 1.3),
      });
    }
  } finally {
    await withStore?.stop();
    await plain?.stop();
    await store?.stop();
    await reg.stop();
    await rm(scratch, { recursive: true, force: true });
  }
  const title = `podman with ocifs store vs plain podman: ${fmtMiB(rootfs.bytes)} in ${rootfs.files} files + busybox; best of ${runs}`;
  printTable(title, rows);
  process.stderr.write(`results: ${await saveResults('podman-store', rows, info)}\n`);
  return { title, rows, info };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const argv = process.argv.slice(2);
  const runsAt = argv.indexOf('--runs');
  await runPodmanStoreBench({ quick: argv.includes('--quick'), fresh: argv.includes('--fresh'), ...(runsAt >= 0 ? { runs: Number(argv[runsAt + 1]) } : {}) });
}

