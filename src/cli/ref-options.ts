/**
 * The options every command that takes REF shares, and how they become {@link ImageOptions}.
 */
import { Option, type Command } from 'commander';
import { InvalidOptionError } from '../errors.js';
import type { ImageOptions, BlobSelector } from '../image/index.js';
import type { RegistryClientOptions } from '../registry/index.js';
import { loadConfig, mergeMirrors, parseMirrorFlag, type MirrorFlag } from '../config/index.js';
import { isLocalImagePath } from '../image/index.js';
import { parsePlatform } from '../oci/index.js';
import { isDigest, parseReference } from '../ref/index.js';
import { parseSize } from './size.js';
import { UsageError } from './fail.js';

/** Parsed values of the shared REF options (as commander gives them). */
export interface RefFlags {
  cacheDir?: string;
  platform?: string;
  layer?: string;
  digest?: string;
  insecure?: boolean;
  denyPrivateRedirects?: boolean;
  username?: string;
  passwordStdin?: boolean;
  cache: boolean;
  verifyFirst?: boolean;
  stats?: boolean;
  debug?: boolean;
  mirror?: string[];
  config?: string;
  chunkSize?: string;
  cacheMaxSize?: string;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/**
 * Adds the shared REF options to a command; `layerSelection` adds `--layer`/`--digest`;
 * `perRun` adds the options that belong to one reference and one run (`--username`,
 * `--password-stdin`, `--stats`), which a daemon serving many registries does not take.
 */
export function addRefOptions(cmd: Command, layerSelection = true, perRun = true): Command {
  cmd
    .option(
      '--cache-dir <dir>',
      'blob cache directory (env OCIFS_CACHE_DIR; default $XDG_CACHE_HOME/ocifs or ~/.cache/ocifs)',
    )
    .option('--platform <os/arch[/variant]>', 'platform to pick from a multi-platform image (default: this host)');
  if (layerSelection) {
    cmd
      .option('--layer <n>', 'layer index, 0-based from the bottom; negative counts from the top (-1 = top)')
      .option('--digest <digest>', 'blob by digest (sha256:…)');
  }
  cmd.option('--insecure', 'plain HTTP for the named registry (loopback registries always use plain HTTP)');
  if (perRun) {
    cmd
      .option('--username <user>', 'registry username (env OCIFS_USERNAME)')
      .option('--password-stdin', 'read the registry password from stdin (env OCIFS_PASSWORD)');
  }
  cmd
    .option(
      '--config <file>',
      'config file (env OCIFS_CONFIG; default $XDG_CONFIG_HOME/ocifs/config.json or ~/.config/ocifs/config.json)',
    )
    .option(
      '--mirror <registry=url>',
      'try this mirror for a registry before the registry itself (repeatable)',
      collect,
    )
    .option(
      '--deny-private-redirects',
      'refuse registry redirects to link-local, metadata, loopback and private addresses',
    )
    .option('--no-cache', 'keep fetched bytes in memory only')
    .option('--verify-first', 'download and verify each blob whole before serving any of its bytes')
    .addOption(new Option('--chunk-size <size>', 'chunk size of new cache entries (default 64K)'))
    .addOption(
      new Option(
        '--cache-max-size <size>',
        'evict least-recently-used blobs to keep the cache under this size (e.g. 10G)',
      ),
    );
  if (perRun) cmd.option('--stats', 'on exit, print one JSON line of I/O counters on stderr');
  return cmd.option('--debug', 'print debug logs and error stacks');
}

/** The blob selector of `--layer`/`--digest`; undefined when neither was given. */
export function selectorOf(flags: RefFlags): BlobSelector | undefined {
  if (flags.layer !== undefined && flags.digest !== undefined)
    throw new UsageError('give --layer or --digest, not both');
  if (flags.layer !== undefined) {
    if (!/^-?\d+$/.test(flags.layer))
      throw new InvalidOptionError('--layer', `"${flags.layer}" is not a layer index (0, 1, … or -1 for the top)`);
    return { layer: Number(flags.layer) };
  }
  if (flags.digest !== undefined) {
    if (!isDigest(flags.digest))
      throw new InvalidOptionError(
        '--digest',
        `"${flags.digest}" is not a digest (sha256:<64 hex digits> or sha512:<128>)`,
      );
    return { digest: flags.digest };
  }
  return undefined;
}

/** A `--mirror` value; a malformed one is a usage error (exit 2), not a config file error. */
function mirrorFlag(value: string): MirrorFlag {
  try {
    return parseMirrorFlag(value);
  } catch (err) {
    throw new UsageError((err as Error).message, { cause: err });
  }
}

/** Reads the whole of stdin as text (for `--password-stdin`). */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/**
 * Builds the image options of a command from its flags and the config file (flags win; reads
 * stdin for `--password-stdin`). `ref` scopes `--username`/`OCIFS_*` credentials to the
 * registry it names.
 */
export async function imageOptionsOf(
  flags: RefFlags,
  extra: Partial<ImageOptions> = {},
  ref?: string,
): Promise<ImageOptions> {
  // Malformed values fail before any file or network is touched (exit 2).
  if (flags.platform !== undefined) parsePlatform(flags.platform);
  selectorOf(flags);
  const config = await loadConfig(flags.config !== undefined ? { file: flags.config } : {});
  const registry: RegistryClientOptions = { ...extra.registry };
  if (ref !== undefined && !isLocalImagePath(ref)) registry.credentialsRegistry = parseReference(ref).registry;
  if (flags.insecure) registry.insecure = true;
  if (flags.denyPrivateRedirects || config.denyPrivateRedirects) registry.denyPrivateRedirects = true;
  if (flags.username !== undefined) registry.username = flags.username;
  if (flags.passwordStdin) {
    if (flags.username === undefined && !process.env.OCIFS_USERNAME)
      throw new UsageError('--password-stdin needs --username (or OCIFS_USERNAME)');
    registry.password = await readStdin();
    if (registry.username === undefined) registry.username = process.env.OCIFS_USERNAME;
  }
  if (flags.verifyFirst && !flags.cache) throw new UsageError('--verify-first needs the disk cache (not --no-cache)');
  const hosts = mergeMirrors(config.registries, (flags.mirror ?? []).map(mirrorFlag));
  if (Object.keys(hosts).length) registry.hosts = { ...registry.hosts, ...hosts };
  const cacheDir = flags.cacheDir ?? (process.env.OCIFS_CACHE_DIR ? undefined : config.cacheDir);
  return {
    ...(config.chunkSize !== undefined ? { chunkSize: config.chunkSize } : {}),
    ...(config.cacheMaxSize !== undefined ? { cacheMaxSize: config.cacheMaxSize } : {}),
    ...extra,
    registry,
    ...(cacheDir !== undefined ? { cacheDir } : {}),
    ...(flags.platform !== undefined ? { platform: flags.platform } : {}),
    ...(flags.cache ? {} : { noCache: true }),
    ...(flags.verifyFirst ? { verifyBeforeServe: true } : {}),
    ...(flags.chunkSize !== undefined ? { chunkSize: parseSize(flags.chunkSize, '--chunk-size') } : {}),
    ...(flags.cacheMaxSize !== undefined ? { cacheMaxSize: parseSize(flags.cacheMaxSize, '--cache-max-size') } : {}),
  };
}
