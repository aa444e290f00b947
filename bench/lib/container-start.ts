// What the two container-start benchmarks (bench/snapshotter.ts: containerd, bench/podman-store.ts:
// podman) share: their images and commands, the Debian tree, and the rows made of one side's
// figures against the peer's.
import { existsSync } from 'node:fs';
import { rm, rename, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestRegistry } from '../../test/helpers/registry.js';
import { buildImageSet, type ImageSet, type Variant } from './container-images.js';
import { atMost, fmtMiB, fmtS, timed, type Row } from './measure.js';
import { benchRootfs, type Rootfs } from './rootfs.js';

/** The two commands a container start is measured with. */
export interface Commands {
  little: string[];
  all: string[];
  littleText: string;
}

/** What one side measured: seconds, and bytes where ocifs counts them. */
export interface Side {
  cold: number;
  warm: number;
  allWarm: number;
  fetched?: number;
  served?: number;
}

/** A debootstrap'ed Debian (minbase + python3), cached in `work`. */
export async function debianTree(work: string, fresh: boolean): Promise<string> {
  const dir = join(work, 'debootstrap-python3');
  if (fresh) await rm(dir, { recursive: true, force: true });
  if (existsSync(join(dir, 'usr/bin/python3'))) return dir;
  const tmp = `${dir}.tmp`;
  await rm(tmp, { recursive: true, force: true });
  process.stderr.write('bench: debootstrap --variant=minbase --include=python3 bookworm (a few minutes)…\n');
  await timed('debootstrap', [
    '--variant=minbase',
    '--include=python3',
    'bookworm',
    tmp,
    'http://deb.debian.org/debian',
  ]);
  await rm(join(tmp, 'var/cache/apt/archives'), { recursive: true, force: true });
  await mkdir(join(tmp, 'var/cache/apt/archives/partial'), { recursive: true });
  await rename(tmp, dir);
  return dir;
}

/** The images a container-start bench runs, each with its commands; notes them in `info`. */
export async function containerImageSets(
  reg: TestRegistry,
  options: { work: string; which: readonly ('tree' | 'debian')[]; quick?: boolean; fresh?: boolean; rootfs?: Rootfs },
  info: Record<string, unknown>,
): Promise<{ set: ImageSet; cmds: Commands }[]> {
  const { work, which } = options;
  const sets: { set: ImageSet; cmds: Commands }[] = [];
  if (which.includes('tree')) {
    const rootfs = options.rootfs ?? (await benchRootfs({ quick: !!options.quick, fresh: !!options.fresh, work }));
    info.tree = { key: rootfs.key, bytes: rootfs.bytes, files: rootfs.files };
    const set = await buildImageSet(reg, work, `tree-${rootfs.key}`, rootfs.dir, true);
    // The tree's own programs need a loader it lacks: busybox's, by absolute path. Its
    // /etc/os-release is a link to a file the tree does not have.
    sets.push({
      set,
      cmds: {
        little: ['/bin/cat', '/etc/debian_version'],
        littleText: 'cat /etc/debian_version',
        all: ['/bin/sh', '-c', '/bin/tar c /usr > /dev/null'],
      },
    });
  }
  if (which.includes('debian')) {
    const set = await buildImageSet(reg, work, 'debian-python3', await debianTree(work, !!options.fresh), false);
    sets.push({
      set,
      cmds: {
        little: ['python3', '-c', 'print(1)'],
        littleText: "python3 -c 'print(1)'",
        all: ['sh', '-c', 'tar c /usr > /dev/null'],
      },
    });
  }
  return sets;
}

/** The rows of one variant: cold start, bytes, warm start and warm (ii), ocifs against the peer. */
export function rowsFor(set: ImageSet, variant: Variant, cmds: Commands, o: Side, peer: Side, peerName: string): Row[] {
  const lazyTarget = variant !== 'gzip';
  const cold = o.cold / peer.cold;
  const needed = (o.served ?? 0) + set.metadataBytes[variant];
  const bytes = (o.fetched ?? 0) / Math.max(1, needed);
  const label = `${set.name} ${variant}`;
  return [
    {
      metric: `${label}: cold start, ${cmds.littleText}`,
      ocifs: fmtS(o.cold),
      peer: `${peerName} pull+run ${fmtS(peer.cold)}`,
      ratio: cold,
      ...(lazyTarget ? atMost(cold, 0.25) : {}),
      data: { ocifs: o, peer },
    },
    {
      metric: `${label}: bytes fetched / (served + metadata), ${cmds.littleText}`,
      ocifs: fmtMiB(o.fetched ?? 0),
      peer: `${fmtMiB(o.served ?? 0)} served + ${fmtMiB(set.metadataBytes[variant])} metadata (image ${fmtMiB(set.layerBytes[variant])})`,
      ratio: bytes,
      ...(lazyTarget ? atMost(bytes, 1.5) : {}),
    },
    {
      metric: `${label}: warm start, ${cmds.littleText}`,
      ocifs: fmtS(o.warm),
      peer: `${peerName} ${fmtS(peer.warm)}`,
      ratio: o.warm / peer.warm,
      ...atMost(o.warm / peer.warm, 1.2),
    },
    {
      metric: `${label}: warm, tar c /usr`,
      ocifs: fmtS(o.allWarm),
      peer: `${peerName} ${fmtS(peer.allWarm)}`,
      ratio: o.allWarm / peer.allWarm,
      ...atMost(o.allWarm / peer.allWarm, 1.3),
    },
  ];
}

/** The options a container-start bench takes from its own command line when run by itself. */
export interface StandaloneOptions {
  quick: boolean;
  fresh: boolean;
  images?: ('tree' | 'debian')[];
  runs?: number;
}

/** Runs a container-start bench from its command line (`--quick --fresh --images L --runs N`). */
export function runStandalone(run: (options: StandaloneOptions) => Promise<unknown>): void {
  const argv = process.argv.slice(2);
  const images = argv.includes('--images')
    ? (argv[argv.indexOf('--images') + 1].split(',') as ('tree' | 'debian')[])
    : undefined;
  const runs = argv.includes('--runs') ? Number(argv[argv.indexOf('--runs') + 1]) : undefined;
  run({
    quick: argv.includes('--quick'),
    fresh: argv.includes('--fresh'),
    ...(images ? { images } : {}),
    ...(runs ? { runs } : {}),
  }).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  });
}
