import type { Dispatcher } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import { debuglog } from '../io/debug-log.js';
import { AbortedError, OcifsError } from '../errors.js';
import type { IoStats } from '../io/io-stats.js';
import { NetworkError, RedirectRefusedError, ShortBodyError, TimeoutError } from './errors.js';
import { guardedLookup, refusePrivateTarget } from './redirect-guard.js';
import { undiciParts } from './undici-parts.js';

const log = debuglog('ocifs:registry');

/** Most redirects followed for one request. */
export const MAX_REDIRECTS = 10;

/** Settings of the shared HTTP connection pool. */
export interface TransportOptions {
  /** TCP/TLS connect timeout (ms). */
  connectTimeout: number;
  /** Time to wait for response headers (ms). */
  headersTimeout: number;
  /** Longest pause between two body chunks before the body counts as stalled (ms). */
  bodyTimeout: number;
  /** Proxy for http:// URLs (default: env HTTP_PROXY / http_proxy). */
  httpProxy?: string;
  /** Proxy for https:// URLs (default: env HTTPS_PROXY / https_proxy). */
  httpsProxy?: string;
  /** Hosts not to proxy (default: env NO_PROXY / no_proxy). */
  noProxy?: string;
  /** A dispatcher to use instead of the built-in pool (tests, embedding). Not closed by {@link Transport.close}. */
  dispatcher?: Dispatcher;
  /** Counters to add requests and body bytes to. */
  stats?: IoStats;
  /** User-Agent header. */
  userAgent: string;
  /**
   * Refuse redirects to another origin whose host is, or resolves to, an address that is not
   * globally routable (`private-address.ts`): cloud metadata services, loopback, private networks.
   */
  denyPrivateRedirects?: boolean;
}

/** HTTP methods the registry API uses. */
export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** One HTTP request. */
export interface HttpRequest {
  url: URL;
  method?: HttpMethod;
  headers?: Record<string, string>;
  /** Authorization header value; sent only to `url`'s origin, dropped on a cross-origin redirect. */
  authorization?: string;
  /**
   * Request body: a string is a form (`application/x-www-form-urlencoded` unless a content-type
   * is given); bytes are sent as they are. Always in memory, so a request can be sent again
   * (after a 401, or a retry).
   */
  body?: string | Uint8Array;
  signal?: AbortSignal;
}

/** A response whose body the caller must consume or {@link Transport.discard}. */
export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Dispatcher.ResponseData['body'];
  /** Final URL after redirects. */
  url: URL;
  /** First value of a header (lowercase name). */
  header(name: string): string | undefined;
}

/**
 * The HTTP layer: one pooled keep-alive dispatcher (undici's EnvHttpProxyAgent, so
 * HTTP(S)_PROXY/NO_PROXY are honoured), manual redirects that never carry Authorization to
 * another origin, request and byte counting, and undici's errors mapped to typed ones.
 */
export class Transport {
  private readonly dispatcher: Dispatcher;
  private readonly owned: boolean;
  /** For redirect hops under `denyPrivateRedirects`: its connections check the addresses they resolve. */
  private guarded: Dispatcher | undefined;

  constructor(private readonly options: TransportOptions) {
    if (options.dispatcher) {
      this.dispatcher = options.dispatcher;
      this.owned = false;
    } else {
      const { EnvHttpProxyAgent } = undiciParts();
      this.dispatcher = new EnvHttpProxyAgent({
        connect: { timeout: options.connectTimeout },
        headersTimeout: options.headersTimeout,
        bodyTimeout: options.bodyTimeout,
        keepAliveTimeout: 30_000,
        // plain-http registries go through an HTTP proxy in absolute form, as curl does (many
        // proxies refuse CONNECT to ports other than 443); https still tunnels with CONNECT
        proxyTunnel: false,
        ...(options.httpProxy !== undefined ? { httpProxy: options.httpProxy } : {}),
        ...(options.httpsProxy !== undefined ? { httpsProxy: options.httpsProxy } : {}),
        ...(options.noProxy !== undefined ? { noProxy: options.noProxy } : {}),
      });
      this.owned = true;
    }
  }

