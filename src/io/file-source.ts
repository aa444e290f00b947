import { open, type FileHandle } from 'node:fs/promises';
import { OcifsError, throwIfAborted } from '../errors.js';
import type { ByteSource, ReadOptions } from './byte-source.js';
import { clampRead } from './check-range.js';

/** A byte source over a local file, read with positional reads on one open handle. */
export class FileSource implements ByteSource {
  private constructor(
    private readonly handle: FileHandle,
    readonly size: number,
    /** The file's path, for error messages. */
    readonly path: string,
  ) {}

  /** Opens `path` read-only; its size is taken once, at open. */
  static async open(path: string): Promise<FileSource> {
    const handle = await open(path, 'r');
    try {
      const st = await handle.stat();
      if (!st.isFile() && !st.isBlockDevice()) {
        throw new OcifsError('ERR_OCIFS_NOT_A_FILE', `${path}: not a regular file`, { data: { path } });
      }
      return new FileSource(handle, st.size, path);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async read(offset: number, length: number, options: ReadOptions = {}): Promise<Uint8Array> {
    throwIfAborted(options.signal);
    const n = clampRead(offset, length, this.size);
    const buf = new Uint8Array(n);
    let done = 0;
    while (done < n) {
      const { bytesRead } = await this.handle.read(buf, done, n - done, offset + done);
      if (bytesRead === 0) {
        throw new OcifsError('ERR_OCIFS_SHORT_READ', `${this.path}: file ended at ${offset + done}, expected ${this.size} bytes`, {
          data: { path: this.path, offset: offset + done },
        });
      }
      done += bytesRead;
    }
    return buf;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
