/**
 * File contents: `GET /api/file` answers a range of a file (the page pages through text and
 * hex views with it), `as=picture` answers a PNG/JPEG/GIF/SVG as a picture for an `<img>`, and
 * `GET /api/download` streams a file, or a directory as a tar stream. Paths are resolved inside
 * the image (symlinks followed inside it); every answer that carries image bytes is marked so a
 * browser never runs it as this server's page (sandbox CSP, nosniff, attachment).
 *
 * @packageDocumentation
 */
import type { ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { NotARegularFileError, OcifsError } from '../errors.js';
import { readPieces } from '../io/read-stream.js';
import { resolveEntry } from '../vfs/path.js';
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import type { FileSystem } from '../vfs/types.js';
import { attachment, RangeNotSatisfiableError } from './http.js';
import { CONTENT_CSP } from './security.js';
import { PICTURE_TYPES, SNIFF_BYTES, sniff } from './sniff.js';
import { tarTree } from './tar-stream.js';

/** Bytes one range request answers by default, and at most. */
export const DEFAULT_RANGE = 64 * 1024;
export const MAX_RANGE = 4 * 1024 * 1024;
/** Largest picture the page shows. */
export const MAX_PICTURE = 32 * 1024 * 1024;

/** A file whose content is not a picture the page shows. */
export class NotAPictureError extends OcifsError {
  constructor(path: string) {
    super(
      'ERR_OCIFS_NOT_A_PICTURE',
      `${path}: not a PNG, JPEG, GIF or SVG picture (or larger than ${MAX_PICTURE} bytes)`,
      { data: { path } },
    );
  }
}

/** The regular file at `path` (symlinks followed inside the image). */
async function openRegular(
  fs: FileSystem,
  path: string,
  options: ReadOptions,
): Promise<{ source: ByteSource; name: string }> {
  const { inode, path: canonical } = await resolveEntry(fs, path, options);
  if (inode.type !== 'file') throw new NotARegularFileError(path, { detail: inode.type });
  return { source: await fs.openFile(inode.ino, options), name: canonical.slice(canonical.lastIndexOf('/') + 1) };
}

function contentHeaders(
  res: ServerResponse,
  type: string,
  size: number,
  extra: Record<string, string | number> = {},
): void {
  res.writeHead(200, {
    'Content-Type': type,
    'Content-Length': size,
    'Content-Security-Policy': CONTENT_CSP,
    ...extra,
  });
}

/** `GET /api/file?…&offset&length`: bytes of a file; `X-File-Size` says the whole size. */
export async function sendRange(
  res: ServerResponse,
  fs: FileSystem,
  path: string,
  offset: number,
  length: number,
  options: ReadOptions,
): Promise<void> {
  const { source } = await openRegular(fs, path, options);
  if (offset > source.size) throw new RangeNotSatisfiableError(offset, source.size);
  const n = Math.min(length, source.size - offset);
  const bytes = n > 0 ? await source.read(offset, n, options) : new Uint8Array(0);
  contentHeaders(res, 'application/octet-stream', bytes.byteLength, {
    'X-File-Size': source.size,
    'Content-Disposition': 'attachment',
  });
  res.end(res.req.method === 'HEAD' ? undefined : bytes);
}

/** `GET /api/file?…&as=picture`: a picture, typed by its content (never by its name). */
export async function sendPicture(
  res: ServerResponse,
  fs: FileSystem,
  path: string,
  options: ReadOptions,
): Promise<void> {
  const { source } = await openRegular(fs, path, options);
  const head = await source.read(0, Math.min(SNIFF_BYTES, source.size), options);
  const type = PICTURE_TYPES[sniff(head, source.size)];
  if (!type || source.size > MAX_PICTURE) throw new NotAPictureError(path);
  const bytes = await source.read(0, source.size, options);
  contentHeaders(res, type, bytes.byteLength);
  res.end(res.req.method === 'HEAD' ? undefined : bytes);
}

/** `GET /api/download`: a file as it is, or a directory as a tar stream. */
export async function sendDownload(
  res: ServerResponse,
  fs: FileSystem,
  path: string,
  options: ReadOptions,
): Promise<void> {
  const { inode, path: canonical } = await resolveEntry(fs, path, options);
  const name = canonical === '/' ? 'rootfs' : canonical.slice(canonical.lastIndexOf('/') + 1);
  const head = res.req.method === 'HEAD';
  if (inode.type === 'dir') {
    res.writeHead(200, {
      'Content-Type': 'application/x-tar',
      'Content-Disposition': attachment(`${name}.tar`),
      'Content-Security-Policy': CONTENT_CSP,
    });
    if (head) return void res.end();
    await pipeline(Readable.from(tarTree(fs, canonical, name, options), { objectMode: false }), res);
    return;
  }
  const { source } = await openRegular(fs, canonical, options);
  contentHeaders(res, 'application/octet-stream', source.size, { 'Content-Disposition': attachment(name) });
  if (head) return void res.end();
  await pipeline(Readable.from(readPieces(source, { ...options, pieceSize: 1024 * 1024 }), { objectMode: false }), res);
}
