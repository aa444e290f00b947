/**
 * `ocifs index REF [--push] [--soci-version 1|2] [--span SIZE] [--min-layer-size SIZE] [--json]`:
 * builds SOCI zTOCs for the image's tar+gzip and plain tar layers (through the cache and the
 * same gzip pass every reader uses) and the SOCI index manifest; prints what was built, and
 * with `--push` publishes it (v1: a referrer of the image manifest; v2: a SOCI-enabled image
 * under the tag).
 */
import { Option, type Command } from 'commander';
import { InvalidOptionError } from '../../errors.js';
import {
  buildZtocs,
  pushSociIndex,
  sociBuildSettings,
  sociIndexManifest,
  type BuiltZtoc,
  type LayerZtoc,
  type PushedSociIndex,
} from '../../build/soci/index.js';
import { addRefOptions, type RefFlags } from '../ref-options.js';
import { withImage } from '../session.js';
import { startProgress } from '../progress.js';
import { formatSize, parseSize } from '../size.js';
import { packageVersion } from '../package-root.js';

interface IndexFlags extends RefFlags {
  push?: boolean;
  sociVersion: string;
  span?: string;
  minLayerSize?: string;
  tag?: string;
  json?: boolean;
}

/** Registers `index`. */
export function register(program: Command): void {
  addRefOptions(
    program
      .command('index')
      .description(
        'build SOCI zTOCs and a SOCI index for the gzip and tar layers (lazy reads without a pass on every machine); --push publishes them',
      )
      .argument('<ref>', 'image reference')
      .option('--push', 'push the zTOCs and the SOCI index to the image repository')
      .addOption(
        new Option(
          '--soci-version <v>',
          'SOCI index manifest version: 1 (a referrer of the image) or 2 (a new image under the tag)',
        )
          .choices(['1', '2'])
          .default('1'),
      )
      .option('--span <size>', 'uncompressed bytes between checkpoints (default 4M, as soci)')
      .option('--min-layer-size <size>', 'skip smaller layers (default 10M, as soci)')
      .option('--tag <tag>', 'with --soci-version 2: the tag of the SOCI-enabled image (default: the tag of REF)')
      .option('--json', 'print JSON'),
    false,
  ).action(async (ref: string, flags: IndexFlags) => {
    const version = flags.sociVersion === '2' ? 2 : 1;
    if (flags.tag !== undefined && version !== 2)
      throw new InvalidOptionError('--tag', 'names the tag of a SOCI v2 image: use it with --soci-version 2');
    const settings = sociBuildSettings({
      ...(flags.span !== undefined ? { spanSize: parseSize(flags.span, '--span') } : {}),
      ...(flags.minLayerSize !== undefined ? { minLayerSize: parseSize(flags.minLayerSize, '--min-layer-size') } : {}),
    });
    const buildTool = `ocifs v${packageVersion()}`;
    await withImage(
      ref,
      flags,
      async ({ image, signal }) => {
        if (image.kind !== 'registry')
          throw new InvalidOptionError('REF', 'ocifs index works on an image in a registry');
        const total = image.layers.reduce((n, l) => n + (l.size >= settings.minLayerSize ? l.size : 0), 0);
        const done = new Map<number, number>();
        const bar = flags.json ? undefined : startProgress({ label: 'index', total, bytes: true });
        let layers: LayerZtoc[];
        try {
          layers = await buildZtocs(image, {
            ...settings,
            buildTool,
            signal,
            onProgress: (layer, d) => {
              done.set(layer, d);
              bar?.update([...done.values()].reduce((a, b) => a + b, 0));
            },
          });
        } finally {
          bar?.stop();
        }
        const ztocs = layers.flatMap((l) => (l.ztoc ? [l.ztoc] : []));
        if (ztocs.length === 0) {
          throw new InvalidOptionError(
            '--min-layer-size',
            `no layer of ${image.name} can be indexed (${layers.map((l) => `layer ${l.layer.index}: ${l.skipped}`).join('; ')})`,
          );
        }
        const resolved = image.resolved!;
        const subject = {
          mediaType: resolved.mediaType,
          digest: resolved.manifestDigest,
          size: resolved.manifestBytes.byteLength,
        };
        const built = sociIndexManifest(version, ztocs, buildTool, subject);
        const pushed = flags.push
          ? await pushSociIndex(image, ztocs, {
              version,
              buildTool,
              signal,
              ...(flags.tag !== undefined ? { tag: flags.tag } : {}),
            })
          : undefined;
        const index = pushed?.index ?? built;
        if (flags.json) {
          process.stdout.write(
            JSON.stringify(
              report(image.name, resolved.manifestDigest, version, settings.spanSize, layers, index, pushed),
              null,
              2,
            ) + '\n',
          );
          return;
        }
        for (const l of layers) process.stdout.write(`${layerLine(l)}\n`);
        const zsize = ztocs.reduce((n, z) => n + z.size, 0);
        const lsize = ztocs.reduce((n, z) => n + layers.find((l) => l.ztoc === z)!.layer.size, 0);
        process.stdout.write(
          `SOCI index v${version} ${index.digest}: ${ztocs.length} zTOC${ztocs.length === 1 ? '' : 's'}, ${formatSize(zsize)} for ${formatSize(lsize)} of layers (${percent(zsize, lsize)})\n`,
        );
        if (pushed) process.stdout.write(`${pushedLine(image.name, pushed)}\n`);
        else process.stdout.write('not pushed (use --push to publish it)\n');
      },
      version === 2 && flags.push ? { config: true } : {},
    );
  });
}

