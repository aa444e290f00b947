// Benchmark of `ocifs mount` (file-tree and kernel modes) against the kernel's own EROFS mount
// of a local copy of the same image, measured in one run. Standalone:
//
//   node --import tsx bench/mount.ts [--image FILE.erofs] [--dirs /usr/include,/usr/bin,...] [--reps N] [--json]
//
// Without --image it builds (once, cached under $TMPDIR/ocifs-bench-mount) an lz4 EROFS image
// of a rootfs-like tree copied from this machine's /usr. Each mode gets a fresh mount (so its
// page cache starts empty while the image file itself is in RAM), then every workload runs
// twice: "first" (fresh mount, blob in the cache) and "warm" (second pass). The ocifs modes run
// through the real background server (startMountDaemon), reading a local image file. Modes are
// interleaved and the whole round repeated --reps times (default 3); the best time of each
// (mode, workload, pass) is reported, which keeps the ratios stable on a busy machine.
//
// Workloads, all in child processes:
//   tar-devnull  `tar c MNT > /dev/null` — GNU tar skips file data for /dev/null: a metadata walk
//   tar-data     `tar c MNT | cat > /dev/null` — every byte, one reader
//   8-readers    `find MNT -type f | xargs -P8 cat > /dev/null` — aggregate throughput
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMountDaemon } from '../src/mount/daemon.js';
import { unmount } from '../src/mount/manage.js';

interface Args {
  image?: string;
  dirs: string[];
  reps: number;
  json: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { dirs: ['/usr/include', '/usr/bin', '/usr/lib/python3.11', '/usr/share/doc'], reps: 3, json: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--image') a.image = argv[++i];
    else if (argv[i] === '--dirs') a.dirs = argv[++i].split(',');
    else if (argv[i] === '--json') a.json = true;
    else if (argv[i] === '--reps') a.reps = Math.max(1, Number(argv[++i]) || 1);
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  return a;
}

function sh(
  script: string,
  timeoutMs = 600_000,
): Promise<{ code: number | null; ms: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('sh', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, ms: performance.now() - t0, stdout, stderr });
    });
  });
}

async function shOk(script: string): Promise<number> {
  const r = await sh(script);
  if (r.code !== 0) throw new Error(`${script}: exit ${r.code}: ${r.stderr.trim().slice(0, 500)}`);
  return r.ms;
}

async function buildImage(dirs: string[]): Promise<string> {
  const base = join(tmpdir(), 'ocifs-bench-mount');
  const key = dirs
    .map((d) => d.replace(/\W+/g, '_'))
    .join('-')
    .slice(0, 120);
  const image = join(base, `${key}.erofs`);
  if (existsSync(image)) return image;
  await mkdir(base, { recursive: true });
  const tree = join(base, 'tree');
  await rm(tree, { recursive: true, force: true });
  await mkdir(tree);
  for (const d of dirs) await shOk(`mkdir -p "${tree}${d}" && cp -a "${d}/." "${tree}${d}/"`);
  process.stderr.write(`building ${image} (mkfs.erofs -zlz4) …\n`);
  await shOk(`mkfs.erofs --quiet -zlz4 "${image}.tmp" "${tree}" && mv "${image}.tmp" "${image}"`);
  await rm(tree, { recursive: true, force: true });
  return image;
}

type Mode = 'local-kernel' | 'ocifs-kernel' | 'ocifs-tree';
interface Result {
  mode: Mode;
  workload: string;
  pass: 'first' | 'warm';
  ms: number;
  mibPerSec?: number;
}

async function treeBytes(mnt: string): Promise<number> {
  const r = await sh(`find "${mnt}" -type f -printf '%s\\n' | awk '{s+=$1} END {print s}'`);
  return Number(r.stdout.trim());
}

