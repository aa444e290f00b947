/**
 * The FUSE kernel protocol (`include/uapi/linux/fuse.h`, protocol 7.x) as far as a read-only
 * server needs it: opcodes, flags, and encoders of the reply structs. Field names and sizes
 * follow the header; offsets are given in comments.
 *
 * @packageDocumentation
 */

/** Opcodes (`enum fuse_opcode`). */
export const Op = {
  LOOKUP: 1,
  FORGET: 2,
  GETATTR: 3,
  SETATTR: 4,
  READLINK: 5,
  SYMLINK: 6,
  MKNOD: 8,
  MKDIR: 9,
  UNLINK: 10,
  RMDIR: 11,
  RENAME: 12,
  LINK: 13,
  OPEN: 14,
  READ: 15,
  WRITE: 16,
  STATFS: 17,
  RELEASE: 18,
  SETXATTR: 21,
  GETXATTR: 22,
  LISTXATTR: 23,
  REMOVEXATTR: 24,
  FLUSH: 25,
  INIT: 26,
  OPENDIR: 27,
  READDIR: 28,
  RELEASEDIR: 29,
  ACCESS: 34,
  CREATE: 35,
  INTERRUPT: 36,
  DESTROY: 38,
  BATCH_FORGET: 42,
  FALLOCATE: 43,
  RENAME2: 45,
} as const;

/** `FUSE_INIT` flags (the first 32 bits). */
export const InitFlag = {
  ASYNC_READ: 1 << 0,
  AUTO_INVAL_DATA: 1 << 12,
  PARALLEL_DIROPS: 1 << 18,
  NO_OPEN_SUPPORT: 1 << 17,
  MAX_PAGES: 1 << 22,
  CACHE_SYMLINKS: 1 << 23,
  NO_OPENDIR_SUPPORT: 1 << 24,
} as const;

/** `fuse_open_out.open_flags`. */
export const FOPEN_KEEP_CACHE = 1 << 1;
export const FOPEN_CACHE_DIR = 1 << 3;

/** `sizeof(struct fuse_create_in)` (flags, mode, umask, open_flags; protocol 7.12+): the name follows it. */
export const CREATE_IN_SIZE = 16;

/** `sizeof(struct fuse_in_header)`. */
export const IN_HEADER_SIZE = 40;
/** `sizeof(struct fuse_out_header)`. */
export const OUT_HEADER_SIZE = 16;
/** `sizeof(struct fuse_attr)`. */
export const ATTR_SIZE = 88;
/** `FUSE_NAME_OFFSET`: bytes of `struct fuse_dirent` before the name. */
export const DIRENT_NAME_OFFSET = 24;

/** `struct fuse_in_header`. */
export interface InHeader {
  len: number;
  opcode: number;
  unique: bigint;
  nodeid: bigint;
  uid: number;
  gid: number;
  pid: number;
}

/** Decodes the request header (offsets: len 0, opcode 4, unique 8, nodeid 16, uid 24, gid 28, pid 32). */
export function readInHeader(b: Buffer): InHeader {
  return {
    len: b.readUInt32LE(0),
    opcode: b.readUInt32LE(4),
    unique: b.readBigUInt64LE(8),
    nodeid: b.readBigUInt64LE(16),
    uid: b.readUInt32LE(24),
    gid: b.readUInt32LE(28),
    pid: b.readUInt32LE(32),
  };
}

/** A reply: `struct fuse_out_header` followed by `body`. `error` is 0 or a negative errno. */
export function reply(unique: bigint, error: number, body?: Buffer): Buffer {
  const len = OUT_HEADER_SIZE + (error === 0 && body ? body.length : 0);
  const out = Buffer.allocUnsafe(len);
  out.writeUInt32LE(len, 0);
  out.writeInt32LE(error, 4);
  out.writeBigUInt64LE(unique, 8);
  if (error === 0 && body) body.copy(out, OUT_HEADER_SIZE);
  return out;
}

/** Attributes as `struct fuse_attr` needs them. */
export interface AttrFields {
  ino: number;
  size: number;
  blocks: number;
  mtimeSec: number;
  mtimeNsec: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  blksize: number;
}

/**
 * Writes `struct fuse_attr` at `off`: ino 0, size 8, blocks 16, atime 24, mtime 32, ctime 40,
 * atimensec 48, mtimensec 52, ctimensec 56, mode 60, nlink 64, uid 68, gid 72, rdev 76,
 * blksize 80, flags 84. atime and ctime are the mtime (an image keeps one time).
 */
