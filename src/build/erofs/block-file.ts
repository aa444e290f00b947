/**
 * The image file being written: whole blocks appended in order through a write buffer (the data
 * area streams in as the source is read), and positional writes for what is known only at the
 * end (the superblock in block 0).
 *
 * @packageDocumentation
 */
import type { FileHandle } from 'node:fs/promises';

/** Bytes gathered before one write call. */
const BUFFER = 4 * 1024 * 1024;

/**
 * Appends blocks to an image file. Two buffers: one is written while the other fills, so the
 * writer never waits for the disk unless it gets two buffers ahead.
 */
export class BlockFile {
  private buf: Uint8Array = new Uint8Array(BUFFER);
  private spare: Uint8Array | undefined = new Uint8Array(BUFFER);
  private pending: Promise<void> | undefined;
  private used = 0;
  /** Offset in the file where the buffer starts. */
  private bufAt: number;
  /** Bytes written to the file so far (the buffer excluded). */
  bytesWritten = 0;

  constructor(
    private readonly fh: FileHandle,
    readonly blockSize: number,
    /** First block this writer appends at. */
    firstBlock: number,
  ) {
    this.bufAt = firstBlock * blockSize;
  }

  /** The next block an append lands on. */
  get nextBlock(): number {
    return (this.bufAt + this.used) / this.blockSize;
  }

  /**
   * Appends `data` (its length rounded up to whole blocks with zeros) and returns the block it
   * starts at.
   */
  async append(data: Uint8Array): Promise<number> {
    const start = this.nextBlock;
    await this.put(data);
    const rem = data.length % this.blockSize;
    if (rem) await this.put(new Uint8Array(this.blockSize - rem));
    return start;
  }

  private async put(data: Uint8Array): Promise<void> {
    let p = 0;
    while (p < data.length) {
      if (this.used === 0 && data.length - p >= BUFFER) {
        // A large piece goes out directly (after the write in flight: writes stay in order).
        const n = data.length - p - ((data.length - p) % this.blockSize);
        if (n > 0) {
          await this.pending;
          await this.writeAt(data.subarray(p, p + n), this.bufAt);
          this.bufAt += n;
          p += n;
          continue;
        }
      }
      const n = Math.min(BUFFER - this.used, data.length - p);
      this.buf.set(data.subarray(p, p + n), this.used);
      this.used += n;
      p += n;
      if (this.used === BUFFER) await this.startFlush();
    }
  }

  /** Starts writing what the buffer holds (waiting for the write before, if any). */
  private async startFlush(): Promise<void> {
    if (this.used === 0) return;
    await this.pending;
    const full = this.buf;
    const at = this.bufAt;
    const n = this.used;
    this.buf = this.spare ?? new Uint8Array(BUFFER);
    this.spare = undefined;
    this.bufAt += n;
    this.used = 0;
    this.pending = this.writeAt(full.subarray(0, n), at).then(() => {
      this.spare = full;
    });
    this.pending.catch(() => {}); // awaited by the next flush
  }

  /** Writes out what the buffer holds and waits until it is written. */
  async flush(): Promise<void> {
    await this.startFlush();
    await this.pending;
  }

  /** Writes `data` at byte `position` (outside the append stream: the superblock). */
  async writeAt(data: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.fh.write(data, done, data.length - done, position + done);
      done += bytesWritten;
    }
    this.bytesWritten += data.length;
  }
}
