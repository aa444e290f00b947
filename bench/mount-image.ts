// Benchmark of `ocifs mount` (issue 4) on the lz4hc EROFS image of the rootfs tree, in one run:
//
//   (a) cold `cat` of one ~1 MiB file through a fresh mount of the image in a local registry
//       (file-tree and kernel modes): bytes fetched / (file + metadata) and time (mount start
//       + cat) vs `skopeo copy` of the image. Bytes fetched = the blob's present bytes in the
//       mount's fresh cache afterwards (`ocifs cache ls --json`), since the server runs in
//       its own process; the denominator is computed with dump.erofs (bench/lib/erofs-needed.ts).
//   (b) warm `tar c MNT > /dev/null`, (c) 8 parallel readers, warm: engineer E's bench/mount.ts,
//       run as a child on the same image file (`--image IMG --json`), ratios against a kernel
//       mount of a local copy; targets ≤ 2.0 (kernel mode) and ≤ 4.0 (file-tree mode) for (b).
//
//   node --import tsx bench/mount-image.ts [--quick] [--runs N] [--fresh]
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { unmount } from '../src/mount/manage.js';
import { startRegistry } from '../test/helpers/registry.js';
import { MT_LAYER_EROFS } from '../test/helpers/oci-layout.js';
import { cleanSlate, dir, interleaved, pushImageFile, q, skopeoPull } from './lib/compare.js';
import { erofsNeededBytes } from './lib/erofs-needed.js';
import {
  atMost,
  fmtMiB,
  fmtS,
  MiB,
  OCIFS,
  printTable,
  ROOT,
  saveResults,
  timed,
  timedShell,
  type Row,
} from './lib/measure.js';
import { benchRootfs, DEFAULT_BENCH_WORK, erofsImage, pickFile, type Rootfs } from './lib/rootfs.js';
import type { BenchTable } from './lib/section.js';

export interface MountImageBenchOptions {
  quick?: boolean;
  /** Runs per measurement of (a), best kept (default 3; 1 with quick). */
  runs?: number;
  fresh?: boolean;
  work?: string;
  rootfs?: Rootfs;
}

/** The JSON bench/mount.ts prints with --json. */
interface MountBenchJson {
  imageBytes: number;
  treeBytes: number;
  results: { mode: string; workload: string; pass: string; ms: number; mibPerSec?: number }[];
  /** Best of --reps per (mode, workload, pass), with the local kernel mount's best beside it. */
  ratios: {
    mode: string;
    workload: string;
    pass: string;
    ms: number;
    mibPerSec?: number;
    localMs: number;
    localMibPerSec?: number;
    ratio: number;
  }[];
}

async function cachePresent(cacheDir: string): Promise<number> {
  const r = await timed(process.execPath, [OCIFS, 'cache', 'ls', '--json', '--cache-dir', cacheDir], {
    keepStdout: true,
  });
  const entries = JSON.parse(r.stdout.toString()) as { presentBytes: number }[];
  return entries.reduce((n, e) => n + e.presentBytes, 0);
}

