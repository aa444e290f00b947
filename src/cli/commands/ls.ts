/**
 * `ocifs ls REF [PATH] [-l] [-R] [--json]`: list a directory of the image like `ls`.
 * `-l` shows mode, links, owner, group, size, mtime and symlink targets; `--json` prints one
 * JSON object per entry (JSON Lines), so huge trees stream.
 */
import type { Command } from 'commander';
import type { DirEntry, FileSystem, Inode } from '../../vfs/types.js';
import { resolveEntry, joinPath } from '../../vfs/path.js';
import { walkDirectories } from '../../vfs/walk.js';
import { addRefOptions, selectorOf, type RefFlags } from '../ref-options.js';
import { withImage } from '../session.js';
import { alignRows, longColumns, inodeJson, type InodeJson } from '../format-inode.js';

interface LsFlags extends RefFlags {
  long?: boolean;
  recursive?: boolean;
  json?: boolean;
}

/** Byte-wise name order, as `LC_ALL=C ls` sorts. */
export function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Directories `ls -R` reads ahead of the one it prints. */
const LISTING_AHEAD = 16;

/** One entry's `ls -l` row and (with --long or --json) its JSON document. */
interface Described {
  row: string[];
  json?: InodeJson;
}

class Lister {
  constructor(
    private readonly fs: FileSystem,
    private readonly flags: LsFlags,
    private readonly signal: AbortSignal,
  ) {}

  private out(text: string): void {
    process.stdout.write(text);
  }

  private async describe(path: string, inode: Inode): Promise<Described> {
    const wantTarget = inode.type === 'symlink' && (this.flags.long || this.flags.json);
    const target = wantTarget ? await this.fs.readlink(inode.ino, { signal: this.signal }) : undefined;
    const name = path === '/' ? '/' : path.slice(path.lastIndexOf('/') + 1);
    const shown = target !== undefined ? `${name} -> ${target}` : name;
    return { row: this.flags.long ? [...longColumns(inode), shown] : [shown], json: inodeJson(path, inode, target) };
  }

  /** Read options of this listing: a recursive one walks the tree ({@link ReadOptions.scan}). */
  private get readOptions(): { signal: AbortSignal; scan?: boolean } {
    return this.flags.recursive ? { signal: this.signal, scan: true } : { signal: this.signal };
  }

  private async entries(dirIno: number): Promise<DirEntry[]> {
    const list: DirEntry[] = [];
    for await (const e of this.fs.readdir(dirIno, this.readOptions)) list.push(e);
    return list.sort(byName);
  }

  /** The rows of one directory's entries (getattr of each for -l and --json). */
  private describeAll(path: string, entries: DirEntry[]): Promise<Described[]> {
    return Promise.all(
      entries.map(async (e) => {
        const p = joinPath(path, e.name);
        const inode = this.flags.long || this.flags.json ? await this.fs.getattr(e.ino, this.readOptions) : undefined;
        return inode ? this.describe(p, inode) : { row: [e.name] };
      }),
    );
  }

  private print(described: Described[]): void {
    if (this.flags.json) {
      for (const d of described) this.out(JSON.stringify(d.json) + '\n');
    } else if (described.length) {
      this.out(
        alignRows(
          described.map((d) => d.row),
          new Set([1, 4]),
        ).join('\n') + '\n',
      );
    }
  }

  async run(path: string): Promise<void> {
    const resolveOptions = { followFinal: !this.flags.long, signal: this.signal };
    const { inode, path: canonical } = await resolveEntry(this.fs, path, resolveOptions);
    const start = inode;
    if (start.type !== 'dir') {
      const d = await this.describe(canonical, start);
      this.out(this.flags.json ? JSON.stringify(d.json) + '\n' : alignRows([d.row], new Set([1, 4])).join('\n') + '\n');
      return;
    }
    if (!this.flags.recursive) {
      this.print(await this.describeAll(canonical, await this.entries(start.ino)));
      return;
    }
    // Depth first in name order, like `ls -R`, through the one cycle-safe directory walk (a
    // hostile image whose directories contain their ancestors ends with an error, not a loop).
    let first = true;
    const walk = walkDirectories(
      this.fs,
      { path: canonical, ino: start.ino },
      {
        ...this.readOptions,
        ahead: LISTING_AHEAD,
        order: byName,
        describe: (p, entries) => this.describeAll(p, entries),
      },
    );
    for await (const dir of walk) {
      if (!this.flags.json) this.out(`${first ? '' : '\n'}${dir.path}:\n`);
      first = false;
      this.print(dir.data);
    }
  }
}

/** Registers `ls`. */
export function register(program: Command): void {
  addRefOptions(
    program
      .command('ls')
      .description('list a directory of the image (like ls)')
      .argument('<ref>', 'image reference or local image file')
      .argument('[path]', 'path inside the image', '/')
      .option('-l, --long', 'long listing: mode, links, owner, group, size, mtime, symlink targets')
      .option('-R, --recursive', 'list subdirectories recursively')
      .option('--json', 'one JSON object per entry (JSON Lines)'),
  ).action(async (ref: string, path: string, flags: LsFlags) => {
    await withImage(ref, flags, async ({ image, signal }) => {
      const fs = await image.openFileSystem(selectorOf(flags));
      await new Lister(fs, flags, signal).run(path);
    });
  });
}
