/**
 * Per-blob scheduling of upstream requests: at most `parallelism` at once, user reads first,
 * then readahead, then background filling. Background work never takes the last free slot
 * (when there is more than one), so a user read arriving during a prefetch starts at once.
 *
 * @packageDocumentation
 */

/** A read the caller is waiting for (also `fill` at normal priority). */
export const PRIORITY_USER = 0;
/** Sequential readahead. */
export const PRIORITY_READAHEAD = 1;
/** Low-priority `fill` (background prefetch). */
export const PRIORITY_BACKGROUND = 2;

/** Something the scheduler runs in a slot. */
export interface Job {
  priority: number;
  state: 'queued' | 'running' | 'done';
  /** Does the work; the slot is freed when it settles. */
  run(): Promise<void>;
}

/** Priority queue with a fixed number of slots. */
export class Scheduler {
  private readonly queues: Job[][] = [[], [], []];
  private running = 0;
  private runningBackground = 0;

  constructor(private readonly slots: number) {}

  /** Queues a job and starts what fits. */
  enqueue(job: Job): void {
    job.state = 'queued';
    this.queues[job.priority].push(job);
    this.pump();
  }

  /** Raises a queued job's priority (a user read now waits for a readahead job). */
  promote(job: Job, priority: number): void {
    if (priority >= job.priority) return;
    if (job.state === 'queued') {
      const q = this.queues[job.priority];
      q.splice(q.indexOf(job), 1);
      job.priority = priority;
      this.queues[priority].push(job);
      this.pump();
    } else {
      job.priority = priority;
    }
  }

  /** Removes queued jobs matching `pred`; returns them. */
  cancelWhere(pred: (job: Job) => boolean): Job[] {
    const out: Job[] = [];
    for (const q of this.queues) {
      for (let i = q.length - 1; i >= 0; i--) {
        if (pred(q[i])) {
          out.push(q[i]);
          q[i].state = 'done';
          q.splice(i, 1);
        }
      }
    }
    return out;
  }

  private pump(): void {
    const backgroundSlots = this.slots > 1 ? this.slots - 1 : 1;
    while (this.running < this.slots) {
      let job: Job | undefined;
      for (let p = 0; p < this.queues.length && !job; p++) {
        if (p > 0 && this.runningBackground >= backgroundSlots) break;
        job = this.queues[p].shift();
      }
      if (!job) return;
      const background = job.priority > 0;
      this.running++;
      if (background) this.runningBackground++;
      job.state = 'running';
      void job
        .run()
        .catch(() => {})
        .finally(() => {
          job.state = 'done';
          this.running--;
          if (background) this.runningBackground--;
          this.pump();
        });
    }
  }
}
