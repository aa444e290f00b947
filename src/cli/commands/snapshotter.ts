/**
 * `ocifs snapshotter [--address SOCK] [--root DIR] [--metrics-address HOST:PORT] …`: containerd's
 * remote snapshotter (a proxy plugin), serving until SIGINT/SIGTERM. See
 * src/runtime/snapshotter/daemon.ts.
 */
import { Option, type Command } from 'commander';
import { join, resolve } from 'node:path';
import { loadConfig, mergeMirrors, parseMirrorFlag } from '../../config/index.js';
import {
  DEFAULT_SNAPSHOTTER_ADDRESS,
  DEFAULT_SNAPSHOTTER_ROOT,
  runSnapshotter,
} from '../../runtime/snapshotter/daemon.js';
import type { KeeperConfig } from '../../runtime/snapshotter/keeper-protocol.js';
import { parseMetricsAddress } from '../../runtime/snapshotter/metrics.js';
import { parseSize } from '../size.js';

interface SnapshotterFlags {
  address: string;
  root: string;
  metricsAddress?: string;
  cacheDir?: string;
  cacheMaxSize?: string;
  chunkSize?: string;
  config?: string;
  mirror?: string[];
  platform?: string;
  backgroundFetch?: boolean;
  erofsTree?: boolean;
  debug?: boolean;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** The keeper's settings from the flags and the config file (flags win). */
export async function keeperConfigOf(flags: SnapshotterFlags): Promise<KeeperConfig> {
  const config = await loadConfig(flags.config !== undefined ? { file: flags.config } : {});
  const hosts = mergeMirrors(config.registries, (flags.mirror ?? []).map(parseMirrorFlag));
  const cacheMaxSize =
    flags.cacheMaxSize !== undefined ? parseSize(flags.cacheMaxSize, '--cache-max-size') : config.cacheMaxSize;
  const chunkSize = flags.chunkSize !== undefined ? parseSize(flags.chunkSize, '--chunk-size') : config.chunkSize;
  return {
    cacheDir: resolve(
      flags.cacheDir ?? process.env.OCIFS_CACHE_DIR ?? config.cacheDir ?? join(resolve(flags.root), 'cache'),
    ),
    ...(cacheMaxSize !== undefined ? { cacheMaxSize } : {}),
    ...(chunkSize !== undefined ? { chunkSize } : {}),
    registry: Object.keys(hosts).length ? { hosts } : {},
    ...(flags.backgroundFetch ? { backgroundFetch: true } : {}),
    ...(flags.erofsTree ? { erofsMode: 'tree' as const } : {}),
  };
}

/** Registers `snapshotter`. */
export function register(program: Command): void {
  program
    .command('snapshotter')
    .description(
      "containerd's remote snapshotter: image layers mounted lazily from their registry (a proxy plugin over gRPC)",
    )
    .option('--address <socket>', 'unix socket containerd connects to', DEFAULT_SNAPSHOTTER_ADDRESS)
    .option('--root <dir>', 'metadata, snapshot directories and the layer keeper', DEFAULT_SNAPSHOTTER_ROOT)
    .option('--metrics-address <host:port>', 'serve Prometheus metrics at http://HOST:PORT/metrics')
    .option('--cache-dir <dir>', 'blob cache directory (env OCIFS_CACHE_DIR; config cacheDir; default ROOT/cache)')
    .addOption(
      new Option(
        '--cache-max-size <size>',
        'evict least-recently-used blobs not in use to keep the cache under this size (e.g. 20G)',
      ),
    )
    .addOption(new Option('--chunk-size <size>', 'chunk size of new cache entries (default 64K)'))
    .option('--config <file>', 'config file: registries (mirrors, insecure), cacheDir, cacheMaxSize, chunkSize')
    .option(
      '--mirror <registry=url>',
      'try this mirror for a registry before the registry itself (repeatable)',
      collect,
    )
    .option('--platform <os/arch[/variant]>', 'platform to pick from multi-platform images (default: this host)')
    .option('--background-fetch', 'download the rest of every mounted layer in the background, at low priority')
    .option(
      '--erofs-tree',
      'serve EROFS layers as FUSE file trees instead of mounting them with the kernel EROFS driver',
    )
    .option('--debug', 'print debug logs and error stacks')
    .action(async (flags: SnapshotterFlags) => {
      if (flags.metricsAddress !== undefined) parseMetricsAddress(flags.metricsAddress);
      const keeper = await keeperConfigOf(flags);
      await runSnapshotter({
        address: flags.address,
        root: flags.root,
        keeper,
        ...(flags.metricsAddress !== undefined ? { metricsAddress: flags.metricsAddress } : {}),
        ...(flags.platform !== undefined ? { platform: flags.platform } : {}),
      });
    });
}
