/**
 * `ocifs serve-layout DIR [--port P] [--host H] [--writable]`: a registry over an OCI image
 * layout, read-only unless `--writable`.
 */
import type { Command } from 'commander';
import { once } from 'node:events';
import { InvalidOptionError } from '../../errors.js';
import { serveLayout, DEFAULT_SERVE_HOST } from '../../serve/layout-registry.js';

/** Registers `serve-layout`. */
export function register(program: Command): void {
  program
    .command('serve-layout')
    .description(
      'serve an OCI image layout directory as a registry (GET/HEAD of manifests and blobs, Range, referrers; pushes with --writable)',
    )
    .argument('<dir>', 'OCI image layout directory (with oci-layout and index.json)')
    .option('--port <port>', 'TCP port (default: a free one)', '0')
    .option('--host <address>', 'address to listen on', DEFAULT_SERVE_HOST)
    .option('--writable', 'accept pushes into the layout (blob uploads, manifests, tags)')
    .action(async (dir: string, flags: { port: string; host: string; writable?: boolean }) => {
      const port = Number(flags.port);
      if (!/^\d+$/.test(flags.port) || port > 65535)
        throw new InvalidOptionError('--port', `"${flags.port}" is not a TCP port`);
      const reg = await serveLayout(dir, { port, host: flags.host, ...(flags.writable ? { writable: true } : {}) });
      process.stdout.write(
        `serving ${dir} at http://${reg.hostPort}/v2/ — e.g. ocifs ls ${reg.hostPort}/image:TAG /\n`,
      );
      await Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]);
      await reg.close();
    });
}
