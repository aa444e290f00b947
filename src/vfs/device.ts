/**
 * Device numbers: the one place that packs a device's major and minor into `Inode.rdev` and
 * splits them again (`ls -l`, `stat`, extraction's `mknod`, the web page's tar download).
 *
 * `rdev` is Linux's `st_rdev` as glibc's `makedev` encodes it: minor bits 0–7, major bits 0–11,
 * minor bits 8–31, major bits 12–31, low to high (bits 0–7, 8–19, 20–43, 44–63). Every device
 * Linux can have (a 12-bit major, a 20-bit minor: the kernel's `MINORBITS`) packs into 32 bits,
 * and there the value is the kernel's own `new_encode_dev` — what `stat(2)` reports, what EROFS
 * stores in `i_u` and what FUSE carries. A tar header can say more (its `devminor` field takes 21
 * bits, a pax record any number; BSD minors are 24 bits): those keep their numbers here as glibc
 * keeps them, for listing, even though the kernel cannot make such a node (`mknod` refuses it).
 *
 * A JavaScript number holds 53 bits exactly, so majors of 2^21 and more (bits 53+) cannot be
 * kept: {@link makeRdev} refuses them rather than round the minor's low bits away.
 *
 * @packageDocumentation
 */
import { DeviceNumberError } from './errors.js';

/** The largest major {@link makeRdev} takes (2^21 − 1: the value stays below 2^53). */
export const MAX_RDEV_MAJOR = 2 ** 21 - 1;
/** The largest minor {@link makeRdev} takes (2^32 − 1, glibc's limit). */
export const MAX_RDEV_MINOR = 2 ** 32 - 1;

const TWO_32 = 2 ** 32;

/**
 * `makedev(major, minor)`: the `st_rdev` of a device.
 *
 * @throws DeviceNumberError for a major over {@link MAX_RDEV_MAJOR} or a minor over
 *   {@link MAX_RDEV_MINOR} (or a negative or fractional one)
 */
export function makeRdev(major: number, minor: number): number {
  const inRange = (n: number, max: number) => Number.isInteger(n) && n >= 0 && n <= max;
  if (!inRange(major, MAX_RDEV_MAJOR) || !inRange(minor, MAX_RDEV_MINOR)) {
    throw new DeviceNumberError(major, minor);
  }
  const hi = (major & 0xfffff000) + Math.floor(minor / 2 ** 20); // bits 32–63, as a 32-bit number
  const lo = ((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & 0xfff00) << 12)) >>> 0;
  return hi * TWO_32 + lo;
}

/** `[major(rdev), minor(rdev)]`: the inverse of {@link makeRdev}, as glibc's `major`/`minor` compute it. */
export function splitRdev(rdev: number): [major: number, minor: number] {
  const hi = Math.floor(rdev / TWO_32) >>> 0;
  const lo = rdev >>> 0;
  const major = ((lo >>> 8) & 0xfff) | (hi & 0xfffff000);
  const minor = (lo & 0xff) | ((lo >>> 12) & 0xfff00) | ((hi & 0xfff) << 20);
  return [major >>> 0, minor >>> 0];
}
