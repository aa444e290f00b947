/**
 * An OCI distribution registry over an OCI image layout directory.
 *
 * Serves `GET`/`HEAD` of `/v2/`, `/v2/<name>/manifests/<tag|digest>`, `/v2/<name>/blobs/<digest>`
 * (with single `Range` requests), `/v2/<name>/tags/list` (paginated with `n`, `last` and `Link`)
 * and the referrers API (`/v2/<name>/referrers/<digest>`); with `writable`, pushes too
 * (`layout-push.ts`). Every repository name maps to the same layout. It exists for the offline
 * demo, tests and local pushes; it is not a general registry.
 *
 * @packageDocumentation
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { InvalidOptionError } from '../errors.js';
import { NotALayoutError } from '../oci/errors.js';
import { isDigest } from '../ref/digest.js';
import { handleWrite, referrersOf } from './layout-push.js';

/** Default host the layout registry listens on: loopback only. */
export const DEFAULT_SERVE_HOST = '127.0.0.1';

/** Options of {@link serveLayout}. */
export interface ServeLayoutOptions {
  /** Port to listen on; 0 (default) picks a free one. */
  port?: number;
  /** Address to listen on (default {@link DEFAULT_SERVE_HOST}). */
  host?: string;
  /** Accept pushes (blob uploads, manifests, tags) into the layout (default: read-only). */
  writable?: boolean;
}

/** A running layout registry. */
export interface LayoutRegistry {
  /** `host:port`, ready for an image reference (`${hostPort}/any/name:tag`). */
  readonly hostPort: string;
  readonly port: number;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
}

interface LayoutIndex {
  manifests?: { mediaType?: string; digest?: string; size?: number; annotations?: Record<string, string> }[];
}

const REF_NAME = 'org.opencontainers.image.ref.name';

