/**
 * Incremental hashing for blob verification, either in this thread or in a shared worker thread
 * so that hashing a large blob while it downloads does not take event-loop time from the
 * network and the readers (SHA-256 costs about as much CPU per byte as receiving it).
 *
 * The worker reads the bytes from one ring buffer shared with it (a SharedArrayBuffer): the main
 * thread copies a piece in and posts a small message, the worker hashes it and answers, and the
 * space is reused. Memory stays bounded ({@link HASH_RING_BYTES}) and no garbage is made per
 * piece (transferring a fresh copy per piece made the worker's heap hold on to hundreds of MiB).
 *
 * @packageDocumentation
 */
import { createHash, type Hash } from 'node:crypto';
import type { Worker } from 'node:worker_threads';
import { debuglog } from '../io/debug-log.js';
import { startWorker, workerFile } from '../io/worker-file.js';
import type { DigestAlgorithm } from '../ref/digest.js';
import type { FromHashWorker, HashWorkerData, ToHashWorker } from './hash-worker.js';

const debug = debuglog('ocifs:cache');

/** A running hash. */
export interface HashState {
  /**
   * Hashes `bytes` next; false (and nothing happens) when a worker has no room for them now:
   * the caller offers them again later (see {@link waitForRoom}) or reads them back.
   */
  update(bytes: Uint8Array): boolean;
  /** Like {@link update} for the concatenation of `parts` (all or nothing; one message to a worker). */
  updateParts(parts: readonly Uint8Array[]): boolean;
  /** Resolves when an update of `n` bytes would be accepted (at once for an in-thread hash). */
  waitForRoom(n: number): Promise<void>;
  /** The hex digest; the state is finished afterwards. Rejects if the worker died. */
  digest(): Promise<string>;
  /** Drops the state without a digest. */
  dispose(): void;
}

/** Blobs at least this big are hashed in the worker. */
export const WORKER_HASH_MIN_BYTES = 8 * 1024 * 1024;
/** Size of the ring shared with the worker (all blobs of the process share it). */
export const HASH_RING_BYTES = 16 * 1024 * 1024;

class LocalHash implements HashState {
  private readonly h: Hash;
  constructor(alg: DigestAlgorithm) {
    this.h = createHash(alg);
  }
  update(bytes: Uint8Array): boolean {
    this.h.update(bytes);
    return true;
  }
  updateParts(parts: readonly Uint8Array[]): boolean {
    for (const p of parts) this.h.update(p);
    return true;
  }
  async waitForRoom(): Promise<void> {}
  async digest(): Promise<string> {
    return this.h.digest('hex');
  }
  dispose(): void {}
}

/** The process-wide worker, its ring and the bookkeeping of both. */
interface Shared {
  worker: Worker;
  ring: Uint8Array;
  /** Next free byte of the ring. */
  head: number;
  /** Bytes of the ring the worker has not hashed yet (they are freed in order). */
  used: number;
  /** Messages the worker still has to answer: while there are any, it keeps the process alive. */
  outstanding: number;
  roomWaiters: (() => void)[];
}

let shared: Shared | null = null;
let workerFailed = false;
let nextId = 0;
const states = new Map<number, WorkerHash>();

function send(s: Shared, m: ToHashWorker): void {
  s.worker.postMessage(m);
}

function track(s: Shared, delta: number): void {
  const before = s.outstanding;
  s.outstanding += delta;
  if (before === 0 && s.outstanding > 0) s.worker.ref();
  else if (before > 0 && s.outstanding === 0) s.worker.unref();
}

