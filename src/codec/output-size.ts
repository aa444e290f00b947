/**
 * The bound every decoder puts on its output.
 *
 * @packageDocumentation
 */
import { InvalidOptionError } from '../errors.js';
import type { CodecName } from './errors.js';

/**
 * Largest `outputSize` a one-shot decoder accepts (1 GiB). EROFS clusters decode to at most a few
 * MiB; the cap keeps a corrupt size field from asking for an absurd allocation.
 */
export const MAX_OUTPUT_SIZE = 1 << 30;

/** Refuses an `outputSize` that is not an integer in [0, {@link MAX_OUTPUT_SIZE}]. */
export function checkOutputSize(codec: CodecName, outputSize: number): void {
  if (!Number.isSafeInteger(outputSize) || outputSize < 0 || outputSize > MAX_OUTPUT_SIZE) {
    throw new InvalidOptionError(
      'outputSize',
      `${codec}: must be an integer from 0 to ${MAX_OUTPUT_SIZE}, got ${outputSize}`,
    );
  }
}
