/**
 * Where the decompressed tar of a layer that cannot be read randomly (a tar+zstd layer with
 * one huge frame) is kept after the one pass over it: a "derived blob", keyed by the layer's
 * diff_id (the digest of the uncompressed tar, which the image config lists), so it can be
 * verified like any blob. The lead backs {@link DerivedBlobStore} with the blob cache; the
 * default {@link TempDerivedBlobStore} writes an anonymous temporary file (gone when closed),
 * which bounds memory but repeats the pass in every process.
 *
 * @packageDocumentation
 */
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { throwIfAborted } from '../errors.js';
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import { clampRead } from '../io/check-range.js';
import { readFully } from '../io/read-fully.js';

/** Writes one derived blob. */
export interface DerivedBlobWriter {
  /** Appends bytes (in order). */
  write(bytes: Uint8Array): Promise<void>;
  /** Finishes the blob, whose sha256 is `diffId` (the writer may verify it), and opens it. */
  commit(diffId: string): Promise<ByteSource>;
  /** Drops what was written. */
  abort(): Promise<void>;
}

/** A store of derived blobs. */
export interface DerivedBlobStore {
  /** The derived blob with this diff id, when one was committed before. */
  get(diffId: string): Promise<ByteSource | undefined>;
  /** Starts a new one. */
  create(): Promise<DerivedBlobWriter>;
}

/** A byte source over an open file handle it owns. */
class HandleSource implements ByteSource {
  constructor(
    private readonly handle: FileHandle,
    readonly size: number,
  ) {}
  async read(offset: number, length: number, options: ReadOptions = {}): Promise<Uint8Array> {
    throwIfAborted(options.signal);
    const n = clampRead(offset, length, this.size);
    const buf = new Uint8Array(n);
    await readFully(this.handle, buf, { position: offset, what: 'derived blob' });
    return buf;
  }
  async close(): Promise<void> {
    await this.handle.close();
  }
}

/** Derived blobs in unlinked temporary files (see the module comment). */
export class TempDerivedBlobStore implements DerivedBlobStore {
  async get(): Promise<ByteSource | undefined> {
    return undefined;
  }

  async create(): Promise<DerivedBlobWriter> {
    const dir = await mkdtemp(join(tmpdir(), 'ocifs-derived-'));
    const handle = await open(join(dir, 'tar'), 'w+', 0o600);
    // Unlinked at once: the data lives as long as the handle, and nothing is left behind.
    await rm(dir, { recursive: true, force: true });
    let size = 0;
    return {
      async write(bytes) {
        let done = 0;
        while (done < bytes.length) {
          const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, size + done);
          done += bytesWritten;
        }
        size += bytes.length;
      },
      async commit() {
        return new HandleSource(handle, size);
      },
      async abort() {
        await handle.close();
      },
    };
  }
}
