/**
 * `ocifs convert REF DEST --to erofs|estargz|zstd-chunked`: rewrites an image's layers (read
 * once through the cache, written as they are produced) and writes the new image to an OCI
 * layout (`oci:DIR[:TAG]`) or a registry; `--to erofs --flatten -o FILE` writes one EROFS image
 * file of the merged tree.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { EROFS_COMPRESSIONS, type ErofsCompression } from '../../build/erofs/compress.js';
import {
  CONVERT_FORMATS,
  checkConvertOptions,
  convertImage,
  convertToErofsFile,
  type ConvertFormat,
  type ConvertOptions,
  type ConvertProgress,
} from '../../convert/convert.js';
import { parseDestination, type Destination } from '../../convert/destination.js';
import { LayoutTarget } from '../../convert/layout-target.js';
import { RegistryTarget } from '../../convert/registry-target.js';
import type { ImageTarget } from '../../convert/target.js';
import { InvalidOptionError } from '../../errors.js';
import type { Image } from '../../image/index.js';
import type { IoStats } from '../../io/io-stats.js';
import { RegistryClient } from '../../registry/index.js';
import { UsageError } from '../fail.js';
import { addRefOptions, type RefFlags } from '../ref-options.js';
import { withImage } from '../session.js';
import { startProgress, type Progress } from '../progress.js';
import { formatSize } from '../size.js';

interface ConvertFlags extends RefFlags {
  to?: string;
  flatten?: boolean;
  compress?: string;
  prioritizeFiles?: string;
  allPlatforms?: boolean;
  output?: string;
  quiet?: boolean;
}

/**
 * The registry destination as a target. The source's client serves a destination in the same
 * registry (its credentials are the ones given for it); another registry gets a client of its
 * own, whose credentials come from the credential files (`--username` and `OCIFS_*` stay the
 * source registry's).
 */
function registryTarget(
  image: Image,
  d: Extract<Destination, { kind: 'registry' }>,
  flags: ConvertFlags,
  stats: IoStats,
): { target: ImageTarget; client?: RegistryClient } {
  if (d.ref.tag === undefined) throw new UsageError(`${d.ref.input}: a destination names a tag`);
  if (image.client && image.resolved?.registry === d.ref.registry)
    return { target: new RegistryTarget(image.client, d.ref, d.ref.tag, [image.resolved.repository]) };
  const client = new RegistryClient({
    stats,
    ...(flags.insecure ? { insecure: true } : {}),
    ...(image.resolved ? { credentialsRegistry: image.resolved.registry } : {}),
  });
  return { target: new RegistryTarget(client, d.ref, d.ref.tag), client };
}

