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
