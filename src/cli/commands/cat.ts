/**
 * `ocifs cat REF PATH...`: file contents to stdout; symlinks are followed inside the image.
 */
import type { Command } from 'commander';
import { pipeline } from 'node:stream/promises';
import { resolveEntry } from '../../vfs/path.js';
import { IsADirectoryError } from '../../vfs/errors.js';
import { NotARegularFileError } from '../../errors.js';
import { readStream } from '../../io/read-stream.js';
import { addRefOptions, selectorOf, type RefFlags } from '../ref-options.js';
import { withImage } from '../session.js';

/** Registers `cat`. */
export function register(program: Command): void {
  addRefOptions(
    program
      .command('cat')
      .description('write files of the image to stdout (symlinks followed inside the image)')
      .argument('<ref>', 'image reference or local image file')
      .argument('<path...>', 'paths inside the image'),
  ).action(async (ref: string, paths: string[], flags: RefFlags) => {
    await withImage(ref, flags, async ({ image, signal }) => {
      const fs = await image.openFileSystem(selectorOf(flags));
      for (const path of paths) {
        const { inode } = await resolveEntry(fs, path, { signal });
        if (inode.type === 'dir') throw new IsADirectoryError(path);
        if (inode.type !== 'file') throw new NotARegularFileError(path);
        const source = await fs.openFile(inode.ino, { signal });
        await pipeline(readStream(source, { signal }), process.stdout, { end: false });
      }
    });
  });
}
