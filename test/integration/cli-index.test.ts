// `ocifs index` end to end against Debian's distribution registry (no referrers API, so the
// referrers tag schema): the zTOC read back with Debian's FlatBuffers runtime (not ocifs's
// reader) lists what `tar tv` lists, its checkpoints and span digests match the layer; after
// `--push` a fresh cache reads a file near the end of a multi-MiB gzip layer fetching a few
// spans, not the layer; an index made for one image is refused for another; SOCI v2 rewrites
// only manifests under the tag; bad input gets one clear line.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, rm, writeFile, symlink, link } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, skopeoPush, type TestRegistry } from '../helpers/registry.js';
import { writeImageLayout, MT_LAYER_GZIP, MT_LAYER_TAR, MT_MANIFEST, MT_INDEX, sha256 } from '../helpers/oci-layout.js';
import { runOk } from '../helpers/run.js';
import { ocifs, ocifsOk, statsOf } from '../helpers/cli.js';
import { SOCI_INDEX_V1, SOCI_INDEX_V2 } from '../../src/tar/soci.js';
import { serveLayout } from '../../src/serve/layout-registry.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { spawn } from 'node:child_process';
import { OCIFS_BIN } from '../helpers/cli.js';

const SPAN = 1024 * 1024;
let tmp = '';
let reg: TestRegistry;
let tree = '';
let tar: Buffer;
let gz: Buffer;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ocifs-index-'));
  reg = await startRegistry();
  tree = join(tmp, 'tree');
  await mkdir(join(tree, 'bulk'), { recursive: true });
  await mkdir(join(tree, 'etc'));
  // 16 MiB of incompressible bulk, so that a lazy read is visibly a small part of the layer,
  // and a text file that sorts last.
  for (let i = 0; i < 16; i++)
    await writeFile(join(tree, 'bulk', `r${String(i).padStart(2, '0')}.bin`), randomBytes(1 << 20));
  await writeFile(join(tree, 'etc', 'numbers.txt'), Array.from({ length: 50_000 }, (_, i) => `line ${i}`).join('\n'));
  await symlink('../zz-last.txt', join(tree, 'etc', 'link'));
  await writeFile(join(tree, 'zz-last.txt'), 'the last file of the layer\n');
  await link(join(tree, 'zz-last.txt'), join(tree, 'zz-hard'));
  await runOk('tar', ['--format=pax', '--sort=name', '--xattrs', '-C', tree, '-cf', join(tmp, 'layer.tar'), '.']);
  tar = await readFile(join(tmp, 'layer.tar'));
  // Compressed by the real gzip, as image builders do.
  gz = (await runOk('gzip', ['-6', '-n', '-c', join(tmp, 'layer.tar')])).stdout;
  await writeFile(join(tmp, 'layer.tar.gz'), gz);
  const small = Buffer.alloc(10240);
  await writeImageLayout(
    join(tmp, 'img'),
    {
      layers: [
        { bytes: gz, mediaType: MT_LAYER_GZIP, diffId: sha256(tar) },
        { bytes: small, mediaType: MT_LAYER_TAR },
      ],
    },
    'v1',
  );
  for (const repo of ['idx/a', 'idx/b', 'idx/v2', 'idx/kill', 'idx/retry'])
    await skopeoPush(join(tmp, 'img'), 'v1', `${reg.host}/${repo}:v1`);
});

