/**
 * A small registry that lies, for testing every feature against registries that cannot be
 * trusted (runtimes, conversion, the web UI, the cache, the CLI). It serves the images of an OCI
 * image layout directory (write one with `oci-layout.ts`, or with `skopeo copy … oci:DIR:TAG`) on
 * 127.0.0.1 — `/v2/`, manifests by tag or digest (with `Docker-Content-Digest`), blobs with
 * single Range requests, under any repository name — honestly, until a {@link HostileRule}
 * tells it to lie about a request.
 *
 * Lies ({@link Lie}, one per rule; rules are tried in order, the first that matches applies):
 * - `corrupt`: the right length, one byte flipped (a blob or manifest that fails its digest);
 * - `serve-as`: the bytes stored under another digest (a blob swapped for another; a manifest
 *   asked for by digest answered with the tagged index that named it: a manifest that refers
 *   to itself);
 * - `digest-header`: a `Docker-Content-Digest` header that names another digest;
 * - `content-range`: a 206 whose `Content-Range` is shifted by `shift` from what was asked and
 *   sent (a forged range);
 * - `ignore-range`: 200 with the whole body for a Range request;
 * - `short-body`: the full `Content-Length` announced, `after` bytes sent, the socket destroyed;
 * - `stall`: headers and `after` bytes sent, then nothing (the connection stays open until
 *   {@link HostileRegistry.stop});
 * - `huge-length`: a `Content-Length` of `length` (default 1 TiB) announced for the real body,
 *   then the connection closed;
 * - `oversized-manifest`: the manifest padded with spaces (still valid JSON) to `size` bytes,
 *   with a `Docker-Content-Digest` of the padded bytes;
 * - `redirect`: a redirect (default 307) to `to` — another server, `file:///etc/passwd`,
 *   `http://169.254.169.254/latest/meta-data/`, `http://[fd00:ec2::254]/`, or this registry's
 *   own URL for a loop (`to: 'self'` redirects to the same path, forever);
 * - `status`: this HTTP status (with `Retry-After` if given) and a small error body.
 *
 * Every request is logged ({@link HostileRegistry.log}) with the lie applied, so a test can
 * assert how often a client asked (a retry storm) and what it was told.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { listenOnLoopback } from './fault-proxy.js';

/** How a matching request is lied to (see the module comment). */
export type Lie =
  | { kind: 'corrupt'; at?: number }
  | { kind: 'serve-as'; digest: string }
  | { kind: 'digest-header'; digest: string }
  | { kind: 'content-range'; shift: number }
  | { kind: 'ignore-range' }
  | { kind: 'short-body'; after: number }
  | { kind: 'stall'; after: number }
  | { kind: 'huge-length'; length?: number }
  | { kind: 'oversized-manifest'; size: number }
  | { kind: 'redirect'; /** A URL, or 'self'. */ to: string; status?: number }
  | { kind: 'status'; status: number; retryAfter?: string };

/** Which requests a lie applies to; every field given must match. */
export interface HostileRule {
  /** `manifest`, `blob`, or any request (default). */
  what?: 'manifest' | 'blob';
  /** The digest or tag in the path. */
  reference?: string;
  /** Only Range requests (true) or only whole ones (false). */
  ranged?: boolean;
  method?: 'GET' | 'HEAD';
  lie: Lie;
  /** How many matching requests are lied to (default: all of them). */
  times?: number;
}

/** One request, as the registry saw and answered it. */
export interface HostileLogEntry {
  method: string;
  path: string;
  range?: string;
  status: number;
  lie?: Lie['kind'];
}

/** A running hostile registry. */
export interface HostileRegistry {
  /** `127.0.0.1:PORT`, for image references (any repository name serves the layout). */
  host: string;
  /** `http://127.0.0.1:PORT`. */
  url: string;
  log: HostileLogEntry[];
  addRule(rule: HostileRule): void;
  clearRules(): void;
  /** Closes the server and every connection (stalled ones too). */
  stop(): Promise<void>;
}

interface Stored {
  bytes: Buffer;
  mediaType?: string;
}

