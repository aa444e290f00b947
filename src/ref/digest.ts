/**
 * Content digests (`sha256:…`, `sha512:…`): the one place that parses, checks and computes them,
 * for every layer (the registry client, the cache, the format readers, the layout server).
 *
 * @packageDocumentation
 */
import { createHash, type Hash } from 'node:crypto';
import { InvalidDigestError } from './errors.js';

/** Digest algorithms ocifs can verify, with the length of their lowercase hex encoding. */
export const DIGEST_ALGORITHMS = { sha256: 64, sha512: 128 } as const;

/** A supported digest algorithm name. */
export type DigestAlgorithm = keyof typeof DIGEST_ALGORITHMS;

/** A parsed, validated content digest such as `sha256:9f86…`. */
export interface Digest {
  /** The algorithm (`sha256` or `sha512`). */
  readonly algorithm: DigestAlgorithm;
  /** The lowercase hex encoding of the hash. */
  readonly hex: string;
  /** `algorithm:hex`, the form used in URLs and manifests. */
  readonly value: string;
}

// OCI image-spec descriptor grammar: algorithm components joined by [+._-], then ':' and the
// encoded part. Registered algorithms (sha256, sha512) must be lowercase hex of a fixed length.
const DIGEST_SYNTAX = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** Maximum length of a digest string we are willing to look at (sha512 is 135 chars). */
const MAX_DIGEST_LENGTH = 256;

/**
 * Parses and validates a digest. Only `sha256` and `sha512` are accepted, because a digest we
 * cannot recompute cannot protect anything; the hex part must be lowercase and exactly as long
 * as the algorithm's output (the OCI spec's rule for registered algorithms).
 */
export function parseDigest(input: string): Digest {
  if (typeof input !== 'string') throw new InvalidDigestError(String(input), 'not a string');
  if (input.length > MAX_DIGEST_LENGTH) {
    throw new InvalidDigestError(input.slice(0, 40) + '…', `longer than ${MAX_DIGEST_LENGTH} characters`);
  }
  if (!DIGEST_SYNTAX.test(input)) {
    throw new InvalidDigestError(input, 'expected ALGORITHM:HEX, e.g. sha256:<64 hex digits>');
  }
  const colon = input.indexOf(':');
  const algorithm = input.slice(0, colon);
  const hex = input.slice(colon + 1);
  if (!Object.hasOwn(DIGEST_ALGORITHMS, algorithm)) {
    const supported = Object.keys(DIGEST_ALGORITHMS).join(', ');
    throw new InvalidDigestError(input, `unsupported algorithm ${algorithm} (supported: ${supported})`);
  }
  const want = DIGEST_ALGORITHMS[algorithm as DigestAlgorithm];
  if (!/^[0-9a-f]*$/.test(hex)) throw new InvalidDigestError(input, `${algorithm} hex must be lowercase 0-9a-f`);
  if (hex.length !== want) {
    throw new InvalidDigestError(input, `${algorithm} needs ${want} hex digits, got ${hex.length}`);
  }
  return { algorithm: algorithm as DigestAlgorithm, hex, value: input };
}

/** True when `input` is a valid, supported digest (of `algorithm`, when given). */
export function isDigest(input: string, algorithm?: DigestAlgorithm): boolean {
  try {
    const d = parseDigest(input);
    return algorithm === undefined || d.algorithm === algorithm;
  } catch {
    return false;
  }
}

/** Computes the digest of `bytes` with `algorithm` (default sha256). */
export function digestOf(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/** True when `bytes` hash to `digest` (which must be valid; otherwise throws). */
export function verifyDigest(bytes: Uint8Array, digest: string): boolean {
  const d = parseDigest(digest);
  return digestOf(bytes, d.algorithm) === d.value;
}

/** A fresh hash object for the digest's algorithm. */
export function newHash(d: Digest): Hash {
  return createHash(d.algorithm);
}

/** The raw bytes of the digest's hash (32 or 64). */
export function digestBytes(d: Digest): Uint8Array {
  return Buffer.from(d.hex, 'hex');
}
