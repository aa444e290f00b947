import { debuglog } from '../io/debug-log.js';
import { isLoopbackRegistry } from '../ref/host.js';
import type { CredentialStore, Credential } from './credentials.js';
import { HttpStatusError, UnauthorizedError, DeniedError } from './errors.js';
import { AbortedError } from '../errors.js';
import type { Endpoint } from './endpoints.js';
import { parseRetryAfter } from './retry.js';
import { registryErrorDetail } from './response-errors.js';
import type { Transport } from './transport.js';
import { redact } from './transport.js';
import { parseWwwAuthenticate, type AuthChallenge } from './www-authenticate.js';

const log = debuglog('ocifs:registry');

/** Token lifetime assumed when the token server does not say (distribution token spec). */
export const DEFAULT_TOKEN_LIFETIME = 60_000;
/** Largest token response read. */
const MAX_TOKEN_RESPONSE = 1024 * 1024;

interface CachedToken {
  header: string;
  expiresAt: number;
}

/**
 * What a request needs to do in a repository: pull (every read), push (uploads, manifest and
 * tag writes: `pull,push`, as docker and crane ask), and for a cross-repository blob mount
 * also pull on the repository the blob comes `from`.
 */
export interface Access {
  push?: boolean;
  /** Repository a blob is mounted from (same registry). */
  from?: string;
}

/** The token scopes for `repository` and `access`, in the form of the distribution token spec. */
export function accessScopes(repository: string, access: Access = {}): string[] {
  const scopes = [`repository:${repository}:${access.push ? 'pull,push' : 'pull'}`];
  if (access.from !== undefined && access.from !== repository) scopes.push(`repository:${access.from}:pull`);
  return scopes;
}

/**
 * Answers registry auth challenges: anonymous or credentialed bearer tokens (distribution's
 * token protocol, `token` or `access_token`, OAuth2 refresh tokens from `identitytoken`) and
 * basic auth. Tokens are cached per origin and scope until shortly before they expire and
 * re-requested after a 401; concurrent requests share one token request.
 */
export class Authenticator {
  private readonly challenges = new Map<string, AuthChallenge[]>();
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pending = new Map<string, Promise<string | undefined>>();

  constructor(
    private readonly transport: Transport,
    private readonly credentials: CredentialStore,
    private readonly now: () => number = Date.now,
  ) {}

  /** The Authorization header to send before any challenge is seen again, if one is known. */
  async cached(
    ep: Endpoint,
    repository: string,
    signal?: AbortSignal,
    access: Access = {},
  ): Promise<string | undefined> {
    const origin = new URL(ep.base).origin;
    const t = this.tokens.get(key(origin, repository, access));
    if (t && t.expiresAt > this.now()) return t.header;
    const ch = this.challenges.get(origin);
    if (!ch) return undefined;
    return this.authorize(ep, repository, ch, signal, access);
  }

  /**
   * Handles a 401: remembers the challenge, forgets the token that was refused, and returns a
   * new Authorization header (undefined when the challenge offers nothing we can answer).
   */
  async onUnauthorized(
    ep: Endpoint,
    repository: string,
    wwwAuthenticate: string | string[] | undefined,
    signal?: AbortSignal,
    access: Access = {},
  ): Promise<string | undefined> {
    const origin = new URL(ep.base).origin;
    const ch = parseWwwAuthenticate(wwwAuthenticate);
    if (ch.length === 0) return undefined;
    this.challenges.set(origin, ch);
    this.tokens.delete(key(origin, repository, access));
    return this.authorize(ep, repository, ch, signal, access);
  }

  private async authorize(
    ep: Endpoint,
    repository: string,
    ch: AuthChallenge[],
    signal: AbortSignal | undefined,
    access: Access,
  ): Promise<string | undefined> {
    const origin = new URL(ep.base).origin;
    const k = key(origin, repository, access);
    let p = this.pending.get(k);
    if (!p) {
      // Shared by concurrent requests, so not tied to one caller's signal; the transport's
      // timeouts bound it.
      p = this.computeAuthorization(ep, repository, ch, access).finally(() => this.pending.delete(k));
      this.pending.set(k, p);
    }
    if (!signal) return p;
    return abortable(p, signal);
  }

  private async computeAuthorization(
    ep: Endpoint,
    repository: string,
    ch: AuthChallenge[],
    access: Access,
  ): Promise<string | undefined> {
    const found = await this.credentials.get(ep.credentialKey, repository, !ep.mirror);
    const cred = found?.credential;
    if (found) log('credentials for %s from %s', ep.credentialKey, found.source);
    const bearer = ch.find((c) => c.scheme === 'bearer' && c.params.realm);
    if (bearer) {
      if (cred?.registryToken) return `Bearer ${cred.registryToken}`;
      const t = await this.fetchToken(ep, repository, bearer, cred, access);
      this.tokens.set(key(new URL(ep.base).origin, repository, access), t);
      return t.header;
    }
    const basic = ch.find((c) => c.scheme === 'basic');
    if (basic) {
      if (!cred || cred.username === undefined) {
        throw new UnauthorizedError(
          `${ep.registry}/${repository}: the registry asks for a username and password and none were found${hint(ep)}`,
          {
            data: { registry: ep.registry },
          },
        );
      }
      return `Basic ${Buffer.from(`${cred.username}:${cred.password ?? ''}`).toString('base64')}`;
    }
    return undefined;
  }

