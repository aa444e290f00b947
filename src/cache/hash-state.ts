/**
 * Incremental hashing for blob verification, either in this thread or in a shared worker thread
 * so that hashing a large blob while it downloads does not take event-loop time from the
 * network and the readers (SHA-256 costs about as much CPU per byte as receiving it).
 *
 * @packageDocumentation
 */
import { createHash, type Hash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { debuglog } from 'node:util';
import type { DigestAlgorithm } from './digest.js';

const debug = debuglog('ocifs:cache');

/** A running hash. */
export interface HashState {
  /** Bytes handed over but not hashed yet (only a worker has any). */
  readonly backlog: number;
  update(bytes: Uint8Array): void;
  /** The hex digest; the state is finished afterwards. Rejects if the worker died. */
  digest(): Promise<string>;
  /** Drops the state without a digest. */
  dispose(): void;
}

/** Blobs at least this big are hashed in the worker. */
export const WORKER_HASH_MIN_BYTES = 8 * 1024 * 1024;

class LocalHash implements HashState {
  readonly backlog = 0;
  private readonly h: Hash;
  constructor(alg: DigestAlgorithm) {
    this.h = createHash(alg);
  }
  update(bytes: Uint8Array): void {
    this.h.update(bytes);
  }
  async digest(): Promise<string> {
    return this.h.digest('hex');
  }
  dispose(): void {}
}

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hashes = new Map();
parentPort.on('message', (m) => {
  if (m.op === 'new') hashes.set(m.id, createHash(m.alg));
  else if (m.op === 'update') {
    const h = hashes.get(m.id);
    if (h) h.update(new Uint8Array(m.buf));
    parentPort.postMessage({ id: m.id, done: m.buf.byteLength });
  } else if (m.op === 'digest') {
    const h = hashes.get(m.id);
    hashes.delete(m.id);
    parentPort.postMessage({ id: m.id, hex: h ? h.digest('hex') : null });
  } else if (m.op === 'drop') hashes.delete(m.id);
});
`;

interface WorkerMessage {
  id: number;
  done?: number;
  hex?: string | null;
}

let worker: Worker | null = null;
let workerFailed = false;
let nextId = 0;
const states = new Map<number, WorkerHash>();
/** Messages the worker still has to answer: while there are any, it keeps the process alive. */
let outstanding = 0;

function track(delta: number): void {
  const before = outstanding;
  outstanding += delta;
  if (!worker) return;
  if (before === 0 && outstanding > 0) worker.ref();
  else if (before > 0 && outstanding === 0) worker.unref();
}

function getWorker(): Worker | null {
  if (workerFailed) return null;
  if (worker) return worker;
  try {
    // No loaders or flags of the main thread (a TypeScript loader would only slow it down).
    const w = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
    w.on('message', (m: WorkerMessage) => {
      track(-1); // every update and digest gets exactly one answer
      states.get(m.id)?.onMessage(m);
    });
    const fail = (err: unknown) => {
      debug('hash worker failed: %s', (err as Error)?.message ?? String(err));
      if (worker === w) worker = null;
      outstanding = 0;
      workerFailed = true;
      for (const s of states.values()) s.onFail(err);
      states.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => {
      if (worker === w && code !== 0) fail(new Error(`hash worker exited with ${code}`));
      if (worker === w) worker = null;
    });
    // After the listeners (attaching one refs the port again): an idle worker never keeps the
    // process alive; track() refs it while it has work.
    w.unref();
    worker = w;
    return w;
  } catch (err) {
    debug('no hash worker: %s', (err as Error).message);
    workerFailed = true;
    return null;
  }
}

class WorkerHash implements HashState {
  backlog = 0;
  private readonly id = nextId++;
  private failed: unknown = null;
  private waiting: { resolve: (hex: string) => void; reject: (e: unknown) => void } | null = null;

  constructor(
    private readonly w: Worker,
    alg: DigestAlgorithm,
  ) {
    states.set(this.id, this);
    w.postMessage({ op: 'new', id: this.id, alg });
  }

  update(bytes: Uint8Array): void {
    if (this.failed) return;
    // A copy is transferred: the caller's buffer is still in use (readers, the write).
    const copy = Uint8Array.prototype.slice.call(bytes) as Uint8Array;
    this.backlog += copy.byteLength;
    track(1);
    this.w.postMessage({ op: 'update', id: this.id, buf: copy.buffer }, [copy.buffer as ArrayBuffer]);
  }

  digest(): Promise<string> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      track(1);
      this.w.postMessage({ op: 'digest', id: this.id });
    });
  }

  dispose(): void {
    if (!states.delete(this.id)) return;
    this.w.postMessage({ op: 'drop', id: this.id });
  }

  onMessage(m: WorkerMessage): void {
    if (m.done !== undefined) this.backlog -= m.done;
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
  const w = size >= WORKER_HASH_MIN_BYTES ? getWorker() : null;
  return w ? new WorkerHash(w, alg) : new LocalHash(alg);
}

/** An in-thread hash (for re-verification after a worker failure, and for small blobs). */
export function newLocalHashState(alg: DigestAlgorithm): HashState {
  return new LocalHash(alg);
}
