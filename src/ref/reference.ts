import { isIPv6 } from 'node:net';
import { parseDigest } from './digest.js';
import { InvalidReferenceError, InvalidDigestError } from './errors.js';
import { DOCKER_HUB, canonicalRegistry, registryApiHost, isLoopbackRegistry } from './host.js';

/** Tag used when a reference names neither a tag nor a digest. */
export const DEFAULT_TAG = 'latest';
/** Longest repository name (registry + path), as distribution/reference limits it. */
export const MAX_NAME_LENGTH = 255;
/** Longest tag: one word character and up to 127 more (distribution/reference). */
export const MAX_TAG_LENGTH = 128;
/** Longest reference string we look at at all. */
export const MAX_REFERENCE_LENGTH = 1024;

/** A parsed, normalised image reference. */
export interface ImageReference {
  /**
   * Registry as written (lowercased), with Docker Hub folded to `docker.io`: the key for
   * credentials, mirrors and messages.
   */
  readonly registry: string;
  /** Host (and port) that serves the registry API, e.g. `registry-1.docker.io` for `docker.io`. */
  readonly apiHost: string;
  /** Repository path, e.g. `library/alpine`. */
  readonly repository: string;
  /** Tag, when one was written or defaulted (`latest` when neither tag nor digest was given). */
  readonly tag?: string;
  /** Digest, when one was written (`name@sha256:…`); it wins over the tag when fetching. */
  readonly digest?: string;
  /** True for loopback registries, which are reached over plain HTTP. */
  readonly loopback: boolean;
  /** What to ask the registry for: the digest if there is one, else the tag. */
  readonly reference: string;
  /** The fully qualified form, e.g. `docker.io/library/alpine:latest`. */
  readonly canonical: string;
  /** The input as the user wrote it. */
  readonly input: string;
}

// distribution/reference grammar (reference/regexp.go):
//   path-component := [a-z0-9]+ (separator [a-z0-9]+)*   separator := [_.] | __ | [-]+
//   domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
//   tag := [\w][\w.-]{0,127}
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const PORT = /^[0-9]+$/;
const HEX64 = /^[a-f0-9]{64}$/;

/**
 * Parses an image reference the way docker does (distribution/reference's
 * `ParseNormalizedNamed` + `TagNameOnly`):
 *
 * - `alpine` → `docker.io/library/alpine:latest`; `user/app` → `docker.io/user/app:latest`
 * - the first path part is a registry only if it has a `.` or `:`, or is `localhost`
 *   (`localhost/x`, `localhost:5000/x`, `127.0.0.1:5000/x`, `[::1]:5000/x`, `reg.io/x`)
 * - `name:tag`, `name@sha256:…`, `name:tag@sha256:…` (the digest wins; the tag is kept)
 * - repository paths must be lowercase; names up to 255 characters, tags up to 128
 *
 * Throws `ERR_OCIFS_INVALID_REFERENCE` with the reason.
 */