function percent(a: number, b: number): string {
  return `${((100 * a) / Math.max(1, b)).toFixed(2)}%`;
}

function layerLine(l: LayerZtoc): string {
  const head = `layer ${l.layer.index} ${l.layer.digest} (${formatSize(l.layer.size)})`;
  if (!l.ztoc) return `${head}: skipped, ${l.skipped}`;
  const z = l.ztoc;
  return `${head}: ${z.algorithm === 'gzip' ? 'gzip' : 'tar'}, ${z.entries} entries, ${z.spans} span${z.spans === 1 ? '' : 's'}, zTOC ${z.digest} ${formatSize(z.size)} (${percent(z.size, l.layer.size)})`;
}

function pushedLine(name: string, p: PushedSociIndex): string {
  if (p.imageIndex)
    return `pushed SOCI-enabled image ${name.replace(/[:@][^/]*$/, '')}:${p.tag} → ${p.imageIndex.digest} (image manifest ${p.imageManifest!.digest})`;
  return p.via === 'api'
    ? 'pushed as a referrer of the image manifest (referrers API)'
    : `pushed as a referrer of the image manifest (referrers tag ${p.tag})`;
}

function report(
  name: string,
  manifestDigest: string,
  version: 1 | 2,
  spanSize: number,
  layers: LayerZtoc[],
  index: { digest: string; size: number },
  pushed: PushedSociIndex | undefined,
) {
  const z = (t: BuiltZtoc) => ({
    digest: t.digest,
    size: t.size,
    spans: t.spans,
    entries: t.entries,
    algorithm: t.algorithm,
  });
  return {
    image: name,
    manifestDigest,
    sociVersion: version,
    spanSize,
    layers: layers.map((l) => ({
      index: l.layer.index,
      digest: l.layer.digest,
      mediaType: l.layer.mediaType,
      size: l.layer.size,
      ...(l.ztoc ? { ztoc: z(l.ztoc) } : { skipped: l.skipped }),
    })),
    index: { digest: index.digest, size: index.size },
    ...(pushed
      ? {
          pushed: {
            ...(pushed.via ? { via: pushed.via } : {}),
            ...(pushed.tag ? { tag: pushed.tag } : {}),
            ...(pushed.imageIndex
              ? { imageIndex: pushed.imageIndex.digest, imageManifest: pushed.imageManifest!.digest }
              : {}),
          },
        }
      : {}),
  };
}