function workloads(mnt: string): Array<[string, string, boolean]> {
  return [
    ['tar-devnull', `tar cf - -C "${mnt}" . > /dev/null`, false],
    ['tar-data', `tar cf - -C "${mnt}" . | cat > /dev/null`, true],
    ['8-readers', `cd "${mnt}" && find . -type f -print0 | xargs -0 -P8 -n32 cat > /dev/null`, true],
  ];
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('the mount benchmark needs root (kernel EROFS mounts)');
  const image = args.image ?? (await buildImage(args.dirs));
  const work = await mkdtemp(join(tmpdir(), 'ocifs-bench-mnt-'));
  const stateDir = join(work, 'state');
  const results: Result[] = [];
  let bytes = 0;
  // Interrupted: unmount what this run mounted (servers first, then anything left), then exit.
  const cleanup = async () => {
    for (const mode of ['ocifs-kernel', 'ocifs-tree']) await unmount(join(work, mode), { stateDir }).catch(() => {});
    await sh(`for m in "${work}"/*/; do umount -l "$m" 2>/dev/null; done`);
    process.exit(130);
  };
  process.once('SIGINT', () => void cleanup());
  process.once('SIGTERM', () => void cleanup());
  try {
    // A fresh mount per mode and workload, so `first` means an empty page cache for that mount.
    const modes: Mode[] = ['local-kernel', 'ocifs-kernel', 'ocifs-tree'];
    for (const mode of modes) await mkdir(join(work, mode));
    for (let rep = 0; rep < args.reps; rep++) {
      for (const w of workloads(work).map((x) => x[0])) {
        for (const mode of modes) {
          const mnt = join(work, mode);
          const [name, script, data] = workloads(mnt).find((x) => x[0] === w)!;
          if (mode === 'local-kernel') await shOk(`mount -t erofs -o ro "${image}" "${mnt}"`);
          else
            await startMountDaemon({
              mountpoint: mnt,
              mode: mode === 'ocifs-kernel' ? 'kernel' : 'tree',
              ref: image,
              source: { kind: 'image', ref: image },
              stateDir,
            });
          try {
            if (!bytes) bytes = await treeBytes(mnt);
            for (const pass of ['first', 'warm'] as const) {
              const ms = await shOk(script);
              results.push({
                mode,
                workload: name,
                pass,
                ms,
                ...(data ? { mibPerSec: bytes / 1048576 / (ms / 1000) } : {}),
              });
              process.stderr.write(
                `${rep + 1}/${args.reps} ${mode.padEnd(13)} ${name.padEnd(12)} ${pass.padEnd(5)} ${ms.toFixed(0).padStart(7)} ms\n`,
              );
            }
          } finally {
            if (mode === 'local-kernel') await shOk(`umount "${mnt}"`);
            else await unmount(mnt, { stateDir });
          }
        }
      }
    }
  } finally {
    await sh(`for m in "${work}"/*/; do umount -l "$m" 2>/dev/null; done`);
    await rm(work, { recursive: true, force: true }).catch(() => {});
  }

  const size = (await stat(image)).size;
  const best = (mode: Mode, w: string, p: string) =>
    results.filter((r) => r.mode === mode && r.workload === w && r.pass === p).reduce((a, b) => (b.ms < a.ms ? b : a));
  const keys = [...new Set(results.map((r) => `${r.mode}|${r.workload}|${r.pass}`))].map(
    (k) => k.split('|') as [Mode, string, 'first' | 'warm'],
  );
  const rows = keys
    .filter(([m]) => m !== 'local-kernel')
    .map(([m, w, p]) => {
      const r = best(m, w, p);
      const l = best('local-kernel', w, p);
      return { ...r, localMs: l.ms, localMibPerSec: l.mibPerSec, ratio: r.ms / l.ms };
    });
  if (args.json) {
    process.stdout.write(
      JSON.stringify({ image, imageBytes: size, treeBytes: bytes, reps: args.reps, results, ratios: rows }, null, 2) +
        '\n',
    );
    return;
  }
  process.stdout.write(
    `image ${image}: ${(size / 1048576).toFixed(0)} MiB, files ${(bytes / 1048576).toFixed(0)} MiB; best of ${args.reps}\n`,
  );
  process.stdout.write('mode          workload     pass   time/local  (ms vs local ms)   MiB/s vs local\n');
  for (const r of rows) {
    process.stdout.write(
      `${r.mode.padEnd(13)} ${r.workload.padEnd(12)} ${r.pass.padEnd(5)}  ${r.ratio.toFixed(2).padStart(6)}x    (${r.ms.toFixed(0)} vs ${r.localMs.toFixed(0)})` +
        (r.mibPerSec ? `   ${r.mibPerSec.toFixed(0)} vs ${r.localMibPerSec!.toFixed(0)}` : '') +
        '\n',
    );
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/mount: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
