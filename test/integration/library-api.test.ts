// The library as a user imports it: `import … from 'ocifs'` and the entries of its parts
// (`ocifs/serve`, `ocifs/registry`: the package's own exports map, over dist/), used the way the
// README shows, against the built-in registry serving the bundled sample image.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { run } from '../helpers/run.js';

const ROOT = new URL('../../', import.meta.url).pathname;

/**
 * Runs `body` in a child process as an ES module importing `names` from 'ocifs', with `img`
 * (the sample image, opened through the built-in registry), `stats`, `dir` (a temp directory)
 * and `out` (an object) in scope; resolves with `out` as the child printed it.
 */
async function withSample(names: string[], body: string): Promise<Record<string, unknown>> {
  const script = `
    import { openImage, IoStats, ${names.join(', ')} } from 'ocifs';
    import { serveLayout } from 'ocifs/serve';
    import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
    import { tmpdir } from 'node:os';
    import { join } from 'node:path';
    const reg = await serveLayout('sample/layout');
    const dir = await mkdtemp(join(tmpdir(), 'ocifs-lib-'));
    const stats = new IoStats();
    const img = await openImage(reg.hostPort + '/ocifs/sample:latest', { cacheDir: join(dir, 'cache'), stats });
    try {
      const out = {};
      ${body}
      console.log(JSON.stringify(out));
    } finally {
      await img.close();
      await reg.close();
      await rm(dir, { recursive: true, force: true });
    }
  `;
  const r = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.toString()) as Record<string, unknown>;
}

test('the README example works through the package entry point', async () => {
  const out = await withSample(
    ['resolvePath', 'extractTree', 'isOcifsError', 'parseReference'],
    `
      out.canonical = parseReference('alpine').canonical;
      out.layers = img.layers.length;
      const blob = await img.openBlob({ layer: -1 });
      const sb = await blob.read(1024, 4);
      out.magic = Buffer.from(sb).readUInt32LE(0).toString(16);
      const fs = await img.openFileSystem();
      const inode = await resolvePath(fs, '/usr/bin/README');
      const file = await fs.openFile(inode.ino);
      out.readme = Buffer.from(await file.read(0, 18)).toString();
      const r = await extractTree(fs, join(dir, 'x'), { path: '/etc' });
      out.extracted = r.files;
      out.os = (await readFile(join(dir, 'x', 'os-release'), 'utf8')).split('\\n')[0];
      try { await resolvePath(fs, '/nope'); } catch (e) { out.err = isOcifsError(e, 'ERR_OCIFS_NOT_FOUND'); }
      out.fetchedLess = stats.bytesFetched < blob.size;
  `,
  );
  assert.deepEqual(out, {
    canonical: 'docker.io/library/alpine:latest',
    layers: 1,
    magic: 'e0f5e1e2',
    readme: 'ocifs sample image',
    extracted: 3, // hostname, os-release, motd (issue is a hardlink of motd)
    os: 'PRETTY_NAME="ocifs sample"',
    err: true,
    fetchedLess: true,
  });
});

test('startBackgroundFill: a whole-tree extract streams the layer into the cache once, alongside the walk', async () => {
  const out = (await withSample(
    ['extractTree', 'startBackgroundFill'],
    `
      const fs = await img.openFileSystem();
      const blob = await img.openBlob({ layer: -1 });
      out.before = blob.isComplete;
      const fill = startBackgroundFill(img);
      const r = await extractTree(fs, join(dir, 'x'));
      await fill.finish();
      await fill.stop();
      out.files = r.files;
      out.top = (await readdir(join(dir, 'x'))).sort();
      out.after = blob.isComplete;
      // One stream of the blob (plus the manifest, the config and the walk's first reads).
      out.fetchedAboutOnce = stats.bytesFetched >= blob.size && stats.bytesFetched < blob.size * 1.25;
      out.requests = stats.requests;
  `,
  )) as { before: boolean; after: boolean; files: number; top: string[]; fetchedAboutOnce: boolean; requests: number };
  assert.equal(out.before, false);
  assert.equal(out.after, true, 'the layer is complete and verified in the cache');
  assert.ok(out.files > 3);
  assert.ok(out.top.includes('etc') && out.top.includes('usr'), out.top.join(' '));
  assert.equal(out.fetchedAboutOnce, true);
  // Manifest, config, the stream, perhaps a read that went out before the stream began (the
  // walk alone makes 9 requests of this image).
  assert.ok(out.requests <= 5, `${out.requests} requests`);
});

test('BackgroundFill.finish completes and verifies what a stopped fill left', async () => {
  const out = (await withSample(
    ['startBackgroundFill'],
    `
      const blob = await img.openBlob({ layer: -1 });
      const fill = startBackgroundFill(img);
      await fill.stop();
      out.afterStop = blob.isComplete;
      await fill.finish();
      out.afterFinish = blob.isComplete;
  `,
  )) as { afterStop: boolean; afterFinish: boolean };
  assert.equal(out.afterStop, false, 'stopped before it fetched the layer');
  assert.equal(out.afterFinish, true);
});

test("a part's entry: ocifs/registry resolves and lists the sample with the client the README shows", async () => {
  const script = `
    import { RegistryClient } from 'ocifs/registry';
    import { serveLayout } from 'ocifs/serve';
    const reg = await serveLayout('sample/layout');
    const client = new RegistryClient();
    try {
      const img = await client.resolve(reg.hostPort + '/ocifs/sample:latest');
      const tags = await client.tags(reg.hostPort + '/ocifs/sample');
      const digest = img.manifestDigest.startsWith('sha256:');
      console.log(JSON.stringify({ layers: img.layers.length, digest, tags: tags.tags, requests: client.stats.requests > 0 }));
    } finally {
      await client.close();
      await reg.close();
    }
  `;
  const r = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout.toString()), { layers: 1, digest: true, tags: ['latest'], requests: true });
});
