/**
 * The on-disk metadata records of an EROFS image, encoded: inodes (`struct erofs_inode_compact`,
 * `struct erofs_inode_extended`), the inline xattr region (`struct erofs_xattr_ibody_header` +
 * `struct erofs_xattr_entry`s), directory blocks (`struct erofs_dirent`s then names, sorted by
 * name bytes) and the compression map header (`struct z_erofs_map_header`). Field names and
 * offsets come from `erofs/format.ts`, the reader's copy of `erofs_fs.h`.
 *
 * @packageDocumentation
 */
import {
  DIC,
  DIE,
  DIRENT,
  EROFS_FT_BLKDEV,
  EROFS_FT_CHRDEV,
  EROFS_FT_DIR,
  EROFS_FT_FIFO,
  EROFS_FT_REG_FILE,
  EROFS_FT_SOCK,
  EROFS_FT_SYMLINK,
  EROFS_I_DATALAYOUT_BIT,
  EROFS_NAME_LEN,
  MAP_HEADER,
  XATTR_ENTRY,
  XATTR_ENTRY_SIZE,
  XATTR_IBODY_HEADER_SIZE,
  roundUp,
} from '../../erofs/format.js';
import { TYPE_BITS, type FileType } from '../../vfs/types.js';
import { UnconvertibleEntryError } from '../errors.js';

/** `EROFS_FT_*` of each file type. */
export const FILE_TYPE_CODES: Readonly<Record<FileType, number>> = {
  file: EROFS_FT_REG_FILE,
  dir: EROFS_FT_DIR,
  chardev: EROFS_FT_CHRDEV,
  blockdev: EROFS_FT_BLKDEV,
  fifo: EROFS_FT_FIFO,
  socket: EROFS_FT_SOCK,
  symlink: EROFS_FT_SYMLINK,
};

/** Short xattr name prefixes (`EROFS_XATTR_INDEX_*`), whole names first. */
const XATTR_INDEXES: ReadonlyArray<readonly [string, number, boolean]> = [
  ['system.posix_acl_access', 2, true],
  ['system.posix_acl_default', 3, true],
  ['user.', 1, false],
  ['trusted.', 4, false],
  ['security.', 6, false],
];

const utf8 = new TextEncoder();

/**
 * The inline xattr region of an inode (empty when it has none). Names must have a prefix EROFS
 * knows (user., trusted., security., the two POSIX ACLs); `path` names the entry in errors.
 */
export function encodeXattrs(xattrs: Map<string, Uint8Array> | undefined, path: string): Uint8Array {
  if (!xattrs || xattrs.size === 0) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  let size = XATTR_IBODY_HEADER_SIZE;
  for (const [name, value] of [...xattrs].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    const idx = XATTR_INDEXES.find(([p, , whole]) =>
      whole ? name === p : name.startsWith(p) && name.length > p.length,
    );
    if (!idx)
      throw new UnconvertibleEntryError(
        path,
        `xattr ${JSON.stringify(name)} has a prefix EROFS cannot store (user., trusted., security., system.posix_acl_*)`,
      );
    const suffix = utf8.encode(name.slice(idx[0].length));
    if (suffix.length > EROFS_NAME_LEN)
      throw new UnconvertibleEntryError(path, `xattr name ${JSON.stringify(name)} is too long`);
    if (value.length > 0xffff)
      throw new UnconvertibleEntryError(
        path,
        `xattr ${JSON.stringify(name)} has a ${value.length}-byte value (EROFS stores at most 65535)`,
      );
    const rec = new Uint8Array(roundUp(XATTR_ENTRY_SIZE + suffix.length + value.length, 4));
    rec[XATTR_ENTRY.e_name_len] = suffix.length;
    rec[XATTR_ENTRY.e_name_index] = idx[1];
    new DataView(rec.buffer).setUint16(XATTR_ENTRY.e_value_size, value.length, true);
    rec.set(suffix, XATTR_ENTRY.e_name);
    rec.set(value, XATTR_ENTRY.e_name + suffix.length);
    parts.push(rec);
    size += rec.length;
  }
  if ((size - XATTR_IBODY_HEADER_SIZE) / 4 + 1 > 0xffff)
    throw new UnconvertibleEntryError(path, `${size} bytes of xattrs do not fit one inode`);
  const out = new Uint8Array(size);
  let p = XATTR_IBODY_HEADER_SIZE; // h_name_filter 0, h_shared_count 0, reserved
  for (const r of parts) {
    out.set(r, p);
    p += r.length;
  }
  return out;
}

/** `i_xattr_icount` of an xattr region of `bytes` bytes. */
export function xattrIcount(bytes: number): number {
  return bytes === 0 ? 0 : (bytes - XATTR_IBODY_HEADER_SIZE) / 4 + 1;
}

