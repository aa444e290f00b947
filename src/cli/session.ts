/**
 * Runs one command: opens the image, aborts cleanly on Ctrl-C, closes everything, and prints
 * `--stats` as one JSON line on stderr.
 */
import { setMaxListeners } from 'node:events';
import { IoStats } from '../io/io-stats.js';
import { openImage, type Image, type ImageOptions } from '../image/index.js';
import { imageOptionsOf, type RefFlags } from './ref-options.js';

/** What a command body gets. */
export interface Session {
  image: Image;
  stats: IoStats;
  signal: AbortSignal;
}

/** Writes the `--stats` line: I/O counters, elapsed time and peak memory. */
export function printStats(stats: IoStats, started: number): void {
  const line = {
    ...stats.toJSON(),
    elapsedMs: Math.round(performance.now() - started),
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
  };
  process.stderr.write(`${JSON.stringify(line)}\n`);
}

/** An AbortSignal that fires on SIGINT/SIGTERM; `dispose` removes the handlers. */
export function interruptSignal(): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  // Every read in flight may listen to it (a file spanning many small zstd:chunked chunks
  // reads dozens at once), which would trip Node's MaxListenersExceededWarning at 11.
  setMaxListeners(0, ac.signal);
  const onSignal = (sig: NodeJS.Signals) => {
    if (ac.signal.aborted) process.exit(130);
    ac.abort(new Error(`interrupted by ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: ac.signal,
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/**
 * Opens `ref` with the command's flags, runs `body`, and always closes and reports. The image
 * config is not fetched unless `extra` asks for it (`inspect`): the other commands read layers.
 */
export async function withImage<T>(
  ref: string,
  flags: RefFlags,
  body: (s: Session) => Promise<T>,
  extra: Partial<ImageOptions> = {},
): Promise<T> {
  const started = performance.now();
  const stats = new IoStats();
  const interrupt = interruptSignal();
  let image: Image | undefined;
  try {
    const options = await imageOptionsOf(flags, { config: false, ...extra, stats, signal: interrupt.signal }, ref);
    image = await openImage(ref, options);
    return await body({ image, stats, signal: interrupt.signal });
  } finally {
    await image?.close().catch(() => {});
    interrupt.dispose();
    if (flags.stats) printStats(stats, started);
  }
}
