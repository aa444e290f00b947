/**
 * `ocifs cache ls [--json] | path [DIGEST] | verify [DIGEST] | gc --max-size SIZE | rm (DIGEST | --all)`.
 */
import type { Command } from 'commander';
import { BlobCache, type VerifyResult } from '../../cache/index.js';
import { defaultCacheDir } from '../../image/index.js';
import { loadConfig } from '../../config/index.js';
import { formatSize, parseSize } from '../size.js';
import { alignRows } from '../format-inode.js';
import { UsageError } from '../fail.js';
import { NotFoundError } from '../../errors.js';

interface CacheFlags {
  cacheDir?: string;
  config?: string;
  json?: boolean;
  maxSize?: string;
  all?: boolean;
}

async function withCache<T>(flags: CacheFlags, body: (cache: BlobCache) => Promise<T>): Promise<T> {
  const config = await loadConfig(flags.config !== undefined ? { file: flags.config } : {});
  const dir = flags.cacheDir ?? (process.env.OCIFS_CACHE_DIR ? undefined : config.cacheDir) ?? defaultCacheDir();
  const cache = await BlobCache.open(dir);
  try {
    return await body(cache);
  } finally {
    await cache.close();
  }
}

/** What `cache verify` says of an instance's sidecars (the indexes derived from its bytes). */
function describeSidecars(r: VerifyResult): string {
  const { kept, discarded } = r.sidecars;
  const parts = discarded.map((d) => `sidecar ${d.name} deleted: ${d.reason}`);
  if (kept.length) {
    const names = kept.join(', ');
    parts.unshift(
      r.status === 'verified'
        ? `sidecars checked: ${names}`
        : `sidecars from unverified bytes, served only through this origin: ${names}`,
    );
  }
  return parts.length ? `; ${parts.join('; ')}` : '';
}

/** Registers `cache` and its subcommands. */
export function register(program: Command): void {
  const cache = program.command('cache').description('look after the blob cache');
  const dirOption = (c: Command) =>
    c
      .option(
        '--cache-dir <dir>',
        'blob cache directory (env OCIFS_CACHE_DIR; default $XDG_CACHE_HOME/ocifs or ~/.cache/ocifs)',
      )
      .option('--config <file>', 'config file (for its cacheDir)');

  dirOption(
    cache
      .command('ls')
      .description('list cached blobs: size, how much is present, verified, last use')
      .option('--json', 'print JSON'),
  ).action(async (flags: CacheFlags) =>
    withCache(flags, async (c) => {
      const entries = await c.list();
      if (flags.json) {
        process.stdout.write(JSON.stringify(entries, null, 2) + '\n');
        return;
      }
      // ORIGIN: who an unverified copy is served to (its registry or mirror chain); a
      // verified blob is every origin's.
      const rows = [['DIGEST', 'SIZE', 'PRESENT', 'STATE', 'DISK', 'LAST USE', 'ORIGIN']];
      for (const e of entries) {
        const state = e.corrupt ? 'corrupt' : e.verified ? 'verified' : e.complete ? 'complete' : 'partial';
        const pct = e.size ? `${Math.floor((e.presentBytes / e.size) * 100)}%` : '-';
        const origin = e.origin === null ? 'any' : e.origin || '(unnamed)';
        rows.push([
          e.digest,
          e.size === null ? '-' : formatSize(e.size),
          pct,
          state,
          formatSize(e.diskBytes + e.sidecarBytes),
          e.lastAccess.toISOString().slice(0, 19).replace('T', ' '),
          origin,
        ]);
      }
      const total = entries.reduce((n, e) => n + e.diskBytes + e.sidecarBytes, 0);
      process.stdout.write(
        alignRows(rows, new Set([1, 2, 4])).join('\n') +
          `\n${entries.length} blobs, ${formatSize(total)} on disk in ${c.path()}\n`,
      );
    }),
  );

  dirOption(
    cache
      .command('path')
      .description('print the cache directory, or the directory of one cached blob')
      .argument('[digest]'),
  ).action(async (digest: string | undefined, flags: CacheFlags) =>
    withCache(flags, async (c) => {
      process.stdout.write(c.path(digest) + '\n');
    }),
  );

  dirOption(
    cache
      .command('verify')
      .description('re-hash complete blobs against their digests and check partial ones; bad ones are discarded')
      .argument('[digest]'),
  ).action(async (digest: string | undefined, flags: CacheFlags) =>
    withCache(flags, async (c) => {
      const results = await c.verify(digest);
      let bad = 0;
      let badSidecars = 0;
      for (const r of results) {
        if (r.status === 'mismatch' || r.status === 'corrupt') bad++;
        badSidecars += r.sidecars.discarded.length;
        process.stdout.write(
          `${r.digest}  ${r.status}${r.origin !== null ? ` via ${r.origin || '(unnamed origin)'}` : ''}${r.detail ? ` (${r.detail})` : ''}${r.discarded ? ', discarded' : ''}${describeSidecars(r)}\n`,
        );
      }
      const problems = [
        bad
          ? `${bad} cached blob${bad === 1 ? '' : 's'} failed verification and ${bad === 1 ? 'was' : 'were'} discarded`
          : '',
        badSidecars
          ? `${badSidecars} damaged sidecar${badSidecars === 1 ? ' was' : 's were'} deleted (rebuilt when next needed)`
          : '',
      ].filter(Boolean);
      if (problems.length) {
        process.exitCode = 1;
        process.stderr.write(`ocifs: ${problems.join('; ')}\n`);
      }
    }),
  );

  dirOption(
    cache
      .command('gc')
      .description(
        'evict least-recently-used blobs until the cache fits in SIZE (safe while other ocifs processes read)',
      )
      .requiredOption('--max-size <size>', 'e.g. 10G, 500M'),
  ).action(async (flags: CacheFlags) =>
    withCache(flags, async (c) => {
      const r = await c.gc({ maxSize: parseSize(flags.maxSize!, '--max-size') });
      process.stdout.write(
        `evicted ${r.evicted.length} blob${r.evicted.length === 1 ? '' : 's'}: ${formatSize(r.before)} → ${formatSize(r.after)}\n`,
      );
    }),
  );

  dirOption(
    cache
      .command('rm')
      .description('remove one cached blob (and its indexes), or everything with --all')
      .argument('[digest]')
      .option('--all', 'remove every cached blob'),
  ).action(async (digest: string | undefined, flags: CacheFlags) => {
    if (!!digest === !!flags.all) throw new UsageError('cache rm takes a DIGEST or --all');
    await withCache(flags, async (c) => {
      if (flags.all) {
        const n = await c.removeAll();
        process.stdout.write(`removed ${n} blob${n === 1 ? '' : 's'}\n`);
      } else if (await c.remove(digest!)) process.stdout.write(`removed ${digest}\n`);
      else throw new NotFoundError(`${digest}: not in the cache`.replace(/: not in the cache$/, ' in the cache'));
    });
  });
}
