import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { debuglog } from '../io/debug-log.js';
import { canonicalRegistry, DOCKER_HUB } from '../ref/host.js';
import { CredentialError } from './errors.js';

const log = debuglog('ocifs:registry');

/** Default time a `docker-credential-*` helper may take. */
export const DEFAULT_CREDENTIAL_HELPER_TIMEOUT = 30_000;

/** Credentials for one registry. */
export interface Credential {
  username?: string;
  password?: string;
  /** OAuth2 refresh token (`identitytoken` in docker's config; helper answers with Username `<token>`). */
  identityToken?: string;
  /** A ready bearer token for the registry (`registrytoken`). */
  registryToken?: string;
}

/** Credentials found for a registry and where they came from (for `--debug`). */
export interface FoundCredential {
  credential: Credential;
  /** e.g. `options`, `env`, `/root/.docker/config.json (auths)`, `docker-credential-pass`. */
  source: string;
}

/** Where {@link CredentialStore} looks. */
export interface CredentialStoreOptions {
  /** Explicit credentials (`--username`/`--password-stdin`); used only for `registry` when set. */
  username?: string;
  password?: string;
  /** Registry (as in the reference, e.g. `docker.io`) the explicit credentials belong to. */
  registry?: string;
  /**
   * Environment (default `process.env`): OCIFS_USERNAME/OCIFS_PASSWORD, REGISTRY_AUTH_FILE,
   * XDG_RUNTIME_DIR, DOCKER_CONFIG, HOME.
   */
  env?: NodeJS.ProcessEnv;
  /** Time a credential helper may take (ms). */
  helperTimeout?: number;
}

interface AuthFile {
  path: string;
  auths: Record<string, unknown>;
  credHelpers: Record<string, string>;
  credsStore?: string;
}

/**
 * Finds credentials for a registry, first match wins:
 * 1. explicit options (`--username`/`--password-stdin`), 2. `OCIFS_USERNAME`/`OCIFS_PASSWORD`
 *    — both only for the registry the user named (option `registry`), never for mirrors;
 * 3. `$REGISTRY_AUTH_FILE`, 4. `$XDG_RUNTIME_DIR/containers/auth.json` (podman, skopeo),
 * 5. `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.
 * In each file: `credHelpers[registry]`, then `auths` (longest `registry/namespace` match
 * first, as podman allows), then `credsStore`.
 */
export class CredentialStore {
  private files?: Promise<AuthFile[]>;
  private readonly cache = new Map<string, Promise<FoundCredential | undefined>>();
  private readonly env: NodeJS.ProcessEnv;

  constructor(private readonly options: CredentialStoreOptions = {}) {
    this.env = options.env ?? process.env;
  }

  /**
   * Credentials for `registry` (canonical name, e.g. `docker.io`, `127.0.0.1:5000`) and
   * `repository`. `explicit` allows the user-given credentials (false for mirrors).
   */
  get(registry: string, repository: string, explicit: boolean): Promise<FoundCredential | undefined> {
    const key = `${explicit ? 1 : 0}|${registry}|${repository}`;
    let p = this.cache.get(key);
    if (!p) {
      p = this.lookup(canonicalRegistry(registry), repository, explicit);
      this.cache.set(key, p);
      p.catch(() => this.cache.delete(key));
    }
    return p;
  }

  private async lookup(registry: string, repository: string, explicit: boolean): Promise<FoundCredential | undefined> {
    const named = this.options.registry === undefined || canonicalRegistry(this.options.registry) === registry;
    if (explicit && named) {
      if (this.options.username !== undefined || this.options.password !== undefined) {
        return {
          credential: { username: this.options.username ?? '', password: this.options.password ?? '' },
          source: 'options',
        };
      }
      const u = this.env.OCIFS_USERNAME;
      const pw = this.env.OCIFS_PASSWORD;
      if (u !== undefined || pw !== undefined)
        return { credential: { username: u ?? '', password: pw ?? '' }, source: 'env OCIFS_USERNAME/OCIFS_PASSWORD' };
    }
    for (const file of await this.loadFiles()) {
      const found = await this.fromFile(file, registry, repository);
      if (found) return found;
    }
    return undefined;
  }

