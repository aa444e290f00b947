/**
 * Errors of the EROFS reader.
 *
 * Every problem an image can have surfaces as one of these, with the inode (`nid`) or block
 * that is wrong in both the message and `data`, so a user can point `dump.erofs` or
 * `fsck.erofs` at the same spot.
 *
 * @packageDocumentation
 */
import { OcifsError, type OcifsErrorOptions } from '../errors.js';

/** Where in an image a problem was found. Every field is optional; set what is known. */
export interface ErofsLocation {
  /** Inode number (`nid`) whose metadata or data is wrong. */
  nid?: bigint | number;
  /** Block address (in filesystem blocks) that is wrong or unreadable. */
  block?: number;
  /** Absolute byte offset in the image (or in the metabox) of the bad field. */
  offset?: number;
  /** Logical offset in a file (for data mapping errors). */
  la?: number;
}

function describe(where: ErofsLocation): string {
  const parts: string[] = [];
  if (where.nid !== undefined) parts.push(`nid ${where.nid}`);
  if (where.block !== undefined) parts.push(`block ${where.block}`);
  if (where.offset !== undefined) parts.push(`offset ${where.offset}`);
  if (where.la !== undefined) parts.push(`file offset ${where.la}`);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

function locationData(where: ErofsLocation): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  if (where.nid !== undefined) data.nid = typeof where.nid === 'bigint' ? where.nid.toString() : where.nid;
  if (where.block !== undefined) data.block = where.block;
  if (where.offset !== undefined) data.offset = where.offset;
  if (where.la !== undefined) data.la = where.la;
  return data;
}

/**
 * The image's metadata is inconsistent: a field out of range, a structure that runs past the
 * end of the image, a loop. Code `ERR_OCIFS_CORRUPT_EROFS`; `data` names the nid and/or block.
 */
export class CorruptErofsError extends OcifsError {
  constructor(reason: string, where: ErofsLocation = {}, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_CORRUPT_EROFS', `corrupt EROFS image: ${reason}${describe(where)}`, {
      ...options,
      data: { reason, ...locationData(where), ...options.data },
    });
  }
}

/** The source does not hold an EROFS image (no superblock magic at offset 1024). Code `ERR_OCIFS_NOT_EROFS`. */
export class NotErofsError extends OcifsError {
  constructor(reason: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_NOT_EROFS', `not an EROFS image: ${reason}`, { ...options, data: { reason, ...options.data } });
  }
}

/**
 * The image uses an on-disk feature this reader does not implement (an unknown incompatible
 * feature bit, a reserved data layout, an unknown compression algorithm). Like the kernel, the
 * reader refuses rather than guesses. Code `ERR_OCIFS_EROFS_UNSUPPORTED`.
 */
export class UnsupportedErofsError extends OcifsError {
  constructor(reason: string, where: ErofsLocation = {}, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_EROFS_UNSUPPORTED', `unsupported EROFS image: ${reason}${describe(where)}`, {
      ...options,
      data: { reason, ...locationData(where), ...options.data },
    });
  }
}

/**
 * The superblock checksum (crc32c, `EROFS_FEATURE_COMPAT_SB_CHKSUM`) does not match.
 * Code `ERR_OCIFS_EROFS_BAD_CHECKSUM`.
 */
export class ErofsChecksumError extends OcifsError {
  constructor(expected: number, actual: number) {
    const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;
    const message = `corrupt EROFS image: superblock checksum ${hex(actual)} does not match ${hex(expected)}`;
    super('ERR_OCIFS_EROFS_BAD_CHECKSUM', message, {
      data: { expected, actual },
    });
  }
}

/**
 * A chunk of a file lives on an extra device (`EROFS_FEATURE_INCOMPAT_DEVICE_TABLE`) that was not
 * given in `ErofsOptions.devices`. Code `ERR_OCIFS_EROFS_DEVICE_MISSING`.
 */
export class ErofsDeviceMissingError extends OcifsError {
  constructor(deviceId: number, where: ErofsLocation = {}) {
    const message = `EROFS extra device ${deviceId} is needed but was not given${describe(where)}`;
    super('ERR_OCIFS_EROFS_DEVICE_MISSING', message, {
      data: { deviceId, ...locationData(where) },
    });
  }
}