export function parseReference(input: string): ImageReference {
  const fail = (reason: string): never => {
    throw new InvalidReferenceError(input, reason);
  };
  if (typeof input !== 'string') fail('not a string');
  if (input.length === 0) fail('empty');
  if (input.length > MAX_REFERENCE_LENGTH) fail(`longer than ${MAX_REFERENCE_LENGTH} characters`);
  if (/\s/.test(input)) fail('contains whitespace');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(input))
    fail('a reference has no URL scheme; write e.g. registry.example.com/repo:tag');
  if (HEX64.test(input)) fail('a 64-hex-digit string is an image ID, not a reference; write NAME@sha256:…');

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (d.includes('@')) fail('more than one "@"');
    try {
      digest = parseDigest(d).value;
    } catch (err) {
      fail(err instanceof InvalidDigestError ? `bad digest: ${err.data.reason as string}` : 'bad digest');
    }
  }

  // A tag is whatever follows the last ':' after the last '/' (a ':' before it is a port).
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > lastSlash && !(lastSlash < 0 && rest.startsWith('['))) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (tag.length === 0) fail('empty tag after ":"');
    if (tag.length > MAX_TAG_LENGTH) fail(`tag longer than ${MAX_TAG_LENGTH} characters`);
    if (!TAG.test(tag))
      fail(`invalid tag ${JSON.stringify(tag)} (letters, digits, "_", "." and "-"; not starting with "." or "-")`);
  }
  if (rest.length === 0) fail('no repository name');

  // Docker's rule: the first component is a registry only if it looks like a host.
  let registry = DOCKER_HUB;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    // distribution also treats an uppercase first component as a host (host names are case-insensitive).
    if (
      first.includes('.') ||
      first.includes(':') ||
      first === 'localhost' ||
      first.startsWith('[') ||
      first !== first.toLowerCase()
    ) {
      registry = validateDomain(first, fail);
      path = rest.slice(slash + 1);
    }
  } else if (rest.startsWith('[')) {
    fail('a registry needs a repository path after it, e.g. localhost:5000/repo');
  }
  registry = canonicalRegistry(registry);
  if (path.length === 0) fail('no repository path after the registry');
  if (path !== path.toLowerCase()) fail('repository name must be lowercase');
  for (const part of path.split('/')) {
    if (part.length === 0) fail('empty path component (double or trailing "/")');
    if (!PATH_COMPONENT.test(part)) {
      fail(
        `invalid path component ${JSON.stringify(part)} (lowercase letters and digits, separated by ".", "_", "__" or "-")`,
      );
    }
  }
  if (registry === DOCKER_HUB && !path.includes('/')) path = `library/${path}`;
  const fullName = `${registry}/${path}`;
  if (fullName.length > MAX_NAME_LENGTH) fail(`repository name longer than ${MAX_NAME_LENGTH} characters`);
  if (tag === undefined && digest === undefined) tag = DEFAULT_TAG;

  const canonical = fullName + (tag !== undefined ? `:${tag}` : '') + (digest !== undefined ? `@${digest}` : '');
  return {
    registry,
    apiHost: registryApiHost(registry),
    repository: path,
    ...(tag !== undefined ? { tag } : {}),
    ...(digest !== undefined ? { digest } : {}),
    loopback: isLoopbackRegistry(registry),
    reference: digest ?? tag!,
    canonical,
    input,
  };
}

/** A copy of `ref` that points at `digest` (keeping its tag for display). */
export function withDigest(ref: ImageReference, digest: string): ImageReference {
  const d = parseDigest(digest).value;
  const canonical = `${ref.registry}/${ref.repository}` + (ref.tag !== undefined ? `:${ref.tag}` : '') + `@${d}`;
  return { ...ref, digest: d, reference: d, canonical };
}

/** Validates `host[:port]` (IPv6 in brackets) and returns it lowercased. */
function validateDomain(domain: string, fail: (reason: string) => never): string {
  let host = domain;
  let port: string | undefined;
  if (domain.startsWith('[')) {
    const close = domain.indexOf(']');
    if (close < 0) fail('unclosed "[" in IPv6 registry address');
    host = domain.slice(1, close);
    const after = domain.slice(close + 1);
    if (after.length > 0) {
      if (!after.startsWith(':')) fail(`unexpected ${JSON.stringify(after)} after IPv6 address`);
      port = after.slice(1);
    }
    if (!isIPv6(host)) fail(`${JSON.stringify(host)} is not an IPv6 address`);
  } else {
    const colon = domain.indexOf(':');
    if (colon >= 0) {
      host = domain.slice(0, colon);
      port = domain.slice(colon + 1);
    }
    if (host.length === 0) fail('empty registry host');
    if (host.length > 253) fail('registry host name too long');
    for (const part of host.split('.')) {
      if (!DOMAIN_COMPONENT.test(part)) fail(`invalid registry host ${JSON.stringify(host)}`);
    }
  }
  if (port !== undefined) {
    if (!PORT.test(port)) fail(`invalid port ${JSON.stringify(port)}`);
    const n = Number(port);
    if (n < 1 || n > 65535) fail(`port ${port} out of range 1-65535`);
  }
  return domain.toLowerCase();
}

/** The `registry/repository` display name of a reference, e.g. `docker.io/library/alpine`. */
export function repositoryName(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}`;
}
