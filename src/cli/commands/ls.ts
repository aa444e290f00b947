/**
 * `ocifs ls REF [PATH] [-l] [-R] [--json]`: list a directory of the image like `ls`.
 * `-l` shows mode, links, owner, group, size, mtime and symlink targets; `--json` prints one
 * JSON object per entry (JSON Lines), so huge trees stream.
 */
import type { Command } from 'commander';
import type { DirEntry, FileSystem, Inode } from '../../vfs/types.js';
import { resolveEntry, joinPath } from '../../vfs/path.js';
import { addRefOptions, selectorOf, type RefFlags } from '../ref-options.js';
import { withImage } from '../session.js';
import { alignRows, longColumns, fullTime } from '../format-inode.js';

interface LsFlags extends RefFlags {
  long?: boolean;
  recursive?: boolean;
  json?: boolean;
}

/** Byte-wise name order, as `LC_ALL=C ls` sorts. */
export function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** The JSON form of an entry. */
export function entryJson(path: string, inode: Inode, target?: string): Record<string, unknown> {
  return {
    path,
    type: inode.type,
    mode: inode.mode & 0o7777,
    uid: inode.uid,
    gid: inode.gid,
    size: inode.size,
    mtime: fullTime(inode.mtimeSec, inode.mtimeNsec),
    nlink: inode.nlink,
    ino: inode.ino,
    ...(inode.type === 'chardev' || inode.type === 'blockdev' ? { rdev: inode.rdev } : {}),
    ...(target !== undefined ? { target } : {}),
  };
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

  private async describe(path: string, inode: Inode): Promise<{ row: string[]; json: Record<string, unknown> }> {
    const target = inode.type === 'symlink' && (this.flags.long || this.flags.json) ? await this.fs.readlink(inode.ino, { signal: this.signal }) : undefined;
    const name = path === '/' ? '/' : path.slice(path.lastIndexOf('/') + 1);
    const shown = target !== undefined ? `${name} -> ${target}` : name;
    return { row: this.flags.long ? [...longColumns(inode), shown] : [shown], json: entryJson(path, inode, target) };
  }

  private async entries(dirIno: number): Promise<DirEntry[]> {
    const list: DirEntry[] = [];
    for await (const e of this.fs.readdir(dirIno, { signal: this.signal })) list.push(e);
    return list.sort(byName);
  }

  /** Lists one directory; returns its subdirectories (for -R). */
  async listDir(path: string, dirIno: number): Promise<{ path: string; ino: number }[]> {
    const entries = await this.entries(dirIno);
    const described = await Promise.all(
      entries.map(async (e) => {
        const p = joinPath(path, e.name);
        const inode = this.flags.long || this.flags.json ? await this.fs.getattr(e.ino, { signal: this.signal }) : undefined;
        return inode ? this.describe(p, inode) : { row: [e.name], json: {} };
      }),
    );
    if (this.flags.json) {
      for (const d of described) this.out(JSON.stringify(d.json) + '\n');
    } else if (described.length) {
      this.out(alignRows(described.map((d) => d.row), new Set([1, 4])).join('\n') + '\n');
    }
    return entries.filter((e) => e.type === 'dir').map((e) => ({ path: joinPath(path, e.name), ino: e.ino }));
  }

  async run(path: string): Promise<void> {
    const { inode, path: canonical } = await resolveEntry(this.fs, path, { followFinal: !this.flags.long, signal: this.signal });
    const start = inode;
    if (start.type !== 'dir') {
      const d = await this.describe(canonical, start);
      this.out(this.flags.json ? JSON.stringify(d.json) + '\n' : alignRows([d.row], new Set([1, 4])).join('\n') + '\n');
      return;
    }
    if (!this.flags.recursive) {
      await this.listDir(canonical, start.ino);
      return;
    }
    // Depth first in name order, like `ls -R`; only the pending siblings are kept in memory.
    const stack = [{ path: canonical, ino: start.ino }];
    let first = true;
    while (stack.length) {
      const dir = stack.pop()!;
      if (!this.flags.json) this.out(`${first ? '' : '\n'}${dir.path}:\n`);
      first = false;
      const subdirs = await this.listDir(dir.path, dir.ino);
      for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]);
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
