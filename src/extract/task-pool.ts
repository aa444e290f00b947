/**
 * A small bounded pool of concurrent async tasks: `add` waits for a free slot (backpressure for
 * the producer), the first failure is kept and stops new work, `drain` waits for all and
 * rethrows it.
 *
 * @packageDocumentation
 */

/** Runs at most `size` tasks at once. */
export class TaskPool {
  private running = 0;
  private waiters: (() => void)[] = [];
  private idle: (() => void)[] = [];
  private error: unknown;
  private failed = false;

  constructor(readonly size: number) {}

  /** True once a task has failed; producers should stop adding. */
  get hasFailed(): boolean {
    return this.failed;
  }

  /** Starts `task` as soon as a slot is free (awaiting only that). Throws the first failure seen. */
  async add(task: () => Promise<void>): Promise<void> {
    while (this.running >= this.size) await new Promise<void>((r) => this.waiters.push(r));
    if (this.failed) throw this.error;
    this.running++;
    task()
      .catch((err: unknown) => {
        if (!this.failed) {
          this.failed = true;
          this.error = err;
        }
      })
      .finally(() => {
        this.running--;
        this.waiters.shift()?.();
        if (this.running === 0) for (const r of this.idle.splice(0)) r();
      });
  }

  /** Waits until no task runs; rethrows the first failure. */
  async drain(): Promise<void> {
    while (this.running > 0) await new Promise<void>((r) => this.idle.push(r));
    if (this.failed) throw this.error;
  }

  /** Waits until no task runs, ignoring failures (for cleanup after another error). */
  async settle(): Promise<void> {
    while (this.running > 0) await new Promise<void>((r) => this.idle.push(r));
  }
}

/** A counting semaphore: at most `size` holders at once, waiters served in order. */
export class Semaphore {
  private held = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(readonly size: number) {}

  /** Waits for a free slot and takes it; give it back with {@link release}. */
  async acquire(): Promise<void> {
    while (this.held >= this.size) await new Promise<void>((r) => this.waiters.push(r));
    this.held++;
  }

  /** Gives a slot back. */
  release(): void {
    this.held--;
    this.waiters.shift()?.();
  }
}
