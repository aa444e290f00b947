/**
 * The hash worker's program (see `hash-state.ts`): it hashes pieces of blobs that the main
 * thread copies into the ring buffer shared with it, and answers every `update` and `digest`
 * with exactly one message (the main thread counts them to know when the worker is idle).
 *
 * @packageDocumentation
 */
import { createHash, type Hash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';

/** Data the worker starts with. */
export interface HashWorkerData {
  /** The ring the main thread copies pieces into. */
  ring: SharedArrayBuffer;
}

/** Messages to the worker: start, feed (a span of the ring, which may wrap), finish or drop a hash. */
export type ToHashWorker =
  | { op: 'new'; id: number; alg: string }
  | { op: 'update'; id: number; start: number; len: number }
  | { op: 'digest'; id: number }
  | { op: 'drop'; id: number };

/** Answers: `done` bytes of the ring are free again, or the hex digest (null: unknown hash). */
export interface FromHashWorker {
  id: number;
  done?: number;
  hex?: string | null;
}

const port = parentPort;
if (port) {
  const ring = new Uint8Array((workerData as HashWorkerData).ring);
  const hashes = new Map<number, Hash>();
  const answer = (m: FromHashWorker) => port.postMessage(m);
  port.on('message', (m: ToHashWorker) => {
    switch (m.op) {
      case 'new':
        hashes.set(m.id, createHash(m.alg));
        break;
      case 'update': {
        const h = hashes.get(m.id);
        const first = Math.min(m.len, ring.length - m.start);
        if (h) {
          h.update(ring.subarray(m.start, m.start + first));
          if (first < m.len) h.update(ring.subarray(0, m.len - first));
        }
        answer({ id: m.id, done: m.len });
        break;
      }
      case 'digest': {
        const h = hashes.get(m.id);
        hashes.delete(m.id);
        answer({ id: m.id, hex: h ? h.digest('hex') : null });
        break;
      }
      case 'drop':
        hashes.delete(m.id);
        break;
    }
  });
}
