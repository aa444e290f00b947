// `npm run bench`: every project benchmark in one run, in order — core (issue 2), erofs
// (issue 3), mount (issue 4), tar (issue 5), index and convert (issue 15), web (issue 16), snapshotter and
// podman (issue 14) — each a table of ratios ocifs / peer measured
// side by side in this run. A section that fails prints its failure in its table and the
// others still run. At the end all tables are printed again under a header describing the
// machine (cores, RAM, kernel, load, node and tool versions), and one combined JSON goes to
// bench/results/bench-<date>.json.
//
//   npm run bench -- [--quick] [--only core,erofs,mount,tar,index,convert,web,snapshotter,podman] [--runs N] [--fresh] [--work DIR]
//
//   --quick   smoke run: 128 MiB core blob, a ~80 MiB / 4,000-file tree, one run each
//   --only    the named sections only
//   --runs    runs per measurement (best kept; default 3, 1 with --quick)
//   --fresh   copy the rootfs tree and rebuild its images even when cached
//   --work    parent of trees, images and scratch dirs (default /var/tmp/ocifs-bench)
import { execFileSync } from 'node:child_process';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { cpus, freemem, loadavg, release, totalmem } from 'node:os';
import { runConvertBench } from './convert-image.js';
import { runCoreBench } from './core-blob.js';
import { runErofsImageBench } from './erofs-image.js';
import { fmtMiB, fmtS, OCIFS, ROOT, saveResults, timed, type Row } from './lib/measure.js';
import { benchRootfs, DEFAULT_BENCH_WORK, type Rootfs } from './lib/rootfs.js';
import type { BenchTable } from './lib/section.js';
import { runMountImageBench } from './mount-image.js';
import { runTarImageBench, tarRootfs } from './tar-image.js';
import { runSociIndexBench } from './soci-index.js';
import { runWebBench } from './web.js';
import { runPodmanStoreBench } from './podman-store.js';
import { runSnapshotterBench } from './snapshotter.js';

const SECTIONS = ['core', 'erofs', 'mount', 'tar', 'index', 'convert', 'web', 'snapshotter', 'podman'] as const;
type Section = (typeof SECTIONS)[number];

interface Args {
  quick: boolean;
  only: Section[];
  runs?: number;
  fresh: boolean;
  work: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { quick: false, only: [...SECTIONS], fresh: false, work: DEFAULT_BENCH_WORK };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${v} needs a value`);
      return argv[++i];
    };
    if (v === '--quick') a.quick = true;
    else if (v === '--fresh') a.fresh = true;
    else if (v === '--only') {
      const names = next().split(',').filter(Boolean);
      for (const n of names)
        if (!(SECTIONS as readonly string[]).includes(n))
          throw new Error(`--only: unknown section ${n} (known: ${SECTIONS.join(', ')})`);
      a.only = SECTIONS.filter((s) => names.includes(s));
    } else if (v === '--runs') {
      const n = Number(next());
      if (!Number.isInteger(n) || n < 1) throw new Error('--runs must be a positive integer');
      a.runs = n;
    } else if (v === '--work') a.work = next();
    else throw new Error(`unknown argument ${v} (flags: --quick --only LIST --runs N --fresh --work DIR)`);
  }
  return a;
}

/** First line of a command's output, or a note that it failed. */
function version(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
      .trim()
      .split('\n')[0];
  } catch (err) {
    return `unavailable (${(err as Error).message.split('\n')[0]})`;
  }
}

function machine(): Record<string, string> {
  const pkgs = [
    'erofs-utils',
    'skopeo',
    'umoci',
    'docker-registry',
    'curl',
    'tar',
    'fuse3',
    'libfuse2',
    'podman',
    'stargz-snapshotter',
  ];
  const deb = version('dpkg-query', ['-W', '-f', '${Package}=${Version} ', ...pkgs]);
  const dirty = version('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no']);
  return {
    date: new Date().toISOString(),
    commit: `${version('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'])}${dirty && !dirty.startsWith('unavailable') ? ' (working tree modified)' : ''}`,
    cpu: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB (${(freemem() / 2 ** 30).toFixed(1)} GiB free)`,
    kernel: release(),
    node: process.version,
    loadStart: loadavg()
      .map((x) => x.toFixed(2))
      .join(' '),
    tools: `${deb.trim()}; ${version('skopeo', ['--version'])}; ${version('umoci', ['--version'])}`,
  };
}

