/**
 * Blob digests as the cache understands them: `sha256:<64 hex>` or `sha512:<128 hex>`, lowercase
 * (the OCI image spec's registered algorithms). Parsed here rather than imported from `ref` so the
 * cache stays below the registry layers.
 *
 * @packageDocumentation
 */
import { createHash, type Hash } from 'node:crypto';
import { InvalidOptionError } from '../errors.js';

/** A digest algorithm the cache can verify. */
export type DigestAlgorithm = 'sha256' | 'sha512';

/** A validated digest split into its parts. */
export interface ParsedDigest {
  /** `sha256` or `sha512`. */
  algorithm: DigestAlgorithm;
  /** Lowercase hex of the hash. */
  hex: string;
  /** `algorithm:hex`. */
  digest: string;
}

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

/** Parses `digest`, or throws {@link InvalidOptionError} naming `option`. */
export function parseDigest(digest: string, option = 'digest'): ParsedDigest {
  const m = /^(sha256|sha512):([0-9a-f]+)$/.exec(digest);
  if (!m) throw new InvalidOptionError(option, `${JSON.stringify(digest)} is not a sha256:/sha512: digest in lowercase hex`);
  const algorithm = m[1] as DigestAlgorithm;
  if (m[2].length !== HEX_LENGTH[algorithm]) {
    throw new InvalidOptionError(option, `${algorithm} digest needs ${HEX_LENGTH[algorithm]} hex digits, got ${m[2].length}`);
  }
  return { algorithm, hex: m[2], digest };
}

/** True when `digest` parses. */
export function isDigest(digest: string): boolean {
  try {
    parseDigest(digest);
    return true;
  } catch {
    return false;
  }
}

/** A fresh hash object for the digest's algorithm. */
export function newHash(d: ParsedDigest): Hash {
  return createHash(d.algorithm);
}

/** The raw bytes of the digest's hash (32 or 64). */
export function digestBytes(d: ParsedDigest): Uint8Array {
  return Buffer.from(d.hex, 'hex');
}
