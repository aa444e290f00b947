/**
 * Time limits of in-flight FUSE requests, checked by one sweeping timer: a timer per request
 * (`AbortSignal.timeout`) cost more than the request itself on metadata-heavy workloads.
 *
 * @packageDocumentation
 */
import { AbortedError } from '../errors.js';

/** One request in flight. */
export interface PendingOp {
  deadline: number;
  controller: AbortController;
  reject: (err: unknown) => void;
}

/** The deadlines of in-flight requests; an expired one is aborted and rejected (EIO). */
export class Deadlines {
  private readonly live = new Set<PendingOp>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly ms: number) {}

  start(reject: (err: unknown) => void): PendingOp {
    const p = { deadline: Date.now() + this.ms, controller: new AbortController(), reject };
    this.live.add(p);
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), Math.max(50, Math.min(1000, this.ms / 4)));
      this.timer.unref();
    }
    return p;
  }

  end(p: PendingOp): void {
    this.live.delete(p);
  }

  private sweep(): void {
    const now = Date.now();
    for (const p of this.live) {
      if (p.deadline > now) continue;
      this.live.delete(p);
      const err = new AbortedError({ cause: new Error(`no answer within ${this.ms} ms`) });
      p.controller.abort(err);
      p.reject(err);
    }
    if (this.live.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Runs `fn` with a time limit; never throws synchronously. */
  run<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const p = this.start(reject);
      let started: Promise<T>;
      try {
        started = fn(p.controller.signal);
      } catch (err) {
        started = Promise.reject(err);
      }
      started.then(
        (v) => {
          this.end(p);
          resolve(v);
        },
        (err: unknown) => {
          this.end(p);
          reject(err);
        },
      );
    });
  }
}