  /**
   * The pool a request to `url` goes through: the shared one, or, for a redirect hop to another
   * origin under `denyPrivateRedirects` without a proxy, one whose DNS lookups refuse private
   * addresses at connect time (so a name cannot resolve to a public address when checked and a
   * private one when connected).
   */
  private dispatcherFor(url: URL, origin: string): Dispatcher {
    if (
      !this.options.denyPrivateRedirects ||
      url.origin === origin ||
      this.options.dispatcher ||
      proxyConfigured(this.options)
    )
      return this.dispatcher;
    if (!this.guarded) {
      const { EnvHttpProxyAgent } = undiciParts();
      this.guarded = new EnvHttpProxyAgent({
        connect: { timeout: this.options.connectTimeout, lookup: guardedLookup },
        headersTimeout: this.options.headersTimeout,
        bodyTimeout: this.options.bodyTimeout,
        keepAliveTimeout: 30_000,
      });
    }
    return this.guarded;
  }

  /** Sends a request, following redirects (GET/HEAD only). */
  async send(req: HttpRequest): Promise<HttpResponse> {
    let url = req.url;
    const origin = url.origin;
    const method = req.method ?? 'GET';
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { 'user-agent': this.options.userAgent, ...req.headers };
      // Credentials go only to the origin they were obtained for (a redirect to blob storage
      // must not see them).
      if (req.authorization && url.origin === origin) headers.authorization = req.authorization;
      if (typeof req.body === 'string') headers['content-type'] ??= 'application/x-www-form-urlencoded';
      this.count(0, 1);
      if (req.body !== undefined && this.options.stats)
        this.options.stats.bytesSent +=
          typeof req.body === 'string' ? Buffer.byteLength(req.body) : req.body.byteLength;
      let res: Dispatcher.ResponseData;
      try {
        res = await undiciParts().request(this.dispatcherFor(url, origin), {
          origin: url.origin,
          path: url.pathname + url.search,
          method,
          headers,
          ...(req.body !== undefined ? { body: req.body } : {}),
          ...(req.signal ? { signal: req.signal } : {}),
        });
      } catch (err) {
        throw mapHttpError(err, url, req.signal);
      }
      log('%s %s → %d', method, redact(url), res.statusCode);
      const location = header(res.headers, 'location');
      // Only reads follow redirects: a write's Location (an upload's next URL) is the caller's.
      if ([301, 302, 303, 307, 308].includes(res.statusCode) && location && (method === 'GET' || method === 'HEAD')) {
        await this.discard(wrap(res, url));
        if (hop >= MAX_REDIRECTS)
          throw new RedirectRefusedError(`${redact(url)}: more than ${MAX_REDIRECTS} redirects`, {
            data: { url: redact(url) },
          });
        let next: URL;
        try {
          next = new URL(location, url);
        } catch (err) {
          throw new RedirectRefusedError(`${redact(url)}: redirect to a malformed URL`, {
            cause: err,
            data: { url: redact(url) },
          });
        }
        if (next.protocol !== 'http:' && next.protocol !== 'https:') {
          throw new RedirectRefusedError(`${redact(url)}: redirect to unsupported URL scheme ${next.protocol}`, {
            data: { url: redact(url), scheme: next.protocol },
          });
        }
        if (url.protocol === 'https:' && next.protocol === 'http:') {
          throw new RedirectRefusedError(
            `${redact(url)}: refusing a redirect from https to plain http (${redact(next)})`,
            { data: { url: redact(url), location: redact(next) } },
          );
        }
        if (this.options.denyPrivateRedirects && next.origin !== origin)
          await refusePrivateTarget(url, next, req.signal);
        url = next;
        continue;
      }
      return wrap(res, url);
    }
  }

  /** Reads a whole body of at most `max` bytes (else throws `tooBig()`), counting bytes. */
  async readAll(res: HttpResponse, max: number, tooBig: () => Error, signal?: AbortSignal): Promise<Uint8Array> {
    const announced = Number(res.header('content-length'));
    if (res.header('content-length') !== undefined && Number.isSafeInteger(announced) && announced > max) {
      destroyBody(res.body);
      throw tooBig();
    }
    const parts: Uint8Array[] = [];
    let n = 0;
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        this.count(chunk.byteLength, 0);
        n += chunk.byteLength;
        if (n > max) {
          destroyBody(res.body);
          throw tooBig();
        }
        parts.push(chunk);
      }
    } catch (err) {
      if (err instanceof OcifsError) throw err;
      throw mapHttpError(err, res.url, signal, true);
    }
    if (res.header('content-length') !== undefined && Number.isSafeInteger(announced) && n !== announced) {
      throw new ShortBodyError(`${redact(res.url)}: body ended after ${n} of ${announced} bytes`, {
        data: { url: redact(res.url), received: n, expected: announced },
      });
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, n);
  }

  /** Consumes (a bounded amount of) an unwanted body so the connection can be reused. */
  async discard(res: HttpResponse, limit = 64 * 1024): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let n = 0;
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        this.count(chunk.byteLength, 0);
        if (n < limit) parts.push(chunk);
        n += chunk.byteLength;
        if (n > limit) {
          destroyBody(res.body);
          break;
        }
      }
    } catch {
      // an error body that fails to arrive changes nothing
    }
    return Buffer.concat(parts).subarray(0, limit);
  }

  /** Adds received body bytes / sent requests to the stats. */
  count(bytes: number, requests: number): void {
    if (this.options.stats) {
      this.options.stats.bytesFetched += bytes;
      this.options.stats.requests += requests;
    }
  }

  /** Closes pooled connections (only of the built-in pools). */
  async close(): Promise<void> {
    if (this.owned) await this.dispatcher.close();
    await this.guarded?.close();
  }
}

