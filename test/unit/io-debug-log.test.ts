// The debug channels decide like Node's util.debuglog (compared with it, in child processes
// started with each NODE_DEBUG), but read NODE_DEBUG at first use, not at start-up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { channelEnabled, debuglog } from '../../src/io/debug-log.js';

const CHANNELS = ['ocifs:cache', 'ocifs:tar', 'ocifs', 'ocifs:cache:x', 'other'];
const SPECS = ['ocifs:*', 'OCIFS:CACHE', 'ocifs:cache,ocifs:tar', 'ocifs*', '*', 'ocifs:ca?he', 'other,ocifs', 'foo'];
SPECS.push('');

test('a NODE_DEBUG value names the same channels as for util.debuglog', () => {
  const enabled = `${JSON.stringify(CHANNELS)}.map((c) => u.debuglog(c).enabled)`;
  const script = `const u = require('node:util'); console.log(JSON.stringify(${enabled}));`;
  for (const spec of SPECS) {
    const env = { ...process.env, NODE_DEBUG: spec };
    const r = spawnSync(process.execPath, ['-e', script], { env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(
      CHANNELS.map((c) => channelEnabled(c, spec)),
      JSON.parse(r.stdout),
      spec,
    );
  }
});

test("a channel reads NODE_DEBUG when first used, and prints util.debuglog's line", () => {
  const script = `
    import { debuglog } from ${JSON.stringify(new URL('../../src/io/debug-log.ts', import.meta.url).href)};
    const log = debuglog('ocifs:test');
    process.env.NODE_DEBUG = 'ocifs:*';
    log('%s=%d', 'x', 42);`;
  const args = ['--import', 'tsx', '--input-type=module', '-e', script];
  const r = spawnSync(process.execPath, args, { env: { ...process.env, NODE_DEBUG: '' }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, `OCIFS:TEST ${r.pid}: x=42\n`);
  assert.equal(typeof debuglog('ocifs:unit').enabled, 'boolean');
});
