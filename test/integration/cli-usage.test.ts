// How the command reports being called wrongly: commander's usage errors (unknown command or
// option, missing or extra arguments, a bad option value) come out like every other error, as
// one `ocifs: …` line on stderr with exit code 2; help and the version still print and exit 0.
// And --debug, which turns the debug channels on without starting the command again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ocifs } from '../helpers/cli.js';
import { runOk } from '../helpers/run.js';

const HINT = String.raw` \(run with --help for usage\)\n$`;
const USAGE: [string[], RegExp][] = [
  [['ls', '--nope', './x.erofs'], /^ocifs: unknown option '--nope' \(run with --help for usage\)\n$/],
  [['lss', './x.erofs'], /^ocifs: unknown command 'lss' \(Did you mean ls\?\) \(run with --help for usage\)\n$/],
  [['ls'], /^ocifs: missing required argument 'ref' \(run with --help for usage\)\n$/],
  [
    ['stat', './x.erofs', '/a', '/b'],
    new RegExp(String.raw`^ocifs: too many arguments for 'stat'\. Expected 2 arguments but got 3\.` + HINT),
  ],
  [['cache', 'rm', '--nope'], /^ocifs: unknown option '--nope' \(run with --help for usage\)\n$/],
  [
    ['ls', '--platform'],
    new RegExp(String.raw`^ocifs: option '--platform <os/arch\[/variant\]>' argument missing` + HINT),
  ],
];

for (const [args, want] of USAGE) {
  test(`ocifs ${args.join(' ')}: one ocifs: line, exit 2`, async () => {
    const r = await ocifs(args);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, want);
    assert.equal(r.stdout.length, 0);
  });
}

test('--help and --version still print and exit 0; no command prints help and exits 2', async () => {
  const help = await ocifs(['ls', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout.toString(), /^Usage: ocifs ls /);
  const version = await ocifs(['--version']);
  assert.equal(version.code, 0);
  assert.match(version.stdout.toString(), /^\d+\.\d+\.\d+/);
  const none = await ocifs([]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^Usage: ocifs /);
});

test('--debug switches the debug channels on in the same process (no second process started)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ocifs-debug-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'tree'));
  await writeFile(join(dir, 'tree', 'a'), 'hi\n');
  await runOk('tar', ['-czf', join(dir, 'x.tgz'), '-C', join(dir, 'tree'), 'a']);
  const env = { OCIFS_CACHE_DIR: join(dir, 'cache'), NODE_DEBUG: '' };
  const r = await ocifs(['ls', join(dir, 'x.tgz'), '/', '--debug'], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.toString(), 'a\n');
  // util.debuglog's line format, from this very process: its pid, not a re-run's.
  const pids = [...r.stderr.matchAll(/^OCIFS:GZIP (\d+): /gm)].map((m) => Number(m[1]));
  assert.ok(pids.length > 0, r.stderr);
  assert.deepEqual([...new Set(pids)], [r.pid]);
  const quiet = await ocifs(['ls', join(dir, 'x.tgz'), '/'], { env: { ...env, OCIFS_CACHE_DIR: join(dir, 'cache2') } });
  assert.equal(quiet.stderr, '');
});
