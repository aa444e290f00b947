// The README's main-job command: `ocifs demo` serves the bundled sample image from the built-in
// registry on 127.0.0.1 (no network), lists a directory, cats a file through a symlink and says
// how little it fetched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ocifsOk } from '../helpers/cli.js';

test('ocifs demo lists, cats and fetches a small fraction of the sample image, offline', async () => {
  const r = await ocifsOk(['demo']);
  const out = r.stdout.toString();
  assert.match(out, /\$ ocifs ls -l \S+ \/usr\/bin\n/);
  assert.match(out, /\$ ocifs cat \S+ \/usr\/bin\/README/);
  assert.match(out, /This EROFS image is bundled with ocifs for its offline demo/);
  const m = /Fetched ([\d.]+) KiB in (\d+) requests for an image of ([\d.]+) MiB \(([\d.]+)%/.exec(out);
  assert.ok(m, out);
  assert.ok(Number(m[4]) < 5, `fetched ${m[4]}% of the image`);
  assert.ok(Number(m[2]) <= 6, `${m[2]} requests`);
});
