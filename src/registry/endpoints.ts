import { canonicalRegistry, isLoopbackRegistry, registryApiHost } from '../ref/host.js';
import type { RegistryHostConfig } from './options.js';

/** A server that can answer for a registry: one of its mirrors, or the registry itself. */
export interface Endpoint {
  /** Base URL without trailing slash; requests go to `base + /v2/...`. */
  base: string;
  /** The upstream registry this endpoint answers for (canonical name, e.g. `docker.io`). */
  registry: string;
  /** True for a mirror. */
  mirror: boolean;
  /** Name under which credentials are looked up: the registry, or the mirror's host. */
  credentialKey: string;
  /**
   * `ns` query parameter for mirrors (containerd's convention; pull-through caches that serve
   * several upstreams use it).
   */
  ns?: string;
}

/**
 * The endpoints to try for `registry`, in order: its configured mirrors, then the registry.
 * The registry is reached over https unless it is a loopback address or marked insecure.
 */
export function endpointsFor(
  registry: string,
  hosts: Map<string, RegistryHostConfig>,
  insecureAll: boolean,
): Endpoint[] {
  const reg = canonicalRegistry(registry);
  const cfg = hosts.get(reg);
  const out: Endpoint[] = [];
  for (const m of cfg?.mirrors ?? []) {
    out.push({ base: m, registry: reg, mirror: true, credentialKey: new URL(m).host, ns: reg });
  }
  const plain = isLoopbackRegistry(reg) || insecureAll || cfg?.insecure === true;
  out.push({
    base: `${plain ? 'http' : 'https'}://${registryApiHost(reg)}`,
    registry: reg,
    mirror: false,
    credentialKey: reg,
  });
  return out;
}

/** The URL of an API path (`/v2/...`) on an endpoint, with the mirror's `ns` parameter. */
export function endpointUrl(ep: Endpoint, path: string, query: Record<string, string> = {}): URL {
  const u = new URL(ep.base + path);
  if (ep.ns) u.searchParams.set('ns', ep.ns);
  for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
  return u;
}

/** `registry/repository` with `(mirror URL)` when served by a mirror, for messages. */
export function describe(ep: Endpoint, repository: string): string {
  return ep.mirror ? `${ep.registry}/${repository} (mirror ${ep.base})` : `${ep.registry}/${repository}`;
}
