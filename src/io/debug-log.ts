/**
 * Debug channels (`ocifs:cache`, `ocifs:registry` …): silent unless `NODE_DEBUG` names them, with
 * `util.debuglog`'s rule and output (`OCIFS:CACHE 1234: message` on stderr).
 *
 * Node's own `debuglog` reads `NODE_DEBUG` once, when the process starts, so a command-line
 * switch could only turn channels on by starting the process again. These channels read it when
 * they are first used, so the CLI's `--debug` sets `process.env.NODE_DEBUG` before anything logs
 * (child processes inherit it too).
 *
 * @packageDocumentation
 */
import { format } from 'node:util';

/** A channel's logger: called like `console.log` (printf-style); `enabled` says whether it prints. */
export interface DebugLog {
  (message: string, ...args: unknown[]): void;
  /** True when `NODE_DEBUG` names the channel (decided at first use). */
  readonly enabled: boolean;
}

/**
 * True when `spec` (a `NODE_DEBUG` value: names separated by commas, `*` matching anything,
 * case-insensitive) names `channel`.
 */
export function channelEnabled(channel: string, spec: string | undefined = process.env.NODE_DEBUG): boolean {
  if (!spec) return false;
  const pattern = spec
    .replace(/[|\\{}()[\]^$+?.]/g, '\\$&')
    .replaceAll('*', '.*')
    .replaceAll(',', '$|^');
  return new RegExp(`^${pattern}$`, 'i').test(channel);
}

/** The logger of `channel` (e.g. `ocifs:cache`), like `util.debuglog` but reading `NODE_DEBUG` lazily. */
export function debuglog(channel: string): DebugLog {
  const prefix = channel.toUpperCase();
  let on: boolean | undefined;
  const enabled = (): boolean => (on ??= channelEnabled(channel));
  const log = (message: string, ...args: unknown[]): void => {
    if (enabled()) process.stderr.write(`${prefix} ${process.pid}: ${format(message, ...args)}\n`);
  };
  return Object.defineProperty(log, 'enabled', { get: enabled }) as DebugLog;
}
