/**
 * Pull-based reading of a chunk stream: exact reads (headers), bounded takes (file data, as
 * views of the chunks when possible) and skips, with one partly consumed chunk held.
 *
 * @packageDocumentation
 */

/** Reads an async iterable of chunks by byte counts. */
export class ByteQueue {
  private head: Uint8Array | undefined;
  private at = 0;
  private ended = false;
  /** Bytes handed out or skipped so far. */
  position = 0;

  constructor(private readonly it: AsyncIterator<Uint8Array>) {}

  /** The next non-empty chunk remainder, or undefined at the end of the stream. */
  private async current(): Promise<Uint8Array | undefined> {
    while (!this.head || this.at >= this.head.length) {
      if (this.ended) return undefined;
      const r = await this.it.next();
      if (r.done) {
        this.ended = true;
        this.head = undefined;
        return undefined;
      }
      this.head = r.value;
      this.at = 0;
    }
    return this.head;
  }

  /**
   * Up to `max` bytes (at least one unless the stream ended): a view of the current chunk,
   * valid until the next call.
   */
  async take(max: number): Promise<Uint8Array | undefined> {
    const h = await this.current();
    if (!h) return undefined;
    const n = Math.min(max, h.length - this.at);
    const out = h.subarray(this.at, this.at + n);
    this.at += n;
    this.position += n;
    return out;
  }

  /** Exactly `n` bytes, or fewer when the stream ends first (the caller decides what that means). */
  async read(n: number): Promise<Uint8Array> {
    const first = await this.take(n);
    if (!first || first.length === n) return first ?? new Uint8Array(0);
    const out = new Uint8Array(n);
    out.set(first);
    let have = first.length;
    while (have < n) {
      const p = await this.take(n - have);
      if (!p) return out.subarray(0, have);
      out.set(p, have);
      have += p.length;
    }
    return out;
  }

  /** Skips up to `n` bytes; returns how many were skipped (fewer at the end of the stream). */
  async skip(n: number): Promise<number> {
    let done = 0;
    while (done < n) {
      const p = await this.take(n - done);
      if (!p) break;
      done += p.length;
    }
    return done;
  }

  /** Skips to the end; returns the bytes skipped. */
  async drain(): Promise<number> {
    let n = 0;
    for (;;) {
      const p = await this.take(Number.MAX_SAFE_INTEGER);
      if (!p) return n;
      n += p.length;
    }
  }
}
