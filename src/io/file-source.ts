import { read as fsRead } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { NotARegularFileError, OcifsError, throwIfAborted } from '../errors.js';
import { readFully } from './read-fully.js';
import type { ByteSource, FileSpan, ReadOptions } from './byte-source.js';
import { clampRead } from './check-range.js';

/** A read of a {@link FileSource} after it was closed. */
export class SourceClosedError extends OcifsError {
  constructor(path: string) {
    super('ERR_OCIFS_CLOSED', `${path}: read after close`, { data: { path } });
  }
}

/** A byte source over a local file, read with positional reads on one open handle. */
export class FileSource implements ByteSource {
  private closed = false;
  /** Reads in flight (close waits for them). */
  private active = 0;
  private idle: (() => void) | undefined;

  private constructor(
    private readonly handle: FileHandle,
    readonly size: number,
    /** The file's path, for error messages. */
    readonly path: string,
    /** `st_dev:st_ino` of the open file (see {@link FileSpan.fileId}). */
    readonly fileId: string,
  ) {}

  /** Opens `path` read-only; its size is taken once, at open. */
  static async open(path: string): Promise<FileSource> {
    const handle = await open(path, 'r');
    try {
      const st = await handle.stat({ bigint: true });
      if (!st.isFile() && !st.isBlockDevice()) {
        throw new NotARegularFileError(path);
      }
      return new FileSource(handle, Number(st.size), path, `${st.dev}:${st.ino}`);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async read(offset: number, length: number, options: ReadOptions = {}): Promise<Uint8Array> {
    throwIfAborted(options.signal);
    const n = clampRead(offset, length, this.size);
    const buf = new Uint8Array(n);
    this.active++;
    try {
      await readFully((b, o, len, p) => this.preadOnce(b, o, len, p), buf, { position: offset, what: this.path });
    } finally {
      if (--this.active === 0) this.idle?.();
    }
    return buf;
  }

  /**
   * One pread on the handle's descriptor with the callback API: about half the cost of
   * `FileHandle.read` (whose promise request carries a stats array per call) — metadata walks
   * make tens of thousands of small reads.
   */
  private preadOnce(buf: Uint8Array, at: number, n: number, position: number): Promise<number> {
    if (this.closed) return Promise.reject(new SourceClosedError(this.path));
    return new Promise((resolve, reject) =>
      fsRead(this.handle.fd, buf, at, n, position, (err, bytesRead) => (err ? reject(err) : resolve(bytesRead))),
    );
  }

  /** The range as one span of this file (none for an empty range); undefined once closed (a read then rejects). */
  async fileSpans(offset: number, length: number, options: ReadOptions = {}): Promise<FileSpan[] | undefined> {
    throwIfAborted(options.signal);
    const n = clampRead(offset, length, this.size);
    if (this.closed) return undefined;
    return n === 0 ? [] : [{ fd: this.handle.fd, fileId: this.fileId, position: offset, length: n }];
  }

  /** Closes the file once the reads in flight are done (their descriptor must stay valid until then). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.active > 0) await new Promise<void>((r) => (this.idle = r));
    await this.handle.close();
  }
}
