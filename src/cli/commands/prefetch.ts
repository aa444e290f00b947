/**
 * `ocifs prefetch REF [--layer N | --digest D]`: fill the cache with whole blobs (all layers
 * by default), with a progress bar.
 */
import type { Command } from 'commander';
import type { ImageBlob } from '../../image/index.js';
import { addRefOptions, selectorOf, type RefFlags } from '../ref-options.js';
import { withImage } from '../session.js';
import { startProgress } from '../progress.js';
import { formatSize } from '../size.js';

/** Registers `prefetch`. */
export function register(program: Command): void {
  addRefOptions(
    program
      .command('prefetch')
      .description('download whole blobs into the cache (all layers unless --layer/--digest), with a progress bar')
      .argument('<ref>', 'image reference'),
  ).action(async (ref: string, flags: RefFlags) => {
    const selector = selectorOf(flags);
    await withImage(ref, flags, async ({ image, signal }) => {
      const infos = selector ? [image.select(selector)] : image.layers;
      const blobs: ImageBlob[] = [];
      for (const info of infos)
        blobs.push(await image.openBlob(info.index >= 0 ? { layer: info.index } : { digest: info.digest }));
      const total = blobs.reduce((n, b) => n + b.size, 0);
      const done = blobs.map((b) => b.presentBytes);
      const bar = startProgress({ label: 'prefetch', total, bytes: true });
      const sum = () => done.reduce((a, b) => a + b, 0);
      bar.update(sum());
      try {
        // Blobs one after another: each fill already runs parallel range requests.
        for (const [i, blob] of blobs.entries()) {
          await blob.prefetch({
            signal,
            onProgress: (present) => {
              done[i] = present;
              bar.update(sum());
            },
          });
          done[i] = blob.size;
          bar.update(sum());
        }
      } finally {
        bar.stop();
      }
      process.stderr.write(
        `prefetched ${blobs.length} blob${blobs.length === 1 ? '' : 's'}, ${formatSize(total)}, all verified\n`,
      );
    });
  });
}
