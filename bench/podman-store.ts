// Benchmark of podman with `ocifs store` as its additional layer store (issue 14) against plain
// podman (which downloads and extracts every layer), in the same run, with the snapshotter
// bench's images and rows (bench/lib/container-images.ts): the bench's ≥ 500 MiB rootfs tree
// with a busybox layer, and a debootstrap Debian with python3, each as EROFS, tar+gzip with a
// SOCI index, eStargz (ctr-remote) and plain tar+gzip. Plain podman always pulls the tar+gzip
// image. Commands: (i) one that reads little (`cat /etc/debian_version`, `python3 -c 'print(1)'`),
// (ii) one that reads everything (`tar c /usr > /dev/null`).
//
//   cold start (i): from nothing cached (podman's storage emptied; the store's cache emptied and
//     the store restarted; page cache dropped) to the command's exit — `podman pull` +
//     `podman run --rm`                                              target ≤ 0.25 (erofs, soci, estargz)
//   bytes fetched for (i) / (bytes the store served — its FUSE tree and the kernel-mounted
//     EROFS layers — + metadata: zTOCs, TOCs)                        target ≤ 1.5
//   warm start (i): a second container                               target ≤ 1.2
//   (ii) warm: the second `tar c /usr`                               target ≤ 1.3
//
// Runs: cold best of --runs (default 1: each is a whole pull for the peer), warm best of 3.
//
//   node --import tsx bench/podman-store.ts [--quick] [--runs N] [--fresh] [--images tree,debian]
import { setTimeout as sleep } from 'node:timers/promises';
import { startRegistry, type TestRegistry } from '../test/helpers/registry.js';
import { startPodman, type TestPodman } from '../test/helpers/podman.js';
import { startStore, type TestStore } from '../test/helpers/store.js';
import { VARIANTS, type Variant } from './lib/container-images.js';
import { containerImageSets, rowsFor, runStandalone, type Commands, type Side } from './lib/container-start.js';
import { dropCaches, OCIFS, printTable, saveResults, timed, type Row } from './lib/measure.js';
import { DEFAULT_BENCH_WORK, type Rootfs } from './lib/rootfs.js';
import type { BenchTable } from './lib/section.js';

export interface PodmanStoreBenchOptions {
  quick?: boolean;
  /** Runs of each cold start (default 1); warm figures are best of max(3, runs). */
  runs?: number;
  fresh?: boolean;
  work?: string;
  rootfs?: Rootfs;
  /** Which images (default both). */
  images?: ('tree' | 'debian')[];
}

const TIMEOUT_MS = 1_800_000;

/** What the store's mount record says it has fetched and served so far. */
async function storeCounters(store: TestStore): Promise<{ fetched: number; served: number }> {
  await sleep(1_200); // the record is refreshed every second
  const r = await timed(process.execPath, [OCIFS, 'mounts', '--json'], {
    keepStdout: true,
    env: { ...process.env, OCIFS_STATE_DIR: store.stateDir },
  });
  const rec = (
    JSON.parse(r.stdout.toString()) as { mountpoint: string; bytesFetched?: number; bytesServed: number }[]
  ).find((m) => m.mountpoint === store.root);
  if (!rec) throw new Error('the store has no mount record');
  return { fetched: rec.bytesFetched ?? 0, served: rec.bytesServed };
}

/** Seconds a podman command takes; throws with its stderr when it fails. */
async function podmanTimed(pm: TestPodman, args: string[]): Promise<number> {
  const t0 = process.hrtime.bigint();
  await pm.podmanOk(args, { timeoutMs: TIMEOUT_MS });
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const runArgs = (ref: string, cmd: string[]) => ['run', '--rm', '--net=none', ref, ...cmd];

/** One side: cold pull + (i) from empty caches, then warm (i) and warm (ii). */
async function measure(pm: TestPodman, ref: string, cmds: Commands, runs: number, store?: TestStore): Promise<Side> {
  let cold = Infinity;
  let counted: { fetched: number; served: number } | undefined;
  for (let i = 0; i < runs; i++) {
    await pm.podman(['rmi', '--all', '--force'], { timeoutMs: TIMEOUT_MS });
    if (store) {
      await store.halt();
      await timed('rm', ['-rf', store.cacheDir]);
      await store.restart();
    }
    await dropCaches();
    const before = store ? await storeCounters(store) : undefined;
    const s = (await podmanTimed(pm, ['pull', '--quiet', ref])) + (await podmanTimed(pm, runArgs(ref, cmds.little)));
    if (s < cold) {
      cold = s;
      if (store && before) {
        const after = await storeCounters(store);
        counted = { fetched: after.fetched - before.fetched, served: after.served - before.served };
      }
    }
  }
  let warm = Infinity;
  for (let k = 0; k < Math.max(3, runs); k++) warm = Math.min(warm, await podmanTimed(pm, runArgs(ref, cmds.little)));
  await podmanTimed(pm, runArgs(ref, cmds.all));
  let allWarm = Infinity;
  for (let k = 0; k < Math.max(3, runs); k++)
    allWarm = Math.min(allWarm, await podmanTimed(pm, runArgs(ref, cmds.all)));
  return { cold, warm, allWarm, ...counted };
}

/** Runs the benchmark; prints its table and returns it. */
export async function runPodmanStoreBench(options: PodmanStoreBenchOptions = {}): Promise<BenchTable> {
  const work = options.work ?? DEFAULT_BENCH_WORK;
  const runs = options.runs ?? 1;
  const which = options.images ?? ['tree', 'debian'];
  const reg: TestRegistry = await startRegistry();
  let store: TestStore | undefined;
  let pm: TestPodman | undefined;
  const rows: Row[] = [];
  const info: Record<string, unknown> = { runs };
  try {
    const sets = await containerImageSets(reg, { ...options, work, which }, info);
    for (const { set, cmds } of sets) {
      info[set.name] = { refs: set.refs, layerBytes: set.layerBytes, metadataBytes: set.metadataBytes };
      process.stderr.write(`podman bench: ${set.name}: plain podman (peer)…\n`);
      pm = await startPodman({ insecureRegistries: [reg.host] });
      const peer = await measure(pm, set.refs.gzip, cmds, runs);
      await pm.stop();
      store = await startStore();
      pm = await startPodman({ insecureRegistries: [reg.host], additionalLayerStores: [`${store.root}:ref`] });
      for (const v of options.quick ? (['erofs', 'soci'] as Variant[]) : VARIANTS) {
        process.stderr.write(`podman bench: ${set.name}: podman with ocifs store, ${v}…\n`);
        rows.push(...rowsFor(set, v, cmds, await measure(pm, set.refs[v], cmds, runs, store), peer, 'plain podman'));
      }
      await pm.stop();
      pm = undefined;
      await store.stop();
      store = undefined;
    }
  } finally {
    await pm?.stop();
    await store?.stop();
    await reg.stop();
  }
  const title = `Container start with podman + ocifs store vs plain podman (cold: best of ${runs}; warm: best of ${Math.max(3, runs)})`;
  printTable(title, rows);
  process.stderr.write(`results: ${await saveResults('podman-store', rows, info)}\n`);
  return { title, rows, info };
}

if (import.meta.url === `file://${process.argv[1]}`) runStandalone(runPodmanStoreBench);