  /** Auth files in lookup order; missing files are skipped, malformed ones are errors. */
  private loadFiles(): Promise<AuthFile[]> {
    this.files ??= (async () => {
      const paths: string[] = [];
      if (this.env.REGISTRY_AUTH_FILE) paths.push(this.env.REGISTRY_AUTH_FILE);
      if (this.env.XDG_RUNTIME_DIR) paths.push(join(this.env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
      const home = this.env.HOME ?? homedir();
      paths.push(join(this.env.DOCKER_CONFIG ?? join(home, '.docker'), 'config.json'));
      const out: AuthFile[] = [];
      for (const path of paths) {
        let text: string;
        try {
          text = await readFile(path, 'utf8');
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR')
            continue;
          throw new CredentialError(`${path}: cannot read: ${(err as Error).message}`, { cause: err, data: { path } });
        }
        out.push(parseAuthFile(text, path));
      }
      return out;
    })();
    return this.files;
  }

  private async fromFile(file: AuthFile, registry: string, repository: string): Promise<FoundCredential | undefined> {
    const helper = Object.entries(file.credHelpers).find(([k]) => normaliseKey(k).host === registry)?.[1];
    if (helper) return this.fromHelper(helper, registry, `${file.path} (credHelpers)`);
    // longest matching key wins: "reg/ns/repo" before "reg/ns" before "reg"
    let best: { len: number; value: unknown } | undefined;
    for (const [k, v] of Object.entries(file.auths)) {
      const { host, path } = normaliseKey(k);
      if (host !== registry) continue;
      if (path && repository !== path && !repository.startsWith(path + '/')) continue;
      if (!best || path.length > best.len) best = { len: path.length, value: v };
    }
    if (best) {
      const c = parseAuthEntry(best.value, file.path);
      if (c) return { credential: c, source: `${file.path} (auths)` };
    }
    if (file.credsStore) return this.fromHelper(file.credsStore, registry, `${file.path} (credsStore)`);
    return undefined;
  }

  /** Runs `docker-credential-<name> get` with the registry's server URL on stdin. */
  private async fromHelper(name: string, registry: string, via: string): Promise<FoundCredential | undefined> {
    if (!/^[A-Za-z0-9._-]+$/.test(name))
      throw new CredentialError(`${via}: invalid credential helper name ${JSON.stringify(name)}`);
    const program = `docker-credential-${name}`;
    const serverUrl = registry === DOCKER_HUB ? 'https://index.docker.io/v1/' : registry;
    const { code, stdout, stderr } = await runHelper(
      program,
      serverUrl,
      this.options.helperTimeout ?? DEFAULT_CREDENTIAL_HELPER_TIMEOUT,
      this.env,
    );
    const text = stdout.trim();
    if (code !== 0) {
      if (/credentials not found/i.test(text + stderr)) return undefined;
      throw new CredentialError(
        `${program} get failed for ${registry} (${via}): ${(text || stderr).trim().slice(0, 200)}`,
        { data: { helper: program } },
      );
    }
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      throw new CredentialError(`${program} get printed something that is not JSON`, {
        cause: err,
        data: { helper: program },
      });
    }
    const user = typeof o.Username === 'string' ? o.Username : '';
    const secret = typeof o.Secret === 'string' ? o.Secret : '';
    log('credentials for %s from %s via %s', registry, program, via);
    if (user === '<token>') return { credential: { identityToken: secret }, source: program };
    return { credential: { username: user, password: secret }, source: program };
  }
}

function runHelper(
  program: string,
  input: string,
  timeout: number,
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, ['get'], { stdio: ['pipe', 'pipe', 'pipe'], env });
    // our own timer (unref'd, always cleared): spawn's `timeout` option keeps a timer alive
    // after a spawn failure (ENOENT)
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeout);
    timer.unref();
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d.slice(0, 65536)));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d.slice(0, 4096)));
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(
        (err as NodeJS.ErrnoException).code === 'ENOENT'
          ? new CredentialError(`credential helper ${program} is not installed (not found in PATH)`, {
              cause: err,
              data: { helper: program },
            })
          : new CredentialError(`credential helper ${program}: ${err.message}`, {
              cause: err,
              data: { helper: program },
            }),
      );
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut)
        reject(
          new CredentialError(`credential helper ${program} took longer than ${timeout} ms`, {
            data: { helper: program },
          }),
        );
      else if (signal)
        reject(
          new CredentialError(`credential helper ${program} was killed (${signal})`, { data: { helper: program } }),
        );
      else resolve({ code, stdout, stderr });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

