/**
 * `ocifs demo`: the offline demo. Serves the bundled sample image from the built-in registry on
 * 127.0.0.1, then lists a directory, prints a file, and shows how few bytes that fetched.
 */
import type { Command } from 'commander';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveLayout } from '../../serve/layout-registry.js';
import { openImage } from '../../image/index.js';
import { IoStats } from '../../io/io-stats.js';
import { resolvePath } from '../../vfs/path.js';
import type { FileSystem } from '../../vfs/types.js';
import { alignRows, longColumns } from '../format-inode.js';
import { byName } from './ls.js';
import { formatSize } from '../size.js';
import { packageRoot } from '../package-root.js';

/** The bundled sample layout (in the package root). */
export const SAMPLE_LAYOUT = join(packageRoot() ?? '.', 'sample', 'layout');

async function listLong(fs: FileSystem, path: string): Promise<string> {
  const dir = await resolvePath(fs, path);
  const rows: string[][] = [];
  const entries = [];
  for await (const e of fs.readdir(dir.ino)) entries.push(e);
  for (const e of entries.sort(byName)) {
    const inode = await fs.getattr(e.ino);
    const name = inode.type === 'symlink' ? `${e.name} -> ${await fs.readlink(e.ino)}` : e.name;
    rows.push([...longColumns(inode), name]);
  }
  return alignRows(rows, new Set([1, 4])).join('\n');
}

/** Registers `demo`. */
export function register(program: Command): void {
  program
    .command('demo')
    .description('offline demo: serve the bundled sample image locally, list and read it, show the bytes fetched')
    .option('--layout <dir>', 'OCI layout to serve instead of the bundled sample', SAMPLE_LAYOUT)
    .action(async (flags: { layout: string }) => {
      const say = (s: string) => process.stdout.write(s + '\n');
      const reg = await serveLayout(flags.layout);
      const cacheDir = await mkdtemp(join(tmpdir(), 'ocifs-demo-'));
      const stats = new IoStats();
      const ref = `${reg.hostPort}/ocifs/sample:latest`;
      try {
        say(`Serving the bundled sample image at ${reg.hostPort} (built-in registry, loopback only).`);
        say(`Cache: ${cacheDir} (fresh, so everything below is a cold read)\n`);
        const image = await openImage(ref, { cacheDir, stats });
        try {
          const layer = image.layers[0];
          say(`$ ocifs inspect ${ref}`);
          say(
            `  digest ${image.resolved!.manifestDigest}, ${image.layers.length} layer: ${layer.mediaType}, ${formatSize(layer.size)}\n`,
          );
          const fs = await image.openFileSystem();
          say(`$ ocifs ls -l ${ref} /usr/bin`);
          say(await listLong(fs, '/usr/bin'));
          const path = '/usr/bin/README';
          say(`\n$ ocifs cat ${ref} ${path}    # a symlink, followed inside the image`);
          const inode = await resolvePath(fs, path);
          const file = await fs.openFile(inode.ino);
          process.stdout.write(Buffer.from(await file.read(0, file.size)).toString('utf8'));
          const total = image.layers.reduce((n, l) => n + l.size, 0);
          say(
            `\nFetched ${formatSize(stats.bytesFetched)} in ${stats.requests} requests for an image of ${formatSize(total)} ` +
              `(${((stats.bytesFetched / total) * 100).toFixed(1)}%, manifest and config included).`,
          );
          say(
            `What was fetched is in the on-disk cache (a temporary one for the demo): reading it again fetches nothing,`,
          );
          say(`and the layer is checked against its digest once the cache holds all of it.`);
        } finally {
          await image.close();
        }
      } finally {
        await reg.close();
        await rm(cacheDir, { recursive: true, force: true });
      }
    });
}
