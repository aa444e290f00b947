import { canonicalRegistry } from '../ref/host.js';
import { normaliseMirrorUrl, type RegistryHostConfig } from '../registry/options.js';
import { ConfigError } from './errors.js';

/** One parsed `--mirror REGISTRY=URL` flag. */
export interface MirrorFlag {
  /** Canonical registry name (`docker.io` for Docker Hub aliases). */
  registry: string;
  /** Normalised mirror base URL. */
  url: string;
}

/** Parses `--mirror REGISTRY=URL`, e.g. `docker.io=http://10.0.0.5:5000`. */
export function parseMirrorFlag(value: string): MirrorFlag {
  const eq = value.indexOf('=');
  if (eq <= 0 || eq === value.length - 1)
    throw new ConfigError(
      `--mirror ${JSON.stringify(value)}: expected REGISTRY=URL, e.g. docker.io=http://10.0.0.5:5000`,
      { data: { field: '--mirror' } },
    );
  const registry = value.slice(0, eq).trim();
  if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$/.test(registry)) {
    throw new ConfigError(
      `--mirror ${JSON.stringify(value)}: ${JSON.stringify(registry)} is not a registry host[:port]`,
      { data: { field: '--mirror' } },
    );
  }
  let url: string;
  try {
    url = normaliseMirrorUrl(value.slice(eq + 1).trim(), '--mirror');
  } catch (err) {
    throw new ConfigError(
      `--mirror ${JSON.stringify(value)}: ${(err as Error).message.replace(/^invalid option [^:]+: /, '')}`,
      { cause: err, data: { field: '--mirror' } },
    );
  }
  return { registry: canonicalRegistry(registry), url };
}

/**
 * Merges `--mirror` flags into the config's registries: flag mirrors come first (in flag
 * order), then the file's, without duplicates. Returns a new map for RegistryClientOptions.hosts.
 */
export function mergeMirrors(
  registries: Record<string, RegistryHostConfig>,
  flags: readonly MirrorFlag[],
): Record<string, RegistryHostConfig> {
  const out: Record<string, RegistryHostConfig> = {};
  for (const [k, v] of Object.entries(registries)) out[k] = { ...v, mirrors: [...(v.mirrors ?? [])] };
  const byReg = new Map<string, string[]>();
  for (const f of flags) byReg.set(f.registry, [...(byReg.get(f.registry) ?? []), f.url]);
  for (const [reg, urls] of byReg) {
    const cur = out[reg] ?? {};
    const merged = [...urls, ...(cur.mirrors ?? [])];
    out[reg] = { ...cur, mirrors: merged.filter((u, i) => merged.indexOf(u) === i) };
  }
  return out;
}