/** Best of 3 wall times of `ocifs --version`: the process start-up floor of every ocifs figure. */
async function startupFloor(): Promise<number> {
  let bestS = Infinity;
  for (let i = 0; i < 3; i++) bestS = Math.min(bestS, (await timed(process.execPath, [OCIFS, '--version'])).seconds);
  return bestS;
}

function failureTable(title: string, err: unknown): BenchTable {
  const msg = ((err as Error)?.stack ?? String(err)).split('\n').slice(0, 3).join(' | ');
  const row: Row = { metric: 'section failed', ocifs: `FAILED: ${msg.slice(0, 400)}`, peer: '', ratio: NaN, ok: false };
  return { title: `${title} — FAILED`, rows: [row] };
}

function tableText(t: BenchTable): string {
  const head = ['metric', 'ocifs', 'peer', 'ratio', 'target', 'met'];
  const body = t.rows.map((r) => [
    r.metric,
    r.ocifs,
    r.peer,
    Number.isFinite(r.ratio) ? r.ratio.toFixed(3) : '-',
    r.target ?? '',
    r.ok === undefined ? '' : r.ok ? 'yes' : 'NO',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.replace(/\|/g, '\\|').padEnd(widths[i])).join(' | ')} |`;
  return (
    [`### ${t.title}`, '', line(head), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...body.map(line)].join(
      '\n',
    ) + '\n'
  );
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const header = machine();
  await mkdir(args.work, { recursive: true });
  if (args.fresh) {
    // Every cached tree and image goes; the sections then make them once each.
    for (const name of await readdir(args.work))
      if (name.startsWith('rootfs-')) await rm(join(args.work, name), { recursive: true, force: true });
    args.fresh = false;
  }
  const t0 = Date.now();
  process.stderr.write(
    `bench: sections ${args.only.join(', ')}${args.quick ? ' (quick)' : ''}; load ${header.loadStart}\n`,
  );
  const tables: (BenchTable & { section: Section; seconds: number })[] = [];
  let rootfs: Rootfs | undefined;
  const tree = async () => (rootfs ??= await benchRootfs({ quick: args.quick, fresh: args.fresh, work: args.work }));
  const runs = args.runs;
  for (const section of args.only) {
    const s0 = Date.now();
    let t: BenchTable;
    try {
      if (section === 'core') {
        const sizeMiB = args.quick ? 128 : 512;
        const rows = await runCoreBench({ sizeMiB, runs: runs ?? (args.quick ? 1 : 3), work: args.work });
        t = { title: `Core (issue 2): ${sizeMiB} MiB random blob in a local registry`, rows };
      } else if (section === 'erofs') {
        t = await runErofsImageBench({
          quick: args.quick,
          fresh: args.fresh,
          work: args.work,
          rootfs: await tree(),
          ...(runs ? { runs } : {}),
        });
        t.title = `EROFS (issue 3): ${t.title}`;
      } else if (section === 'mount') {
        t = await runMountImageBench({
          quick: args.quick,
          fresh: args.fresh,
          work: args.work,
          rootfs: await tree(),
          ...(runs ? { runs } : {}),
        });
        t.title = `Mount (issue 4): ${t.title}`;
      } else if (section === 'web') {
        t = await runWebBench({
          quick: args.quick,
          fresh: args.fresh,
          work: args.work,
          rootfs: await tree(),
          ...(runs ? { runs } : {}),
        });
        t.title = `Web (issue 16): ${t.title}`;
      } else if (section === 'snapshotter') {
        // Cold runs are whole pulls for the peer: one each unless --runs says otherwise.
        t = await runSnapshotterBench({
          quick: args.quick,
          fresh: args.fresh,
          work: args.work,
          rootfs: await tree(),
          ...(runs ? { runs } : {}),
        });
        t.title = `Snapshotter (issue 14): ${t.title}`;
      } else if (section === 'podman') {
        t = await runPodmanStoreBench({
          quick: args.quick,
          fresh: args.fresh,
          work: args.work,
          rootfs: await tree(),
          ...(runs ? { runs } : {}),
        });
        t.title = `Podman (issue 14): ${t.title}`;
      } else if (section === 'tar') {
        // Its own, larger tree (≥ 300 MiB of gzip); the quick tree is shared.
        const tarTree = args.quick ? await tree() : await tarRootfs({ fresh: args.fresh, work: args.work });
        t = await runTarImageBench({
          quick: args.quick,
          fresh: args.fresh,
          work: args.work,
          rootfs: tarTree,
          ...(runs ? { runs } : {}),
        });
        t.title = `Tar (issue 5): ${t.title}`;
      } else if (section === 'index') {
        // The tar benchmark's image.
        const tarTree = args.quick ? await tree() : await tarRootfs({ fresh: args.fresh, work: args.work });
        t = await runSociIndexBench({
          quick: args.quick,
          fresh: args.fresh,
          work: args.work,
          rootfs: tarTree,
          ...(runs ? { runs } : {}),
        });
      } else {
        // The tar benchmark's image, converted.
        const tarTree = args.quick ? await tree() : await tarRootfs({ fresh: args.fresh, work: args.work });
        t = await runConvertBench({
          quick: args.quick,
          fresh: args.fresh,
          work: args.work,
          rootfs: tarTree,
          ...(runs ? { runs } : {}),
        });
        t.title = `Convert (issue 15): ${t.title}`;
      }
    } catch (err) {
      process.stderr.write(`bench: section ${section} failed: ${err instanceof Error ? err.stack : String(err)}\n`);
      t = failureTable(section, err);
    }
    tables.push({ ...t, section, seconds: (Date.now() - s0) / 1000 });
  }
  const startup = await startupFloor();
  const end = {
    startupSeconds: startup,
    loadEnd: loadavg()
      .map((x) => x.toFixed(2))
      .join(' '),
    totalSeconds: ((Date.now() - t0) / 1000).toFixed(0),
  };
  const lines = [
    '',
    '## ocifs benchmarks — ratios are ocifs / peer, measured side by side in this run (best of N)',
    '',
    `date ${header.date}, commit ${header.commit}${args.quick ? ', QUICK smoke run (small sizes, one run)' : ''}`,
    `machine: ${header.cpu}, ${header.memory}, Linux ${header.kernel}, node ${header.node}`,
    `load average (1/5/15 min) at start ${header.loadStart}, at end ${end.loadEnd} — other work shares this machine; times are best of N`,
    `tools: ${header.tools}`,
    `process start-up floor: \`ocifs --version\` takes ${fmtS(startup)} (best of 3, at the end) — part of every ocifs time below`,
    rootfs
      ? `rootfs tree (core-independent sections; tar names its own): ${fmtMiB(rootfs.bytes)} in ${rootfs.files} files (${rootfs.entries} entries) from ${rootfs.selection.join(' ')}, key ${rootfs.key}`
      : '',
    `total ${end.totalSeconds} s`,
    '',
  ].filter((l, i, all) => l !== '' || all[i - 1] !== '');
  process.stdout.write(lines.join('\n') + '\n');
  for (const t of tables) process.stdout.write(tableText(t) + `(${t.section}: ${t.seconds.toFixed(0)} s)\n\n`);
  const path = await saveResults('bench', [], {
    quick: args.quick,
    machine: { ...header, ...end },
    rootfs: rootfs
      ? {
          key: rootfs.key,
          selection: rootfs.selection,
          bytes: rootfs.bytes,
          files: rootfs.files,
          entries: rootfs.entries,
        }
      : null,
    sections: tables.map((t) => ({
      section: t.section,
      title: t.title,
      seconds: t.seconds,
      rows: t.rows,
      info: t.info ?? null,
    })),
  });
  process.stdout.write(`results: ${path}\n`);
  if (tables.some((t) => t.rows.some((r) => r.metric === 'section failed'))) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
