/**
 * Drives a {@link TarParser} from a stream of chunks (the decompressed output of a gzip or
 * zstd pass): bytes the parser wants are gathered across chunk boundaries, data it skips is
 * dropped as it passes.
 *
 * @packageDocumentation
 */
import { CorruptTarError } from './errors.js';
import { TarParser } from './tar-parser.js';

/** Feeds consecutive chunks of a tar stream to a parser. */
export class TarFeeder {
  private buf: Uint8Array | undefined;
  private have = 0;

  constructor(readonly parser: TarParser) {}

  /** Consumes one chunk (it may be reused by the caller afterwards). */
  push(chunk: Uint8Array): void {
    let p = 0;
    const parser = this.parser;
    while (p < chunk.length) {
      const need = parser.need();
      if (need.kind === 'done') return;
      if (need.kind === 'skip') {
        const n = Math.min(need.length - this.have, chunk.length - p);
        this.have += n;
        p += n;
        if (this.have === need.length) {
          this.have = 0;
          parser.skipped();
        }
        continue;
      }
      // A read: give a view of the chunk when it holds the whole record, else gather.
      if (this.have === 0 && chunk.length - p >= need.length) {
        parser.give(chunk.subarray(p, p + need.length));
        p += need.length;
        continue;
      }
      if (!this.buf || this.buf.length !== need.length) {
        const next = new Uint8Array(need.length);
        if (this.buf && this.have) next.set(this.buf.subarray(0, this.have));
        this.buf = next;
      }
      const n = Math.min(need.length - this.have, chunk.length - p);
      this.buf.set(chunk.subarray(p, p + n), this.have);
      this.have += n;
      p += n;
      if (this.have === need.length) {
        const full = this.buf;
        this.buf = undefined;
        this.have = 0;
        parser.give(full);
      }
    }
  }

  /** The stream ended. Throws when it ended inside a member or a header. */
  end(): void {
    const need = this.parser.need();
    if (need.kind === 'skip') return this.parser.end(this.have);
    if (this.have > 0 && need.kind !== 'done') {
      throw new CorruptTarError('archive is truncated', this.parser.position + this.have);
    }
    this.parser.end();
  }

  /** True once the parser has seen the end-of-archive marker. */
  get done(): boolean {
    return this.parser.need().kind === 'done';
  }
}
