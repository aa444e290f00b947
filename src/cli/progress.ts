/**
 * Progress bars for long commands (prefetch, extract), drawn with cli-progress on a terminal
 * and silent otherwise, so piped output and logs stay clean.
 */
import cliProgress from 'cli-progress';
import { formatSize } from './size.js';

/** A progress display; `update` is cheap to call often. */
export interface Progress {
  update(done: number, extra?: Record<string, string | number>): void;
  stop(): void;
}

/** Options of {@link startProgress}. */
export interface ProgressOptions {
  /** Label before the bar. */
  label: string;
  /** Total units (bytes when `bytes` is set). */
  total: number;
  /** Show sizes as bytes (KiB, MiB …) instead of plain counts. */
  bytes?: boolean;
  /** Draw even when stderr is not a terminal (for tests). Default: only on a TTY. */
  force?: boolean;
}

/** Starts a bar on stderr when it is a terminal; otherwise returns a no-op progress. */
export function startProgress(options: ProgressOptions): Progress {
  if (!options.force && !process.stderr.isTTY) return { update() {}, stop() {} };
  const fmt = (n: number) => (options.bytes ? formatSize(n) : String(n));
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${options.label} [{bar}] {percentage}% {doneText}/{totalText} {rate} eta {eta_formatted}`,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 20,
      fps: 10,
      noTTYOutput: options.force === true,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  const payload = (done: number) => {
    const secs = Math.max(0.001, (Date.now() - started) / 1000);
    return {
      doneText: fmt(done),
      totalText: fmt(options.total),
      rate: options.bytes ? `${formatSize(done / secs)}/s` : '',
    };
  };
  bar.start(Math.max(1, options.total), 0, payload(0));
  return {
    update(done, extra) {
      bar.update(done, { ...payload(done), ...extra });
    },
    stop() {
      bar.stop();
    },
  };
}
