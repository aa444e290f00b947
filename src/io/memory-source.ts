import { throwIfAborted } from '../errors.js';
import type { ByteSource, ReadOptions } from './byte-source.js';
import { clampRead } from './check-range.js';

/** A byte source over bytes held in memory. Reads return views, not copies. */
export class MemorySource implements ByteSource {
  readonly size: number;
  constructor(private readonly bytes: Uint8Array) {
    this.size = bytes.byteLength;
  }
  async read(offset: number, length: number, options: ReadOptions = {}): Promise<Uint8Array> {
    throwIfAborted(options.signal);
    const n = clampRead(offset, length, this.size);
    return this.bytes.subarray(offset, offset + n);
  }
}
