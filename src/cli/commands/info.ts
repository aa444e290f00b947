/**
 * `ocifs info REF [--json]`: what each layer is — for EROFS the superblock summary as
 * `dump.erofs -s` prints it (block size, features, inodes, compression, uuid, volume name).
 */
import type { Command } from 'commander';
import { addRefOptions, selectorOf, type RefFlags } from '../ref-options.js';
import { withImage } from '../session.js';
import type { LayerSummary } from '../../image/index.js';

/** Registers `info`. */
export function register(program: Command): void {
  addRefOptions(
    program
      .command('info')
      .description('describe the layers: format and filesystem summary (EROFS superblock like dump.erofs -s)')
      .argument('<ref>', 'image reference or local image file')
      .option('--json', 'print JSON'),
  ).action(async (ref: string, flags: RefFlags & { json?: boolean }) => {
    await withImage(ref, flags, async ({ image }) => {
      const selector = selectorOf(flags);
      const selected = selector ? [image.select(selector)] : image.layers;
      const summaries: LayerSummary[] = [];
      for (const l of selected) summaries.push(await image.layerSummary({ layer: l.index }));
      if (flags.json) {
        const docs = summaries.map((s) => ({
          layer: s.layer.index,
          digest: s.layer.digest || undefined,
          mediaType: s.layer.mediaType,
          size: s.layer.size,
          format: s.format,
          ...s.details,
        }));
        process.stdout.write(JSON.stringify(selector || docs.length === 1 ? docs[0] : docs, null, 2) + '\n');
        return;
      }
      const many = summaries.length > 1;
      for (const s of summaries) {
        if (many || s.layer.digest)
          process.stdout.write(
            `${many ? '\n' : ''}layer ${s.layer.index}${s.layer.digest ? ` ${s.layer.digest}` : ''} (${s.format}, ${s.layer.size} bytes)\n`,
          );
        process.stdout.write(s.text);
      }
    });
  });
}
