import { OutOfRangeError } from '../errors.js';

/**
 * Validates a read request against a source of `size` bytes and returns how many bytes the
 * read yields (cut short at the end of the source).
 */
export function clampRead(offset: number, length: number, size: number): number {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset > size) {
    throw new OutOfRangeError(offset, length, size);
  }
  return Math.min(length, size - offset);
}
