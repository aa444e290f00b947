// The JSON API of `ocifs web`, end to end: the real command against the distribution registry
// with images made by umoci (two tags, the second adding, changing and deleting files) and
// pushed by skopeo. Every endpoint, with the answers checked against the trees the images were
// made from; bad references, missing paths, ranges past the end; and the gate: a wrong or
// missing token (401), a wrong Host (403), another origin (403), a write method (405).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtemp, readFile, rm, mkdir, readlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { runOk } from '../helpers/run.js';
import { ocifs } from '../helpers/cli.js';
import { serveLayout } from '../../src/serve/layout-registry.js';
import { pushWebImages, startWeb, OS_RELEASE, type WebImages, type WebProcess } from '../helpers/web.js';
import type {
  DiffLine,
  DirDoc,
  FindLine,
  ImageDoc,
  LayerInfoDoc,
  SizesLine,
  StatDoc,
  StatusDoc,
  TagsDoc,
} from '../../src/web/api-types.js';

let tmp = '';
let reg: TestRegistry;
let images: WebImages;
let web: WebProcess;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ocifs-web-api-'));
  reg = await startRegistry();
  images = await pushWebImages(tmp, reg);
  web = await startWeb([images.v2, '--cache-dir', join(tmp, 'cache')]);
});

after(async () => {
  await web?.stop();
  await reg?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const q = (params: Record<string, string | number>) =>
  new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)])).toString();

async function json<T>(path: string, status = 200): Promise<T> {
  const res = await web.api(path);
  const body = await res.text();
  assert.equal(res.status, status, `${path}: ${body}`);
  return JSON.parse(body) as T;
}

async function lines<T>(path: string): Promise<T[]> {
  const res = await web.api(path);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /ndjson/);
  return (await res.text())
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as T);
}