export function writeAttr(b: Buffer, off: number, a: AttrFields): void {
  b.writeBigUInt64LE(BigInt(a.ino), off);
  b.writeBigUInt64LE(BigInt(a.size), off + 8);
  b.writeBigUInt64LE(BigInt(a.blocks), off + 16);
  const t = BigInt.asUintN(64, BigInt(a.mtimeSec));
  b.writeBigUInt64LE(t, off + 24);
  b.writeBigUInt64LE(t, off + 32);
  b.writeBigUInt64LE(t, off + 40);
  b.writeUInt32LE(a.mtimeNsec, off + 48);
  b.writeUInt32LE(a.mtimeNsec, off + 52);
  b.writeUInt32LE(a.mtimeNsec, off + 56);
  b.writeUInt32LE(a.mode >>> 0, off + 60);
  b.writeUInt32LE(a.nlink >>> 0, off + 64);
  b.writeUInt32LE(a.uid >>> 0, off + 68);
  b.writeUInt32LE(a.gid >>> 0, off + 72);
  b.writeUInt32LE(a.rdev >>> 0, off + 76);
  b.writeUInt32LE(a.blksize >>> 0, off + 80);
  b.writeUInt32LE(0, off + 84);
}

/** `struct fuse_entry_out` (128 bytes): nodeid 0, generation 8, entry_valid 16, attr_valid 24, nsecs 32/36, attr 40. */
export function entryOut(nodeid: number, validSec: number, attr: AttrFields | undefined): Buffer {
  const b = Buffer.alloc(40 + ATTR_SIZE);
  b.writeBigUInt64LE(BigInt(nodeid), 0);
  b.writeBigUInt64LE(BigInt(validSec), 16);
  b.writeBigUInt64LE(BigInt(validSec), 24);
  if (attr) writeAttr(b, 40, attr);
  return b;
}

/** `struct fuse_attr_out` (104 bytes): attr_valid 0, attr_valid_nsec 8, dummy 12, attr 16. */
export function attrOut(validSec: number, attr: AttrFields): Buffer {
  const b = Buffer.alloc(16 + ATTR_SIZE);
  b.writeBigUInt64LE(BigInt(validSec), 0);
  writeAttr(b, 16, attr);
  return b;
}

/** `struct fuse_open_out` (16 bytes): fh 0, open_flags 8, padding 12. */
export function openOut(openFlags: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32LE(openFlags, 8);
  return b;
}

/** `struct fuse_getxattr_out` (8 bytes): size 0. */
export function xattrSizeOut(size: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(size, 0);
  return b;
}

/**
 * `struct fuse_statfs_out` = `struct fuse_kstatfs` (80 bytes): blocks 0, bfree 8, bavail 16,
 * files 24, ffree 32, bsize 40, namelen 44, frsize 48.
 */
export function statfsOut(s: { blocks: number; files: number; bsize: number; namelen: number }): Buffer {
  const b = Buffer.alloc(80);
  b.writeBigUInt64LE(BigInt(s.blocks), 0);
  b.writeBigUInt64LE(BigInt(s.files), 24);
  b.writeUInt32LE(s.bsize, 40);
  b.writeUInt32LE(s.namelen, 44);
  b.writeUInt32LE(s.bsize, 48);
  return b;
}

/** One `struct fuse_dirent`: ino 0, off 8, namelen 16, type 20, name 24, padded to 8 bytes. */
export function direntSize(nameBytes: number): number {
  return (DIRENT_NAME_OFFSET + nameBytes + 7) & ~7;
}

/** Writes a dirent at `pos`; returns the next position. `type` is the `S_IFMT` bits shifted by 12. */
export function writeDirent(b: Buffer, pos: number, ino: number, off: number, name: Buffer, mode: number): number {
  const size = direntSize(name.length);
  b.fill(0, pos, pos + size);
  b.writeBigUInt64LE(BigInt(ino), pos);
  b.writeBigUInt64LE(BigInt(off), pos + 8);
  b.writeUInt32LE(name.length, pos + 16);
  b.writeUInt32LE((mode >>> 12) & 0xf, pos + 20);
  name.copy(b, pos + DIRENT_NAME_OFFSET);
  return pos + size;
}
