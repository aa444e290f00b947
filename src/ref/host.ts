import { isIPv4, isIPv6 } from 'node:net';

/** The registry name Docker Hub images use in references, credentials and messages. */
export const DOCKER_HUB = 'docker.io';
/** The host that actually serves Docker Hub's registry API. */
export const DOCKER_HUB_API = 'registry-1.docker.io';

/** Splits `host[:port]` (IPv6 literals in brackets) into its host and optional port. */
export function splitHostPort(authority: string): { host: string; port?: number } {
  let host = authority;
  let portText: string | undefined;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    host = authority.slice(1, close);
    if (authority.length > close + 1) portText = authority.slice(close + 2);
  } else {
    const colon = authority.lastIndexOf(':');
    if (colon >= 0) {
      host = authority.slice(0, colon);
      portText = authority.slice(colon + 1);
    }
  }
  return portText === undefined ? { host } : { host, port: Number(portText) };
}

/**
 * True for registries on this machine: `localhost`, 127.0.0.0/8 and `::1` (with any port).
 * Like docker and crane, ocifs talks plain HTTP to them without being asked.
 */
export function isLoopbackRegistry(authority: string): boolean {
  const { host } = splitHostPort(authority.toLowerCase());
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIPv4(host)) return host.startsWith('127.');
  if (isIPv6(host)) return host === '::1' || host === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(host);
  return false;
}

/**
 * The host that serves the registry API for a registry name: Docker Hub's `docker.io` (and its
 * aliases) is served by `registry-1.docker.io`; every other registry serves itself.
 */
export function registryApiHost(registry: string): string {
  return canonicalRegistry(registry) === DOCKER_HUB ? DOCKER_HUB_API : registry;
}

/**
 * The canonical name of a registry, used as the key for credentials, mirrors and messages:
 * lowercase, with Docker Hub's aliases (`index.docker.io`, `registry-1.docker.io`) folded to
 * `docker.io`.
 */
export function canonicalRegistry(registry: string): string {
  const r = registry.toLowerCase();
  return r === 'index.docker.io' || r === DOCKER_HUB_API ? DOCKER_HUB : r;
}
