/**
 * `ocifs stat REF PATH [--json]`: inode metadata — type, mode, owner, size, times, links,
 * xattrs, and what the format adds (EROFS: inode version, data layout, blocks).
 */
import type { Command } from 'commander';
import { resolveEntry } from '../../vfs/path.js';
import { addRefOptions, selectorOf, type RefFlags } from '../ref-options.js';
import { withImage } from '../session.js';
import { inodeJson } from '../format-inode.js';

/** An xattr value as text when it is printable UTF-8, else as `0x…` hex. */
export function xattrText(value: Uint8Array): string {
  const text = Buffer.from(value).toString('utf8');
  const printable = /^[\x20-\x7e\u00a0-\uffff]*$/.test(text) && !text.includes('\ufffd');
  return printable ? JSON.stringify(text) : `0x${Buffer.from(value).toString('hex')}`;
}

/** Registers `stat`. */
export function register(program: Command): void {
  addRefOptions(
    program
      .command('stat')
      .description('show inode metadata of a path in the image')
      .argument('<ref>', 'image reference or local image file')
      .argument('<path>', 'path inside the image')
      .option('-L, --dereference', 'follow a symlink in the last component')
      .option('--json', 'print JSON'),
  ).action(async (ref: string, path: string, flags: RefFlags & { json?: boolean; dereference?: boolean }) => {
    await withImage(ref, flags, async ({ image, signal }) => {
      const fs = await image.openFileSystem(selectorOf(flags));
      const { inode, path: canonical } = await resolveEntry(fs, path, { followFinal: !!flags.dereference, signal });
      const [xattrs, target, details] = await Promise.all([
        fs.listxattr(inode.ino, { signal }),
        inode.type === 'symlink' ? fs.readlink(inode.ino, { signal }) : Promise.resolve(undefined),
        fs.inodeDetails ? fs.inodeDetails(inode.ino, { signal }) : Promise.resolve({}),
      ]);
      const doc = {
        ...inodeJson(canonical, inode, target),
        xattrs: Object.fromEntries([...xattrs].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, xattrText(v)])),
        ...details,
      };
      if (flags.json) {
        process.stdout.write(JSON.stringify(doc, null, 2) + '\n');
        return;
      }
      const rows: [string, string][] = [
        ['path', `${doc.path}${target !== undefined ? ` -> ${target}` : ''}`],
        ['type', doc.type],
        ['mode', `${doc.mode} (${doc.modeString})`],
        ['owner', `uid ${doc.uid}, gid ${doc.gid}`],
        ['size', String(doc.size)],
        ['mtime', doc.mtime],
        ['links', String(doc.nlink)],
        ['inode', String(doc.ino)],
      ];
      if ('rdev' in doc) rows.push(['device', String(doc.rdev)]);
      for (const [k, v] of Object.entries(details)) {
        rows.push([k, typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)]);
      }
      for (const [k, v] of Object.entries(doc.xattrs)) rows.push(['xattr', `${k}=${v}`]);
      const width = Math.max(...rows.map(([k]) => k.length));
      const lines = rows.map(([k, v]) => `${k.padStart(width)}: ${v}`);
      process.stdout.write(lines.join('\n') + '\n');
    });
  });
}
