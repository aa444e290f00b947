/**
 * Where a streaming writer's output goes: a sequential byte sink. Writers of tar-based formats
 * write straight into one (an upload, a file in an OCI layout); {@link DigestingSink} counts and
 * hashes what passes, which gives the blob's descriptor at the end without reading it back.
 *
 * @packageDocumentation
 */
import { createHash, type Hash } from 'node:crypto';

/** A sequential destination for bytes. */
export interface ByteSink {
  /** Takes the next bytes; the caller may reuse `chunk` once the promise settles. */
  write(chunk: Uint8Array): Promise<void>;
}

/** Counts and sha256-hashes the bytes it forwards (to `inner`, when given). */
export class DigestingSink implements ByteSink {
  private readonly hash: Hash = createHash('sha256');
  /** Bytes written so far. */
  size = 0;

  constructor(private readonly inner?: ByteSink) {}

  async write(chunk: Uint8Array): Promise<void> {
    this.hash.update(chunk);
    this.size += chunk.length;
    if (this.inner) await this.inner.write(chunk);
  }

  /** `sha256:…` of everything written (call once, at the end). */
  digest(): string {
    return `sha256:${this.hash.digest('hex')}`;
  }
}

/**
 * Runs async jobs with at most `limit` in flight and hands their results to `deliver` in the
 * order they were pushed (compressed members must be written in order; compressing several at
 * once uses the thread pool).
 */
export class OrderedQueue<T> {
  private readonly pending: Promise<T>[] = [];

  constructor(
    private readonly limit: number,
    private readonly deliver: (result: T) => Promise<void>,
  ) {}

  /** Adds a job; waits while `limit` jobs are in flight. */
  async push(job: Promise<T>): Promise<void> {
    job.catch(() => {}); // awaited in order below
    this.pending.push(job);
    while (this.pending.length >= this.limit) await this.deliver(await this.pending.shift()!);
  }

  /** Delivers every job still pending. */
  async drain(): Promise<void> {
    while (this.pending.length) await this.deliver(await this.pending.shift()!);
  }

  /** Waits for jobs still running (after a failure), ignoring their results. */
  async settle(): Promise<void> {
    await Promise.allSettled(this.pending.splice(0));
  }
}
