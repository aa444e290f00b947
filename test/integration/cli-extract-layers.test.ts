// Layers that real appliers accept and ocifs once refused: a hardlink in an upper layer to a
// file of a lower layer (docker and containerd link it in the merged tree; ocifs rejected the
// whole layer), and a tree nested deeper than PATH_MAX (GNU tar extracts it with openat; ocifs
// failed with a 10 KB error line, as it still must, but in one short line, for a name no host
// filesystem holds at the bottom of such a tree). Images made with GNU tar and pushed by skopeo to a real registry.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ocifs, ocifsOk } from '../helpers/cli.js';
import { MT_LAYER_TAR, writeImageLayout } from '../helpers/oci-layout.js';
import { skopeoPush, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { runOk } from '../helpers/run.js';
import { header } from '../unit/tar-test-helpers.js';

let reg: TestRegistry;
let tmp = '';
const refs = { link: '', deep: '', toolong: '' };
/** Directories of 200 bytes, nested 40 deep: an 8 KB path, twice PATH_MAX. */
const DEEP = Array.from({ length: 40 }, (_, i) => `${String(i).padStart(3, '0')}-${'d'.repeat(196)}`);

/** A tar of hand-made members (ustar headers). */
function tarOf(members: { name: string; content?: string; type?: string; link?: string }[]): Buffer {
  const parts: Uint8Array[] = [];
  for (const m of members) {
    const body = Buffer.from(m.content ?? '');
    parts.push(
      header(m.name, { size: body.length, type: m.type, link: m.link }),
      body,
      Buffer.alloc((512 - (body.length % 512)) % 512),
    );
  }
  return Buffer.concat([...parts, Buffer.alloc(1024)]);
}

/** A tar member whose name goes in a PAX `path` record (ustar's field holds 100 bytes). */
function paxMember(name: string, type: string, content = ''): Buffer {
  const field = ` path=${name}\n`;
  let len = field.length;
  while (String(len).length + field.length !== len) len = String(len).length + field.length;
  const record = Buffer.from(`${len}${field}`);
  const body = Buffer.from(content);
  const pad = (n: number) => Buffer.alloc((512 - (n % 512)) % 512);
  return Buffer.concat([
    header('PaxHeader/x', { size: record.length, type: 'x' }),
    record,
    pad(record.length),
    header(name.slice(-99), { size: body.length, type }),
    body,
    pad(body.length),
  ]);
}

/** Python, for trees deeper than PATH_MAX: every call relative to a directory descriptor. */
const PY_DEEP_TREE = `
import os, sys
root, names = sys.argv[1], sys.argv[2:]
fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
for n in names:
    os.mkdir(n, 0o755, dir_fd=fd)
    nfd = os.open(n, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = nfd
f = os.open('file', os.O_WRONLY | os.O_CREAT, 0o640, dir_fd=fd)
os.write(f, b'at the bottom\\n')
os.close(f)
os.symlink('file', 'symlink', dir_fd=fd)
os.link('file', 'hardlink', src_dir_fd=fd, dst_dir_fd=fd)
os.mkfifo('fifo', 0o600, dir_fd=fd)
`;

/** What the tree under `root`/DEEP holds, read relative to descriptors. */
const PY_READ_DEEP = `
import os, sys, stat, json
root, names = sys.argv[1], sys.argv[2:]
fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
for n in names:
    nfd = os.open(n, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
    os.close(fd)
    fd = nfd
f = os.open('file', os.O_RDONLY, dir_fd=fd)
content = os.read(f, 100).decode()
st = os.fstat(f)
h = os.stat('hardlink', dir_fd=fd, follow_symlinks=False)
print(json.dumps({ 'content': content, 'mode': oct(st.st_mode & 0o7777), 'nlink': st.st_nlink, 'sameInode': h.st_ino == st.st_ino,
  'symlink': os.readlink('symlink', dir_fd=fd), 'fifo': stat.S_ISFIFO(os.stat('fifo', dir_fd=fd, follow_symlinks=False).st_mode) }))
`;

before(async () => {
  reg = await startRegistry();
  tmp = await mkdtemp(join(tmpdir(), 'ocifs-extract-layers-'));
  const lower = tarOf([{ name: 'usr/bin/tool', content: 'the tool\n' }]);
  const upper = tarOf([
    { name: 'usr/bin/alias', type: '1', link: 'usr/bin/tool' },
    { name: 'etc/motd', content: 'hi\n' },
  ]);
  await writeImageLayout(
    join(tmp, 'link'),
    {
      layers: [
        { bytes: lower, mediaType: MT_LAYER_TAR },
        { bytes: upper, mediaType: MT_LAYER_TAR },
      ],
    },
    'v1',
  );
  refs.link = `${reg.host}/layers/link:v1`;
  await skopeoPush(join(tmp, 'link'), 'v1', refs.link);

  await runOk('mkdir', ['-p', join(tmp, 'deep-tree')]);
  await runOk('python3', ['-c', PY_DEEP_TREE, join(tmp, 'deep-tree'), ...DEEP]);
  await runOk('tar', ['--format=pax', '-cf', join(tmp, 'deep.tar'), '-C', join(tmp, 'deep-tree'), '.']);
  await writeImageLayout(
    join(tmp, 'deep'),
    { layers: [{ bytes: await readFile(join(tmp, 'deep.tar')), mediaType: MT_LAYER_TAR }] },
    'v1',
  );
  refs.deep = `${reg.host}/layers/deep:v1`;
  await skopeoPush(join(tmp, 'deep'), 'v1', refs.deep);

  // A name longer than any host filesystem takes (NAME_MAX is 255 bytes), at the bottom of the
  // deep tree: the error is about an 8 KB path, which once made a line of 16 KB (the path, twice).
  const toolongName = `${DEEP.join('/')}/${'n'.repeat(300)}`;
  const members = [
    ...DEEP.map((_, i) => paxMember(DEEP.slice(0, i + 1).join('/') + '/', '5')),
    paxMember(toolongName, '0', 'x\n'),
  ];
  await writeImageLayout(
    join(tmp, 'toolong'),
    { layers: [{ bytes: Buffer.concat([...members, Buffer.alloc(1024)]), mediaType: MT_LAYER_TAR }] },
    'v1',
  );
  refs.toolong = `${reg.host}/layers/toolong:v1`;
  await skopeoPush(join(tmp, 'toolong'), 'v1', refs.toolong);
});

after(async () => {
  await reg?.stop();
  // GNU rm (fts, relative to descriptors): Node's recursive rm fails on paths past PATH_MAX.
  if (tmp) await runOk('rm', ['-rf', '--', tmp]);
});

test('a hardlink to a file of a lower layer reads as that file and extracts', async () => {
  const cache = join(tmp, 'cache-link');
  const cat = await ocifsOk(['cat', '--cache-dir', cache, refs.link, '/usr/bin/alias']);
  assert.equal(cat.stdout.toString(), 'the tool\n');
  const dest = join(tmp, 'out-link');
  await ocifsOk(['extract', '-q', '--cache-dir', cache, refs.link, dest]);
  assert.equal(await readFile(join(dest, 'usr/bin/alias'), 'utf8'), 'the tool\n');
  assert.equal(await readFile(join(dest, 'usr/bin/tool'), 'utf8'), 'the tool\n');
  // The layer alone says what the link is.
  const alone = await ocifs(['cat', '--cache-dir', cache, '--layer', '1', refs.link, '/usr/bin/alias']);
  assert.equal(alone.code, 1);
  assert.match(alone.stderr, /^ocifs: usr\/bin\/alias: a hardlink to usr\/bin\/tool, which is not in this layer/);
});

test('a tree nested deeper than PATH_MAX extracts whole: file, symlink, hardlink and fifo at the bottom', async () => {
  const dest = join(tmp, 'out-deep');
  const r = await ocifs(['extract', '-q', '--cache-dir', join(tmp, 'cache-deep'), refs.deep, dest]);
  assert.equal(r.code, 0, r.stderr.slice(0, 2000));
  const got = JSON.parse((await runOk('python3', ['-c', PY_READ_DEEP, dest, ...DEEP])).stdout.toString());
  assert.deepEqual(got, {
    content: 'at the bottom\n',
    mode: '0o640',
    nlink: 2,
    sameInode: true,
    symlink: 'file',
    fifo: true,
  });
});

test('a name the host cannot hold fails with one short line naming the cause', async () => {
  const r = await ocifs(['extract', '-q', '--cache-dir', join(tmp, 'cache-long'), refs.toolong, join(tmp, 'out-long')]);
  assert.equal(r.code, 1);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1);
  assert.ok(lines[0].length < 1000, `a ${lines[0].length}-character line`);
  assert.match(lines[0], /^ocifs: .*(ENAMETOOLONG|name too long)/);
  // The path is cut in the middle, its start (DEST) and its end (the name) kept.
  assert.match(lines[0], /out-long\/000-d+…\(\d+ more\)…n+: create failed/);
});
