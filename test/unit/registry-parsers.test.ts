// Pure parts of the registry client: WWW-Authenticate, Content-Range, Retry-After, backoff,
// auth-file keys, endpoint lists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseWwwAuthenticate,
  parseContentRange,
  parseRetryAfter,
  retryDelay,
  endpointsFor,
} from '../../src/registry/index.js';
import { normaliseKey, parseAuthFile } from '../../src/registry/credentials.js';
import { isOcifsError } from '../../src/errors.js';

test('WWW-Authenticate: bearer, basic, several challenges, quoted commas and escapes', () => {
  assert.deepEqual(
    parseWwwAuthenticate(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
    ),
    [
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.docker.io/token',
          service: 'registry.docker.io',
          scope: 'repository:library/alpine:pull',
        },
      },
    ],
  );
  assert.deepEqual(parseWwwAuthenticate('Basic realm="Registry Realm"'), [
    { scheme: 'basic', params: { realm: 'Registry Realm' } },
  ]);
  assert.deepEqual(
    parseWwwAuthenticate(
      'Basic realm="a, b", Bearer realm="https://x/t",scope="repository:a:pull,push",error="insufficient_scope"',
    ),
    [
      { scheme: 'basic', params: { realm: 'a, b' } },
      {
        scheme: 'bearer',
        params: { realm: 'https://x/t', scope: 'repository:a:pull,push', error: 'insufficient_scope' },
      },
    ],
  );
  assert.deepEqual(parseWwwAuthenticate('BEARER Realm=https://x/t , Service = "s\\"q"'), [
    { scheme: 'bearer', params: { realm: 'https://x/t', service: 's"q' } },
  ]);
  assert.deepEqual(parseWwwAuthenticate(['Basic realm=r', 'Negotiate abc123==']), [
    { scheme: 'basic', params: { realm: 'r' } },
    { scheme: 'negotiate', params: { token68: 'abc123==' } },
  ]);
  assert.deepEqual(parseWwwAuthenticate(undefined), []);
  assert.deepEqual(parseWwwAuthenticate(''), []);
  // unterminated quote: takes the rest, does not throw
  assert.deepEqual(parseWwwAuthenticate('Bearer realm="abc'), [{ scheme: 'bearer', params: { realm: 'abc' } }]);
});

test('Content-Range: exact, unknown total, malformed', () => {
  assert.deepEqual(parseContentRange('bytes 0-99/1000'), { start: 0, end: 99, total: 1000 });
  assert.deepEqual(parseContentRange('bytes 10-10/*'), { start: 10, end: 10 });
  assert.deepEqual(parseContentRange('Bytes  5-9/10'), { start: 5, end: 9, total: 10 });
  for (const v of [
    'bytes 5-4/10',
    'bytes 0-10/10',
    'bytes */10',
    'items 0-1/2',
    'bytes 0-1',
    'bytes -1-2/3',
    'bytes 0-99999999999999999/1',
    '',
    undefined,
    null,
  ]) {
    assert.equal(parseContentRange(v as string), undefined, String(v));
  }
});

test('Retry-After: seconds and HTTP-date, garbage ignored', () => {
  const now = Date.parse('Sun, 06 Nov 1994 08:49:37 GMT');
  assert.equal(parseRetryAfter('120', now), 120_000);
  assert.equal(parseRetryAfter(' 0 ', now), 0);
  assert.equal(parseRetryAfter('Sun, 06 Nov 1994 08:49:47 GMT', now), 10_000);
  assert.equal(parseRetryAfter('Sun, 06 Nov 1994 08:49:27 GMT', now), 0, 'a date in the past means now');
  assert.equal(parseRetryAfter('-5', now), undefined);
  assert.equal(parseRetryAfter('soon', now), undefined);
  assert.equal(parseRetryAfter('12.5', now), undefined);
  assert.equal(parseRetryAfter(undefined, now), undefined);
});

test('backoff: exponential with equal jitter, capped; Retry-After capped', () => {
  const p = { maxRetries: 5, baseDelay: 100, maxDelay: 1000, retryAfterMax: 5000 };
  assert.equal(
    retryDelay(0, p, undefined, () => 0),
    50,
  );
  assert.equal(
    retryDelay(0, p, undefined, () => 1),
    100,
  );
  assert.equal(
    retryDelay(3, p, undefined, () => 0.5),
    600,
  );
  assert.equal(
    retryDelay(10, p, undefined, () => 1),
    1000,
  );
  assert.equal(retryDelay(0, p, 2000), 2000);
  assert.equal(retryDelay(0, p, 3_600_000), 5000);
});

test('auth-file keys: schemes, Docker Hub aliases, namespaces', () => {
  assert.deepEqual(normaliseKey('https://index.docker.io/v1/'), { host: 'docker.io', path: '' });
  assert.deepEqual(normaliseKey('registry-1.docker.io'), { host: 'docker.io', path: '' });
  assert.deepEqual(normaliseKey('http://127.0.0.1:5000'), { host: '127.0.0.1:5000', path: '' });
  assert.deepEqual(normaliseKey('quay.io/org/repo'), { host: 'quay.io', path: 'org/repo' });
  const f = parseAuthFile(
    JSON.stringify({ auths: { x: {} }, credHelpers: { 'gcr.io': 'gcloud' }, credsStore: 'desktop' }),
    '/c.json',
  );
  assert.equal(f.credsStore, 'desktop');
  assert.deepEqual(f.credHelpers, { 'gcr.io': 'gcloud' });
  for (const [t, re] of [
    ['{', /not valid JSON/],
    ['[]', /expected a JSON object/],
    ['{"auths": 1}', /"auths" must be an object/],
    ['{"credHelpers": {"a": 1}}', /credHelpers\["a"\] must be a string/],
  ] as const) {
    assert.throws(
      () => parseAuthFile(t, '/c.json'),
      (e: unknown) => isOcifsError(e, 'ERR_OCIFS_CREDENTIALS') && re.test((e as Error).message),
      t,
    );
  }
});

test('endpoints: mirrors first, https unless loopback or insecure, Docker Hub API host', () => {
  const hosts = new Map([
    ['docker.io', { mirrors: ['http://m1:5000', 'https://m2'] }],
    ['reg.internal', { insecure: true }],
  ]);
  assert.deepEqual(
    endpointsFor('docker.io', hosts, false).map((e) => [e.base, e.mirror, e.credentialKey, e.ns]),
    [
      ['http://m1:5000', true, 'm1:5000', 'docker.io'],
      ['https://m2', true, 'm2', 'docker.io'],
      ['https://registry-1.docker.io', false, 'docker.io', undefined],
    ],
  );
  assert.equal(endpointsFor('reg.internal', hosts, false)[0].base, 'http://reg.internal');
  assert.equal(endpointsFor('ghcr.io', hosts, false)[0].base, 'https://ghcr.io');
  assert.equal(endpointsFor('ghcr.io', hosts, true)[0].base, 'http://ghcr.io');
  assert.equal(endpointsFor('localhost:5000', hosts, false)[0].base, 'http://localhost:5000');
  assert.equal(endpointsFor('[::1]:5000', hosts, false)[0].base, 'http://[::1]:5000');
});
