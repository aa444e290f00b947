/**
 * The `ocifs` command line: thin commands over the public API.
 */
import { Command, CommanderError } from 'commander';
import { createRequire } from 'node:module';
import { exitCodeOf, printError, EXIT_USAGE } from './fail.js';
import * as inspect from './commands/inspect.js';
import * as blob from './commands/blob.js';
import * as prefetch from './commands/prefetch.js';
import * as cache from './commands/cache.js';
import * as ls from './commands/ls.js';
import * as cat from './commands/cat.js';
import * as stat from './commands/stat.js';
import * as extract from './commands/extract.js';
import * as info from './commands/info.js';
import * as serveLayout from './commands/serve-layout.js';
import * as demo from './commands/demo.js';
import * as mount from './commands/mount.js';

const { version } = createRequire(import.meta.url)('../../../package.json') as { version: string };

/** Builds the program with every command registered. */
export function buildProgram(): Command {
  const program = new Command('ocifs')
    .description('Read container images in OCI registries on demand: list, read, extract or mount their files, fetching only the bytes needed.')
    .version(version)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const mod of [inspect, blob, prefetch, ls, cat, stat, extract, info, mount, cache, serveLayout, demo]) mod.register(program);
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

/** Runs the CLI with `argv` (as process.argv) and returns the exit code. */
export async function main(argv: string[] = process.argv): Promise<number> {
  const debug = argv.includes('--debug');
  // `ocifs cat … | head` closes the pipe early: that is success, not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  try {
    await buildProgram().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander already printed its message (or the help/version).
      return err.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    printError(err, debug);
    return exitCodeOf(err);
  }
}
