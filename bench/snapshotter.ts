// Benchmark of container start with `ocifs snapshotter` (issue 14) against containerd's default
// overlayfs snapshotter, in the same run, on two images: the bench's ≥ 500 MiB rootfs tree
// (bench/lib/rootfs.ts, with a busybox layer to run commands) and a debootstrap Debian with
// python3. Each image is pushed as EROFS, tar+gzip with a SOCI index, eStargz (ctr-remote) and
// plain tar+gzip (bench/lib/container-images.ts). Commands: (i) one that reads little
// (`cat /etc/debian_version` — the tree's /etc/os-release may point into a /usr/lib it left
// out — and `python3 -c 'print(1)'`), (ii) one that reads everything
// (`tar c /usr > /dev/null`).
//
//   cold start (i): from nothing in the node's caches (fresh containerd, fresh snapshotter root
//     and cache, page cache dropped) to the command's exit —
//     `ctr-remote image rpull --snapshotter ocifs` + `ctr run --snapshotter ocifs`
//     vs `ctr image pull` (gzip image) + `ctr run`                  target ≤ 0.25 (erofs, soci, estargz)
//   bytes fetched for (i) / (bytes the layers served to the kernel + metadata: zTOCs, TOCs)
//                                                                    target ≤ 1.5
//   warm start (i): a second container on the same node             target ≤ 1.2
//   (ii) warm: the second `tar c /usr` on the same node              target ≤ 1.3
//
// Both sides fetch from the same local distribution registry. Runs: cold once per variant by
// default (each is a full pull for the peer), warm best of 3.
//
//   node --import tsx bench/snapshotter.ts [--quick] [--runs N] [--fresh] [--images tree,debian]
import { startRegistry, type TestRegistry } from '../test/helpers/registry.js';
import { startContainerd, type TestContainerd } from '../test/helpers/containerd.js';
import { startSnapshotter, type TestSnapshotter } from '../test/helpers/snapshotter.js';
import { freePort } from '../test/helpers/run.js';
import { VARIANTS, type Variant } from './lib/container-images.js';
import { containerImageSets, rowsFor, runStandalone, type Commands, type Side } from './lib/container-start.js';
import { dropCaches, printTable, saveResults, type Row } from './lib/measure.js';
import { DEFAULT_BENCH_WORK, type Rootfs } from './lib/rootfs.js';
import type { BenchTable } from './lib/section.js';

export interface SnapshotterBenchOptions {
  quick?: boolean;
  /** Runs of each cold start (default 1); warm figures are best of max(3, runs). */
  runs?: number;
  fresh?: boolean;
  work?: string;
  rootfs?: Rootfs;
  /** Which images (default both). */
  images?: ('tree' | 'debian')[];
}

/** Reads a counter from the snapshotter's Prometheus text. */
function counter(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\d+(?:\\.\\d+)?(?:e\\+\\d+)?)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

interface Node {
  ctd: TestContainerd;
  sn?: TestSnapshotter;
  metricsPort?: number;
  stop(): Promise<void>;
}

/** A node with nothing in its caches: a fresh containerd (and a fresh ocifs snapshotter when asked). */
async function freshNode(ocifs: boolean): Promise<Node> {
  let sn: TestSnapshotter | undefined;
  let metricsPort: number | undefined;
  if (ocifs) {
    metricsPort = await freePort();
    sn = await startSnapshotter({ args: ['--metrics-address', `127.0.0.1:${metricsPort}`] });
  }
  const ctd = await startContainerd(sn ? { proxySnapshotters: { ocifs: sn.address } } : {});
  return {
    ctd,
    ...(sn ? { sn, metricsPort } : {}),
    async stop() {
      await ctd.stop();
      await sn?.cleanup();
    },
  };
}

let runId = 0;

/** `ctr run --rm` of `cmd`; returns its wall time. */
async function runIn(node: Node, ref: string, cmd: string[]): Promise<number> {
  const t0 = process.hrtime.bigint();
  const r = await node.ctd.ctr(
    ['run', '--rm', ...(node.sn ? ['--snapshotter', 'ocifs'] : []), ref, `bench-${++runId}`, ...cmd],
    { timeoutMs: 1_800_000 },
  );
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.code !== 0) throw new Error(`ctr run ${ref} ${cmd.join(' ')}: ${r.stderr.slice(-2000)}`);
  return s;
}

