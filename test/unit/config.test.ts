// The config file (mirrors per registry, insecure, cache values) and the --mirror flag.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  parseConfig,
  loadConfig,
  configPath,
  parseMirrorFlag,
  mergeMirrors,
  parseSize,
} from '../../src/config/index.js';
import { isOcifsError } from '../../src/errors.js';

const bad = (re: RegExp) => (e: unknown) => isOcifsError(e, 'ERR_OCIFS_CONFIG') && re.test((e as Error).message);

test('parses a full config and normalises registries and mirror URLs', () => {
  const c = parseConfig(
    JSON.stringify({
      registries: {
        'index.docker.io': { mirrors: ['http://10.0.0.5:5000/', 'https://mirror.example.com/v2'] },
        'reg.internal:5000': { insecure: true },
      },
      cacheDir: '/var/cache/ocifs',
      cacheMaxSize: '20GiB',
      chunkSize: 1048576,
    }),
  );
  assert.deepEqual(c, {
    registries: {
      'docker.io': { mirrors: ['http://10.0.0.5:5000', 'https://mirror.example.com'] },
      'reg.internal:5000': { insecure: true },
    },
    cacheDir: '/var/cache/ocifs',
    cacheMaxSize: 20 * 1024 ** 3,
    chunkSize: 1048576,
  });
});

test('rejects bad configs naming the field', () => {
  const cases: [unknown, RegExp][] = [
    [[], /top level.*object/],
    [{ mirrors: {} }, /mirrors: unknown setting/],
    [{ registries: [] }, /registries: expected an object/],
    [{ registries: { 'docker.io': { mirror: [] } } }, /registries\["docker.io"\].mirror: unknown setting/],
    [{ registries: { 'docker.io': { mirrors: 'http://x' } } }, /mirrors: expected an array/],
    [{ registries: { 'docker.io': { mirrors: ['ftp://x'] } } }, /mirrors\[0\]: .*only http/],
    [{ registries: { 'docker.io': { mirrors: ['http://x?a=1'] } } }, /mirrors\[0\]: .*query/],
    [{ registries: { 'docker.io': { insecure: 'yes' } } }, /insecure: expected true or false/],
    [{ registries: { 'bad host/x': {} } }, /not a registry host/],
    [{ registries: { 'docker.io': {}, 'index.docker.io': {} } }, /duplicate/],
    [{ cacheDir: 'relative/dir' }, /cacheDir: expected an absolute path/],
    [{ cacheMaxSize: '12 parsecs' }, /cacheMaxSize: expected a positive size/],
    [{ chunkSize: 0 }, /chunkSize: expected a positive size/],
    [{ chunkSize: -5 }, /chunkSize/],
  ];
  for (const [doc, re] of cases) assert.throws(() => parseConfig(JSON.stringify(doc), 'cfg.json'), bad(re), re.source);
  assert.throws(() => parseConfig('{', 'cfg.json'), bad(/cfg.json: not valid JSON/));
});

test('parseSize understands bytes, binary and decimal units', () => {
  assert.equal(parseSize('512'), 512);
  assert.equal(parseSize('64KiB'), 65536);
  assert.equal(parseSize('64k'), 65536);
  assert.equal(parseSize('1.5M'), 1.5 * 1024 * 1024);
  assert.equal(parseSize('2GB'), 2e9);
  assert.equal(parseSize('1 TiB'), 1024 ** 4);
  assert.equal(parseSize('x'), undefined);
  assert.equal(parseSize('1e3'), undefined);
  assert.equal(parseSize(1.5), undefined);
});

test('config location: --config, OCIFS_CONFIG, XDG_CONFIG_HOME, ~/.config', async () => {
  assert.deepEqual(configPath({ file: '/a.json', env: { OCIFS_CONFIG: '/b.json' } }), {
    path: '/a.json',
    required: true,
  });
  assert.deepEqual(configPath({ env: { OCIFS_CONFIG: '/b.json', XDG_CONFIG_HOME: '/x' } }), {
    path: '/b.json',
    required: true,
  });
  assert.deepEqual(configPath({ env: { XDG_CONFIG_HOME: '/x', HOME: '/h' } }), {
    path: '/x/ocifs/config.json',
    required: false,
  });
  assert.deepEqual(configPath({ env: { XDG_CONFIG_HOME: 'relative', HOME: '/h' } }), {
    path: '/h/.config/ocifs/config.json',
    required: false,
  });
  const dir = await mkdtemp(join(tmpdir(), 'ocifs-config-'));
  try {
    // absent default file: empty config; absent --config file: error
    assert.deepEqual(await loadConfig({ env: { HOME: dir } }), { registries: {} });
    await assert.rejects(loadConfig({ file: join(dir, 'nope.json'), env: {} }), bad(/cannot read config file/));
    await mkdir(join(dir, '.config', 'ocifs'), { recursive: true });
    const p = join(dir, '.config', 'ocifs', 'config.json');
    await writeFile(p, JSON.stringify({ registries: { 'ghcr.io': { mirrors: ['http://m:1'] } } }));
    assert.deepEqual(await loadConfig({ env: { HOME: dir } }), {
      registries: { 'ghcr.io': { mirrors: ['http://m:1'] } },
      path: p,
    });
    await writeFile(p, JSON.stringify({ registries: { 'ghcr.io': { mirrors: [1] } } }));
    await assert.rejects(
      loadConfig({ env: { HOME: dir } }),
      bad(/config.json: registries\["ghcr.io"\].mirrors\[0\]: expected a URL/),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('--mirror REGISTRY=URL parses, validates and merges ahead of the file', () => {
  assert.deepEqual(parseMirrorFlag('docker.io=http://10.0.0.5:5000/'), {
    registry: 'docker.io',
    url: 'http://10.0.0.5:5000',
  });
  assert.deepEqual(parseMirrorFlag('registry-1.docker.io=https://m.example'), {
    registry: 'docker.io',
    url: 'https://m.example',
  });
  assert.deepEqual(parseMirrorFlag('[::1]:5000=http://[::1]:5001'), {
    registry: '[::1]:5000',
    url: 'http://[::1]:5001',
  });
  for (const [v, re] of [
    ['docker.io', /expected REGISTRY=URL/],
    ['=http://x', /expected REGISTRY=URL/],
    ['docker.io=', /expected REGISTRY=URL/],
    ['a b=http://x', /not a registry/],
    ['docker.io=notaurl', /not a URL/],
  ] as const) {
    assert.throws(() => parseMirrorFlag(v), bad(re), v);
  }
  const merged = mergeMirrors(
    { 'docker.io': { mirrors: ['http://file:1', 'http://both:1'], insecure: false }, 'ghcr.io': { insecure: true } },
    [
      parseMirrorFlag('docker.io=http://flag:1'),
      parseMirrorFlag('docker.io=http://both:1'),
      parseMirrorFlag('quay.io=http://q:1'),
    ],
  );
  assert.deepEqual(merged, {
    'docker.io': { mirrors: ['http://flag:1', 'http://both:1', 'http://file:1'], insecure: false },
    'ghcr.io': { insecure: true, mirrors: [] },
    'quay.io': { mirrors: ['http://q:1'] },
  });
});