function getShared(): Shared | null {
  if (workerFailed) return null;
  if (shared) return shared;
  try {
    const file = workerFile(new URL('./hash-worker.js', import.meta.url));
    if (!file) throw new Error(`no hash-worker file beside ${import.meta.url}`);
    const ringBuffer = new SharedArrayBuffer(HASH_RING_BYTES);
    const workerData: HashWorkerData = { ring: ringBuffer };
    // No loaders or flags of the main thread.
    const w = startWorker(file, { execArgv: [], workerData });
    const s: Shared = {
      worker: w,
      ring: new Uint8Array(ringBuffer),
      head: 0,
      used: 0,
      outstanding: 0,
      roomWaiters: [],
    };
    w.on('message', (m: FromHashWorker) => {
      track(s, -1); // every update and digest gets exactly one answer
      if (m.done !== undefined) {
        s.used -= m.done;
        for (const wake of s.roomWaiters.splice(0)) wake();
      }
      states.get(m.id)?.onMessage(m);
    });
    const fail = (err: unknown) => {
      debug('hash worker failed: %s', (err as Error)?.message ?? String(err));
      if (shared === s) shared = null;
      workerFailed = true;
      for (const st of states.values()) st.onFail(err);
      states.clear();
      for (const wake of s.roomWaiters.splice(0)) wake();
    };
    w.on('error', fail);
    w.on('exit', (code) => {
      if (shared === s && code !== 0) fail(new Error(`hash worker exited with ${code}`));
      if (shared === s) shared = null;
    });
    // After the listeners (attaching one refs the port again): an idle worker never keeps the
    // process alive; track() refs it while it has work.
    w.unref();
    shared = s;
    return s;
  } catch (err) {
    debug('no hash worker: %s', (err as Error).message);
    workerFailed = true;
    return null;
  }
}

class WorkerHash implements HashState {
  private readonly id = nextId++;
  private failed: unknown = null;
  private waiting: { resolve: (hex: string) => void; reject: (e: unknown) => void } | null = null;

  constructor(
    private readonly s: Shared,
    alg: DigestAlgorithm,
  ) {
    states.set(this.id, this);
    send(s, { op: 'new', id: this.id, alg });
  }

  update(bytes: Uint8Array): boolean {
    return this.updateParts([bytes]);
  }

  updateParts(parts: readonly Uint8Array[]): boolean {
    if (this.failed) return true; // digest() will reject; nothing to keep
    const s = this.s;
    let len = 0;
    for (const p of parts) len += p.byteLength;
    if (len === 0) return true;
    if (len > s.ring.length - s.used) return false;
    const start = s.head;
    let at = start;
    for (const bytes of parts) {
      const first = Math.min(bytes.byteLength, s.ring.length - at);
      s.ring.set(first === bytes.byteLength ? bytes : bytes.subarray(0, first), at);
      if (first < bytes.byteLength) s.ring.set(bytes.subarray(first), 0);
      at = (at + bytes.byteLength) % s.ring.length;
    }
    s.head = at;
    s.used += len;
    track(s, 1);
    send(s, { op: 'update', id: this.id, start, len });
    return true;
  }

  async waitForRoom(n: number): Promise<void> {
    const s = this.s;
    const need = Math.min(n, s.ring.length);
    while (!this.failed && shared === s && need > s.ring.length - s.used)
      await new Promise<void>((r) => s.roomWaiters.push(r));
  }

  digest(): Promise<string> {
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the failure onFail recorded
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      track(this.s, 1);
      send(this.s, { op: 'digest', id: this.id });
    });
  }

  dispose(): void {
    if (!states.delete(this.id)) return;
    send(this.s, { op: 'drop', id: this.id });
  }

  onMessage(m: FromHashWorker): void {
    if (m.hex !== undefined) {
      states.delete(this.id);
      if (m.hex === null) this.waiting?.reject(new Error('hash state lost'));
      else this.waiting?.resolve(m.hex);
      this.waiting = null;
    }
  }

  onFail(err: unknown): void {
    this.failed = err;
    this.waiting?.reject(err);
    this.waiting = null;
  }
}

/** A hash for a blob of `size` bytes: in the worker for large blobs (when it can start), else here. */
export function newHashState(alg: DigestAlgorithm, size: number): HashState {
  const s = size >= WORKER_HASH_MIN_BYTES ? getShared() : null;
  return s ? new WorkerHash(s, alg) : new LocalHash(alg);
}

/** An in-thread hash (for re-verification after a worker failure, and for small blobs). */
export function newLocalHashState(alg: DigestAlgorithm): HashState {
  return new LocalHash(alg);
}