/** Parses a docker config.json / containers auth.json. */
export function parseAuthFile(text: string, path: string): AuthFile {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch (err) {
    throw new CredentialError(`${path}: not valid JSON (${(err as Error).message})`, { cause: err, data: { path } });
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o))
    throw new CredentialError(`${path}: expected a JSON object`, { data: { path } });
  const r = o as Record<string, unknown>;
  const obj = (v: unknown, f: string): Record<string, unknown> => {
    if (v === undefined || v === null) return {};
    if (typeof v !== 'object' || Array.isArray(v))
      throw new CredentialError(`${path}: "${f}" must be an object`, { data: { path } });
    return v as Record<string, unknown>;
  };
  const credHelpers = obj(r.credHelpers, 'credHelpers');
  for (const [k, v] of Object.entries(credHelpers)) {
    if (typeof v !== 'string')
      throw new CredentialError(`${path}: credHelpers["${k}"] must be a string`, { data: { path } });
  }
  if (r.credsStore !== undefined && typeof r.credsStore !== 'string')
    throw new CredentialError(`${path}: "credsStore" must be a string`, { data: { path } });
  return {
    path,
    auths: obj(r.auths, 'auths'),
    credHelpers: credHelpers as Record<string, string>,
    ...(r.credsStore ? { credsStore: r.credsStore } : {}),
  };
}

/** `https://index.docker.io/v1/` → docker.io; `reg:5000/ns/repo` → host reg:5000, path ns/repo. */
export function normaliseKey(key: string): { host: string; path: string } {
  let k = key.trim().replace(/^[a-z]+:\/\//i, '');
  k = k.replace(/\/+$/, '');
  const slash = k.indexOf('/');
  let host = slash < 0 ? k : k.slice(0, slash);
  let path = slash < 0 ? '' : k.slice(slash + 1);
  host = canonicalRegistry(host);
  // docker's legacy keys end in /v1 or /v2: not a namespace
  if (/^v[12]$/.test(path)) path = '';
  return { host, path };
}

function parseAuthEntry(v: unknown, path: string): Credential | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const e = v as Record<string, unknown>;
  const c: Credential = {};
  if (typeof e.auth === 'string' && e.auth.length > 0) {
    const decoded = Buffer.from(e.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0)
      throw new CredentialError(`${path}: an "auth" entry does not decode to user:password`, { data: { path } });
    c.username = decoded.slice(0, colon);
    c.password = decoded.slice(colon + 1);
  } else if (typeof e.username === 'string' || typeof e.password === 'string') {
    c.username = typeof e.username === 'string' ? e.username : '';
    c.password = typeof e.password === 'string' ? e.password : '';
  }
  if (typeof e.identitytoken === 'string' && e.identitytoken) c.identityToken = e.identitytoken;
  if (typeof e.registrytoken === 'string' && e.registrytoken) c.registryToken = e.registrytoken;
  return Object.keys(c).length > 0 ? c : undefined;
}
