// Measuring helpers for the benchmarks: time a command, run ocifs with --stats, keep results.
import { spawn, type SpawnOptions } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const ROOT = new URL('../../', import.meta.url).pathname;
export const OCIFS = join(ROOT, 'bin/ocifs.js');
export const KiB = 1024;
export const MiB = 1024 * KiB;

export interface Timed {
  seconds: number;
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs a command to the end and measures its wall time. Throws on a non-zero exit. */
export function timed(
  cmd: string,
  args: string[],
  options: SpawnOptions & { stdoutFile?: string; keepStdout?: boolean } = {},
): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { ...options, stdio: ['ignore', options.keepStdout ? 'pipe' : 'ignore', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.trim().slice(-2000)}`));
      else resolve({ seconds, code, stdout: Buffer.concat(out), stderr: err });
    });
  });
}

/** Runs a shell command line (for pipes and redirections) and times it. */
export function timedShell(line: string, options: SpawnOptions = {}): Promise<Timed> {
  return timed('/bin/sh', ['-c', line], options);
}

/** The --stats line of an ocifs run. */
export interface OcifsStats {
  bytesFetched: number;
  requests: number;
  cacheHitBytes: number;
  cacheMissBytes: number;
  retries: number;
  elapsedMs: number;
  maxRssBytes: number;
}

/**
 * Runs `ocifs ARGS --stats` and returns its time and stats. It is started through a forked
 * shell: Linux carries the spawning process's peak RSS into the child's `ru_maxrss` when the
 * child is exec'd straight from a big parent, which would count the benchmark's own buffers.
 */
export async function ocifs(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  options: { keepStdout?: boolean } = {},
): Promise<Timed & { stats: OcifsStats }> {
  const r = await timed('/bin/sh', ['-c', '"$0" "$@"; exit $?', process.execPath, OCIFS, ...args, '--stats'], {
    env: { ...process.env, ...env },
    ...options,
  });
  const line = r.stderr
    .trim()
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{"bytesFetched"'));
  if (!line) throw new Error(`no stats from ocifs ${args.join(' ')}: ${r.stderr}`);
  return { ...r, stats: JSON.parse(line) as OcifsStats };
}

/** Best (minimum) of `n` runs of `f`, after `prepare` before each. */
export async function best<T extends { seconds: number }>(
  n: number,
  f: () => Promise<T>,
  prepare?: () => Promise<void>,
): Promise<T> {
  let winner: T | undefined;
  for (let i = 0; i < n; i++) {
    await prepare?.();
    const r = await f();
    if (!winner || r.seconds < winner.seconds) winner = r;
  }
  return winner!;
}

/** One line of a benchmark table. */
export interface Row {
  /** What was measured. */
  metric: string;
  /** ocifs's figure (seconds, bytes, ratio inputs …), as text. */
  ocifs: string;
  /** The peer's figure and who the peer was. */
  peer: string;
  /** The ratio ocifs / peer (or the figure itself when it is a ratio of bytes). */
  ratio: number;
  /** The target from the issue, e.g. "≤ 1.25". */
  target?: string;
  /** Whether the target is met (undefined when there is none). */
  ok?: boolean;
  /** Raw numbers, for the JSON. */
  data?: Record<string, unknown>;
}

/** Checks a ratio against a `≤ x` target. */
export function atMost(ratio: number, limit: number): { target: string; ok: boolean } {
  return { target: `≤ ${limit}`, ok: ratio <= limit };
}

export const fmtS = (s: number) => `${s.toFixed(3)} s`;
export const fmtMiB = (b: number) => `${(b / MiB).toFixed(2)} MiB`;

/** Prints a table of rows in Markdown. */
export function printTable(title: string, rows: Row[]): string {
  const head = ['metric', 'ocifs', 'peer', 'ratio', 'target', 'met'];
  const body = rows.map((r) => [
    r.metric,
    r.ocifs,
    r.peer,
    r.ratio.toFixed(3),
    r.target ?? '',
    r.ok === undefined ? '' : r.ok ? 'yes' : 'NO',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  const text =
    [`\n### ${title}\n`, line(head), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...body.map(line)].join(
      '\n',
    ) + '\n';
  process.stdout.write(text);
  return text;
}

/** Writes a section's results as JSON under bench/results/. */
export async function saveResults(name: string, rows: Row[], extra: Record<string, unknown> = {}): Promise<string> {
  const dir = join(ROOT, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const path = join(dir, `${name}-${stamp}.json`);
  await writeFile(
    path,
    JSON.stringify({ name, date: new Date().toISOString(), node: process.version, rows, ...extra }, null, 2),
  );
  return path;
}

/** Drops the page cache (root only) so a "cold" run reads from disk; a no-op otherwise. */
export async function dropCaches(): Promise<void> {
  await timedShell('sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true').catch(() => {});
}
