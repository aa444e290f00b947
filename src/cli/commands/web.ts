/**
 * `ocifs web [REF] [--port P] [--host H] [--open]`: a local web page to browse images lazily
 * (layers, files, contents, sizes, history, diffs), served until Ctrl-C.
 */
import type { Command } from 'commander';
import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidOptionError, NotFoundError } from '../../errors.js';
import { isLocalImagePath, localImagePath } from '../../image/index.js';
import { parseReference } from '../../ref/index.js';
import { startWebServer, imagePath, DEFAULT_WEB_HOST } from '../../web/index.js';
import { UsageError } from '../fail.js';
import { packageRoot } from '../package-root.js';
import { addRefOptions, imageOptionsOf, type RefFlags } from '../ref-options.js';
import { interruptSignal, printStats } from '../session.js';

interface WebFlags extends RefFlags {
  port: string;
  host: string;
  open?: boolean;
}

/** Checks REF before the server starts: a malformed reference is a usage error, a missing file an error. */
async function checkRef(ref: string): Promise<void> {
  if (!isLocalImagePath(ref)) {
    parseReference(ref);
    return;
  }
  const path = localImagePath(ref);
  const st = await stat(path).catch(() => undefined);
  if (!st?.isFile()) throw new NotFoundError(path, { reason: 'no such file', data: { path } });
}

/** Opens the URL in the desktop's browser; a failure is only reported. */
function openBrowser(url: string): void {
  const child = spawn('xdg-open', [url], { detached: true, stdio: 'ignore' });
  child.on('error', (err) =>
    process.stderr.write(`ocifs: could not open a browser (${err.message}); open the URL above yourself\n`),
  );
  child.unref();
}

/** Registers `web`. */
export function register(program: Command): void {
  addRefOptions(
    program
      .command('web')
      .description('browse images in a local web page, lazily: layers, files, contents, sizes, history, diffs')
      .argument('[ref]', 'image reference (or local image file) to show first')
      .option('--port <port>', 'TCP port (default: a free one)', '0')
      .option('--host <address>', 'address to listen on (loopback unless given)', DEFAULT_WEB_HOST)
      .option('--open', 'open the page in the desktop browser (xdg-open)'),
    false,
  ).action(async (ref: string | undefined, flags: WebFlags) => {
    const started = performance.now();
    if (!/^\d{1,5}$/.test(flags.port) || Number(flags.port) > 65535)
      throw new InvalidOptionError('--port', `"${flags.port}" is not a TCP port`);
    if (ref !== undefined) await checkRef(ref);
    if (ref === undefined && flags.username !== undefined)
      throw new UsageError('--username needs a REF: credentials go to its registry only');
    const image = await imageOptionsOf(flags, {}, ref);
    if (ref === undefined) {
      // Without a REF, OCIFS_USERNAME/OCIFS_PASSWORD name no registry: never send them anywhere.
      const { OCIFS_USERNAME: _u, OCIFS_PASSWORD: _p, ...env } = process.env;
      image.registry = { ...image.registry, env };
    }
    const root = packageRoot();
    const server = await startWebServer({
      port: Number(flags.port),
      host: flags.host,
      image,
      ...(ref !== undefined && isLocalImagePath(ref) ? { localFile: ref } : {}),
      ...(root ? { assetsDir: join(root, 'dist', 'web') } : {}),
    });
    const interrupt = interruptSignal();
    try {
      const url = ref === undefined ? server.url : `${server.origin}${imagePath(ref)}?token=${server.token}`;
      process.stdout.write(`${url}\n`);
      process.stderr.write('ocifs web: serving until Ctrl-C\n');
      if (flags.open) openBrowser(url);
      await new Promise<void>((resolve) => interrupt.signal.addEventListener('abort', () => resolve(), { once: true }));
    } finally {
      interrupt.dispose();
      await server.close();
      if (flags.stats) printStats(server.stats, started);
    }
  });
}
