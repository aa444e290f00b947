import { parseDigest } from '../ref/digest.js';
import { BadManifestError } from './errors.js';
import type { Platform } from './platform.js';

/** An OCI content descriptor: what a manifest says about a blob it points to. */
export interface Descriptor {
  /** Media type of the referenced content. */
  mediaType: string;
  /** Digest of the referenced content (validated, supported algorithm). */
  digest: string;
  /** Size in bytes (a safe, non-negative integer). */
  size: number;
  /** Alternative download locations (foreign layers); ocifs never fetches them. */
  urls?: string[];
  /** Free-form annotations. */
  annotations?: Record<string, string>;
  /** Platform, for index entries. */
  platform?: Platform;
  /** Artifact type, for artifacts and referrers. */
  artifactType?: string;
  /** Embedded content (base64), rarely used. */
  data?: string;
}

// RFC 6838 type/subtype with optional +suffix and parameters kept loose: registries in the wild
// use odd but harmless names; only structure and length are enforced.
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

/** Narrows an unknown JSON value to a plain object, or throws naming `where`. */
export function asObject(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new BadManifestError(`${where}: expected a JSON object`);
  return v as Record<string, unknown>;
}

/** Validates a string→string map (annotations, labels). */
export function asStringMap(v: unknown, where: string): Record<string, string> {
  const o = asObject(v, where);
  for (const [k, val] of Object.entries(o)) {
    if (typeof val !== 'string') throw new BadManifestError(`${where}.${k}: expected a string`);
  }
  return o as Record<string, string>;
}

/** Validates a media type string. */
export function asMediaType(v: unknown, where: string): string {
  if (typeof v !== 'string' || !MEDIA_TYPE.test(v))
    throw new BadManifestError(`${where}: invalid media type ${JSON.stringify(v)}`);
  return v;
}

/** Validates an untrusted descriptor: media type, supported digest, non-negative safe-integer size. */
export function parseDescriptor(v: unknown, where: string): Descriptor {
  const o = asObject(v, where);
  const mediaType = asMediaType(o.mediaType, `${where}.mediaType`);
  if (typeof o.digest !== 'string') throw new BadManifestError(`${where}.digest: missing`);
  let digest: string;
  try {
    digest = parseDigest(o.digest).value;
  } catch (err) {
    throw new BadManifestError(`${where}.digest: ${(err as Error).message}`, { cause: err });
  }
  const size = o.size;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new BadManifestError(`${where}.size: expected a non-negative integer, got ${JSON.stringify(size)}`);
  }
  const d: Descriptor = { mediaType, digest, size };
  if (o.urls !== undefined) {
    if (!Array.isArray(o.urls) || !o.urls.every((u) => typeof u === 'string'))
      throw new BadManifestError(`${where}.urls: expected strings`);
    d.urls = o.urls;
  }
  if (o.annotations !== undefined) d.annotations = asStringMap(o.annotations, `${where}.annotations`);
  if (o.platform !== undefined) d.platform = parsePlatformObject(o.platform, `${where}.platform`);
  if (o.artifactType !== undefined) d.artifactType = asMediaType(o.artifactType, `${where}.artifactType`);
  if (o.data !== undefined) {
    if (typeof o.data !== 'string') throw new BadManifestError(`${where}.data: expected base64 text`);
    d.data = o.data;
  }
  return d;
}

/** Validates a platform object from an index entry or config. */
export function parsePlatformObject(v: unknown, where: string): Platform {
  const o = asObject(v, where);
  if (typeof o.os !== 'string' || o.os.length === 0) throw new BadManifestError(`${where}.os: expected a string`);
  if (typeof o.architecture !== 'string' || o.architecture.length === 0)
    throw new BadManifestError(`${where}.architecture: expected a string`);
  const p: Platform = { os: o.os, architecture: o.architecture };
  if (o.variant !== undefined && o.variant !== '') {
    if (typeof o.variant !== 'string') throw new BadManifestError(`${where}.variant: expected a string`);
    p.variant = o.variant;
  }
  if (o['os.version'] !== undefined) {
    if (typeof o['os.version'] !== 'string') throw new BadManifestError(`${where}["os.version"]: expected a string`);
    p['os.version'] = o['os.version'];
  }
  if (o['os.features'] !== undefined) {
    const f = o['os.features'];
    if (!Array.isArray(f) || !f.every((x) => typeof x === 'string'))
      throw new BadManifestError(`${where}["os.features"]: expected strings`);
    p['os.features'] = f;
  }
  return p;
}