/** Paths of `--prioritize-files FILE`: one per line, blank lines and `#` comments ignored. */
async function prioritizedFiles(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch((err: unknown) => {
    const e = err as NodeJS.ErrnoException;
    throw new InvalidOptionError('--prioritize-files', `${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  });
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

function progressBar(quiet: boolean | undefined): { onProgress: (p: ConvertProgress) => void; stop(): void } {
  let bar: Progress | undefined;
  let last = 0;
  return {
    onProgress(p) {
      if (quiet) return;
      bar ??= startProgress({ label: 'convert', total: p.bytesTotal, bytes: true });
      const now = Date.now();
      if (now - last < 100 && p.layersDone < p.layers) return;
      last = now;
      bar.update(p.bytesRead, { totalText: `${formatSize(p.bytesTotal)}, layers ${p.layersDone}/${p.layers}` });
    },
    stop: () => bar?.stop(),
  };
}

/** Registers `convert`. */
export function register(program: Command): void {
  addRefOptions(
    program
      .command('convert')
      .description(
        'convert an image to EROFS, eStargz or zstd:chunked layers, streaming, into an OCI layout (oci:DIR[:TAG]) or a registry',
      )
      .argument('<ref>', 'image reference')
      .argument('[dest]', 'destination: oci:DIR[:TAG] or an image reference')
      .option('--to <format>', `layer format to write: ${CONVERT_FORMATS.join(', ')}`)
      .option('--flatten', 'EROFS: one image of the merged layers instead of one per layer')
      .option('--compress <alg>', `EROFS file data compression: ${EROFS_COMPRESSIONS.join(', ')}`, 'none')
      .option('--prioritize-files <file>', 'eStargz: files (one path per line) to put first, before .prefetch.landmark')
      .option('--all-platforms', 'convert every platform of a multi-platform image')
      .option('-o, --output <file>', 'with --to erofs --flatten: write one EROFS image file instead of an image')
      .option('-q, --quiet', 'no progress bar or summary'),
    false,
  ).action(async (ref: string, dest: string | undefined, flags: ConvertFlags) => {
    if (flags.to === undefined) throw new UsageError('--to is required (erofs, estargz or zstd-chunked)');
    if (flags.output !== undefined && dest !== undefined) throw new UsageError('give DEST or -o FILE, not both');
    if (flags.output === undefined && dest === undefined)
      throw new UsageError('a destination is required: DEST (oci:DIR[:TAG] or an image reference) or -o FILE');
    if (flags.output !== undefined && !(flags.to === 'erofs' && flags.flatten))
      throw new UsageError('-o FILE writes one EROFS image: it needs --to erofs --flatten');
    if (flags.allPlatforms && flags.platform !== undefined)
      throw new UsageError('give --platform or --all-platforms, not both');
    if (!EROFS_COMPRESSIONS.includes(flags.compress as ErofsCompression))
      throw new InvalidOptionError('--compress', `must be one of ${EROFS_COMPRESSIONS.join(', ')}`);
    const options: ConvertOptions = {
      to: flags.to as ConvertFormat,
      ...(flags.flatten ? { flatten: true } : {}),
      compression: flags.compress as ErofsCompression,
      ...(flags.prioritizeFiles !== undefined
        ? { prioritizedFiles: await prioritizedFiles(flags.prioritizeFiles) }
        : {}),
      ...(flags.allPlatforms ? { allPlatforms: true } : {}),
    };
    checkConvertOptions(options);
    // The destination is checked before anything is read.
    const d = dest !== undefined ? parseDestination(dest) : undefined;
    if (d?.kind === 'registry' && (d.ref.digest !== undefined || d.ref.tag === undefined))
      throw new UsageError(`${dest}: a destination names a tag, not a digest`);
    let target: ImageTarget | undefined = d?.kind === 'layout' ? await LayoutTarget.open(d.dir, d.tag) : undefined;
    let ownClient: RegistryClient | undefined;
    const bar = progressBar(flags.quiet);
    try {
      await withImage(
        ref,
        flags,
        async ({ image, signal, stats }) => {
          if (d?.kind === 'registry') ({ target, client: ownClient } = registryTarget(image, d, flags, stats));
          if (flags.output !== undefined) {
            await convertToErofsFile(image, flags.output, {
              compression: options.compression!,
              signal,
              onProgress: bar.onProgress,
            });
            bar.stop();
            if (!flags.quiet)
              process.stderr.write(
                `wrote ${flags.output}: the merged tree of ${image.layers.length} layer${image.layers.length === 1 ? '' : 's'} as EROFS\n`,
              );
            return;
          }
          const r = await convertImage(image, target!, { ...options, signal, onProgress: bar.onProgress });
          bar.stop();
          if (!flags.quiet) {
            const layers = r.manifests.reduce((n, m) => n + m.layers.length, 0);
            const bytes = r.manifests.reduce((n, m) => n + m.layers.reduce((s, l) => s + l.size, 0), 0);
            process.stderr.write(
              `converted to ${flags.to}: ${target!.name} → ${r.descriptor.digest} (${layers} layer${layers === 1 ? '' : 's'}, ${formatSize(bytes)})\n`,
            );
          }
        },
        flags.output !== undefined ? {} : { config: true },
      );
    } finally {
      bar.stop();
      await target?.close();
      await ownClient?.close();
    }
  });
}