  private async fetchToken(
    ep: Endpoint,
    repository: string,
    ch: AuthChallenge,
    cred: Credential | undefined,
    access: Access,
  ): Promise<CachedToken> {
    let realm: URL;
    try {
      realm = new URL(ch.params.realm);
    } catch {
      throw new UnauthorizedError(`${ep.registry}: token realm ${JSON.stringify(ch.params.realm)} is not a URL`);
    }
    if (realm.protocol !== 'https:' && realm.protocol !== 'http:')
      throw new UnauthorizedError(`${ep.registry}: token realm ${realm.protocol} is not http(s)`);
    const hasSecret = cred !== undefined && (cred.identityToken !== undefined || cred.username !== undefined);
    const epUrl = new URL(ep.base);
    // Credentials never travel in clear text to a host other than the registry itself, unless it is on this machine.
    if (hasSecret && realm.protocol === 'http:' && realm.host !== epUrl.host && !isLoopbackRegistry(realm.host)) {
      throw new UnauthorizedError(
        `${ep.registry}: refusing to send credentials over plain HTTP to token server ${realm.host}`,
        { data: { realm: redact(realm) } },
      );
    }
    const scopes = accessScopes(repository, access);
    const scope = scopes.join(' ');
    const service = ch.params.service;
    const sentAt = this.now();
    let res;
    if (cred?.identityToken) {
      // OAuth2: one space-separated scope parameter (RFC 6749 3.3).
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: cred.identityToken,
        client_id: 'ocifs',
        scope,
      });
      if (service) form.set('service', service);
      res = await this.transport.send({ url: realm, method: 'POST', body: form.toString() });
    } else {
      const url = new URL(realm);
      if (service) url.searchParams.set('service', service);
      for (const sc of scopes) url.searchParams.append('scope', sc);
      const authorization =
        cred?.username !== undefined
          ? `Basic ${Buffer.from(`${cred.username}:${cred.password ?? ''}`).toString('base64')}`
          : undefined;
      res = await this.transport.send({ url, ...(authorization ? { authorization } : {}) });
    }
    if (res.status !== 200) {
      const body = await this.transport.discard(res);
      const detail = registryErrorDetail(body);
      const why = detail.message ? `: ${detail.message}` : '';
      const where = `${ep.registry}/${repository}`;
      if (res.status === 401) {
        throw new UnauthorizedError(
          hasSecret
            ? `${where}: the token server ${realm.host} refused the credentials${why}`
            : `${where}: authentication required${why}${hint(ep)}`,
          { data: { status: 401, realm: redact(realm) } },
        );
      }
      if (res.status === 403)
        throw new DeniedError(
          `${where}: the token server ${realm.host} denied ${access.push ? 'push' : 'pull'} access${why}`,
          { data: { status: 403 } },
        );
      const ra = parseRetryAfter(res.header('retry-after'));
      throw new HttpStatusError(`${where}: token server ${realm.host} answered HTTP ${res.status}${why}`, res.status, {
        data: { realm: redact(realm) },
        ...(ra !== undefined ? { retryAfter: ra } : {}),
      });
    }
    const bytes = await this.transport.readAll(
      res,
      MAX_TOKEN_RESPONSE,
      () => new UnauthorizedError(`${ep.registry}: token response too large`),
    );
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>;
    } catch {
      throw new UnauthorizedError(
        `${ep.registry}: token server ${realm.host} answered with something that is not JSON`,
      );
    }
    const token =
      typeof o.token === 'string' && o.token
        ? o.token
        : typeof o.access_token === 'string' && o.access_token
          ? o.access_token
          : undefined;
    if (!token) throw new UnauthorizedError(`${ep.registry}: token server ${realm.host} sent no token`);
    const lifetime =
      typeof o.expires_in === 'number' && o.expires_in > 0 ? o.expires_in * 1000 : DEFAULT_TOKEN_LIFETIME;
    // Renew a little early (10%, at most 30 s) so a token does not expire in flight.
    const expiresAt = sentAt + lifetime - Math.min(30_000, lifetime / 10);
    log('token for %s scope %s from %s, valid %d s', ep.registry, scope, realm.host, Math.round(lifetime / 1000));
    return { header: `Bearer ${token}`, expiresAt };
  }
}

function key(origin: string, repository: string, access: Access): string {
  return `${origin} ${accessScopes(repository, access).join(' ')}`;
}

function hint(ep: Endpoint): string {
  return ep.mirror
    ? ` (mirror ${ep.base}: add its credentials to an auth file)`
    : ' (use --username with --password-stdin, OCIFS_USERNAME/OCIFS_PASSWORD, or docker/podman login)';
}

/** Waits for `p` but rejects with ERR_OCIFS_ABORTED as soon as `signal` aborts. */
export function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new AbortedError({ cause: signal.reason }));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new AbortedError({ cause: signal.reason }));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
