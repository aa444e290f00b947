/**
 * CRC-32C (Castagnoli), as the EROFS superblock checksum uses it: the kernel's `crc32c(~0, ...)`
 * with no final inversion.
 *
 * @packageDocumentation
 */

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** Updates `crc` (the raw register, start with 0xffffffff) over `bytes`; no final inversion. */
export function crc32cUpdate(crc: number, bytes: Uint8Array): number {
  let c = crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return c >>> 0;
}
