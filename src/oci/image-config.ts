import { parseDigest } from '../ref/digest.js';
import { BadManifestError } from './errors.js';
import { asObject, asStringMap } from './descriptor.js';
import { parseJsonBytes } from './manifest.js';
import type { Platform } from './platform.js';

/** Largest image config accepted (long histories make configs of a few hundred KiB). */
export const DEFAULT_MAX_CONFIG_SIZE = 8 * 1024 * 1024;

/** The runtime settings of an image config (`config` field), fields as in the OCI image spec. */
export interface ImageRuntimeConfig {
  User?: string;
  ExposedPorts?: Record<string, unknown>;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  Volumes?: Record<string, unknown>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
}

/** One history entry of an image config. */
export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** A validated image config (OCI or Docker). Unknown fields are kept in `raw`. */
export interface ImageConfig {
  os: string;
  architecture: string;
  variant?: string;
  'os.version'?: string;
  created?: string;
  author?: string;
  config?: ImageRuntimeConfig;
  /** Digests of the uncompressed layers, bottom first. */
  rootfs: { type: string; diff_ids: string[] };
  history?: HistoryEntry[];
  /** The whole parsed document. */
  raw: Record<string, unknown>;
}

const optString = (o: Record<string, unknown>, k: string, where: string): string | undefined => {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new BadManifestError(`${where}.${k}: expected a string`);
  return v;
};

const optStrings = (o: Record<string, unknown>, k: string, where: string): string[] | undefined => {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
    throw new BadManifestError(`${where}.${k}: expected an array of strings`);
  return v;
};

/** Parses and validates an image config blob. */
export function parseImageConfig(bytes: Uint8Array, maxSize = DEFAULT_MAX_CONFIG_SIZE): ImageConfig {
  const o = asObject(parseJsonBytes(bytes, 'image config', maxSize), 'config');
  const os = optString(o, 'os', 'config');
  const architecture = optString(o, 'architecture', 'config');
  if (!os) throw new BadManifestError('config.os: missing');
  if (!architecture) throw new BadManifestError('config.architecture: missing');
  const rootfs = asObject(o.rootfs, 'config.rootfs');
  const diffIds = optStrings(rootfs, 'diff_ids', 'config.rootfs') ?? [];
  diffIds.forEach((d, i) => {
    try {
      parseDigest(d);
    } catch (err) {
      throw new BadManifestError(`config.rootfs.diff_ids[${i}]: ${(err as Error).message}`, { cause: err });
    }
  });
  const cfg: ImageConfig = {
    os,
    architecture,
    rootfs: { type: optString(rootfs, 'type', 'config.rootfs') ?? '', diff_ids: diffIds },
    raw: o,
  };
  const variant = optString(o, 'variant', 'config');
  if (variant) cfg.variant = variant;
  const osVersion = optString(o, 'os.version', 'config');
  if (osVersion) cfg['os.version'] = osVersion;
  const created = optString(o, 'created', 'config');
  if (created) cfg.created = created;
  const author = optString(o, 'author', 'config');
  if (author) cfg.author = author;
  if (o.config !== undefined && o.config !== null) cfg.config = parseRuntime(asObject(o.config, 'config.config'));
  if (o.history !== undefined && o.history !== null) {
    if (!Array.isArray(o.history)) throw new BadManifestError('config.history: expected an array');
    cfg.history = o.history.map((h, i) => {
      const w = `config.history[${i}]`;
      const e = asObject(h, w);
      const out: HistoryEntry = {};
      for (const k of ['created', 'created_by', 'author', 'comment'] as const) {
        const s = optString(e, k, w);
        if (s !== undefined) out[k] = s;
      }
      if (e.empty_layer !== undefined) {
        if (typeof e.empty_layer !== 'boolean') throw new BadManifestError(`${w}.empty_layer: expected a boolean`);
        out.empty_layer = e.empty_layer;
      }
      return out;
    });
  }
  return cfg;
}

function parseRuntime(c: Record<string, unknown>): ImageRuntimeConfig {
  const w = 'config.config';
  const r: ImageRuntimeConfig = {};
  for (const k of ['User', 'WorkingDir', 'StopSignal'] as const) {
    const s = optString(c, k, w);
    if (s !== undefined) r[k] = s;
  }
  for (const k of ['Env', 'Entrypoint', 'Cmd'] as const) {
    const s = optStrings(c, k, w);
    if (s !== undefined) r[k] = s;
  }
  for (const k of ['ExposedPorts', 'Volumes'] as const) {
    if (c[k] !== undefined && c[k] !== null) r[k] = asObject(c[k], `${w}.${k}`);
  }
  if (c.Labels !== undefined && c.Labels !== null) r.Labels = asStringMap(c.Labels, `${w}.Labels`);
  return r;
}

/** The platform an image config declares. */
export function configPlatform(cfg: ImageConfig): Platform {
  const p: Platform = { os: cfg.os, architecture: cfg.architecture };
  if (cfg.variant) p.variant = cfg.variant;
  if (cfg['os.version']) p['os.version'] = cfg['os.version'];
  return p;
}
