/** Counters of what a mount served, for `ocifs mounts` and benchmarks. */
export class MountStats {
  /** Read requests answered. */
  reads = 0;
  /** Bytes returned to readers (the kernel's requests, not what was fetched). */
  bytesServed = 0;
  /** Reads that failed (the source could not produce the bytes: EIO to the reader). */
  errors = 0;

  /** A plain object for JSON output. */
  toJSON(): Record<string, number> {
    return { reads: this.reads, bytesServed: this.bytesServed, errors: this.errors };
  }
}
