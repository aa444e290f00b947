/**
 * `--debug`: Node reads NODE_DEBUG once at start-up, so debuglog channels can only be switched on
 * by starting the process with it set. The bin script calls {@link reexecForDebug} first.
 */
import { spawnSync } from 'node:child_process';

/** The NODE_DEBUG channels `--debug` turns on. */
export const DEBUG_CHANNELS = 'ocifs:*';

/**
 * When `--debug` is on the command line and NODE_DEBUG lacks our channels, runs this same
 * command again with them on and exits with its status. Otherwise returns.
 */
export function reexecForDebug(argv: string[] = process.argv): void {
  if (!argv.slice(2).includes('--debug') || (process.env.NODE_DEBUG ?? '').includes('ocifs')) return;
  const env = { ...process.env, NODE_DEBUG: [process.env.NODE_DEBUG, DEBUG_CHANNELS].filter(Boolean).join(',') };
  const r = spawnSync(process.execPath, [...process.execArgv, ...argv.slice(1)], { stdio: 'inherit', env });
  if (r.signal) process.kill(process.pid, r.signal);
  process.exit(r.status ?? 1);
}
