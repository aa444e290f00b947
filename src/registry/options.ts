import { InvalidOptionError } from '../errors.js';
import type { Dispatcher } from 'undici';
import type { IoStats } from '../io/io-stats.js';
import { canonicalRegistry } from '../ref/host.js';

/** TCP/TLS connect timeout (ms). */
export const DEFAULT_CONNECT_TIMEOUT = 10_000;
/** Time to wait for response headers (ms). */
export const DEFAULT_HEADERS_TIMEOUT = 30_000;
/** Longest pause between body chunks before a body counts as stalled (ms). */
export const DEFAULT_BODY_TIMEOUT = 30_000;
/** Retries after a failed request (408/429/5xx, resets, short bodies, timeouts). */
export const DEFAULT_MAX_RETRIES = 4;
/** First backoff delay (ms), doubled per retry, with jitter. */
export const DEFAULT_RETRY_BASE_DELAY = 250;
/** Largest backoff delay (ms). */
export const DEFAULT_RETRY_MAX_DELAY = 8_000;
/** Largest Retry-After honoured (ms); longer requests are cut to this. */
export const DEFAULT_RETRY_AFTER_MAX = 30_000;
/** Largest small blob (config, referrers index) fetched into memory by fetchBlob. */
export const DEFAULT_MAX_BLOB_FETCH = 8 * 1024 * 1024;
/** User-Agent sent with every request. */
export const DEFAULT_USER_AGENT = 'ocifs/0.1';

/** Per-registry settings (from the config file or flags). */
export interface RegistryHostConfig {
  /** Mirror base URLs tried in order before the registry itself, e.g. `http://10.0.0.5:5000`. */
  mirrors?: string[];
  /** Plain HTTP for this registry. */
  insecure?: boolean;
}

/** Options of {@link RegistryClient}. Bad values are refused at construction naming the option. */
export interface RegistryClientOptions {
  /** Username for the registry the user named (see `credentialsRegistry`). */
  username?: string;
  /** Password or token for the registry the user named. */
  password?: string;
  /**
   * Registry (e.g. `docker.io`, `127.0.0.1:5000`) that `username`/`password` and
   * `OCIFS_USERNAME`/`OCIFS_PASSWORD` belong to; when unset they are used for every upstream
   * registry this client talks to, never for mirrors.
   */
  credentialsRegistry?: string;
  /**
   * Plain HTTP (no TLS) for every registry named in a reference (`--insecure`). Loopback registries
   * always use plain HTTP.
   */
  insecure?: boolean;
  /** Per-registry mirrors and insecure flags, keyed by registry name (`docker.io`, `reg:5000`). */
  hosts?: Record<string, RegistryHostConfig>;
  /** Counters for requests and bytes received. */
  stats?: IoStats;
  /** Environment for credentials lookup (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Connect timeout in ms (default {@link DEFAULT_CONNECT_TIMEOUT}). */
  connectTimeout?: number;
  /** Response-headers timeout in ms (default {@link DEFAULT_HEADERS_TIMEOUT}). */
  headersTimeout?: number;
  /** Body stall timeout in ms (default {@link DEFAULT_BODY_TIMEOUT}). */
  bodyTimeout?: number;
  /** Retries (default {@link DEFAULT_MAX_RETRIES}). */
  maxRetries?: number;
  /** Backoff base delay in ms (default {@link DEFAULT_RETRY_BASE_DELAY}). */
  retryBaseDelay?: number;
  /** Backoff cap in ms (default {@link DEFAULT_RETRY_MAX_DELAY}). */
  retryMaxDelay?: number;
  /** Retry-After cap in ms (default {@link DEFAULT_RETRY_AFTER_MAX}). */
  retryAfterMax?: number;
  /** Manifest size cap in bytes (default 4 MiB). */
  maxManifestSize?: number;
  /** Cap for blobs read whole into memory (config, referrers), bytes (default 8 MiB). */
  maxBlobFetch?: number;
  /** Proxy for http:// (default env HTTP_PROXY). */
  httpProxy?: string;
  /** Proxy for https:// (default env HTTPS_PROXY). */
  httpsProxy?: string;
  /** No-proxy list (default env NO_PROXY). */
  noProxy?: string;
  /** User-Agent (default {@link DEFAULT_USER_AGENT}). */
  userAgent?: string;
  /** Use this undici dispatcher instead of creating a pool (it is not closed by `close()`). */
  dispatcher?: Dispatcher;
  /** Time a docker-credential helper may take, ms. */
  credentialHelperTimeout?: number;
  /**
   * Refuse redirects to another origin that lead to an address that is not globally routable:
   * link-local and cloud metadata (169.254.0.0/16, fd00:ec2::254), loopback, RFC 1918, unique
   * local IPv6 and the like (see `private-address.ts`). Default false (redirects are followed
   * wherever they lead, as docker does).
   */
  denyPrivateRedirects?: boolean;
}

/** Checks that an option is a non-negative (or positive) safe integer. */
export function checkInt(name: string, v: number | undefined, min: number): void {
  if (v === undefined) return;
  if (!Number.isSafeInteger(v) || v < min)
    throw new InvalidOptionError(name, `must be an integer ≥ ${min}, got ${String(v)}`);
}

/**
 * Validates a mirror URL: http or https, no credentials, query or fragment. Returns it without
 * a trailing slash or `/v2` suffix (requests go to `URL/v2/...`).
 */
export function normaliseMirrorUrl(input: string, option = 'mirrors'): string {
  let u: URL;
  try {
    u = new URL(input);
  } catch {
    throw new InvalidOptionError(option, `${JSON.stringify(input)} is not a URL (write e.g. http://10.0.0.5:5000)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new InvalidOptionError(option, `${input}: only http:// and https:// mirrors are supported`);
  if (u.username || u.password)
    throw new InvalidOptionError(option, `${input}: put credentials in an auth file, not in the URL`);
  if (u.search || u.hash) throw new InvalidOptionError(option, `${input}: a mirror URL has no query or fragment`);
  const path = u.pathname.replace(/\/+$/, '').replace(/\/v2$/, '');
  return `${u.protocol}//${u.host}${path}`;
}

/** Validates all options; returns the hosts map keyed by canonical registry name. */
export function validateClientOptions(o: RegistryClientOptions): Map<string, RegistryHostConfig> {
  checkInt('connectTimeout', o.connectTimeout, 1);
  checkInt('headersTimeout', o.headersTimeout, 1);
  checkInt('bodyTimeout', o.bodyTimeout, 1);
  checkInt('maxRetries', o.maxRetries, 0);
  checkInt('retryBaseDelay', o.retryBaseDelay, 0);
  checkInt('retryMaxDelay', o.retryMaxDelay, 0);
  checkInt('retryAfterMax', o.retryAfterMax, 0);
  checkInt('maxManifestSize', o.maxManifestSize, 1);
  checkInt('maxBlobFetch', o.maxBlobFetch, 1);
  checkInt('credentialHelperTimeout', o.credentialHelperTimeout, 1);
  const hosts = new Map<string, RegistryHostConfig>();
  for (const [reg, cfg] of Object.entries(o.hosts ?? {})) {
    if (typeof cfg !== 'object' || cfg === null) throw new InvalidOptionError(`hosts["${reg}"]`, 'must be an object');
    const mirrors = (cfg.mirrors ?? []).map((m, i) => normaliseMirrorUrl(m, `hosts["${reg}"].mirrors[${i}]`));
    hosts.set(canonicalRegistry(reg), { mirrors, insecure: cfg.insecure === true });
  }
  return hosts;
}

/** Options of every network call. */
export interface CallOptions {
  signal?: AbortSignal;
}
