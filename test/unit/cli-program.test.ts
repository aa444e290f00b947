// The command line loads command modules lazily: the table that maps a command name to its
// module must name every command and alias the modules register, or a command would be missing
// (or, for an unknown name, every module would load).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildProgram, commandNames, loadCommands } from '../../src/cli/program.js';

test('every registered top-level command and alias is in the lazy-loading table, and nothing else', async () => {
  await loadCommands(['node', 'ocifs', '--help']);
  const registered = buildProgram().commands.flatMap((c) => [c.name(), ...c.aliases()]);
  assert.deepEqual([...registered].sort(), [...commandNames()].sort());
});

test('--help lists every command with a one-line description and points at the README for examples', async () => {
  await loadCommands(['node', 'ocifs', '--help']);
  const program = buildProgram();
  let help = '';
  program.configureOutput({ writeOut: (s) => (help += s) });
  program.outputHelp();
  const lines = help.split('\n');
  for (const c of program.commands) {
    const line = lines.find(
      (l) => l.trimStart().startsWith(c.name() + ' ') || l.trimStart().startsWith(`${c.name()}|`),
    );
    assert.ok(line, `${c.name()} is listed`);
    assert.ok(c.description().length > 10 && !c.description().includes('\n'), `${c.name()}: ${c.description()}`);
    assert.ok(line.includes(c.description().slice(0, 20)), `${c.name()} is listed with its description: ${line}`);
  }
  assert.match(help, /Examples of every command are in the README: https:\/\/github\.com\/ocifs\/ocifs#readme/);
  assert.match(help, /installed with the package: .*README\.md/);
});
