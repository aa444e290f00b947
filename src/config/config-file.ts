import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { OcifsError } from '../errors.js';
import { canonicalRegistry } from '../ref/host.js';
import { normaliseMirrorUrl, type RegistryHostConfig } from '../registry/options.js';
import { ConfigError } from './errors.js';
import { parseSize } from './size.js';

/** Largest config file read. */
export const MAX_CONFIG_FILE_SIZE = 1024 * 1024;

/** The validated contents of an ocifs config file. */
export interface OcifsConfig {
  /** Per-registry settings keyed by canonical registry name (`docker.io`, `reg:5000`). */
  registries: Record<string, RegistryHostConfig>;
  /** Cache directory (absolute). */
  cacheDir?: string;
  /** Cache size cap in bytes (LRU eviction above it). */
  cacheMaxSize?: number;
  /** Cache chunk size in bytes. */
  chunkSize?: number;
  /** Refuse registry redirects to private and link-local addresses (`--deny-private-redirects`). */
  denyPrivateRedirects?: boolean;
  /** Where the config was read from (undefined when no file exists). */
  path?: string;
}

/** Options of {@link configPath} and {@link loadConfig}. */
export interface ConfigLocationOptions {
  /** `--config FILE`: must exist. */
  file?: string;
  /** Environment (default `process.env`): OCIFS_CONFIG, XDG_CONFIG_HOME, HOME. */
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

/**
 * The config file to read and whether it must exist: `--config FILE`, else `$OCIFS_CONFIG`
 * (both must exist), else `$XDG_CONFIG_HOME/ocifs/config.json`, else
 * `~/.config/ocifs/config.json` (optional).
 */
export function configPath(options: ConfigLocationOptions = {}): { path: string; required: boolean } {
  const env = options.env ?? process.env;
  if (options.file) return { path: options.file, required: true };
  if (env.OCIFS_CONFIG) return { path: env.OCIFS_CONFIG, required: true };
  const base =
    env.XDG_CONFIG_HOME && isAbsolute(env.XDG_CONFIG_HOME)
      ? env.XDG_CONFIG_HOME
      : join(env.HOME ?? homedir(), '.config');
  return { path: join(base, 'ocifs', 'config.json'), required: false };
}

/** Reads and validates the config file; an absent optional file gives an empty config. */
export async function loadConfig(options: ConfigLocationOptions = {}): Promise<OcifsConfig> {
  const { path, required } = configPath(options);
  let text: string;
  try {
    const bytes = await readFile(path, options.signal ? { signal: options.signal } : {});
    if (bytes.byteLength > MAX_CONFIG_FILE_SIZE)
      throw new ConfigError(`${path}: larger than ${MAX_CONFIG_FILE_SIZE} bytes`, { data: { path } });
    text = bytes.toString('utf8');
  } catch (err) {
    if (err instanceof OcifsError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (!required && (code === 'ENOENT' || code === 'ENOTDIR')) return { registries: {} };
    throw new ConfigError(`${path}: cannot read config file: ${(err as Error).message}`, {
      cause: err,
      data: { path },
    });
  }
  return { ...parseConfig(text, path), path };
}

const TOP_KEYS = ['registries', 'cacheDir', 'cacheMaxSize', 'chunkSize', 'denyPrivateRedirects', '$schema'];
const REGISTRY_KEYS = ['mirrors', 'insecure'];

/**
 * Parses config JSON strictly: unknown keys, wrong types and bad values are errors naming the
 * field. Format:
 * ```json
 * { "registries": { "docker.io": { "mirrors": ["http://10.0.0.5:5000"], "insecure": false } },
 *   "cacheDir": "/var/cache/ocifs", "cacheMaxSize": "20GiB", "chunkSize": "1MiB",
 *   "denyPrivateRedirects": true }
 * ```
 */
export function parseConfig(text: string, path = 'config'): OcifsConfig {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${path}: not valid JSON (${(err as Error).message})`, { cause: err, data: { path } });
  }
  const fail = (field: string, why: string): never => {
    throw new ConfigError(`${path}: ${field}: ${why}`, { data: { path, field } });
  };
  if (typeof o !== 'object' || o === null || Array.isArray(o)) fail('(top level)', 'expected a JSON object');
  const top = o as Record<string, unknown>;
  for (const k of Object.keys(top))
    if (!TOP_KEYS.includes(k))
      fail(k, `unknown setting (known: ${TOP_KEYS.filter((x) => x !== '$schema').join(', ')})`);
  const out: OcifsConfig = { registries: {} };
  if (top.registries !== undefined) {
    const regs = top.registries;
    if (typeof regs !== 'object' || regs === null || Array.isArray(regs))
      fail('registries', 'expected an object keyed by registry name');
    for (const [name, v] of Object.entries(regs as Record<string, unknown>)) {
      const f = `registries["${name}"]`;
      if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$/.test(name)) fail(f, 'not a registry host[:port]');
      if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(f, 'expected an object');
      const r = v as Record<string, unknown>;
      for (const k of Object.keys(r))
        if (!REGISTRY_KEYS.includes(k)) fail(`${f}.${k}`, `unknown setting (known: ${REGISTRY_KEYS.join(', ')})`);
      const cfg: RegistryHostConfig = {};
      if (r.mirrors !== undefined) {
        if (!Array.isArray(r.mirrors)) fail(`${f}.mirrors`, 'expected an array of URLs');
        cfg.mirrors = (r.mirrors as unknown[]).map((m, i) => {
          if (typeof m !== 'string') fail(`${f}.mirrors[${i}]`, 'expected a URL string');
          try {
            return normaliseMirrorUrl(m as string, `${f}.mirrors[${i}]`);
          } catch (err) {
            return fail(`${f}.mirrors[${i}]`, (err as Error).message.replace(/^invalid option [^:]+: /, ''));
          }
        });
      }
      if (r.insecure !== undefined) {
        if (typeof r.insecure !== 'boolean') fail(`${f}.insecure`, 'expected true or false');
        cfg.insecure = r.insecure as boolean;
      }
      const key = canonicalRegistry(name);
      if (out.registries[key]) fail(f, `duplicate of registries["${key}"]`);
      out.registries[key] = cfg;
    }
  }
  if (top.denyPrivateRedirects !== undefined) {
    if (typeof top.denyPrivateRedirects !== 'boolean') fail('denyPrivateRedirects', 'expected true or false');
    out.denyPrivateRedirects = top.denyPrivateRedirects as boolean;
  }
  if (top.cacheDir !== undefined) {
    if (typeof top.cacheDir !== 'string' || !isAbsolute(top.cacheDir)) fail('cacheDir', 'expected an absolute path');
    out.cacheDir = top.cacheDir as string;
  }
  for (const k of ['cacheMaxSize', 'chunkSize'] as const) {
    if (top[k] === undefined) continue;
    const n = typeof top[k] === 'string' || typeof top[k] === 'number' ? parseSize(top[k]) : undefined;
    if (n === undefined || n <= 0)
      fail(
        k,
        `expected a positive size in bytes or with a unit (e.g. 1048576, "512KiB", "20GiB"), got ${JSON.stringify(top[k])}`,
      );
    out[k] = n;
  }
  return out;
}
