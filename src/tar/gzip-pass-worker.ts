/**
 * Worker-thread side of the gzip pass (see `gzip-pass-client.ts`): runs {@link GzipPass} on
 * the pieces the main thread sends and posts the finished index back.
 *
 * @packageDocumentation
 */
import { parentPort, workerData } from 'node:worker_threads';
import { GzipPass } from './gzip-pass.js';
import { TarParser } from './tar-parser.js';

/** Messages the main thread sends. */
export type ToWorker = { type: 'piece'; bytes: Uint8Array } | { type: 'end'; blobSize: number };
/** Messages the worker sends. */
export type FromWorker =
  | { type: 'ack'; consumed: number }
  | { type: 'done'; index: unknown }
  | { type: 'error'; error: { name: string; code?: string; message: string; data?: Record<string, unknown> } };

const { span, parser, inflater } = workerData as {
  span: number;
  parser: { maxExtendedHeader?: number; maxSparseSegments?: number };
  inflater: 'native' | 'pako';
};
const pass = new GzipPass(span, new TarParser(parser), inflater);
const port = parentPort!;

port.on('message', (m: ToWorker) => {
  try {
    if (m.type === 'piece') {
      pass.push(m.bytes);
      port.postMessage({ type: 'ack', consumed: pass.consumed } satisfies FromWorker);
    } else {
      port.postMessage({ type: 'done', index: pass.finish(m.blobSize) } satisfies FromWorker);
    }
  } catch (err) {
    const e = err as { name?: string; code?: string; message?: string; data?: Record<string, unknown> };
    port.postMessage({
      type: 'error',
      error: { name: e.name ?? 'Error', code: e.code, message: e.message ?? String(err), data: e.data },
    } satisfies FromWorker);
  }
});