/** One side: cold pull + (i), then warm (i) and warm (ii), on a fresh node. */
async function measure(ocifs: boolean, ref: string, cmds: Commands, runs: number): Promise<Side> {
  let coldBest = Infinity;
  let out: Side | undefined;
  for (let i = 0; i < runs; i++) {
    const node = await freshNode(ocifs);
    try {
      await dropCaches();
      const t0 = process.hrtime.bigint();
      const pull = ocifs
        ? await node.ctd.ctrRemote(['image', 'rpull', '--plain-http', '--snapshotter', 'ocifs', ref], {
            timeoutMs: 1_800_000,
          })
        : await node.ctd.ctr(['image', 'pull', '--plain-http', ref], { timeoutMs: 1_800_000 });
      if (pull.code !== 0) throw new Error(`pull ${ref}: ${pull.stderr.slice(-2000)}`);
      await runIn(node, ref, cmds.little);
      const cold = Number(process.hrtime.bigint() - t0) / 1e9;
      let fetched: number | undefined;
      let served: number | undefined;
      if (node.metricsPort) {
        const text = await (await fetch(`http://127.0.0.1:${node.metricsPort}/metrics`)).text();
        fetched = counter(text, 'ocifs_bytes_fetched_total');
        served = counter(text, 'ocifs_layer_bytes_served_total');
        if (counter(text, 'ocifs_snapshotter_fallbacks_total') > 0)
          throw new Error(`${ref}: a layer fell back to unpacking:\n${node.sn!.log().slice(-2000)}`);
      }
      let warm = Infinity;
      for (let k = 0; k < Math.max(3, runs); k++) warm = Math.min(warm, await runIn(node, ref, cmds.little));
      await runIn(node, ref, cmds.all);
      let allWarm = Infinity;
      for (let k = 0; k < Math.max(3, runs); k++) allWarm = Math.min(allWarm, await runIn(node, ref, cmds.all));
      if (cold < coldBest) {
        coldBest = cold;
        out = { cold, warm, allWarm, ...(fetched !== undefined ? { fetched, served } : {}) };
      }
    } finally {
      await node.stop();
    }
  }
  return out!;
}

/** Runs the benchmark; prints its table and returns the rows. */
export async function runSnapshotterBench(options: SnapshotterBenchOptions = {}): Promise<BenchTable> {
  const work = options.work ?? DEFAULT_BENCH_WORK;
  const runs = options.runs ?? 1;
  const which = options.images ?? ['tree', 'debian'];
  const reg: TestRegistry = await startRegistry();
  const rows: Row[] = [];
  const info: Record<string, unknown> = { runs };
  try {
    const sets = await containerImageSets(reg, { ...options, work, which }, info);
    for (const { set, cmds } of sets) {
      info[set.name] = { refs: set.refs, layerBytes: set.layerBytes, metadataBytes: set.metadataBytes };
      process.stderr.write(`snapshotter bench: ${set.name}: overlayfs (peer)…\n`);
      const peer = await measure(false, set.refs.gzip, cmds, runs);
      for (const v of options.quick ? (['erofs', 'soci'] as Variant[]) : VARIANTS) {
        process.stderr.write(`snapshotter bench: ${set.name}: ocifs ${v}…\n`);
        rows.push(...rowsFor(set, v, cmds, await measure(true, set.refs[v], cmds, runs), peer, 'overlayfs'));
      }
    }
  } finally {
    await reg.stop();
  }
  const title = `Container start with ocifs snapshotter vs containerd's overlayfs snapshotter (cold: best of ${runs}; warm: best of ${Math.max(3, runs)})`;
  printTable(title, rows);
  process.stderr.write(`results: ${await saveResults('snapshotter', rows, info)}\n`);
  return { title, rows, info };
}

if (import.meta.url === `file://${process.argv[1]}`) runStandalone(runSnapshotterBench);