/** Starts a registry serving the OCI layout in `layout`, honest until told otherwise. */
export async function startHostileRegistry(layout: string): Promise<HostileRegistry> {
  const rules: (HostileRule & { used: number })[] = [];
  const log: HostileLogEntry[] = [];
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as {
    manifests: { digest: string; mediaType?: string; annotations?: Record<string, string> }[];
  };
  const tags = new Map<string, string>();
  for (const m of index.manifests) {
    const tag = m.annotations?.['org.opencontainers.image.ref.name'];
    if (tag) tags.set(tag, m.digest);
  }

  const load = async (digest: string): Promise<Stored | undefined> => {
    const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
    if (!m) return undefined;
    const path = join(layout, 'blobs', 'sha256', m[1]);
    if (!(await stat(path).catch(() => undefined))) return undefined;
    const bytes = await readFile(path);
    let mediaType: string | undefined;
    if (bytes.length < 4 << 20 && bytes[0] === 0x7b) {
      try {
        mediaType = (JSON.parse(bytes.toString('utf8')) as { mediaType?: string }).mediaType;
      } catch {
        // Not JSON: a blob.
      }
    }
    return { bytes, mediaType };
  };

  const pick = (req: IncomingMessage, what: 'manifest' | 'blob' | undefined, reference: string): Lie | undefined => {
    for (const r of rules) {
      if (r.what && r.what !== what) continue;
      if (r.reference && r.reference !== reference) continue;
      if (r.method && r.method !== req.method) continue;
      if (r.ranged !== undefined && r.ranged !== (req.headers.range !== undefined)) continue;
      if (r.times !== undefined && r.used >= r.times) continue;
      r.used++;
      return r.lie;
    }
    return undefined;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const entry: HostileLogEntry = {
      method: req.method ?? 'GET',
      path,
      status: 0,
      ...(req.headers.range ? { range: req.headers.range } : {}),
    };
    log.push(entry);
    const send = (status: number, headers: Record<string, string | number>, body?: Buffer) => {
      entry.status = status;
      res.writeHead(status, headers);
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (path === '/v2/' || path === '/v2') {
      send(200, { 'content-type': 'application/json' }, Buffer.from('{}'));
      return;
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(path);
    if (!m) {
      send(404, { 'content-type': 'application/json' }, Buffer.from('{"errors":[{"code":"NAME_UNKNOWN"}]}'));
      return;
    }
    const what = m[2] === 'manifests' ? 'manifest' : 'blob';
    const reference = decodeURIComponent(m[3]);
    const lie = pick(req, what, reference);
    if (lie) entry.lie = lie.kind;

    if (lie?.kind === 'status') {
      send(
        lie.status,
        { 'content-type': 'application/json', ...(lie.retryAfter ? { 'retry-after': lie.retryAfter } : {}) },
        Buffer.from('{"errors":[{"code":"UNKNOWN"}]}'),
      );
      return;
    }
    if (lie?.kind === 'redirect') {
      const to = lie.to === 'self' ? `http://${req.headers.host}${req.url}` : lie.to;
      send(lie.status ?? 307, { location: to, 'content-length': 0 });
      return;
    }
    const digest = what === 'manifest' && !reference.startsWith('sha256:') ? tags.get(reference) : reference;
    const stored = digest === undefined ? undefined : await load(lie?.kind === 'serve-as' ? lie.digest : digest);
    if (!stored || digest === undefined) {
      const code = what === 'manifest' ? 'MANIFEST_UNKNOWN' : 'BLOB_UNKNOWN';
      send(404, { 'content-type': 'application/json' }, Buffer.from(`{"errors":[{"code":"${code}"}]}`));
      return;
    }
    let body = stored.bytes;
    let headerDigest = digest;
    if (lie?.kind === 'oversized-manifest') {
      body = Buffer.concat([body, Buffer.alloc(Math.max(0, lie.size - body.length), 0x20)]);
      headerDigest = 'sha256:' + createHash('sha256').update(body).digest('hex');
    }
    if (lie?.kind === 'corrupt') {
      body = Buffer.from(body);
      const at = Math.min(lie.at ?? Math.floor(body.length / 2), body.length - 1);
      body[at] ^= 0xff;
    }
    if (lie?.kind === 'digest-header') headerDigest = lie.digest;
    const headers: Record<string, string | number> = {
      'content-type':
        what === 'manifest'
          ? (stored.mediaType ?? 'application/vnd.oci.image.manifest.v1+json')
          : 'application/octet-stream',
      'docker-content-digest': headerDigest,
      'accept-ranges': 'bytes',
    };

    let status = 200;
    const range =
      req.headers.range === undefined || lie?.kind === 'ignore-range'
        ? undefined
        : /^bytes=(\d+)-(\d*)$/.exec(req.headers.range);
    if (range) {
      const start = Number(range[1]);
      const end = range[2] === '' ? body.length - 1 : Math.min(Number(range[2]), body.length - 1);
      if (start > end || start >= body.length) {
        send(416, { 'content-range': `bytes */${body.length}` });
        return;
      }
      const shift = lie?.kind === 'content-range' ? lie.shift : 0;
      headers['content-range'] = `bytes ${start + shift}-${end + shift}/${body.length}`;
      body = body.subarray(start, end + 1);
      status = 206;
    }
    entry.status = status;
    if (lie?.kind === 'short-body' || lie?.kind === 'stall' || lie?.kind === 'huge-length') {
      const length = lie.kind === 'huge-length' ? (lie.length ?? 2 ** 40) : body.length;
      res.writeHead(status, { ...headers, 'content-length': length });
      if (req.method === 'HEAD') return void res.end();
      const sent = lie.kind === 'huge-length' ? body.length : Math.min(lie.after, body.length);
      res.write(body.subarray(0, sent));
      if (lie.kind !== 'stall') res.socket?.destroy();
      return;
    }
    send(status, { ...headers, 'content-length': body.length }, body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(err));
    });
  });
  const { port, stop } = await listenOnLoopback(server);
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    log,
    addRule: (rule) => rules.push({ ...rule, used: 0 }),
    clearRules: () => void (rules.length = 0),
    stop,
  };
}
