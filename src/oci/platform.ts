import { arch as nodeArch, platform as nodePlatform, endianness } from 'node:os';
import { InvalidPlatformError, PlatformNotFoundError } from './errors.js';

/** A platform as it appears in an index entry or an image config. */
export interface Platform {
  /** Operating system, e.g. `linux`. */
  os: string;
  /** CPU architecture in Go's naming, e.g. `amd64`, `arm64`. */
  architecture: string;
  /** CPU variant, e.g. `v7` for arm, `v8` for arm64. */
  variant?: string;
  /** OS version (Windows images). */
  'os.version'?: string;
  /** OS features (Windows images). */
  'os.features'?: string[];
}

const COMPONENT = /^[a-z0-9_.-]{1,64}$/;

/**
 * Parses `os/arch[/variant]` (e.g. `linux/amd64`, `linux/arm/v7`, `linux/arm64/v8`) and
 * normalises it (see {@link normalizePlatform}). Throws `ERR_OCIFS_INVALID_PLATFORM`.
 */
export function parsePlatform(input: string): Platform {
  const parts = input.toLowerCase().split('/');
  if (parts.length < 2 || parts.length > 3)
    throw new InvalidPlatformError(input, 'expected OS/ARCH or OS/ARCH/VARIANT, e.g. linux/arm64');
  for (const p of parts) {
    if (!COMPONENT.test(p)) throw new InvalidPlatformError(input, `bad component ${JSON.stringify(p)}`);
  }
  const [os, architecture, variant] = parts;
  return normalizePlatform(variant === undefined ? { os, architecture } : { os, architecture, variant });
}

/** `os/arch[/variant]` of a platform. */
export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

/**
 * Normalises a platform the way containerd's `platforms.Normalize` does, so that equal platforms
 * compare equal: architecture aliases (`x86_64`→`amd64`, `aarch64`→`arm64`, `i386`→`386`,
 * `armhf`→`arm/v7`, `armel`→`arm/v6`), variants written with a `v` (`8`→`v8`), the default
 * variants dropped (`arm64/v8`→`arm64`, `amd64/v1`→`amd64`), and `arm` without a variant
 * meaning `arm/v7`.
 */
export function normalizePlatform(p: Platform): Platform {
  const os = p.os.toLowerCase();
  let architecture = p.architecture.toLowerCase();
  let variant = p.variant?.toLowerCase() || undefined;
  if (variant && /^[0-9]+$/.test(variant)) variant = `v${variant}`;
  switch (architecture) {
    case 'i386':
    case 'i686':
      architecture = '386';
      break;
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      architecture = 'amd64';
      if (variant === 'v1') variant = undefined;
      break;
    case 'aarch64':
    case 'arm64':
      architecture = 'arm64';
      if (variant === 'v8') variant = undefined;
      break;
    case 'armhf':
      architecture = 'arm';
      variant = 'v7';
      break;
    case 'armel':
      architecture = 'arm';
      variant = 'v6';
      break;
    case 'arm':
      variant ??= 'v7';
      break;
  }
  const out: Platform = { os, architecture };
  if (variant) out.variant = variant;
  if (p['os.version'] !== undefined) out['os.version'] = p['os.version'];
  if (p['os.features'] !== undefined) out['os.features'] = p['os.features'];
  return out;
}

/**
 * The platform of this machine: OS `linux` (also on macOS, where container images are Linux
 * images run in a VM) or `windows`; Node's architecture in Go's naming, with the ARM variant
 * from the Node build.
 */
export function hostPlatform(): Platform {
  const os = nodePlatform() === 'win32' ? 'windows' : 'linux';
  const a = nodeArch();
  const map: Record<string, string> = {
    x64: 'amd64',
    arm64: 'arm64',
    arm: 'arm',
    ia32: '386',
    ppc64: endianness() === 'LE' ? 'ppc64le' : 'ppc64',
    s390x: 's390x',
    riscv64: 'riscv64',
    loong64: 'loong64',
    mips: 'mips',
    mipsel: 'mipsle',
  };
  const architecture = map[a] ?? a;
  let variant: string | undefined;
  if (architecture === 'arm') {
    const v = (process.config.variables as Record<string, unknown>).arm_version;
    variant = typeof v === 'string' || typeof v === 'number' ? `v${v}` : 'v7';
  }
  return normalizePlatform(variant ? { os, architecture, variant } : { os, architecture });
}

/**
 * How well `candidate` serves `wanted`: 0 for the same platform, a positive number for an older
 * variant of the same architecture that still runs there (arm/v6 on arm/v7, amd64/v2 on
 * amd64/v3; smaller is better), or -1 for no match.
 */
export function platformRank(wanted: Platform, candidate: Platform): number {
  const w = normalizePlatform(wanted);
  const c = normalizePlatform(candidate);
  if (w.os !== c.os || w.architecture !== c.architecture) return -1;
  if ((w.variant ?? '') === (c.variant ?? '')) return 0;
  const level = (p: Platform): number | undefined => {
    if (p.architecture === 'amd64') return p.variant === undefined ? 1 : numericVariant(p.variant);
    if (p.architecture === 'arm') return numericVariant(p.variant ?? 'v7');
    if (p.architecture === 'arm64') return p.variant === undefined ? 8 : undefined;
    return undefined;
  };
  const wl = level(w);
  const cl = level(c);
  if (wl === undefined || cl === undefined || cl > wl) return -1;
  return wl - cl;
}

function numericVariant(v: string): number | undefined {
  const m = /^v([0-9]+)$/.exec(v);
  return m ? Number(m[1]) : undefined;
}

/**
 * Picks the entry of an index that best serves `wanted` (exact match first, else the newest
 * compatible older variant; among equals the first listed, as containerd does). Entries without
 * a platform, or with `unknown/unknown` (attestations), never match. Throws
 * `ERR_OCIFS_PLATFORM_NOT_FOUND` listing what the index offers.
 */
export function selectPlatform<T extends { platform?: Platform }>(entries: readonly T[], wanted: Platform): T {
  let best: T | undefined;
  let bestRank = Infinity;
  for (const e of entries) {
    if (!e.platform) continue;
    const r = platformRank(wanted, e.platform);
    if (r >= 0 && r < bestRank) {
      best = e;
      bestRank = r;
    }
  }
  if (best === undefined) {
    const available = [
      ...new Set(
        entries
          .filter((e) => e.platform && e.platform.os !== 'unknown')
          .map((e) => formatPlatform(normalizePlatform(e.platform!))),
      ),
    ];
    throw new PlatformNotFoundError(formatPlatform(normalizePlatform(wanted)), available);
  }
  return best;
}
