/**
 * The registry transport, as go-containerregistry's `remote/transport`: everything a request to
 * a registry needs below the API calls — endpoint choice (mirrors, then the registry, with mirror
 * health), retries with backoff, authentication (pre-emptive with a known challenge, else one
 * answer to a 401) and the Range-support memory the blob sources share. The
 * `RegistryClient` (manifests, blobs, tags, referrers), `RemoteBlobSource` and
 * `RegistryPusher` are built on it; one client owns one transport and its connection pool.
 *
 * @packageDocumentation
 */
import { debuglog } from '../io/debug-log.js';
import { IoStats } from '../io/io-stats.js';
import type { ImageReference } from '../ref/reference.js';
import { Authenticator, type Access } from './auth.js';
import { CredentialStore } from './credentials.js';
import { EndpointChooser } from './endpoint-chooser.js';
import { describe, type Endpoint } from './endpoints.js';
import { UnauthorizedError } from './errors.js';
import * as opt from './options.js';
import { RangeSupport } from './range-support.js';
import { statusError } from './response-errors.js';
import { withRetry, type RetryPolicy } from './retry.js';
import { Transport, type HttpRequest, type HttpResponse } from './transport.js';

const log = debuglog('ocifs:registry');

/** An HTTP request to an endpoint, without the Authorization the transport adds. */
export type RegistryRequest = Omit<HttpRequest, 'authorization'> & {
  /** A push-scoped token (and pull on a mount's source repository); default pull. */
  access?: Access;
};

/** See the module comment. Built from the client's options, which it validates. */
export class RegistryTransport {
  /** Counters (requests, body bytes, retries). */
  readonly stats: IoStats;
  /** The HTTP layer: connection pool, redirects, byte counting. */
  readonly http: Transport;
  /** Retry policy of every call. */
  readonly retry: RetryPolicy;
  /** The endpoints of each registry and the health of its mirrors. */
  readonly endpoints: EndpointChooser;
  /** What each endpoint has shown about Range requests. */
  readonly ranges = new RangeSupport();
  private readonly auth: Authenticator;

  constructor(options: opt.RegistryClientOptions = {}) {
    const hosts = opt.validateClientOptions(options);
    this.stats = options.stats ?? new IoStats();
    this.http = new Transport({
      connectTimeout: options.connectTimeout ?? opt.DEFAULT_CONNECT_TIMEOUT,
      headersTimeout: options.headersTimeout ?? opt.DEFAULT_HEADERS_TIMEOUT,
      bodyTimeout: options.bodyTimeout ?? opt.DEFAULT_BODY_TIMEOUT,
      stats: this.stats,
      userAgent: options.userAgent ?? opt.DEFAULT_USER_AGENT,
      ...(options.httpProxy !== undefined ? { httpProxy: options.httpProxy } : {}),
      ...(options.httpsProxy !== undefined ? { httpsProxy: options.httpsProxy } : {}),
      ...(options.noProxy !== undefined ? { noProxy: options.noProxy } : {}),
      ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
      ...(options.denyPrivateRedirects ? { denyPrivateRedirects: true } : {}),
    });
    this.retry = {
      maxRetries: options.maxRetries ?? opt.DEFAULT_MAX_RETRIES,
      baseDelay: options.retryBaseDelay ?? opt.DEFAULT_RETRY_BASE_DELAY,
      maxDelay: options.retryMaxDelay ?? opt.DEFAULT_RETRY_MAX_DELAY,
      retryAfterMax: options.retryAfterMax ?? opt.DEFAULT_RETRY_AFTER_MAX,
    };
    this.endpoints = new EndpointChooser(hosts, options.insecure === true);
    const credentials = new CredentialStore({
      ...(options.username !== undefined ? { username: options.username } : {}),
      ...(options.password !== undefined ? { password: options.password } : {}),
      ...(options.credentialsRegistry !== undefined ? { registry: options.credentialsRegistry } : {}),
      ...(options.env ? { env: options.env } : {}),
      ...(options.credentialHelperTimeout ? { helperTimeout: options.credentialHelperTimeout } : {}),
    });
    this.auth = new Authenticator(this.http, credentials);
  }

  /**
   * Runs `fn` on each usable endpoint of the reference in turn (mirrors, then the registry),
   * with retries on each; a failing mirror is marked and falls through to the next. The
   * registry's error is final.
   */
  async withEndpoints<T>(
    ref: ImageReference,
    signal: AbortSignal | undefined,
    fn: (ep: Endpoint) => Promise<T>,
  ): Promise<T> {
    for (const ep of this.endpoints.usable(ref)) {
      try {
        return await withRetry(() => fn(ep), this.retry, {
          ...(signal ? { signal } : {}),
          stats: this.stats,
          log: (m) => log('%s: %s', ep.base, m),
        });
      } catch (err) {
        if (!ep.mirror || signal?.aborted) throw err;
        this.endpoints.noteFailure(ep, err);
      }
    }
    throw new Error('unreachable: the registry itself is always the last endpoint');
  }

  /**
   * Sends one request to an endpoint with auth: pre-emptive when a challenge is known, else
   * answering a 401 once (a refused cached token is replaced by a fresh one). A URL on another
   * origin (an upload's Location naming blob storage) gets no credentials. No retries here:
   * wrap it in {@link withEndpoints} or {@link withRetry}.
   */
  async request(ep: Endpoint, repository: string, req: RegistryRequest): Promise<HttpResponse> {
    const { access, ...http } = req;
    if (req.url.origin !== new URL(ep.base).origin) return this.http.send(http);
    const authorization = await this.auth.cached(ep, repository, req.signal, access);
    let res = await this.http.send({ ...http, ...(authorization ? { authorization } : {}) });
    if (res.status !== 401) return res;
    await this.http.discard(res);
    const next = await this.auth.onUnauthorized(ep, repository, res.headers['www-authenticate'], req.signal, access);
    if (next === undefined)
      throw new UnauthorizedError(
        `${describe(ep, repository)}: the registry requires authentication ocifs cannot answer`,
        { data: { status: 401 } },
      );
    res = await this.http.send({ ...http, authorization: next });
    if (res.status === 401)
      throw statusError(res, await this.http.discard(res), { where: describe(ep, repository), kind: 'other' });
    return res;
  }

  /** Consumes (a bounded amount of) an unwanted body so the connection can be reused; see {@link Transport.discard}. */
  discard(res: HttpResponse, limit?: number): Promise<Uint8Array> {
    return this.http.discard(res, limit);
  }

  /** Reads a whole body of at most `max` bytes (else throws `tooBig()`); see {@link Transport.readAll}. */
  readAll(res: HttpResponse, max: number, tooBig: () => Error, signal?: AbortSignal): Promise<Uint8Array> {
    return this.http.readAll(res, max, tooBig, signal);
  }

  /** Closes the connection pool. */
  async close(): Promise<void> {
    await this.http.close();
  }
}