after(async () => {
  await reg?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const env = (name: string) => ({ OCIFS_CACHE_DIR: join(tmp, `cache-${name}`) });

async function manifestOf(repo: string, tag: string): Promise<{ bytes: Buffer; digest: string }> {
  const r = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, {
    headers: { accept: `${MT_MANIFEST}, ${MT_INDEX}` },
  });
  assert.equal(r.status, 200, `${repo}:${tag}`);
  const bytes = Buffer.from(await r.arrayBuffer());
  return { bytes, digest: sha256(bytes) };
}

async function blobOf(repo: string, digest: string): Promise<Buffer> {
  const r = await fetch(`${reg.url}/v2/${repo}/blobs/${digest}`);
  assert.equal(r.status, 200, digest);
  return Buffer.from(await r.arrayBuffer());
}

/** `tar tv` of the layer as [type, mode, uid/gid, size, name, link] rows, names normalised. */
async function tarTv(): Promise<string[]> {
  const out = (
    await runOk('tar', ['-tv', '--numeric-owner', '-f', join(tmp, 'layer.tar')], { env: { ...process.env, TZ: 'UTC' } })
  ).stdout.toString();
  return out
    .trim()
    .split('\n')
    .map((l) => {
      const m = /^(\S)(\S{9}) (\d+)\/(\d+)\s+(\d+) \S+ \S+ (.*?)(?: -> (.*)| link to (.*))?$/.exec(l)!;
      const name = m[6].replace(/^\.\//, '').replace(/\/$/, '') || '.';
      // A hardlink names an archive path: normalised like the names.
      return [m[1], m[2], `${m[3]}/${m[4]}`, m[5], name, m[7] ?? m[8]?.replace(/^\.\//, '') ?? ''].join(' ');
    });
}

test('index without --push prints what it built; the zTOC equals tar tv and its zinfo matches the layer', async () => {
  const r = await ocifsOk(['index', `${reg.host}/idx/a:v1`, '--span', '1M', '--min-layer-size', '1M', '--json'], {
    env: env('a'),
  });
  const doc = JSON.parse(r.stdout.toString());
  assert.equal(doc.sociVersion, 1);
  assert.equal(doc.spanSize, SPAN);
  assert.equal(doc.layers.length, 2);
  assert.equal(doc.layers[0].ztoc.algorithm, 'gzip');
  assert.ok(doc.layers[0].ztoc.spans >= 16, `${doc.layers[0].ztoc.spans} spans`);
  assert.match(doc.layers[1].skipped, /smaller than the minimum layer size/);
  assert.equal(doc.pushed, undefined);
  // The text form says the same in lines.
  const text = (
    await ocifsOk(['index', `${reg.host}/idx/a:v1`, '--span', '1M', '--min-layer-size', '1M'], { env: env('a') })
  ).stdout.toString();
  assert.match(text, /layer 0 sha256:[0-9a-f]{64} \(.*\): gzip, \d+ entries, \d+ spans, zTOC sha256:/);
  assert.match(text, /layer 1 .*: skipped, smaller than the minimum layer size/);
  assert.match(text, /SOCI index v1 sha256:[0-9a-f]{64}: 1 zTOC, .* \(\d+\.\d\d%\)\nnot pushed/);

  // Push, then read the zTOC back with an independent FlatBuffers reader.
  const pushed = JSON.parse(
    (
      await ocifsOk(['index', `${reg.host}/idx/a:v1`, '--span', '1M', '--min-layer-size', '1M', '--push', '--json'], {
        env: env('a'),
      })
    ).stdout.toString(),
  );
  assert.equal(pushed.layers[0].ztoc.digest, doc.layers[0].ztoc.digest, 'the same zTOC bytes on every run');
  assert.equal(pushed.pushed.via, 'tag');
  const ztoc = await blobOf('idx/a', pushed.layers[0].ztoc.digest);
  await writeFile(join(tmp, 'a.ztoc'), ztoc);
  const dump = JSON.parse(
    (
      await runOk('/usr/bin/python3', [
        new URL('../helpers/ztoc_dump.py', import.meta.url).pathname,
        join(tmp, 'a.ztoc'),
        join(tmp, 'layer.tar.gz'),
        join(tmp, 'layer.tar'),
      ])
    ).stdout.toString(),
  );
  assert.equal(dump.version, '0.9');
  assert.match(dump.buildTool, /^ocifs v/);
  assert.equal(dump.compressedSize, gz.length);
  assert.equal(dump.uncompressedSize, tar.length);
  assert.equal(dump.algorithm, 1);
  assert.equal(dump.maxSpanId, dump.zinfo.count - 1);
  assert.equal(dump.spanDigests, dump.zinfo.count);
  assert.equal(dump.zinfo.spanSize, SPAN);
  assert.equal(dump.zinfo.bytes, 12 + dump.zinfo.count * (17 + 32768));
  assert.deepEqual(dump.checkpoints[0], { in: 10, out: 0, bits: 0, window: true, digest: true, decoded: true });
  for (const c of dump.checkpoints) {
    assert.ok(c.window && c.digest, `checkpoint ${JSON.stringify(c)}`);
    if (c.bits === 0) assert.equal(c.decoded, true);
  }
  const types: Record<string, string> = { reg: '-', dir: 'd', symlink: 'l', hardlink: 'h' };
  const perm = (mode: number) =>
    [0o400, 0o200, 0o100, 0o40, 0o20, 0o10, 4, 2, 1].map((b, i) => (mode & b ? 'rwx'[i % 3] : '-')).join('');
  const rows = dump.files.map((f: any) =>
    [
      types[f.type],
      perm(f.mode),
      `${f.uid}/${f.gid}`,
      String(f.type === 'reg' ? f.size : 0),
      f.name.replace(/\/$/, '') || '.',
      f.linkname,
    ].join(' '),
  );
  assert.deepEqual(
    rows.map((r: string) => r.replace(/^\.\/? /, '')),
    (await tarTv()).map((r) => r.replace(/^\.\/? /, '')),
  );
  // Data offsets: each file's bytes are where the zTOC says, and mtimes are the files'.
  for (const f of dump.files.filter((x: any) => x.type === 'reg')) {
    const onDisk = await readFile(join(tree, f.name));
    assert.ok(tar.subarray(f.offset, f.offset + f.size).equals(onDisk), f.name);
  }
  const last = dump.files.find((f: any) => f.name === 'zz-last.txt');
  assert.match(last.modTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
});

test('after --push a fresh cache reads the end of the gzip layer through the zTOC: a few spans, no pass', async () => {
  // Before: without an index, cat needs the full pass over the layer.
  const plain = await ocifsOk(['cat', `${reg.host}/idx/b:v1`, '/zz-last.txt', '--stats'], { env: env('b-plain') });
  assert.equal(plain.stdout.toString(), 'the last file of the layer\n');
  assert.ok(statsOf(plain).bytesFetched >= gz.length, 'the pass fetched the layer');

  await ocifsOk(['index', `${reg.host}/idx/b:v1`, '--span', '1M', '--push'], { env: env('b-build') });
  const r = await ocifsOk(['cat', `${reg.host}/idx/b:v1`, '/zz-last.txt', '--stats'], { env: env('b-fresh') });
  assert.equal(r.stdout.toString(), 'the last file of the layer\n');
  const ztocSize = JSON.parse(
    (
      await ocifsOk(['index', `${reg.host}/idx/b:v1`, '--span', '1M', '--json'], { env: env('b-build') })
    ).stdout.toString(),
  ).layers[0].ztoc.size;
  const layerBytes = statsOf(r).bytesFetched - ztocSize;
  // The first and the last file's spans (the sample check) and the one holding the file: ≤ 3 spans.
  assert.ok(
    layerBytes < 3.5 * SPAN,
    `fetched ${layerBytes} bytes of a ${gz.length}-byte layer besides the ${ztocSize}-byte zTOC`,
  );
  const info = JSON.parse(
    (
      await ocifsOk(['info', `${reg.host}/idx/b:v1`, '--layer', '0', '--json'], { env: env('b-info') })
    ).stdout.toString(),
  );
  assert.equal(info.access, 'soci');
  // A middle file reads right too.
  const mid = await ocifsOk(['cat', `${reg.host}/idx/b:v1`, '/bulk/r07.bin'], { env: env('b-fresh') });
  assert.ok(mid.stdout.equals(await readFile(join(tree, 'bulk/r07.bin'))));
  // Indexing again adds nothing to the referrers tag.
  await ocifsOk(['index', `${reg.host}/idx/b:v1`, '--span', '1M', '--push'], { env: env('b-build') });
  const m = await manifestOf('idx/b', 'v1');
  const list = JSON.parse((await manifestOf('idx/b', `sha256-${m.digest.slice(7)}`)).bytes.toString());
  assert.equal(list.manifests.length, 1);
  assert.equal(list.manifests[0].artifactType, SOCI_INDEX_V1);
});

test('an index built for one image is refused for another (subject binding)', async () => {
  // Image c = b's layers under a different config: same layer digest, another manifest.
  const small = Buffer.alloc(10240);
  await writeImageLayout(
    join(tmp, 'img-c'),
    {
      layers: [
        { bytes: gz, mediaType: MT_LAYER_GZIP, diffId: sha256(tar) },
        { bytes: small, mediaType: MT_LAYER_TAR },
      ],
      config: { Env: ['X=1'] },
    },
    'v1',
  );
  await skopeoPush(join(tmp, 'img-c'), 'v1', `${reg.host}/idx/b:c`);
  const b = await manifestOf('idx/b', 'v1');
  const c = await manifestOf('idx/b', 'c');
  // Copy b's referrers list to c's referrers tag: c now "has" b's SOCI index.
  const list = (await manifestOf('idx/b', `sha256-${b.digest.slice(7)}`)).bytes;
  const put = await fetch(`${reg.url}/v2/idx/b/manifests/sha256-${c.digest.slice(7)}`, {
    method: 'PUT',
    body: list,
    headers: { 'content-type': MT_INDEX },
  });
  assert.equal(put.status, 201);
  const r = await ocifsOk(['cat', `${reg.host}/idx/b:c`, '/zz-last.txt', '--stats', '--debug'], { env: env('c') });
  assert.equal(r.stdout.toString(), 'the last file of the layer\n');
  assert.match(r.stderr, /SOCI index refers to sha256:[0-9a-f]{64}, not this image .*: refused/);
  assert.ok(statsOf(r).bytesFetched >= gz.length, "read with its own pass, not b's zTOC");
});

test('--soci-version 2 pushes a SOCI-enabled image under the tag; layers are never rewritten', async () => {
  const before = await manifestOf('idx/v2', 'v1');
  const r = await ocifsOk(['index', `${reg.host}/idx/v2:v1`, '--soci-version', '2', '--push', '--json'], {
    env: env('v2'),
  });
  const doc = JSON.parse(r.stdout.toString());
  const after = await manifestOf('idx/v2', 'v1');
  assert.equal(after.digest, doc.pushed.imageIndex);
  const index = JSON.parse(after.bytes.toString());
  assert.equal(index.mediaType, MT_INDEX);
  assert.equal(index.manifests.length, 2);
  const [image, soci] = index.manifests;
  assert.equal(soci.artifactType, SOCI_INDEX_V2);
  assert.equal(soci.annotations['com.amazon.soci.image-manifest-digest'], image.digest);
  assert.deepEqual(soci.platform, { os: 'linux', architecture: 'amd64' });
  const newManifest = JSON.parse((await manifestOf('idx/v2', image.digest)).bytes.toString());
  const oldManifest = JSON.parse(before.bytes.toString());
  assert.equal(newManifest.annotations['com.amazon.soci.index-digest'], soci.digest);
  assert.deepEqual(newManifest.layers, oldManifest.layers);
  assert.deepEqual(newManifest.config, oldManifest.config);
  const sociIndex = JSON.parse((await manifestOf('idx/v2', soci.digest)).bytes.toString());
  assert.equal(sociIndex.subject, undefined);
  assert.equal(sociIndex.config.mediaType, SOCI_INDEX_V2);
  // ocifs (a fresh cache) picks the image, not the SOCI index, and reads through the zTOC.
  const info = JSON.parse(
    (
      await ocifsOk(['info', `${reg.host}/idx/v2:v1`, '--layer', '0', '--json'], { env: env('v2-read') })
    ).stdout.toString(),
  );
  assert.equal(info.access, 'soci');
  const cat = await ocifsOk(['cat', `${reg.host}/idx/v2:v1`, '/etc/link'], { env: env('v2-read') });
  assert.equal(cat.stdout.toString(), 'the last file of the layer\n');
  // skopeo still copies the SOCI-enabled image.
  await runOk('skopeo', [
    'copy',
    '--quiet',
    '--src-tls-verify=false',
    `docker://${reg.host}/idx/v2:v1`,
    `oci:${join(tmp, 'v2-copy')}:x`,
  ]);
});

test('a registry with the referrers API (serve-layout --writable) gets the index through it', async () => {
  const dir = join(tmp, 'served');
  await mkdir(dir);
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [] }));
  const served = await serveLayout(dir, { writable: true });
  try {
    // skopeo pushes into it as into any registry.
    await skopeoPush(join(tmp, 'img'), 'v1', `${served.hostPort}/app:v1`);
    const r = JSON.parse(
      (
        await ocifsOk(['index', `${served.hostPort}/app:v1`, '--span', '1M', '--push', '--json'], {
          env: env('served'),
        })
      ).stdout.toString(),
    );
    assert.equal(r.pushed.via, 'api');
    const refs = await fetch(
      `http://${served.hostPort}/v2/app/referrers/${r.manifestDigest}?artifactType=${encodeURIComponent(SOCI_INDEX_V1)}`,
    );
    const list = JSON.parse(await refs.text());
    assert.deepEqual(
      list.manifests.map((d: any) => [d.digest, d.artifactType]),
      [[r.index.digest, SOCI_INDEX_V1]],
    );
    // No fallback tag was written.
    const tags = JSON.parse(await (await fetch(`http://${served.hostPort}/v2/app/tags/list`)).text()).tags;
    assert.deepEqual(tags, ['v1']);
    const cat = await ocifsOk(['cat', `${served.hostPort}/app:v1`, '/zz-last.txt', '--stats'], {
      env: env('served-read'),
    });
    assert.equal(cat.stdout.toString(), 'the last file of the layer\n');
    assert.ok(statsOf(cat).bytesFetched < gz.length / 2, `fetched ${statsOf(cat).bytesFetched}`);
  } finally {
    await served.close();
  }
});

/** Every manifest and blob a tag leads to is in the registry (an index's manifests, their config and layers). */
async function assertComplete(repo: string, reference: string): Promise<void> {
  const { bytes } = await manifestOf(repo, reference);
  const doc = JSON.parse(bytes.toString());
  if (doc.manifests) {
    for (const m of doc.manifests) await assertComplete(repo, m.digest);
    return;
  }
  for (const d of [doc.config, ...doc.layers]) {
    const r = await fetch(`${reg.url}/v2/${repo}/blobs/${d.digest}`, { method: 'HEAD' });
    assert.equal(r.status, 200, `${repo}: ${d.digest}`);
  }
}

test('faults: a refused upload is retried; a kill -9 mid-push leaves the old tag, a rerun the complete new one', async () => {
  const proxy = await startFaultProxy(reg.url);
  try {
    // The registry refuses the SOCI index's blob commit once: retried, the push completes.
    proxy.addRule({ method: 'PUT', path: /blobs\/uploads/, fault: { kind: 'status', status: 500 }, times: 1 });
    const r = JSON.parse(
      (
        await ocifsOk(['index', `${proxy.host}/idx/retry:v1`, '--push', '--json', '--min-layer-size', '1M'], {
          env: env('retry'),
        })
      ).stdout.toString(),
    );
    assert.equal(r.pushed.via, 'tag');
    assert.ok(proxy.log.some((e) => e.fault === 'status'));
    const m = await manifestOf('idx/retry', 'v1');
    assert.equal(
      JSON.parse((await manifestOf('idx/retry', `sha256-${m.digest.slice(7)}`)).bytes.toString()).manifests.length,
      1,
    );

    // v2 writes the tag last. Kill -9 while each write is in flight (held, never applied): the
    // tag still names the old image.
    const old = await manifestOf('idx/kill', 'v1');
    for (const path of [/blobs\/uploads/, /manifests\/sha256:/, /manifests\/v1$/]) {
      proxy.clearRules();
      proxy.addRule({ method: 'PUT', path, fault: { kind: 'hold' } });
      const child = spawn(
        process.execPath,
        [OCIFS_BIN, 'index', `${proxy.host}/idx/kill:v1`, '--soci-version', '2', '--push', '--min-layer-size', '1M'],
        {
          env: { ...process.env, ...env('kill') },
          stdio: 'ignore',
        },
      );
      const exited = new Promise((res) => child.once('exit', res));
      const deadline = Date.now() + 60_000;
      while (!proxy.log.some((e) => e.fault === 'hold')) {
        assert.ok(Date.now() < deadline, 'the push reached the held write');
        await new Promise((res) => setTimeout(res, 20));
      }
      child.kill('SIGKILL');
      await exited;
      proxy.log.length = 0;
      assert.equal((await manifestOf('idx/kill', 'v1')).digest, old.digest, `after a kill at ${path}`);
      await assertComplete('idx/kill', 'v1');
    }
    proxy.clearRules();
    const again = JSON.parse(
      (
        await ocifsOk(
          ['index', `${proxy.host}/idx/kill:v1`, '--soci-version', '2', '--push', '--json', '--min-layer-size', '1M'],
          { env: env('kill') },
        )
      ).stdout.toString(),
    );
    const now = await manifestOf('idx/kill', 'v1');
    assert.equal(now.digest, again.pushed.imageIndex);
    await assertComplete('idx/kill', 'v1');
    const cat = await ocifsOk(['cat', `${reg.host}/idx/kill:v1`, '/zz-last.txt'], { env: env('kill-read') });
    assert.equal(cat.stdout.toString(), 'the last file of the layer\n');
  } finally {
    await proxy.stop();
  }
});

test('bad input: one clear line, nothing pushed', async () => {
  const cases: [string[], RegExp, number][] = [
    [['index', `${reg.host}/idx/a:v1`, '--span', 'lots'], /^ocifs: invalid option --span: "lots" is not a size/, 2],
    [['index', `${reg.host}/idx/a:v1`, '--span', '1K'], /^ocifs: invalid option --span: must be between 64 KiB/, 2],
    [['index', `${reg.host}/idx/a:v1`, '--soci-version', '3'], /soci-version/, 2],
    [['index', `${reg.host}/idx/a:v1`, '--tag', 'x'], /^ocifs: invalid option --tag: .*--soci-version 2/, 2],
    [
      ['index', `${reg.host}/idx/a:v1`, '--min-layer-size', '100M'],
      /^ocifs: invalid option --min-layer-size: no layer of .* can be indexed \(layer 0: smaller than the minimum layer size/,
      2,
    ],
    [
      [
        'index',
        `${reg.host}/idx/a@${sha256(Buffer.from('x'))}`,
        '--push',
        '--soci-version',
        '2',
        '--min-layer-size',
        '1M',
      ],
      /not found|manifest/,
      1,
    ],
  ];
  for (const [args, re, code] of cases) {
    const r = await ocifs(args, { env: env('bad') });
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    // commander's own usage errors add a help hint line; ocifs's are one line.
    if (!r.stderr.startsWith('error:')) assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});
