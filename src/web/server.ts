/**
 * `ocifs web`'s HTTP server: the page (a single-page application from `dist/web`) and its JSON
 * API over the library, behind the gate of ./security.ts. It listens on 127.0.0.1 unless told
 * otherwise, never shells out, and serves image content only as data.
 *
 * @packageDocumentation
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { InvalidOptionError } from '../errors.js';
import type { IoStats } from '../io/io-stats.js';
import type { ImageOptions } from '../image/index.js';
import { defaultAssetsDir, loadAssets, type Asset, type PageAssets } from './assets.js';
import { sendError, sendJson } from './http.js';
import { apiHandler, handleApi } from './routes.js';
import { checkRequest, newToken, PAGE_CSP, setCommonHeaders, tokenCookie } from './security.js';
import { ImageSessions } from './sessions.js';

/** Address the server listens on by default: loopback only. */
export const DEFAULT_WEB_HOST = '127.0.0.1';

/** Options of {@link startWebServer}. */
export interface WebServerOptions {
  /** TCP port (default 0: a free one). */
  port?: number;
  /** Address to listen on (default {@link DEFAULT_WEB_HOST}). */
  host?: string;
  /** How images are opened: cache, credentials, mirrors, platform (the REF options). */
  image?: ImageOptions;
  /** A local image file the page may open (only this one). */
  localFile?: string;
  /** Directory of the built page (default: `dist/web` beside the library build). */
  assetsDir?: string;
}

/** A running web server. */
export interface WebServer {
  /** `http://HOST:PORT` */
  readonly origin: string;
  /** The URL to open: the origin with the token (`/?token=…`). */
  readonly url: string;
  readonly port: number;
  readonly token: string;
  /** What the server fetched since it started. */
  readonly stats: IoStats;
  /** Stops listening, closes connections and the images. */
  close(): Promise<void>;
}

/** The deep link of an image view: `/image/REF?…` (REF kept readable: `/` `:` `@` stay). */
export function imagePath(ref: string): string {
  return `/image/${encodeURIComponent(ref).replace(/%2F/gi, '/').replace(/%3A/gi, ':').replace(/%40/g, '@')}`;
}

function sendAsset(res: ServerResponse, asset: Asset, extra: Record<string, string> = {}): void {
  res.writeHead(200, { 'Content-Type': asset.type, 'Content-Length': asset.body.byteLength, ...extra });
  res.end(res.req.method === 'HEAD' ? undefined : asset.body);
}

const UNAUTHORIZED_PAGE = Buffer.from(
  '<!doctype html><meta charset="utf-8"><title>ocifs web</title><p>This page needs the token: open the URL that <code>ocifs web</code> printed.</p>\n',
);

/** Starts the server; resolves once it listens. */
export async function startWebServer(options: WebServerOptions = {}): Promise<WebServer> {
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new InvalidOptionError('port', `${port} is not a TCP port`);
  const host = options.host ?? DEFAULT_WEB_HOST;
  const assets: PageAssets = await loadAssets(options.assetsDir ?? defaultAssetsDir());
  const sessions = new ImageSessions({
    image: options.image ?? {},
    ...(options.localFile ? { localFile: options.localFile } : {}),
  });
  const token = newToken();
  const startedAt = new Date();
  let listenPort = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    setCommonHeaders(res);
    const url = new URL(req.url ?? '/', 'http://server.invalid');
    const gate = checkRequest(req, url, { token, port: listenPort, listenHost: host });
    const api = url.pathname.startsWith('/api/');
    if (!gate.ok) {
      if (gate.refusal.status === 405) res.setHeader('Allow', 'GET, HEAD');
      if (api || gate.refusal.status !== 401) {
        sendJson(res, gate.refusal.status, { error: { code: 'ERR_OCIFS_WEB_REFUSED', message: gate.refusal.message } });
        return;
      }
      res.writeHead(401, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Security-Policy': PAGE_CSP });
      return void res.end(UNAUTHORIZED_PAGE);
    }
    if (gate.setCookie) {
      res.setHeader('Set-Cookie', tokenCookie(listenPort, token));
      if (!api) {
        // The token leaves the address bar (and the history) at once.
        const search = url.search.replace(/([?&])token=[^&]*&?/, '$1').replace(/[?&]$/, '');
        res.writeHead(302, { Location: url.pathname + search });
        return void res.end();
      }
    }
    if (api) {
      const handler = apiHandler(url.pathname);
      if (!handler) {
        sendJson(res, 404, {
          error: { code: 'ERR_OCIFS_NOT_FOUND', message: `no API endpoint ${url.pathname.slice(0, 100)}` },
        });
        return;
      }
      return handleApi(handler, { req, res, url, sessions, startedAt });
    }
    if (url.pathname.startsWith('/assets/')) {
      const asset = assets.files.get(url.pathname.slice('/assets/'.length));
      if (!asset) {
        sendJson(res, 404, { error: { code: 'ERR_OCIFS_NOT_FOUND', message: 'no such asset' } });
        return;
      }
      sendAsset(res, asset);
      return;
    }
    if (url.pathname === '/' || url.pathname.startsWith('/image/')) {
      sendAsset(res, assets.index, { 'Content-Security-Policy': PAGE_CSP });
      return;
    }
    sendJson(res, 404, { error: { code: 'ERR_OCIFS_NOT_FOUND', message: 'not found' } });
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => sendError(res, err));
  });
  server.keepAliveTimeout = 30_000;
  server.listen(port, host);
  try {
    await once(server, 'listening');
  } catch (err) {
    await sessions.close();
    throw err;
  }
  const addr = server.address() as AddressInfo;
  listenPort = addr.port;
  const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const origin = `http://${shown === '0.0.0.0' || shown === '[::]' ? '127.0.0.1' : shown}:${addr.port}`;
  return {
    origin,
    url: `${origin}/?token=${token}`,
    port: addr.port,
    token,
    stats: sessions.stats,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await sessions.close();
    },
  };
}
