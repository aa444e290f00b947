// Runs the real `ocifs` command (bin/ocifs.js over dist/, which `npm test` builds first) in a
// child process, so tests see exactly what a user sees: stdout bytes, stderr lines, exit code.
import { run, type RunResult } from './run.js';

export const OCIFS_BIN = new URL('../../bin/ocifs.js', import.meta.url).pathname;

export interface CliOptions {
  env?: NodeJS.ProcessEnv;
  input?: string | Uint8Array;
  cwd?: string;
}

/** Runs `ocifs ARGS…`; never throws for a non-zero exit. */
export function ocifs(args: string[], options: CliOptions = {}): Promise<RunResult> {
  return run(process.execPath, [OCIFS_BIN, ...args], {
    env: { ...process.env, ...options.env },
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.input !== undefined ? { input: options.input } : {}),
  });
}

/** Runs `ocifs ARGS…` and throws with stderr unless it exits 0. */
export async function ocifsOk(args: string[], options: CliOptions = {}): Promise<RunResult> {
  const r = await ocifs(args, options);
  if (r.code !== 0) throw new Error(`ocifs ${args.join(' ')} exited ${r.code ?? r.signal}: ${r.stderr.trim()}`);
  return r;
}

/** The `--stats` JSON line of a run's stderr. */
export function statsOf(r: RunResult): {
  bytesFetched: number;
  requests: number;
  cacheHitBytes: number;
  cacheMissBytes: number;
  retries: number;
  originMismatches: number;
  maxRssBytes: number;
  elapsedMs: number;
} {
  const line = r.stderr
    .trim()
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{"bytesFetched"'));
  if (!line) throw new Error(`no --stats line in: ${r.stderr}`);
  return JSON.parse(line);
}
