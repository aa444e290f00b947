/**
 * Human sizes for the CLI: parse `10G`, `512MiB`, `1.5 GB` (an error naming the option when
 * it is not a size) and print `1.2 MiB`.
 */
import { InvalidOptionError } from '../errors.js';
import { parseSize as parseConfigSize } from '../config/size.js';

/** Parses a byte size (see the config's `parseSize`): `10G` = 10 GiB, `GB` is decimal. */
export function parseSize(text: string, option = 'size'): number {
  const n = parseConfigSize(text);
  if (n === undefined)
    throw new InvalidOptionError(option, `"${text}" is not a size (examples: 4096, 512K, 10G, 1.5GB)`);
  return n;
}

/** Formats a byte count with a binary unit, e.g. `1.2 MiB`. */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}
