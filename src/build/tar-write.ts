/**
 * Tar headers for build entries: ustar, with a pax extended header (`x`) for what ustar cannot
 * hold — names and link targets that are long or not ASCII, ids and sizes past the octal
 * fields, negative or sub-second mtimes, xattrs (`SCHILY.xattr.*`, as GNU tar and Go write
 * them). What GNU tar, Go's archive/tar and ocifs's reader read back the same.
 *
 * @packageDocumentation
 */
import { BLOCK, F } from '../tar/tar-header.js';
import type { BuildEntry } from './entry.js';

const TYPEFLAG: Record<string, string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  chardev: '3',
  blockdev: '4',
  dir: '5',
  fifo: '6',
};

const utf8 = new TextEncoder();

/** Bytes of zero padding after `n` bytes of member data. */
export function tarPadding(n: number): number {
  return (BLOCK - (n % BLOCK)) % BLOCK;
}

/** The two zero blocks that end an archive. */
export const END_OF_ARCHIVE = new Uint8Array(2 * BLOCK);

/** `major`/`minor` of a Linux `st_rdev` (glibc's `gnu_dev_major`/`gnu_dev_minor`). */
export function devParts(rdev: number): { major: number; minor: number } {
  const d = BigInt(rdev);
  return {
    major: Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & 0xfffff000n)),
    minor: Number((d & 0xffn) | ((d >> 12n) & 0xffffff00n)),
  };
}

/** The name an entry has in the archive: directories end with `/`, the root is `./`. */
export function tarName(e: Pick<BuildEntry, 'path' | 'type'>): string {
  if (e.path === '') return './';
  return e.type === 'dir' ? `${e.path}/` : e.path;
}

function octal(n: number, width: number): string | undefined {
  if (!Number.isSafeInteger(n) || n < 0) return undefined;
  const s = n.toString(8);
  return s.length <= width - 1 ? s.padStart(width - 1, '0') : undefined;
}

function paxRecord(key: string, value: Uint8Array): Uint8Array {
  const body = utf8.encode(` ${key}=`);
  const rest = body.length + value.length + 1;
  let len = rest + String(rest).length;
  if (String(len).length !== String(rest).length) len = rest + String(len).length;
  const out = new Uint8Array(len);
  const head = utf8.encode(String(len));
  out.set(head, 0);
  out.set(body, head.length);
  out.set(value, head.length + body.length);
  out[len - 1] = 0x0a;
  return out;
}

function isAscii(b: Uint8Array): boolean {
  for (const c of b) if (c >= 0x80 || c === 0) return false;
  return true;
}

function ustarBlock(fields: {
  name: Uint8Array;
  mode: number;
  uid: string;
  gid: string;
  size: string;
  mtime: string;
  type: string;
  link: Uint8Array;
  major: string;
  minor: string;
}): Uint8Array {
  const b = new Uint8Array(BLOCK);
  const str = (at: readonly [number, number], s: string) => b.set(utf8.encode(s).subarray(0, at[1]), at[0]);
  b.set(fields.name.subarray(0, F.name[1]), F.name[0]);
  str(F.mode, octal(fields.mode, 8)!);
  str(F.uid, fields.uid);
  str(F.gid, fields.gid);
  str(F.size, fields.size);
  str(F.mtime, fields.mtime);
  str(F.typeflag, fields.type);
  b.set(fields.link.subarray(0, F.linkname[1]), F.linkname[0]);
  b.set(utf8.encode('ustar\x0000'), F.magic[0]);
  str(F.devmajor, fields.major);
  str(F.devminor, fields.minor);
  // The checksum: the header's bytes summed with the checksum field as spaces.
  b.fill(0x20, F.chksum[0], F.chksum[0] + F.chksum[1]);
  let sum = 0;
  for (const c of b) sum += c;
  str([F.chksum[0], 7], sum.toString(8).padStart(6, '0') + '\0');
  return b;
}

/** The header blocks of an entry (a pax header first when needed). Sockets have none: tar cannot hold them. */
export function tarHeader(e: BuildEntry): Uint8Array | undefined {
  const type = TYPEFLAG[e.type];
  if (type === undefined) return undefined;
  const pax: Uint8Array[] = [];
  const name = utf8.encode(tarName(e));
  if (name.length > F.name[1] || !isAscii(name)) pax.push(paxRecord('path', name));
  const link = utf8.encode(e.linkName ?? '');
  if (link.length > F.linkname[1] || !isAscii(link)) pax.push(paxRecord('linkpath', link));
  const id = (key: string, v: number) => {
    const o = octal(v, 8);
    if (o === undefined) pax.push(paxRecord(key, utf8.encode(String(v))));
    return o ?? '0000000';
  };
  const uid = id('uid', e.uid);
  const gid = id('gid', e.gid);
  const size = e.type === 'file' ? e.size : 0;
  let sizeField = octal(size, 12);
  if (sizeField === undefined) {
    pax.push(paxRecord('size', utf8.encode(String(size))));
    sizeField = '00000000000';
  }
  let mtime = octal(e.mtimeSec, 12);
  if (mtime === undefined || e.mtimeNsec !== 0) {
    const frac = e.mtimeNsec ? `.${String(e.mtimeNsec).padStart(9, '0').replace(/0+$/, '')}` : '';
    pax.push(paxRecord('mtime', utf8.encode(`${e.mtimeSec}${frac}`)));
    mtime ??= '00000000000';
  }
  for (const [k, v] of [...(e.xattrs ?? [])].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)))
    pax.push(paxRecord(`SCHILY.xattr.${k}`, v));
  const dev = e.type === 'chardev' || e.type === 'blockdev' ? devParts(e.rdev) : { major: 0, minor: 0 };
  const major = id('SCHILY.devmajor', dev.major);
  const minor = id('SCHILY.devminor', dev.minor);
  const main = ustarBlock({
    name: isAscii(name) ? name : new Uint8Array(0),
    mode: e.mode & 0o7777,
    uid,
    gid,
    size: sizeField,
    mtime,
    type,
    link: isAscii(link) ? link : new Uint8Array(0),
    major,
    minor,
  });
  if (pax.length === 0) return main;
  const body = new Uint8Array(pax.reduce((n, r) => n + r.length, 0));
  let p = 0;
  for (const r of pax) {
    body.set(r, p);
    p += r.length;
  }
  const paxName = utf8.encode(`PaxHeaders/${tarName(e).replace(/\/$/, '').split('/').pop()}`.slice(0, 99));
  const head = ustarBlock({
    name: isAscii(paxName) ? paxName : utf8.encode('PaxHeaders/entry'),
    mode: 0o644,
    uid: '0000000',
    gid: '0000000',
    size: octal(body.length, 12)!,
    mtime: '00000000000',
    type: 'x',
    link: new Uint8Array(0),
    major: '0000000',
    minor: '0000000',
  });
  const out = new Uint8Array(BLOCK + body.length + tarPadding(body.length) + BLOCK);
  out.set(head, 0);
  out.set(body, BLOCK);
  out.set(main, BLOCK + body.length + tarPadding(body.length));
  return out;
}
