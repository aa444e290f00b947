// Runs the built `ocifs` command line (dist/, as `npm test` builds it) with the mount commands
// registered, whether or not the lead's program.ts registers them yet:
// `node test/helpers/mount-cli.ts mount …` (under tsx).
import { CommanderError, type Command } from 'commander';

const dist = new URL('../../dist/src/cli/', import.meta.url).href;
const { buildProgram } = (await import(`${dist}program.js`)) as { buildProgram: () => Command };
const { exitCodeOf, printError, EXIT_USAGE } = (await import(`${dist}fail.js`)) as {
  exitCodeOf: (e: unknown) => number;
  printError: (e: unknown, debug: boolean) => void;
  EXIT_USAGE: number;
};
const mount = (await import(`${dist}commands/mount.js`)) as { register(p: Command): void };

const program = buildProgram();
if (!program.commands.some((c) => c.name() === 'mount')) {
  mount.register(program);
  for (const cmd of program.commands) cmd.exitOverride();
}
try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
  else {
    printError(err, process.argv.includes('--debug'));
    process.exitCode = exitCodeOf(err);
  }
}
