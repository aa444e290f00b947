/**
 * A directory of an image as a tar stream (POSIX pax: ustar headers, with a pax extended header
 * for what ustar cannot hold — long or non-ASCII names and link targets, sizes of 8 GiB and
 * more, large ids). Entries come from the image's filesystem only: symlinks are stored as
 * symlinks and never followed, hardlinked files are stored once and linked after, and names
 * that are not one safe path component are skipped — so the download holds the image's subtree
 * and nothing from anywhere else.
 *
 * @packageDocumentation
 */
import type { ReadOptions } from '../io/byte-source.js';
import { readPieces } from '../io/read-stream.js';
import { walk } from '../vfs/walk.js';
import type { FileSystem, Inode } from '../vfs/types.js';
import { splitRdev } from '../vfs/device.js';

const BLOCK = 512;
const TYPEFLAG: Partial<Record<Inode['type'], string>> = {
  file: '0',
  symlink: '2',
  chardev: '3',
  blockdev: '4',
  dir: '5',
  fifo: '6',
};
/** Largest value of an n-byte octal field with its terminator. */
const octalMax = (width: number) => 8 ** (width - 1) - 1;
/** Pieces a file's content is read in. */
const PIECE = 1024 * 1024;

function putString(h: Uint8Array, offset: number, width: number, s: string): void {
  h.set(Buffer.from(s, 'utf8').subarray(0, width), offset);
}

function putOctal(h: Uint8Array, offset: number, width: number, n: number): void {
  putString(
    h,
    offset,
    width - 1,
    Math.min(n, octalMax(width))
      .toString(8)
      .padStart(width - 1, '0'),
  );
}

/** One pax record: `"%d %s=%s\n"`, the length counting itself. */
export function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLen = Buffer.byteLength(body);
  let len = bodyLen + String(bodyLen).length;
  while (bodyLen + String(len).length !== len) len = bodyLen + String(len).length;
  return `${len}${body}`;
}

interface HeaderFields {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname?: string;
  rdev?: number;
}

function header(f: HeaderFields): Uint8Array {
  const h = new Uint8Array(BLOCK);
  putString(h, 0, 100, f.name);
  putOctal(h, 100, 8, f.mode & 0o7777);
  putOctal(h, 108, 8, f.uid);
  putOctal(h, 116, 8, f.gid);
  putOctal(h, 124, 12, f.size);
  putOctal(h, 136, 12, Math.max(0, f.mtime));
  h.fill(0x20, 148, 156);
  putString(h, 156, 1, f.type);
  if (f.linkname) putString(h, 157, 100, f.linkname);
  putString(h, 257, 6, 'ustar');
  putString(h, 263, 2, '00');
  if (f.rdev !== undefined) {
    const [major, minor] = splitRdev(f.rdev);
    putOctal(h, 329, 8, major);
    putOctal(h, 337, 8, minor);
  }
  let sum = 0;
  for (const b of h) sum += b;
  putString(h, 148, 7, sum.toString(8).padStart(6, '0') + '\0');
  return h;
}

const ascii = (s: string) => /^[\x20-\x7e]*$/.test(s);

/** The blocks of one entry's headers: a pax header first when ustar cannot hold a field. */
export function entryHeaders(f: HeaderFields): Uint8Array[] {
  const records: string[] = [];
  if (Buffer.byteLength(f.name) > 100 || !ascii(f.name)) records.push(paxRecord('path', f.name));
  if (f.linkname !== undefined && (Buffer.byteLength(f.linkname) > 100 || !ascii(f.linkname)))
    records.push(paxRecord('linkpath', f.linkname));
  if (f.size > octalMax(12)) records.push(paxRecord('size', String(f.size)));
  if (f.uid > octalMax(8)) records.push(paxRecord('uid', String(f.uid)));
  if (f.gid > octalMax(8)) records.push(paxRecord('gid', String(f.gid)));
  const out: Uint8Array[] = [];
  if (records.length) {
    const body = Buffer.from(records.join(''), 'utf8');
    out.push(
      header({
        name: 'PaxHeaders/entry',
        type: 'x',
        mode: 0o644,
        uid: 0,
        gid: 0,
        size: body.byteLength,
        mtime: f.mtime,
      }),
    );
    out.push(body, new Uint8Array(padding(body.byteLength)));
  }
  out.push(header(f));
  return out;
}

function padding(n: number): number {
  return (BLOCK - (n % BLOCK)) % BLOCK;
}

/**
 * Yields the tar stream of the subtree at `start` (a directory, or one file). Entry names
 * begin with `top` (`etc`, `etc/passwd` …).
 */
export async function* tarTree(
  fs: FileSystem,
  start: string,
  top: string,
  options: ReadOptions = {},
): AsyncGenerator<Uint8Array> {
  const firstPath = new Map<number, string>();
  for await (const e of walk(fs, start, { ...options, unsafeNames: 'skip' })) {
    const i = e.inode;
    const type = TYPEFLAG[i.type];
    if (!type) continue; // sockets have no tar form
    const name = e.relPath === '' ? top : `${top}/${e.relPath}`;
    const base = {
      name: i.type === 'dir' ? `${name}/` : name,
      mode: i.mode,
      uid: i.uid,
      gid: i.gid,
      mtime: i.mtimeSec,
    };
    if (i.type === 'file' && i.nlink > 1) {
      const first = firstPath.get(i.ino);
      if (first !== undefined) {
        yield* entryHeaders({ ...base, type: '1', size: 0, linkname: first });
        continue;
      }
      firstPath.set(i.ino, name);
    }
    if (i.type === 'symlink') {
      yield* entryHeaders({ ...base, type, size: 0, linkname: await fs.readlink(i.ino, options) });
    } else if (i.type === 'file') {
      const source = await fs.openFile(i.ino, options);
      yield* entryHeaders({ ...base, type, size: source.size });
      yield* readPieces(source, { ...options, pieceSize: PIECE });
      const pad = padding(source.size);
      if (pad) yield new Uint8Array(pad);
    } else {
      yield* entryHeaders({
        ...base,
        type,
        size: 0,
        ...(i.type === 'chardev' || i.type === 'blockdev' ? { rdev: i.rdev } : {}),
      });
    }
  }
  yield new Uint8Array(2 * BLOCK);
}
