/**
 * The `ocifs` command line: thin commands over the public API.
 *
 * Command modules are loaded on demand: each pulls in a share of the library (the registry
 * client, the cache, the format readers, FUSE …), and loading all of them costs more than many
 * commands take to run. A run loads only the module of the command it names, or all of them
 * when it names none or one that is unknown (help, usage errors); see {@link loadCommands}.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { exitCodeOf, printError, UsageError, EXIT_USAGE } from './fail.js';
import { packageRoot, packageVersion } from './package-root.js';
import { setUpDebug } from './debug.js';

const version = packageVersion();

interface CommandModule {
  register(program: Command): void;
}

/** Every command module, in help order, with the top-level command names it registers. */
const COMMANDS: { names: string[]; load: () => Promise<CommandModule> }[] = [
  { names: ['inspect'], load: () => import('./commands/inspect.js') },
  { names: ['blob'], load: () => import('./commands/blob.js') },
  { names: ['prefetch'], load: () => import('./commands/prefetch.js') },
  { names: ['ls'], load: () => import('./commands/ls.js') },
  { names: ['cat'], load: () => import('./commands/cat.js') },
  { names: ['stat'], load: () => import('./commands/stat.js') },
  { names: ['extract'], load: () => import('./commands/extract.js') },
  { names: ['info'], load: () => import('./commands/info.js') },
  { names: ['index'], load: () => import('./commands/index-cmd.js') },
  { names: ['mount', 'umount', 'unmount', 'mounts'], load: () => import('./commands/mount.js') },
  { names: ['cache'], load: () => import('./commands/cache.js') },
  { names: ['convert'], load: () => import('./commands/convert.js') },
  { names: ['store'], load: () => import('./commands/store.js') },
  { names: ['serve-layout'], load: () => import('./commands/serve-layout.js') },
  { names: ['web'], load: () => import('./commands/web.js') },
  { names: ['snapshotter'], load: () => import('./commands/snapshotter.js') },
  { names: ['demo'], load: () => import('./commands/demo.js') },
];

/** The top-level command names (and aliases) the lazy loader knows, in help order. */
export function commandNames(): string[] {
  return COMMANDS.flatMap((c) => c.names);
}

/** Modules loaded so far, by their index in {@link COMMANDS}. */
const loaded = new Map<number, CommandModule>();

/**
 * Loads the command modules `argv` (as process.argv) needs: the one naming its first operand
 * (the program itself takes no option with a value, so that is the command), none for a bare
 * `--version`, or every module when there is no command or it is unknown, so help and
 * "unknown command" list them all.
 */
export async function loadCommands(argv: string[] = process.argv): Promise<void> {
  const args = argv.slice(2);
  const name = args.find((a) => !a.startsWith('-'));
  // `ocifs --version` needs no command at all.
  if (name === undefined && (args.includes('--version') || args.includes('-V'))) return;
  const i = name === undefined ? -1 : COMMANDS.findIndex((c) => c.names.includes(name));
  const wanted = i >= 0 ? [i] : COMMANDS.map((_, j) => j);
  const mods = await Promise.all(wanted.map(async (j) => loaded.get(j) ?? (await COMMANDS[j].load())));
  wanted.forEach((j, k) => loaded.set(j, mods[k]));
}

// What this process's own command line needs, so that the synchronous buildProgram() is
// complete for it (test helpers build the program themselves).
await loadCommands();

/** The project's home page, where the README is. */
export const HOMEPAGE = 'https://github.com/ocifs/ocifs';

/** The help's last lines: where the examples are (the README, installed with the package). */
function helpFooter(): string {
  const root = packageRoot();
  const readme = root === undefined ? undefined : join(root, 'README.md');
  const local = readme !== undefined && existsSync(readme) ? `\n(installed with the package: ${readme})` : '';
  const examples = `Examples of every command are in the README: ${HOMEPAGE}#readme${local}`;
  return `\nRun 'ocifs help COMMAND' for the options of a command.\n${examples}`;
}

/** Builds the program with every loaded command registered (see {@link loadCommands}). */
export function buildProgram(): Command {
  const program = new Command('ocifs')
    .description(
      'Read container images in OCI registries on demand: list, read, extract or mount their files, ' +
        'fetching only the bytes needed.',
    )
    .version(version)
    // Usage errors are printed by main() like every other error: one `ocifs: …` line.
    .configureOutput({ outputError: () => {} })
    .addHelpText('after', helpFooter)
    .exitOverride();
  for (let j = 0; j < COMMANDS.length; j++) loaded.get(j)?.register(program);
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

/** Codes of commander's exits that print help or the version rather than report an error. */
const HELP_CODES = new Set(['commander.help', 'commander.helpDisplayed', 'commander.version']);

/**
 * Commander's usage error as ours: its text on one line, without commander's `error: `, with a
 * hint where to look (`error: unknown command 'lss'\n(Did you mean ls?)` →
 * `unknown command 'lss' (Did you mean ls?) (run with --help for usage)`).
 */
function usageErrorOf(err: CommanderError): UsageError {
  const text = err.message
    .replace(/^error: /, '')
    .replace(/\s*\n\s*/g, ' ')
    .trim();
  return new UsageError(`${text} (run with --help for usage)`);
}

/** Runs the CLI with `argv` (as process.argv) and returns the exit code. */
export async function main(argv: string[] = process.argv): Promise<number> {
  const debug = setUpDebug(argv);
  // `ocifs cat … | head` closes the pipe early: that is success, not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  try {
    await loadCommands(argv);
    await buildProgram().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (caught) {
    // Help or the version is already printed; a usage error is not (see buildProgram).
    if (caught instanceof CommanderError && HELP_CODES.has(caught.code)) return caught.exitCode === 0 ? 0 : EXIT_USAGE;
    const err = caught instanceof CommanderError ? usageErrorOf(caught) : caught;
    printError(err, debug);
    return exitCodeOf(err);
  }
}
