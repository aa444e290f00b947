/**
 * `ocifs blob REF (--layer N | --digest D) [--range START-END] [-o FILE]`: the bytes of one
 * blob, fetched on demand through the cache.
 */
import type { Command } from 'commander';
import { pipeline } from 'node:stream/promises';
import { InvalidOptionError } from '../../errors.js';
import { addRefOptions, selectorOf, type RefFlags } from '../ref-options.js';
import { withImage } from '../session.js';
import { UsageError } from '../fail.js';

/** `START-END` (inclusive, like HTTP and curl), `START-` (to the end) or `-N` (last N bytes). */
export function parseByteRange(text: string, size: number): { start: number; length: number } {
  const m = /^(\d*)-(\d*)$/.exec(text.trim());
  const bad = (why: string) => new InvalidOptionError('--range', `"${text}": ${why}`);
  if (!m || (m[1] === '' && m[2] === '')) throw bad('expected START-END, START- or -COUNT (bytes, END inclusive)');
  if (m[1] === '') {
    const n = Math.min(Number(m[2]), size);
    return { start: size - n, length: n };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Number(m[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end)) throw bad('number too large');
  if (end < start) throw bad('END is before START');
  if (start >= size && size > 0) throw bad(`START is past the end of the blob (${size} bytes)`);
  return { start, length: Math.min(end, size - 1) - start + 1 };
}

/** Registers `blob`. */
export function register(program: Command): void {
  addRefOptions(
    program
      .command('blob')
      .description('write the bytes of one blob (a layer or the config), fetched on demand through the cache')
      .argument('<ref>', 'image reference or local image file')
      .option('--range <start-end>', 'only these bytes: START-END (inclusive), START- or -COUNT')
      .option('-o, --output <file>', 'write to a file instead of stdout'),
  ).action(async (ref: string, flags: RefFlags & { range?: string; output?: string }) => {
    const selector = selectorOf(flags);
    if (!selector) throw new UsageError('say which blob: --layer N or --digest sha256:…');
    await withImage(ref, flags, async ({ image, signal }) => {
      const blob = await image.openBlob(selector);
      const { start, length } = flags.range ? parseByteRange(flags.range, blob.size) : { start: 0, length: blob.size };
      // Both stream through the cache (one upstream request for a cold blob, no readahead past
      // the range); a file gets a verified blob copied from the cache's data file.
      if (flags.output) await blob.copyToFile(flags.output, { start, length, signal });
      else await pipeline(blob.readStream({ start, length, signal }), process.stdout, { end: false });
    });
  });
}