/** A raw request with chosen headers (fetch would set Host itself). */
function raw(
  path: string,
  headers: Record<string, string>,
  method = 'GET',
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: web.port, path, method, headers }, (res) => {
      let body = '';
      res.on('data', (b: Buffer) => (body += b.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('the gate: token, then cookie; wrong or missing token 401; wrong Host or origin 403; writes 405', async () => {
  const host = `127.0.0.1:${web.port}`;
  const status = `/api/status?ref=${encodeURIComponent(images.v2)}`;
  assert.equal((await raw(status, { host })).status, 401);
  assert.equal((await raw(`${status}&token=${'x'.repeat(web.token.length)}`, { host })).status, 401);
  assert.equal((await raw(status, { host, cookie: `ocifs_web_${web.port}=wrong` })).status, 401);
  // The page: the token in the URL becomes a cookie and leaves the address bar.
  const first = await raw(`/image/${images.v2}?tab=files&path=/etc&token=${web.token}`, { host });
  assert.equal(first.status, 302);
  assert.equal(first.headers.location, `/image/${images.v2}?tab=files&path=/etc`);
  const cookie = String(first.headers['set-cookie']);
  assert.match(cookie, new RegExp(`^ocifs_web_${web.port}=${web.token}; Path=/; HttpOnly; SameSite=Strict$`));
  const withCookie = { host, cookie: cookie.split(';')[0] };
  const page = await raw(`/image/${images.v2}?tab=files`, withCookie);
  assert.equal(page.status, 200);
  assert.match(String(page.headers['content-security-policy']), /default-src 'none'; script-src 'self'/);
  assert.equal(page.headers['access-control-allow-origin'], undefined);
  assert.match(page.body, /<script defer src="\/assets\/app.js">/);
  assert.equal((await raw(status, withCookie)).status, 200);
  assert.equal((await raw('/assets/app.js', withCookie)).status, 200);
  // DNS rebinding: the right cookie under another host name is refused.
  assert.equal((await raw(status, { ...withCookie, host: `evil.example:${web.port}` })).status, 403);
  assert.equal((await raw(status, { ...withCookie, host: `127.0.0.1:${web.port + 1}` })).status, 403);
  assert.equal((await raw(status, { ...withCookie, host: `localhost:${web.port}` })).status, 200);
  // Other pages cannot use it, even if a browser sent the cookie.
  assert.equal((await raw(status, { ...withCookie, origin: 'http://evil.example' })).status, 403);
  assert.equal((await raw(status, { ...withCookie, origin: 'null' })).status, 403);
  assert.equal((await raw(status, { ...withCookie, 'sec-fetch-site': 'cross-site' })).status, 403);
  // Another port of this host is the same site to a browser: its fetches are refused too.
  assert.equal(
    (await raw(status, { ...withCookie, 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'cors' })).status,
    403,
  );
  assert.equal(
    (await raw(status, { ...withCookie, 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors' })).status,
    200,
  );
  assert.equal((await raw(status, { ...withCookie, origin: `http://127.0.0.1:${web.port}` })).status, 200);
  const post = await raw(status, withCookie, 'POST');
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, 'GET, HEAD');
  // An unauthenticated page gets a plain explanation, and no CORS anywhere.
  const bare = await raw('/', { host });
  assert.equal(bare.status, 401);
  assert.match(bare.body, /open the URL that <code>ocifs web<\/code> printed/);
});

test('/api/image: manifest, config summary, history next to its layers, per-layer facts', async () => {
  const doc = await json<ImageDoc>(`/api/image?${q({ ref: images.v2 })}`);
  assert.equal(doc.canonical, images.v2);
  assert.equal(doc.tag, 'v2');
  assert.match(doc.digest, /^sha256:[0-9a-f]{64}$/);
  assert.equal(doc.layers.length, 2);
  assert.deepEqual(
    (doc.manifest as { layers: { digest: string }[] }).layers.map((l) => l.digest),
    doc.layers.map((l) => l.digest),
  );
  assert.equal(doc.summary?.labels?.['org.example.title'], 'web test');
  assert.deepEqual(doc.summary?.entrypoint, ['/usr/bin/tool']);
  assert.ok(doc.summary?.env?.includes('GREETING=hello'));
  assert.equal(doc.summary?.user, '1000:1000');
  assert.deepEqual(doc.summary?.exposedPorts, ['8080/tcp']);
  const steps = doc.history.map((h) => [h.createdBy, h.emptyLayer, h.layer]);
  assert.deepEqual(steps, [
    ['COPY base /', false, 0],
    ['CONFIG labels', true, undefined],
    ['RUN change things', false, 1],
  ]);
  for (const l of doc.layers) {
    assert.equal(l.format, 'tar+gzip');
    assert.equal(l.formatKnown, false);
    assert.equal(l.cachedBytes, 0);
  }
  const manifestBytes = (
    await (
      await fetch(`${reg.url}/v2/web/test/manifests/v2`, {
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
      })
    ).arrayBuffer()
  ).byteLength;
  assert.equal(doc.totalSize, doc.layers.reduce((n, l) => n + l.size, 0) + doc.configDescriptor!.size + manifestBytes);

  // Opening a layer says exactly how ocifs reads it; the image view then knows too.
  const info = await json<LayerInfoDoc>(`/api/layer?${q({ ref: images.v2, layer: 0 })}`);
  assert.equal(info.format, 'tar+gzip (gzip index)');
  assert.match(info.text, /Entries:/);
  const again = await json<ImageDoc>(`/api/image?${q({ ref: images.v2 })}`);
  assert.equal(again.layers[0].format, 'tar+gzip (gzip index)');
  assert.equal(again.layers[0].formatKnown, true);
  assert.ok(again.layers[0].indexes.includes('gzip-index'), again.layers[0].indexes.join());
  assert.equal(again.layers[0].cachedBytes, again.layers[0].size); // the index pass read it all
  assert.equal(again.layers[0].verified, true);
  await json(`/api/layer?${q({ ref: images.v2, layer: 'merged' })}`, 400);
  await json(`/api/layer?${q({ ref: images.v2, layer: 7 })}`, 404);
});

test('/api/tags: the repository’s tags, paginated when the registry pages', async () => {
  const all = await json<TagsDoc>(`/api/tags?${q({ ref: images.v1 })}`);
  assert.deepEqual(all.tags, ['v1', 'v2']);
  assert.equal(all.next, undefined);
  // distribution 2.8 ignores n and answers every tag: then there is no next page.
  const ignored = await json<TagsDoc>(`/api/tags?${q({ ref: images.v1, n: 1 })}`);
  assert.deepEqual([ignored.tags, ignored.next], [['v1', 'v2'], undefined]);
  // ocifs's own registry pages with Link headers, as distribution 3 does.
  const layoutReg = await serveLayout(images.layout);
  try {
    const ref = `${layoutReg.hostPort}/web/test`;
    const p1 = await json<TagsDoc>(`/api/tags?${q({ ref, n: 1 })}`);
    assert.deepEqual([p1.tags, p1.next], [['v1'], 'v1']);
    const p2 = await json<TagsDoc>(`/api/tags?${q({ ref, n: 1, last: p1.next! })}`);
    assert.deepEqual([p2.tags, p2.next], [['v2'], undefined]);
  } finally {
    await layoutReg.close();
  }
  await json(`/api/tags?${q({ ref: `${reg.host}/web/nothing-here` })}`, 502);
});

test('/api/dir: merged listing, and the marks of a layer view (added, changed, deleted)', async () => {
  const root = await json<DirDoc>(`/api/dir?${q({ ref: images.v2, path: '/' })}`);
  assert.deepEqual(
    root.entries.map((e) => e.name),
    ['data', 'etc', 'opt', 'usr'],
  );
  const etc = await json<DirDoc>(`/api/dir?${q({ ref: images.v2, path: '/etc' })}`);
  assert.deepEqual(
    etc.entries.map((e) => [e.name, e.type, e.layer]),
    [
      ['hostname', 'file', 1],
      ['new.conf', 'file', 1],
      ['os-release', 'file', 0],
    ],
  );
  assert.equal(etc.entries[2].size, Buffer.byteLength(OS_RELEASE));
  const bin = await json<DirDoc>(`/api/dir?${q({ ref: images.v2, path: '/usr/bin' })}`);
  assert.deepEqual(bin.entries.find((e) => e.name === 'tool-link')?.target, 'tool');
  const layer1 = await json<DirDoc>(`/api/dir?${q({ ref: images.v2, path: '/etc', layer: 1 })}`);
  assert.deepEqual(
    layer1.entries.map((e) => [e.name, e.mark ?? '']),
    [
      ['gone.conf', 'deleted'],
      ['hostname', 'changed'],
      ['new.conf', 'added'],
      ['old', 'deleted'],
      ['os-release', ''],
    ],
  );
  const top = await json<DirDoc>(`/api/dir?${q({ ref: images.v2, path: '/', layer: -1 })}`);
  assert.deepEqual(
    top.entries.filter((e) => e.mark).map((e) => [e.name, e.mark]),
    [
      ['etc', 'changed'],
      ['opt', 'added'],
    ],
  );
  const layer0 = await json<DirDoc>(`/api/dir?${q({ ref: images.v2, path: '/etc', layer: 0 })}`);
  assert.ok(layer0.entries.every((e) => e.mark === 'added'));
  assert.deepEqual(
    layer0.entries.map((e) => e.name),
    ['gone.conf', 'hostname', 'old', 'os-release'],
  );
  // Symlinks on the way resolve inside the image; errors name what is wrong.
  await json(`/api/dir?${q({ ref: images.v2, path: '/nope' })}`, 404);
  await json(`/api/dir?${q({ ref: images.v2, path: '/etc/hostname' })}`, 400);
  await json(`/api/dir?${q({ ref: images.v2, path: '/', layer: 'x' })}`, 404);
});

test('/api/stat: content kinds, the ELF header, where a symlink leads', async () => {
  const stat = (path: string) => json<StatDoc>(`/api/stat?${q({ ref: images.v2, path })}`);
  assert.equal((await stat('/etc/os-release')).kind, 'text');
  assert.equal((await stat('/data/blob.bin')).kind, 'binary');
  assert.equal((await stat('/usr/share/pic.png')).kind, 'png');
  assert.equal((await stat('/usr/share/logo.svg')).kind, 'svg');
  const tool = await stat('/usr/bin/tool');
  assert.equal(tool.kind, 'elf');
  const readelf = (
    await runOk('readelf', ['-h', '-l', '/bin/true'], { env: { ...process.env, LC_ALL: 'C' } })
  ).stdout.toString();
  assert.equal(tool.elf?.interpreter, /Requesting program interpreter: ([^\]]+)\]/.exec(readelf)?.[1]);
  assert.equal(tool.elf?.entry, /Entry point address:\s+(0x[0-9a-f]+)/.exec(readelf)?.[1]);
  assert.equal(tool.elf?.class, /Class:\s+ELF64/.test(readelf) ? 64 : 32);
  assert.match(tool.elf.type, new RegExp(`^${/Type:\s+(\w+)/.exec(readelf)![1]} `));
  const link = await stat('/usr/bin/tool-link');
  assert.equal(link.entry.type, 'symlink');
  assert.equal(link.resolved, '/usr/bin/tool');
  assert.equal(link.resolvedType, 'file');
  await json(`/api/stat?${q({ ref: images.v2, path: '/etc/missing' })}`, 404);
});

test('/api/file: exact bytes of a range; past the end 416; bad parameters 400', async () => {
  const path = '/data/big.txt';
  const source = await readFile(join(images.baseDir, path));
  const get = (params: Record<string, string | number>) =>
    web.api(`/api/file?${q({ ref: images.v2, path, ...params })}`);
  const r1 = await get({ offset: 100_000, length: 70_000 });
  assert.equal(r1.status, 200);
  assert.equal(r1.headers.get('x-file-size'), String(source.byteLength));
  assert.match(r1.headers.get('content-security-policy') ?? '', /sandbox/);
  assert.equal(r1.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(r1.headers.get('content-type'), 'application/octet-stream');
  assert.ok(Buffer.from(await r1.arrayBuffer()).equals(source.subarray(100_000, 170_000)));
  const tail = await get({ offset: source.byteLength - 10, length: 100 });
  assert.ok(Buffer.from(await tail.arrayBuffer()).equals(source.subarray(source.byteLength - 10)));
  const end = await get({ offset: source.byteLength });
  assert.equal(end.status, 200);
  assert.equal((await end.arrayBuffer()).byteLength, 0);
  const past = await get({ offset: source.byteLength + 1 });
  assert.equal(past.status, 416);
  assert.match(((await past.json()) as { error: { message: string } }).error.message, /past the end/);
  assert.equal((await get({ offset: -1 })).status, 400);
  assert.equal((await get({ length: 64 * 1024 * 1024 })).status, 400);
  assert.equal((await web.api(`/api/file?${q({ ref: images.v2, path: '/etc' })}`)).status, 400);
  assert.equal((await web.api(`/api/file?${q({ ref: images.v2, path: '/nope' })}`)).status, 404);
  // Through a symlink, inside the image.
  const viaLink = await web.api(`/api/file?${q({ ref: images.v2, path: '/usr/bin/tool-link', length: 4 })}`);
  assert.deepEqual([...new Uint8Array(await viaLink.arrayBuffer())], [0x7f, 0x45, 0x4c, 0x46]);
  // Pictures are typed by their content; anything else is refused.
  const png = await web.api(`/api/file?${q({ ref: images.v2, path: '/usr/share/pic.png', as: 'picture' })}`);
  assert.equal(png.headers.get('content-type'), 'image/png');
  assert.ok(Buffer.from(await png.arrayBuffer()).equals(await readFile(join(images.baseDir, 'usr/share/pic.png'))));
  const svg = await web.api(`/api/file?${q({ ref: images.v2, path: '/usr/share/logo.svg', as: 'picture' })}`);
  assert.equal(svg.headers.get('content-type'), 'image/svg+xml');
  assert.match(svg.headers.get('content-security-policy') ?? '', /default-src 'none';.*sandbox/);
  assert.equal((await web.api(`/api/file?${q({ ref: images.v2, path: '/etc/hostname', as: 'picture' })}`)).status, 415);
});

test('/api/download: a file as is, a directory as a tar that GNU tar extracts to the same tree', async () => {
  const file = await web.api(`/api/download?${q({ ref: images.v2, path: '/usr/lib/libfoo.so.1' })}`);
  assert.equal(file.status, 200);
  assert.match(file.headers.get('content-disposition') ?? '', /^attachment; filename="libfoo.so.1"/);
  assert.ok(Buffer.from(await file.arrayBuffer()).equals(await readFile(join(images.baseDir, 'usr/lib/libfoo.so.1'))));
  const tar = await web.api(`/api/download?${q({ ref: images.v2, path: '/usr' })}`);
  assert.equal(tar.headers.get('content-type'), 'application/x-tar');
  const tarFile = join(tmp, 'usr.tar');
  await writeFile(tarFile, Buffer.from(await tar.arrayBuffer()));
  const out = join(tmp, 'untar');
  await mkdir(out);
  await runOk('tar', ['-xf', tarFile, '-C', out]);
  const listing = (await runOk('find', ['.', '-printf', '%y %n %s %P\\n'], { cwd: join(out, 'usr') })).stdout
    .toString()
    .split('\n')
    .filter(Boolean)
    .sort();
  const expected = (await runOk('find', ['.', '-printf', '%y %n %s %P\\n'], { cwd: join(images.v2Dir, 'usr') })).stdout
    .toString()
    .split('\n')
    .filter(Boolean)
    .sort();
  // Directory sizes depend on the host filesystem's history.
  const noDirSize = (l: string) => l.replace(/^d (\d+) \d+ /, 'd $1 - ');
  assert.deepEqual(listing.map(noDirSize), expected.map(noDirSize));
  assert.equal(await readlink(join(out, 'usr/bin/tool-link')), 'tool');
  assert.ok((await readFile(join(out, 'usr/bin/tool'))).equals(await readFile('/bin/true')));
});

test('/api/find: names over the whole tree, streamed with a last line', async () => {
  const got = await lines<FindLine>(`/api/find?${q({ ref: images.v2, q: 'CONF' })}`);
  const last = got.at(-1)!;
  assert.equal(last.t, 'done');
  assert.deepEqual(
    got.filter((l) => l.t === 'match').map((l) => (l as { path: string }).path),
    ['/etc/new.conf'],
  );
  const inLayer0 = await lines<FindLine>(`/api/find?${q({ ref: images.v2, q: '.conf', layer: 0 })}`);
  assert.deepEqual(
    inLayer0.filter((l) => l.t === 'match').map((l) => (l as { path: string }).path),
    ['/etc/gone.conf'],
  );
  await json(`/api/find?${q({ ref: images.v2 })}`, 400);
});

test('/api/sizes: the merged tree by size, and per layer the bytes added and wasted', async () => {
  const got = await lines<SizesLine>(`/api/sizes?${q({ ref: images.v2 })}`);
  const done = got.at(-1)!;
  assert.equal(done.t, 'done');
  if (done.t !== 'done') return;
  const size = async (p: string) => (await readFile(join(images.v2Dir, p))).byteLength;
  const etc = done.tree[2]!.find((n) => n[0] === 'etc')!;
  assert.equal(etc[1], (await size('etc/hostname')) + (await size('etc/new.conf')) + (await size('etc/os-release')));
  // The hardlinked library counts once.
  const files = [
    'etc/hostname',
    'etc/new.conf',
    'etc/os-release',
    'usr/bin/tool',
    'usr/share/pic.png',
    'usr/share/logo.svg',
    'usr/lib/libfoo.so.1',
    'data/blob.bin',
    'data/big.txt',
    'opt/app/run.sh',
  ];
  let sum = 0;
  for (const f of files) sum += await size(f);
  assert.equal(done.tree[1], sum);
  assert.equal(done.files, files.length);
  const base = async (p: string) => (await readFile(join(images.baseDir, p))).byteLength;
  assert.equal(
    done.layers[0].wasted,
    (await base('etc/hostname')) + (await base('etc/gone.conf')) + (await base('etc/old/a.txt')),
  );
  assert.equal(done.layers[1].wasted, 0);
  assert.equal(
    done.layers[1].added,
    (await size('etc/hostname')) + (await size('etc/new.conf')) + (await size('opt/app/run.sh')),
  );
});

test('/api/diff: added, removed and changed paths of two tags; identical directories skipped', async () => {
  const got = await lines<DiffLine>(`/api/diff?${q({ a: images.v1, b: images.v2 })}`);
  const done = got.at(-1)!;
  assert.equal(done.t, 'done');
  const entries = got.flatMap((l) => (l.t === 'diff' ? [l.entry] : [])).sort((x, y) => (x.path < y.path ? -1 : 1));
  const hostnameA = (await readFile(join(images.baseDir, 'etc/hostname'))).byteLength;
  const hostnameB = (await readFile(join(images.v2Dir, 'etc/hostname'))).byteLength;
  assert.deepEqual(
    entries.map((e) => [e.path, e.status, e.sizeA, e.sizeB]),
    [
      ['/etc/gone.conf', 'removed', (await readFile(join(images.baseDir, 'etc/gone.conf'))).byteLength, undefined],
      ['/etc/hostname', 'changed', hostnameA, hostnameB],
      ['/etc/new.conf', 'added', undefined, (await readFile(join(images.v2Dir, 'etc/new.conf'))).byteLength],
      ['/etc/old', 'removed', (await readFile(join(images.baseDir, 'etc/old/a.txt'))).byteLength, undefined],
      ['/opt', 'added', undefined, (await readFile(join(images.v2Dir, 'opt/app/run.sh'))).byteLength],
    ],
  );
  assert.ok(entries.find((e) => e.path === '/etc/hostname')!.what!.includes('size'));
  // The same tag against itself: no difference, and no directory below the root read.
  const same = await lines<DiffLine>(`/api/diff?${q({ a: images.v2, b: images.v2 })}`);
  assert.deepEqual(
    same.filter((l) => l.t === 'diff'),
    [],
  );
  await json(`/api/diff?${q({ a: images.v2 })}`, 400);
});

test('/api/status: bytes fetched and requests since start, against the image size', async () => {
  const s = await json<StatusDoc>(`/api/status?${q({ ref: images.v2 })}`);
  assert.ok(s.bytesFetched > 0 && s.requests > 0);
  const doc = await json<ImageDoc>(`/api/image?${q({ ref: images.v2 })}`);
  assert.equal(s.imageSize, doc.totalSize);
});

test('bad references and unknown things: clear errors with the right status', async () => {
  const bad = await json<{ error: { code: string; message: string } }>(`/api/image?${q({ ref: 'Bad Ref!' })}`, 400);
  assert.equal(bad.error.code, 'ERR_OCIFS_INVALID_REFERENCE');
  await json(`/api/image?${q({ ref: `${reg.host}/web/test:nope` })}`, 404);
  await json(`/api/image?${q({ ref: `${reg.host}/web/absent:v1` })}`, 404);
  await json('/api/image', 400);
  // The page may not open local files (only one named on the command line).
  const local = await json<{ error: { message: string } }>(`/api/image?${q({ ref: '/etc/passwd' })}`, 400);
  assert.match(local.error.message, /only image references/);
  await json(`/api/dir?${q({ ref: images.v2, path: '/', platform: 'linux/s390x' })}`, 200); // a single-platform image has one answer
  await json('/api/nothing', 404);
  const escape = await raw('/assets/../../etc/passwd', {
    host: `127.0.0.1:${web.port}`,
    cookie: `ocifs_web_${web.port}=${web.token}`,
  });
  assert.equal(escape.status, 404);
});

test('ocifs web: usage errors exit 2 before serving; a missing local file exits 1', async () => {
  const r = await ocifs(['web', 'Bad Ref!']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^ocifs: /);
  assert.equal((await ocifs(['web', '--port', '70000'])).code, 2);
  assert.equal((await ocifs(['web', '--username', 'u'])).code, 2);
  const missing = await ocifs(['web', join(tmp, 'no-such.erofs')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no such file/);
});