/** The fields of one on-disk inode. */
export interface InodeRecord {
  extended: boolean;
  datalayout: number;
  type: FileType;
  /** Permission bits; the type bits are added. */
  perm: number;
  xattrBytes: number;
  nlink: number;
  size: number;
  uid: number;
  gid: number;
  mtimeSec: number;
  mtimeNsec: number;
  /** `i_u`: start block, chunk format, compressed blocks or rdev. */
  iu: number;
  ino: number;
}

/** Encodes an inode (32 or 64 bytes). A compact inode's mtime must equal the epoch. */
export function encodeInode(r: InodeRecord): Uint8Array {
  const out = new Uint8Array(r.extended ? DIE.size : DIC.size);
  const dv = new DataView(out.buffer);
  dv.setUint16(DIC.i_format, (r.extended ? 1 : 0) | (r.datalayout << EROFS_I_DATALAYOUT_BIT), true);
  dv.setUint16(DIC.i_xattr_icount, xattrIcount(r.xattrBytes), true);
  dv.setUint16(DIC.i_mode, TYPE_BITS[r.type] | (r.perm & 0o7777), true);
  dv.setUint32(DIC.i_u, r.iu >>> 0, true);
  dv.setUint32(DIC.i_ino, r.ino >>> 0, true);
  if (r.extended) {
    dv.setBigUint64(DIE.i_size, BigInt(r.size), true);
    dv.setUint32(DIE.i_uid, r.uid >>> 0, true);
    dv.setUint32(DIE.i_gid, r.gid >>> 0, true);
    dv.setBigInt64(DIE.i_mtime, BigInt(r.mtimeSec), true);
    dv.setUint32(DIE.i_mtime_nsec, r.mtimeNsec, true);
    dv.setUint32(DIE.i_nlink, r.nlink, true);
  } else {
    dv.setUint16(DIC.i_nb, r.nlink, true);
    dv.setUint32(DIC.i_size, r.size, true);
    // i_mtime is relative to the superblock's epoch: 0, so that readers that predate the
    // relative field (they take the epoch itself) agree.
    dv.setUint32(DIC.i_mtime, 0, true);
    dv.setUint16(DIC.i_uid, r.uid, true);
    dv.setUint16(DIC.i_gid, r.gid, true);
  }
  return out;
}

/** The compression map header (`struct z_erofs_map_header`) of a full-index file. */
export function encodeMapHeader(advise: number, algorithm: number, clusterBits: number): Uint8Array {
  const out = new Uint8Array(MAP_HEADER.size);
  const dv = new DataView(out.buffer);
  dv.setUint16(MAP_HEADER.h_advise, advise, true);
  out[MAP_HEADER.h_algorithmtype] = algorithm & 0xf;
  out[MAP_HEADER.h_clusterbits] = clusterBits;
  return out;
}

/** One name of a directory. */
export interface DirName {
  name: Uint8Array;
  fileType: number;
  /** The caller's handle of the child (absent for `.` and `..`). */
  ref?: unknown;
}

/** How a directory's names fall into blocks. */
export interface DirPlan {
  /** Names sorted by bytes, `.` and `..` included. */
  names: DirName[];
  /** Index of the first name of each block. */
  starts: number[];
  /** `i_size`: whole blocks, plus the bytes the last block uses. */
  size: number;
}

/** Sorts a directory's names (with `.` and `..`) and splits them into blocks. */
export function planDir(children: DirName[], bs: number): DirPlan {
  const names = [
    { name: utf8.encode('.'), fileType: EROFS_FT_DIR },
    { name: utf8.encode('..'), fileType: EROFS_FT_DIR },
    ...children,
  ];
  names.sort((a, b) => Buffer.compare(a.name, b.name));
  const starts: number[] = [0];
  let used = 0;
  for (let i = 0; i < names.length; i++) {
    const need = DIRENT.size + names[i].name.length;
    if (used + need > bs) {
      starts.push(i);
      used = 0;
    }
    used += need;
  }
  return { names, starts, size: (starts.length - 1) * bs + used };
}

/** Encodes block `b` of a planned directory; `nidOf(i)` is the nid of name `i`. */
export function encodeDirBlock(plan: DirPlan, b: number, bs: number, nidOf: (i: number) => bigint): Uint8Array {
  const first = plan.starts[b];
  const end = b + 1 < plan.starts.length ? plan.starts[b + 1] : plan.names.length;
  const last = b === plan.starts.length - 1;
  const len = last ? plan.size - b * bs : bs;
  const out = new Uint8Array(len);
  const dv = new DataView(out.buffer);
  let nameoff = (end - first) * DIRENT.size;
  for (let i = first; i < end; i++) {
    const o = (i - first) * DIRENT.size;
    dv.setBigUint64(o + DIRENT.nid, nidOf(i), true);
    dv.setUint16(o + DIRENT.nameoff, nameoff, true);
    out[o + DIRENT.file_type] = plan.names[i].fileType;
    out.set(plan.names[i].name, nameoff);
    nameoff += plan.names[i].name.length;
  }
  return out;
}