/** Runs the benchmark; prints its table and returns it. */
export async function runMountImageBench(options: MountImageBenchOptions = {}): Promise<BenchTable> {
  if (process.getuid?.() !== 0) throw new Error('the mount benchmark needs root (kernel EROFS mounts, FUSE)');
  const runs = options.runs ?? (options.quick ? 1 : 3);
  const work = options.work ?? DEFAULT_BENCH_WORK;
  const rootfs = options.rootfs ?? (await benchRootfs({ quick: !!options.quick, fresh: !!options.fresh, work }));
  const image = await erofsImage(rootfs, 'lz4hc', !!options.fresh);
  const imageBytes = (await stat(image)).size;
  await dir(work);
  const scratch = await mkdtemp(join(work, 'scratch-mount-'));
  const rows: Row[] = [];
  const file = pickFile(rootfs, 1 * MiB);
  const info: Record<string, unknown> = { image, imageBytes, file, runs };
  const reg = await startRegistry();
  try {
    const ref = await pushImageFile(reg, scratch, image, MT_LAYER_EROFS, 'bench/rootfs:lz4hc');
    const needed = await erofsNeededBytes(image, file.path);
    const mnt = await dir(join(scratch, 'mnt'));
    const stateDir = join(scratch, 'state');
    const skopeoDir = join(scratch, 'skopeo');
    for (const mode of ['tree', 'kernel'] as const) {
      process.stderr.write(`mount: (a) cold cat ${file.path} through a ${mode} mount vs skopeo copy…\n`);
      let n = 0;
      let cache = '';
      const r = await interleaved(
        runs,
        { prepare: () => cleanSlate([skopeoDir], true), run: () => skopeoPull(ref, skopeoDir) },
        {
          prepare: async () => {
            await cleanSlate([cache], true);
            cache = join(scratch, `cache-${mode}-${n++}`);
          },
          // The command a user runs (`ocifs mount` returns once the mount is ready), then cat.
          run: async () => {
            const env = { ...process.env, OCIFS_STATE_DIR: stateDir };
            const t0 = process.hrtime.bigint();
            await timed(
              process.execPath,
              [OCIFS, 'mount', '--cache-dir', cache, ...(mode === 'kernel' ? ['--kernel'] : []), ref, mnt],
              { env },
            );
            let seconds = 0;
            try {
              await timedShell(`cat ${q(join(mnt, file.path))} > /dev/null`);
              seconds = Number(process.hrtime.bigint() - t0) / 1e9;
            } finally {
              await unmount(mnt, { stateDir });
            }
            return { seconds, bytes: await cachePresent(cache) };
          },
        },
      );
      const bytesRatio = r.b.bytes / needed.bytes;
      rows.push({
        metric: `(a) ${mode} mode: cold cat ${file.path} (${fmtMiB(file.size)}): bytes fetched / needed`,
        ocifs: `${fmtMiB(r.b.bytes)} (present in the cache)`,
        peer: `needed ${fmtMiB(needed.bytes)} (${needed.fileDataBlocks} data + ${needed.metadataBlocks} metadata blocks)`,
        ratio: bytesRatio,
        ...atMost(bytesRatio, 1.5),
        data: { bytes: r.b.bytes, needed },
      });
      const timeRatio = r.b.seconds / r.a.seconds;
      rows.push({
        metric: `(a) ${mode} mode: mount + cold cat time vs skopeo copy of the image`,
        ocifs: fmtS(r.b.seconds),
        peer: `skopeo copy ${fmtS(r.a.seconds)} (${fmtMiB(imageBytes)})`,
        ratio: timeRatio,
        target: '≤ 0.05 (1/20)',
        ok: timeRatio <= 0.05,
        data: { ocifs: r.allB, skopeo: r.allA },
      });
      await cleanSlate([cache, skopeoDir], false);
    }
  } finally {
    await timedShell(`umount -l ${q(join(scratch, 'mnt'))} 2>/dev/null || true`);
    await reg.stop();
  }

  // (b), (c): engineer E's bench/mount.ts on the same image file, as a child.
  try {
    const mountBench = join(ROOT, 'bench', 'mount.ts');
    if (!existsSync(mountBench)) throw new Error('bench/mount.ts is not there yet');
    process.stderr.write(
      'mount: (b)(c) bench/mount.ts --image … --json (tar c and 8 readers vs a local kernel mount)…\n',
    );
    const r = await timed(process.execPath, ['--import', 'tsx', mountBench, '--image', image, '--json'], {
      keepStdout: true,
      cwd: ROOT,
      env: { ...process.env, TMPDIR: scratch },
    });
    const j = JSON.parse(r.stdout.toString()) as MountBenchJson;
    info.mountBench = j;
    for (const x of j.ratios) {
      const mode = x.mode === 'ocifs-kernel' ? 'kernel' : 'tree';
      const l = { ms: x.localMs, mibPerSec: x.localMibPerSec };
      if (x.workload === '8-readers') {
        const tput = x.mibPerSec! / l.mibPerSec!;
        rows.push({
          metric: `(c) ${mode} mode: 8 parallel readers, ${x.pass}: throughput / local kernel mount's`,
          ocifs: `${x.mibPerSec!.toFixed(0)} MiB/s`,
          peer: `local kernel mount ${l.mibPerSec!.toFixed(0)} MiB/s`,
          ratio: tput,
          data: { ocifsMs: x.ms, localMs: l.ms },
        });
      } else {
        const what = x.workload === 'tar-devnull' ? '`tar c MNT > /dev/null`' : '`tar c MNT | cat > /dev/null`';
        const limit = mode === 'kernel' ? 2.0 : 4.0;
        const targeted = x.workload === 'tar-devnull' && x.pass === 'warm';
        rows.push({
          metric: `(b) ${mode} mode: ${what}, ${x.pass}`,
          ocifs: fmtS(x.ms / 1000),
          peer: `local kernel mount ${fmtS(l.ms / 1000)}`,
          ratio: x.ratio,
          ...(targeted ? atMost(x.ratio, limit) : {}),
          data: { ocifsMs: x.ms, localMs: l.ms },
        });
      }
    }
  } catch (err) {
    rows.push({
      metric: '(b)(c) bench/mount.ts',
      ocifs: `FAILED: ${(err as Error).message.split('\n')[0].slice(0, 300)}`,
      peer: '',
      ratio: NaN,
      ok: false,
    });
  } finally {
    await rm(scratch, { recursive: true, force: true }).catch(() => {});
  }
  const title = `Mount: lz4hc EROFS image ${fmtMiB(imageBytes)} of ${fmtMiB(rootfs.bytes)} in ${rootfs.files} files; best of ${runs}`;
  printTable(title, rows);
  process.stderr.write(`results: ${await saveResults('mount-image', rows, info)}\n`);
  return { title, rows, info };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const argv = process.argv.slice(2);
  const i = argv.indexOf('--runs');
  await runMountImageBench({
    quick: argv.includes('--quick'),
    fresh: argv.includes('--fresh'),
    ...(i >= 0 ? { runs: Number(argv[i + 1]) } : {}),
  });
}