/** Starts a registry over the OCI layout in `dir` (must contain `oci-layout` and `index.json`). */
export async function serveLayout(dir: string, options: ServeLayoutOptions = {}): Promise<LayoutRegistry> {
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidOptionError('port', `${port} is not a TCP port`);
  }
  try {
    await stat(join(dir, 'oci-layout'));
  } catch (cause) {
    throw new NotALayoutError(dir, 'not an OCI image layout (no oci-layout file)', { cause });
  }
  const server = createServer((req, res) => {
    handle(dir, options.writable === true, req, res).catch((err: unknown) => {
      if (!res.headersSent) sendError(res, 500, 'UNKNOWN', String(err));
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 30_000;
  server.listen(port, options.host ?? DEFAULT_SERVE_HOST);
  await once(server, 'listening');
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    hostPort: `${host}:${addr.port}`,
    port: addr.port,
    close: () => closeServer(server),
  };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  const body = JSON.stringify({ errors: [{ code, message }] });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function handle(dir: string, writable: boolean, req: IncomingMessage, res: ServerResponse): Promise<void> {
  res.setHeader('docker-distribution-api-version', 'registry/2.0');
  const url = new URL(req.url ?? '/', 'http://x');
  const path = url.pathname;
  const w = /^\/v2\/(.+)\/(blobs\/uploads(?:\/[^/]*)?|manifests\/[^/]+)$/.exec(path);
  if (writable && w && ((req.method !== 'GET' && req.method !== 'HEAD') || w[2].startsWith('blobs/uploads/'))) {
    if (await handleWrite(dir, w[1], w[2], req, res, sendError)) return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    sendError(
      res,
      405,
      'UNSUPPORTED',
      writable ? `${req.method} ${path} is not supported` : 'this registry is read-only',
    );
    return;
  }
  if (path === '/v2/' || path === '/v2') {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 });
    return void res.end(req.method === 'HEAD' ? undefined : '{}');
  }
  const m = /^\/v2\/(.+)\/(manifests|blobs|tags|referrers)\/([^/]+)$/.exec(path);
  if (!m) {
    sendError(res, 404, 'NOT_FOUND', 'unknown endpoint');
    return;
  }
  const [, name, kind, ref] = m;
  if (kind === 'referrers') {
    if (!isDigest(ref)) {
      sendError(res, 400, 'DIGEST_INVALID', `invalid digest ${ref}`);
      return;
    }
    const body = await referrersOf(dir, ref, url.searchParams.get('artifactType'));
    res.writeHead(200, {
      'content-type': 'application/vnd.oci.image.index.v1+json',
      'content-length': Buffer.byteLength(body),
    });
    return void res.end(req.method === 'HEAD' ? undefined : body);
  }
  if (kind === 'tags') return sendTags(dir, name, url.searchParams, req, res);
  if (kind === 'manifests') return sendManifest(dir, ref, req, res);
  return sendBlob(dir, ref, req, res);
}

async function readIndex(dir: string): Promise<LayoutIndex> {
  return JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as LayoutIndex;
}

/**
 * The tags in lexical order; with `n`, one page of at most `n` tags after `last` and a
 * `Link: <…>; rel="next"` header when more follow (distribution spec, "Listing Tags").
 */
async function sendTags(
  dir: string,
  name: string,
  query: URLSearchParams,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const index = await readIndex(dir);
  let tags = [
    ...new Set((index.manifests ?? []).map((d) => d.annotations?.[REF_NAME]).filter((t): t is string => !!t)),
  ].sort();
  const n = query.get('n');
  const last = query.get('last');
  if (last) tags = tags.filter((t) => t > last);
  const headers: Record<string, string | number> = { 'content-type': 'application/json' };
  if (n !== null && /^\d+$/.test(n) && tags.length > Number(n)) {
    tags = tags.slice(0, Number(n));
    headers.link = `</v2/${name}/tags/list?n=${n}&last=${encodeURIComponent(tags[tags.length - 1])}>; rel="next"`;
  }
  const body = JSON.stringify({ name, tags });
  res.writeHead(200, { ...headers, 'content-length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

async function sendManifest(dir: string, ref: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const index = await readIndex(dir);
  const entries = index.manifests ?? [];
  const desc = isDigest(ref)
    ? (entries.find((d) => d.digest === ref) ?? { digest: ref, mediaType: undefined })
    : entries.find((d) => d.annotations?.[REF_NAME] === ref);
  if (!desc?.digest || !isDigest(desc.digest)) {
    sendError(res, 404, 'MANIFEST_UNKNOWN', `manifest ${ref} not found`);
    return;
  }
  let body: Buffer;
  try {
    body = await readFile(blobPath(dir, desc.digest));
  } catch {
    sendError(res, 404, 'MANIFEST_UNKNOWN', `manifest ${ref} not found`);
    return;
  }
  let mediaType = desc.mediaType;
  if (!mediaType) {
    try {
      mediaType = (JSON.parse(body.toString('utf8')) as { mediaType?: string }).mediaType;
    } catch {
      sendError(res, 404, 'MANIFEST_UNKNOWN', `blob ${ref} is not a manifest`);
      return;
    }
  }
  res.writeHead(200, {
    'content-type': mediaType ?? 'application/vnd.oci.image.manifest.v1+json',
    'content-length': body.byteLength,
    'docker-content-digest': desc.digest,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function blobPath(dir: string, digest: string): string {
  const [alg, hex] = digest.split(':');
  return join(dir, 'blobs', alg, hex);
}

async function sendBlob(dir: string, digest: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (!isDigest(digest)) {
    sendError(res, 400, 'DIGEST_INVALID', `invalid digest ${digest}`);
    return;
  }
  const file = blobPath(dir, digest);
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch {
    sendError(res, 404, 'BLOB_UNKNOWN', `blob ${digest} not found`);
    return;
  }
  const headers: Record<string, string | number> = {
    'content-type': 'application/octet-stream',
    'docker-content-digest': digest,
    'accept-ranges': 'bytes',
    etag: `"${digest}"`,
  };
  const range = parseRange(req.headers.range, size);
  if (range === 'invalid') {
    res.writeHead(416, { ...headers, 'content-range': `bytes */${size}` });
    return void res.end();
  }
  const [start, end] = range ?? [0, size - 1];
  headers['content-length'] = end - start + 1;
  if (range) headers['content-range'] = `bytes ${start}-${end}/${size}`;
  res.writeHead(range ? 206 : 200, headers);
  if (req.method === 'HEAD' || end < start) return void res.end();
  const stream = createReadStream(file, { start, end, highWaterMark: 1 << 20 });
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

/** Parses a single `bytes=a-b` / `bytes=a-` / `bytes=-n` range; undefined when absent. */
function parseRange(header: string | undefined, size: number): [number, number] | 'invalid' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return 'invalid';
  let start: number;
  let end: number;
  if (m[1] === '') {
    const n = Number(m[2]);
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (!Number.isSafeInteger(start) || start >= size || end < start) return 'invalid';
  return [start, end];
}
