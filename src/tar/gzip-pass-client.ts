/**
 * Main-thread side of running the gzip pass in a worker thread: streams the compressed pieces
 * to it (copied and transferred, at most a few in flight), and turns its answer back into the
 * index or the same typed error the in-thread pass would throw.
 *
 * @packageDocumentation
 */
import { debuglog } from '../io/debug-log.js';
import { startWorker, workerFile } from '../io/worker-file.js';
import type { Worker } from 'node:worker_threads';
import { AbortedError, isOcifsErrorCode, OcifsError } from '../errors.js';
import { CorruptGzipError, CorruptTarError, UnsupportedLayerError } from './errors.js';
import type { GzipIndex } from './gzip-index.js';
import type { TarParserOptions } from './tar-parser.js';
import type { FromWorker } from './gzip-pass-worker.js';

const debug = debuglog('ocifs:gzip');

/** What the worker pass needs of the indexer's options (the inflater already chosen). */
export interface PassWorkerOptions extends Omit<TarParserOptions, 'totalSize'> {
  inflater: 'native' | 'pako';
  /** Progress: compressed bytes processed and the blob size. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** Compressed pieces sent but not yet processed by the worker. */
const MAX_IN_FLIGHT = 4;

function rebuildError(e: { name: string; code?: string; message: string; data?: Record<string, unknown> }): Error {
  const d = e.data ?? {};
  // The worker's errors carry their reason and entry name as strings.
  const reason = typeof d.reason === 'string' ? d.reason : e.message;
  switch (e.code) {
    case 'ERR_OCIFS_CORRUPT_GZIP':
      return new CorruptGzipError(reason, Number(d.offset ?? 0), { data: d });
    case 'ERR_OCIFS_CORRUPT_TAR':
      return new CorruptTarError(reason, Number(d.offset ?? 0), typeof d.entry === 'string' ? d.entry : undefined);
    case 'ERR_OCIFS_UNSUPPORTED_LAYER':
      return new UnsupportedLayerError(reason);
    default:
      if (isOcifsErrorCode(e.code)) return new OcifsError(e.code, e.message, { data: d });
      return new Error(`${e.name}: ${e.message}`);
  }
}

/**
 * Runs the pass in a worker. Returns undefined when no worker can be started (then the caller
 * runs it in this thread).
 */
export async function runPassInWorker(
  pieces: AsyncIterable<Uint8Array>,
  blobSize: number,
  span: number,
  options: PassWorkerOptions,
): Promise<GzipIndex | undefined> {
  // Built: gzip-pass-worker.js beside this file; from source (tsx) the .ts file.
  const url = workerFile(new URL('./gzip-pass-worker.js', import.meta.url));
  if (!url) {
    debug('no gzip-pass-worker file beside %s: running the pass in this thread', import.meta.url);
    return undefined;
  }
  debug('gzip pass in a worker from %s', url.href);
  let worker: Worker;
  try {
    const workerData = {
      span,
      inflater: options.inflater,
      parser: { maxExtendedHeader: options.maxExtendedHeader, maxSparseSegments: options.maxSparseSegments },
    };
    worker = startWorker(url, { workerData });
  } catch (err) {
    debug('no worker for the gzip pass (%s): running it in this thread', (err as Error).message);
    return undefined;
  }
  let failed: Error | undefined;
  let inFlight = 0;
  let wake: (() => void) | undefined;
  const result = new Promise<GzipIndex>((resolve, reject) => {
    worker.on('message', (m: FromWorker) => {
      if (m.type === 'ack') {
        inFlight--;
        options.onProgress?.(m.consumed, blobSize);
        wake?.();
      } else if (m.type === 'done') resolve(m.index as GzipIndex);
      else {
        failed = rebuildError(m.error);
        reject(failed);
        wake?.();
      }
    });
    worker.on('error', (err) => {
      failed = err;
      reject(err);
      wake?.();
    });
    worker.on('exit', (code) => {
      if (code !== 0 && !failed) {
        failed = new Error(`gzip pass worker exited with ${code}`);
        reject(failed);
        wake?.();
      }
    });
  });
  result.catch(() => {});
  const onAbort = () => {
    failed = new AbortedError({ cause: options.signal?.reason });
    void worker.terminate();
    wake?.();
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const piece of pieces) {
      if (failed) break;
      while (inFlight >= MAX_IN_FLIGHT && !failed) await new Promise<void>((r) => (wake = r));
      if (failed) break;
      // A copy (not Buffer#slice, which is a view): the piece may share memory the source still uses.
      const bytes = new Uint8Array(piece);
      inFlight++;
      worker.postMessage({ type: 'piece', bytes }, [bytes.buffer]);
    }
    if (failed) throw failed;
    worker.postMessage({ type: 'end', blobSize });
    return await result;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await worker.terminate();
  }
}
