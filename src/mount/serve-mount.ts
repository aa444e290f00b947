/**
 * The mount server: opens the source, mounts it, keeps its record up to date, runs the
 * prefetch, and unmounts cleanly on SIGINT/SIGTERM/SIGHUP or when the mount is removed from
 * outside. It runs in the background process that `ocifs mount` starts (or in the foreground
 * with `--foreground`). It never reads its own mount.
 *
 * @packageDocumentation
 */
import { debuglog } from '../io/debug-log.js';
import { InvalidOptionError } from '../errors.js';
import { NotRootError } from './errors.js';
import { checkFuseAvailable } from './fuse-binding.js';
import { mountFileSystem } from './mount-file-system.js';
import { mountKernel, type KernelMount } from './mount-kernel.js';
import type { Mount, MountOptions } from './mount-options.js';
import { MountStats } from './mount-stats.js';
import { isMountpoint } from './mountinfo.js';
import { checkMountpoint } from './mountpoint.js';
import { processStart, removeRecord, writeRecord, type MountRecord } from './mount-record.js';
import { openMountSource, type MountSourceSpec, type SourceOpener } from './mount-source.js';
import { defaultStateDir } from './state-dir.js';

const debug = debuglog('ocifs:mount');

/** How often the server refreshes its record and checks that it is still mounted. */
export const DEFAULT_RECORD_INTERVAL_MS = 1_000;

/** Everything a server needs; plain data, so it can be handed to a background process as JSON. */
export interface MountSpec {
  mountpoint: string;
  mode: 'tree' | 'kernel';
  /** The reference as the user gave it (shown by `ocifs mounts`). */
  ref: string;
  source: MountSourceSpec;
  /** Fill the rest of the blob(s) in the background. */
  prefetch?: boolean;
  /** State directory. Default: {@link defaultStateDir}. */
  stateDir?: string;
  /** FUSE options (JSON-safe subset of {@link MountOptions}). */
  options?: Omit<MountOptions, 'stats'>;
  /** Log file of the background server, recorded for `ocifs mounts --json`. */
  log?: string;
}

/** Options of {@link serveMount}. */
export interface ServeOptions {
  /** Called once the mount is ready and its record written. */
  onReady?(record: MountRecord): void;
  /** Install SIGINT/SIGTERM/SIGHUP handlers that unmount and return. Default true. */
  handleSignals?: boolean;
  /** Aborting it unmounts and returns (as a signal would). */
  signal?: AbortSignal;
  /** Opens the source (default: the built-in opener). */
  open?: SourceOpener;
  /** Record refresh interval. Default {@link DEFAULT_RECORD_INTERVAL_MS}. */
  recordIntervalMs?: number;
}

/**
 * Serves a mount until it is told to stop (signal, abort) or the mount disappears, then
 * unmounts and removes the record. Rejects, with nothing left mounted, when the mount cannot
 * be made.
 */
export async function serveMount(spec: MountSpec, options: ServeOptions = {}): Promise<void> {
  if (spec.mode !== 'tree' && spec.mode !== 'kernel') throw new InvalidOptionError('mode', 'must be tree or kernel');
  const interval = options.recordIntervalMs ?? DEFAULT_RECORD_INTERVAL_MS;
  const stateDir = spec.stateDir ?? defaultStateDir();
  // Check before opening anything, so that bad input fails fast and fetches nothing.
  const mountpoint = await checkMountpoint(spec.mountpoint);
  if (spec.mode === 'kernel' && process.getuid?.() !== 0) throw new NotRootError(mountpoint);
  await checkFuseAvailable();
  const opened = await (options.open ?? openMountSource)(spec.source, spec.mode);
  const stats = opened.stats ?? new MountStats();
  let mount: Mount;
  try {
    const mo = { ...spec.options, stats, fsname: spec.options?.fsname ?? `ocifs:${spec.ref}` };
    if (spec.mode === 'tree') {
      if (!opened.fs) throw new InvalidOptionError('source', 'does not provide a file tree');
      mount = await mountFileSystem(opened.fs, mountpoint, { ...mo, ...(opened.raw ? { raw: opened.raw } : {}) });
    } else {
      if (!opened.blob) throw new InvalidOptionError('source', 'does not provide an EROFS blob');
      mount = await mountKernel(opened.blob, mountpoint, { ...mo, backingDir: `${stateDir}/backing` });
    }
  } catch (err) {
    await opened.close().catch(() => {});
    throw err;
  }

  const now = new Date().toISOString();
  const record: MountRecord = {
    version: 1,
    mountpoint: mount.mountpoint,
    mode: spec.mode,
    ref: spec.ref,
    ...(opened.digest ? { digest: opened.digest } : {}),
    pid: process.pid,
    pidStart: (await processStart(process.pid)) ?? '',
    started: now,
    updated: now,
    bytesServed: 0,
    reads: 0,
    ...(spec.mode === 'kernel'
      ? { backingDir: (mount as KernelMount).backingFile.replace(/\/[^/]+$/, ''), via: (mount as KernelMount).via }
      : {}),
    ...(spec.log ? { log: spec.log } : {}),
  };
  const refresh = () => {
    record.updated = new Date().toISOString();
    record.bytesServed = stats.bytesServed;
    record.reads = stats.reads;
    if (opened.ioStats) record.bytesFetched = opened.ioStats.bytesFetched;
  };

  const stop = new AbortController();
  const finished = new Promise<void>((resolve) =>
    stop.signal.addEventListener('abort', () => resolve(), { once: true }),
  );
  const onSignal = (sig: string) => {
    debug('%s: unmounting %s', sig, mountpoint);
    stop.abort();
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  if (options.handleSignals ?? true) for (const s of signals) process.on(s, onSignal);
  options.signal?.addEventListener('abort', () => stop.abort(), { once: true });

  let writing = Promise.resolve();
  const write = () =>
    (writing = writing.then(() => writeRecord(stateDir, record)).catch((err: unknown) => debug('record: %s', err)));

  try {
    await writeRecord(stateDir, record);
    if (spec.prefetch && opened.prefetch) {
      record.prefetch = { state: 'running', done: 0, total: 0 };
      opened
        .prefetch({
          signal: stop.signal,
          onProgress: (done, total) => {
            record.prefetch = { state: 'running', done, total };
          },
        })
        .then(
          () => (record.prefetch = { ...record.prefetch!, state: 'done' }),
          (err: unknown) => {
            if (!stop.signal.aborted)
              record.prefetch = { ...record.prefetch!, state: 'failed', error: (err as Error).message };
          },
        );
    }
    options.onReady?.(record);
    const timer = setInterval(() => {
      refresh();
      isMountpoint(mountpoint).then(
        (mounted) => {
          if (mounted) return write();
          debug('%s was unmounted from outside', mountpoint);
          stop.abort();
        },
        (err: unknown) => debug('mountinfo: %s', err),
      );
    }, interval);
    if (!stop.signal.aborted) await finished;
    clearInterval(timer);
  } finally {
    if (options.handleSignals ?? true) for (const s of signals) process.off(s, onSignal);
    await mount.unmount({ lazy: true }).catch((err: unknown) => debug('unmount: %s', err));
    await writing;
    await removeRecord(stateDir, mount.mountpoint);
    await opened.close().catch(() => {});
  }
}
