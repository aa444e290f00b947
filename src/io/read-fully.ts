/**
 * Reading an exact range of a file. A positional read may return fewer bytes than asked (a
 * signal, a network file system), so reads repeat until the range is filled; a file that ends
 * first is a {@link ShortReadError}, never a silently short buffer.
 *
 * @packageDocumentation
 */
import type { FileHandle } from 'node:fs/promises';
import { ShortReadError } from '../errors.js';

/** One positional read: fills `buf[offset..offset+length)` from `position`, returns the count (0 at the end). */
export type PositionalRead = (buf: Uint8Array, offset: number, length: number, position: number) => Promise<number>;

/** Where {@link readFully} reads into, and what it names in errors. */
export interface ReadFullyRange {
  /** File position of the first byte. */
  position: number;
  /** Bytes to read (default: the rest of `buf` after `offset`). */
  length?: number;
  /** Where in `buf` the bytes go (default 0). */
  offset?: number;
  /** The file, for the error message (a path, or a description). */
  what: string;
}

/**
 * Reads exactly `length` bytes at `position` of `from` (an open file, or a positional read
 * function) into `buf`.
 *
 * @throws ShortReadError when the file ends first (`data.offset`: where it ended)
 */
export async function readFully(
  from: FileHandle | PositionalRead,
  buf: Uint8Array,
  range: ReadFullyRange,
): Promise<void> {
  const { position, what, offset = 0 } = range;
  const length = range.length ?? buf.byteLength - offset;
  const read: PositionalRead =
    typeof from === 'function' ? from : async (b, o, n, p) => (await from.read(b, o, n, p)).bytesRead;
  let done = 0;
  while (done < length) {
    const n = await read(buf, offset + done, length - done, position + done);
    if (n === 0) {
      throw new ShortReadError(`${what}: file ended at ${position + done}, expected ${position + length}`, {
        path: what,
        offset: position + done,
        expected: position + length,
      });
    }
    done += n;
  }
}