/** True when a proxy is configured (option or environment): the proxy, not ocifs, then resolves names. */
function proxyConfigured(o: TransportOptions): boolean {
  const env = process.env;
  return Boolean(o.httpProxy || o.httpsProxy || env.HTTP_PROXY || env.http_proxy || env.HTTPS_PROXY || env.https_proxy);
}

/**
 * Destroys a response body without an unhandled 'error' event (undici's body emits one when
 * destroyed before its end).
 */
export function destroyBody(body: {
  on(event: 'error', fn: () => void): unknown;
  destroy(err?: Error): unknown;
}): void {
  body.on('error', () => {});
  body.destroy();
}

function header(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

function wrap(res: Dispatcher.ResponseData, url: URL): HttpResponse {
  return {
    status: res.statusCode,
    headers: res.headers,
    body: res.body,
    url,
    header: (n) => header(res.headers, n.toLowerCase()),
  };
}

/** A URL without its query (which may carry signed storage tokens) and user info, for messages. */
export function redact(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/**
 * Maps undici and socket errors to ocifs's typed errors. `inBody` says the error came while a
 * body was read: a closed or reset connection then means a truncated body.
 */
export function mapHttpError(err: unknown, url: URL, signal?: AbortSignal, inBody = false): Error {
  if (err instanceof OcifsError) return err;
  if (signal?.aborted) return new AbortedError({ cause: signal.reason });
  const e = err as { code?: string; name?: string; message?: string };
  const where = redact(url);
  const data = { url: where, cause: e.code ?? e.name };
  if (inBody && (e.code === 'UND_ERR_SOCKET' || e.code === 'ECONNRESET' || e.code === 'EPIPE')) {
    return new ShortBodyError(`${where}: connection closed before the end of the body (${e.message ?? e.code})`, {
      cause: err,
      data,
    });
  }
  switch (e.code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
      return new TimeoutError(`${url.host}: connect timed out`, { cause: err, data });
    case 'UND_ERR_HEADERS_TIMEOUT':
      return new TimeoutError(`${where}: no response headers in time`, { cause: err, data });
    case 'UND_ERR_BODY_TIMEOUT':
      return new TimeoutError(`${where}: response body stalled`, { cause: err, data });
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
      return new ShortBodyError(`${where}: body shorter than its Content-Length`, { cause: err, data });
    case 'UND_ERR_ABORTED':
      return new NetworkError(`${where}: request aborted`, { cause: err, data });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new NetworkError(`${url.hostname}: host not found`, { cause: err, data, retryable: false });
    case 'ECONNREFUSED':
      return new NetworkError(`${url.host}: connection refused`, { cause: err, data, retryable: false });
    default:
      return new NetworkError(`${where}: ${e.message ?? String(err)}`, { cause: err, data });
  }
}
