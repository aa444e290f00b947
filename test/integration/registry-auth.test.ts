// Authentication against real registries: htpasswd basic auth, and token auth backed by the
// test suite's token issuer (real ES256 JWTs the registry verifies): anonymous and credentialed
// tokens with the right scope, `token` vs `access_token`, refused tokens re-requested, tokens
// renewed at expiry, docker config / auth.json / credential helpers, and credentials never sent
// to a host the user did not name.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, mkdir, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRegistry, skopeoPush, type TestRegistry } from '../helpers/registry.js';
import { writeImageLayout, MT_LAYER_EROFS } from '../helpers/oci-layout.js';
import { writeHtpasswd, htpasswdConfig } from '../helpers/htpasswd.js';
import { startTokenIssuer, type TokenIssuer } from '../helpers/token-issuer.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { RegistryClient } from '../../src/registry/index.js';
import { isOcifsError } from '../../src/errors.js';

let tmp: string;
const layer = randomBytes(50_000);
/** An environment with no credentials anywhere (HOME is an empty temp dir). */
let emptyEnv: NodeJS.ProcessEnv;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ocifs-reg-auth-'));
  await writeImageLayout(join(tmp, 'layout'), { layers: [{ bytes: layer, mediaType: MT_LAYER_EROFS }] }, 'v1');
  await mkdir(join(tmp, 'home'));
  emptyEnv = { PATH: process.env.PATH, HOME: join(tmp, 'home') };
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function readLayer(c: RegistryClient, ref: string): Promise<Buffer> {
  const img = await c.resolve(ref);
  return Buffer.from(await c.blobSource(img.reference, img.layers[0]).read(0, layer.length));
}

describe('htpasswd basic auth', () => {
  let reg: TestRegistry;
  before(async () => {
    const file = await writeHtpasswd({ alice: 's3cret', bob: 'other' }, await mkdtemp(join(tmp, 'ht-')));
    reg = await startRegistry({ extraConfig: htpasswdConfig(file), readyStatus: 401 });
    await skopeoPush(join(tmp, 'layout'), 'v1', `${reg.host}/priv/app:v1`, ['--dest-creds', 'alice:s3cret']);
  });
  after(() => reg?.stop());

  test('explicit credentials work; without any the error says how to give them', async () => {
    const c = new RegistryClient({ username: 'alice', password: 's3cret', env: emptyEnv });
    try {
      assert.deepEqual(await readLayer(c, `${reg.host}/priv/app:v1`), layer);
    } finally {
      await c.close();
    }
    const anon = new RegistryClient({ env: emptyEnv });
    try {
      await assert.rejects(
        anon.resolve(`${reg.host}/priv/app:v1`),
        (e: unknown) => isOcifsError(e, 'ERR_OCIFS_UNAUTHORIZED') && /--username/.test((e as Error).message),
      );
    } finally {
      await anon.close();
    }
    const wrong = new RegistryClient({ username: 'alice', password: 'nope', env: emptyEnv });
    try {
      await assert.rejects(wrong.resolve(`${reg.host}/priv/app:v1`), (e: unknown) =>
        isOcifsError(e, 'ERR_OCIFS_UNAUTHORIZED'),
      );
    } finally {
      await wrong.close();
    }
  });

  test('a redirect to blob storage on another host is followed without the Authorization header', async () => {
    // "storage": an anonymous registry holding the same blob, behind a logging proxy
    const storage = await startRegistry();
    const storageProxy = await startFaultProxy(storage.url);
    const front = await startFaultProxy(reg.url);
    try {
      await skopeoPush(join(tmp, 'layout'), 'v1', `${storage.host}/priv/app:v1`);
      front.addRule({ path: /\/blobs\//, fault: { kind: 'redirect', to: storageProxy.url } });
      const c = new RegistryClient({ username: 'alice', password: 's3cret', env: emptyEnv });
      try {
        const img = await c.resolve(`${front.host}/priv/app:v1`);
        const got = await c.blobSource(img.reference, img.layers[0]).read(1000, 2000);
        assert.deepEqual(Buffer.from(got), layer.subarray(1000, 3000));
      } finally {
        await c.close();
      }
      assert.ok(
        front.log.some((e) => e.path.includes('/blobs/') && e.status === 307 && e.authorization?.startsWith('Basic ')),
        'the registry itself got the credentials',
      );
      const stored = storageProxy.log.filter((e) => e.path.includes('/blobs/'));
      assert.ok(stored.length >= 2, 'config and layer came from storage');
      assert.ok(
        stored.every((e) => e.authorization === undefined),
        'no Authorization sent to the storage host',
      );
      assert.ok(
        stored.some((e) => e.range === 'bytes=1000-2999'),
        'Range kept across the redirect',
      );
    } finally {
      await front.stop();
      await storageProxy.stop();
      await storage.stop();
    }
  });

  test('OCIFS_USERNAME/OCIFS_PASSWORD, only for the registry they belong to', async () => {
    const env = { ...emptyEnv, OCIFS_USERNAME: 'bob', OCIFS_PASSWORD: 'other' };
    const c = new RegistryClient({ env, credentialsRegistry: reg.host });
    try {
      assert.deepEqual(await readLayer(c, `${reg.host}/priv/app:v1`), layer);
    } finally {
      await c.close();
    }
    const elsewhere = new RegistryClient({ env, credentialsRegistry: 'registry.example.com' });
    try {
      await assert.rejects(elsewhere.resolve(`${reg.host}/priv/app:v1`), (e: unknown) =>
        isOcifsError(e, 'ERR_OCIFS_UNAUTHORIZED'),
      );
    } finally {
      await elsewhere.close();
    }
  });

  test('~/.docker/config.json auths, $REGISTRY_AUTH_FILE first, podman auth.json with a namespace key', async () => {
    const home = await mkdtemp(join(tmp, 'home-'));
    await mkdir(join(home, '.docker'));
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    await writeFile(
      join(home, '.docker', 'config.json'),
      JSON.stringify({ auths: { [`http://${reg.host}`]: { auth: b64('alice:s3cret') } } }),
    );
    const c1 = new RegistryClient({ env: { PATH: process.env.PATH, HOME: home } });
    try {
      assert.deepEqual(await readLayer(c1, `${reg.host}/priv/app:v1`), layer);
    } finally {
      await c1.close();
    }
    // REGISTRY_AUTH_FILE wins over the docker config: a wrong password there must be used (and fail)
    const authFile = join(home, 'auth.json');
    await writeFile(authFile, JSON.stringify({ auths: { [reg.host]: { auth: b64('alice:wrong') } } }));
    const c2 = new RegistryClient({ env: { PATH: process.env.PATH, HOME: home, REGISTRY_AUTH_FILE: authFile } });
    try {
      await assert.rejects(c2.resolve(`${reg.host}/priv/app:v1`), (e: unknown) =>
        isOcifsError(e, 'ERR_OCIFS_UNAUTHORIZED'),
      );
    } finally {
      await c2.close();
    }
    // podman: $XDG_RUNTIME_DIR/containers/auth.json, most specific key wins
    const run = join(home, 'run');
    await mkdir(join(run, 'containers'), { recursive: true });
    await writeFile(
      join(run, 'containers', 'auth.json'),
      JSON.stringify({
        auths: { [reg.host]: { auth: b64('alice:wrong') }, [`${reg.host}/priv/app`]: { auth: b64('bob:other') } },
      }),
    );
    const c3 = new RegistryClient({ env: { PATH: process.env.PATH, HOME: join(tmp, 'home'), XDG_RUNTIME_DIR: run } });
    try {
      assert.deepEqual(await readLayer(c3, `${reg.host}/priv/app:v1`), layer);
    } finally {
      await c3.close();
    }
  });

  test('credHelpers and credsStore run docker-credential-<name> get with the registry on stdin', async () => {
    const home = await mkdtemp(join(tmp, 'home-'));
    const bin = join(home, 'bin');
    await mkdir(join(home, '.docker'), { recursive: true });
    await mkdir(bin);
    const seen = join(home, 'helper-stdin');
    await writeFile(
      join(bin, 'docker-credential-ocifstest'),
      `#!/bin/sh\n[ "$1" = get ] || exit 1\ncat > ${seen}\necho '{"ServerURL":"x","Username":"alice","Secret":"s3cret"}'\n`,
    );
    await chmod(join(bin, 'docker-credential-ocifstest'), 0o755);
    await writeFile(
      join(bin, 'docker-credential-nothing'),
      `#!/bin/sh\necho "credentials not found in native keychain"\nexit 1\n`,
    );
    await chmod(join(bin, 'docker-credential-nothing'), 0o755);
    const env = { PATH: `${bin}:${process.env.PATH}`, HOME: home };
    await writeFile(
      join(home, '.docker', 'config.json'),
      JSON.stringify({ credHelpers: { [reg.host]: 'ocifstest' }, credsStore: 'nothing' }),
    );
    const c = new RegistryClient({ env });
    try {
      assert.deepEqual(await readLayer(c, `${reg.host}/priv/app:v1`), layer);
      const { readFile } = await import('node:fs/promises');
      assert.equal(await readFile(seen, 'utf8'), reg.host);
    } finally {
      await c.close();
    }
    // credsStore only: "not found" means anonymous, which this registry refuses
    await writeFile(join(home, '.docker', 'config.json'), JSON.stringify({ credsStore: 'nothing' }));
    const c2 = new RegistryClient({ env });
    try {
      await assert.rejects(c2.resolve(`${reg.host}/priv/app:v1`), (e: unknown) =>
        isOcifsError(e, 'ERR_OCIFS_UNAUTHORIZED'),
      );
    } finally {
      await c2.close();
    }
    // a helper that is not installed is a clear error
    await writeFile(join(home, '.docker', 'config.json'), JSON.stringify({ credsStore: 'absent-helper' }));
    const c3 = new RegistryClient({ env });
    try {
      await assert.rejects(
        c3.resolve(`${reg.host}/priv/app:v1`),
        (e: unknown) =>
          isOcifsError(e, 'ERR_OCIFS_CREDENTIALS') &&
          /docker-credential-absent-helper is not installed/.test((e as Error).message),
      );
    } finally {
      await c3.close();
    }
  });
});

describe('token auth (distribution token protocol, real JWTs)', () => {
  let issuer: TokenIssuer;
  let reg: TestRegistry;
  before(async () => {
    issuer = await startTokenIssuer({
      users: { alice: 's3cret' },
      anonymousPull: (r) => r.startsWith('public/'),
      refreshTokens: { 'refresh-abc': 'alice' },
    });
    reg = await startRegistry({ extraConfig: issuer.registryConfig(), readyStatus: 401 });
    await skopeoPush(join(tmp, 'layout'), 'v1', `${reg.host}/public/app:v1`, ['--dest-creds', 'alice:s3cret']);
    await skopeoPush(join(tmp, 'layout'), 'v1', `${reg.host}/priv/app:v1`, ['--dest-creds', 'alice:s3cret']);
  });
  after(async () => {
    await reg?.stop();
    await issuer?.stop();
  });

  test('ping shows the bearer challenge', async () => {
    const c = new RegistryClient({ env: emptyEnv });
    try {
      const p = await c.ping(reg.host);
      assert.equal(p.status, 401);
      assert.deepEqual(p.challenges, [{ scheme: 'bearer', params: { realm: issuer.realm, service: issuer.service } }]);
    } finally {
      await c.close();
    }
  });

  test('anonymous token with the pull scope; one token serves many requests', async () => {
    issuer.requests.length = 0;
    const c = new RegistryClient({ env: emptyEnv });
    try {
      assert.deepEqual(await readLayer(c, `${reg.host}/public/app:v1`), layer);
      assert.equal(issuer.requests.length, 1);
      assert.deepEqual(issuer.requests[0], {
        method: 'GET',
        scopes: ['repository:public/app:pull'],
        service: issuer.service,
      });
      // private repository: the anonymous token has no access → clear 401
      await assert.rejects(
        c.resolve(`${reg.host}/priv/app:v1`),
        (e: unknown) => isOcifsError(e, 'ERR_OCIFS_UNAUTHORIZED') && /priv\/app/.test((e as Error).message),
      );
    } finally {
      await c.close();
    }
  });

  test('credentialed token (basic auth to the token server), token or access_token field', async () => {
    for (const field of ['token', 'access_token', 'both'] as const) {
      issuer.set({ tokenField: field });
      issuer.requests.length = 0;
      const c = new RegistryClient({ username: 'alice', password: 's3cret', env: emptyEnv });
      try {
        assert.deepEqual(await readLayer(c, `${reg.host}/priv/app:v1`), layer, field);
        assert.equal(issuer.requests.length, 1);
        assert.equal(issuer.requests[0].user, 'alice');
      } finally {
        await c.close();
      }
    }
    issuer.set({ tokenField: 'token' });
    const bad = new RegistryClient({ username: 'alice', password: 'wrong', env: emptyEnv });
    try {
      await assert.rejects(
        bad.resolve(`${reg.host}/priv/app:v1`),
        (e: unknown) =>
          isOcifsError(e, 'ERR_OCIFS_UNAUTHORIZED') && /refused the credentials/.test((e as Error).message),
      );
    } finally {
      await bad.close();
    }
  });

  test('identitytoken from the docker config: OAuth2 refresh-token POST', async () => {
    const home = await mkdtemp(join(tmp, 'home-'));
    await mkdir(join(home, '.docker'));
    await writeFile(
      join(home, '.docker', 'config.json'),
      JSON.stringify({ auths: { [reg.host]: { identitytoken: 'refresh-abc' } } }),
    );
    issuer.requests.length = 0;
    const c = new RegistryClient({ env: { PATH: process.env.PATH, HOME: home } });
    try {
      assert.deepEqual(await readLayer(c, `${reg.host}/priv/app:v1`), layer);
      assert.equal(issuer.requests[0].method, 'POST');
      assert.equal(issuer.requests[0].grantType, 'refresh_token');
      assert.equal(issuer.requests[0].user, 'alice');
    } finally {
      await c.close();
    }
  });

  test('a refused (expired) token is re-requested on 401; an expiring token is renewed before use', async () => {
    // every token issued now is already expired (exp an hour ago)
    issuer.set({ expiredFirst: Number.MAX_SAFE_INTEGER });
    const c = new RegistryClient({ username: 'alice', password: 's3cret', env: emptyEnv });
    issuer.requests.length = 0;
    try {
      // the registry refuses the token it got: a clear error, not a loop
      await assert.rejects(c.resolve(`${reg.host}/priv/app:v1`), (e: unknown) =>
        isOcifsError(e, 'ERR_OCIFS_UNAUTHORIZED'),
      );
      assert.equal(issuer.requests.length, 1);
      // tokens are good again: the cached (refused) token is sent, refused with 401, and replaced
      issuer.set({ expiredFirst: 0 });
      assert.deepEqual(await readLayer(c, `${reg.host}/priv/app:v1`), layer);
      assert.equal(issuer.requests.length, 2);
    } finally {
      await c.close();
    }
    // reported lifetime 1 s: the client asks for a new token before using an expired one
    issuer.set({ reportedExpiresIn: 1 });
    const c2 = new RegistryClient({ username: 'alice', password: 's3cret', env: emptyEnv });
    try {
      issuer.requests.length = 0;
      const img = await c2.resolve(`${reg.host}/priv/app:v1`);
      assert.equal(issuer.requests.length, 1);
      await sleep(1100);
      const got = await c2.blobSource(img.reference, img.layers[0]).read(0, 10);
      assert.deepEqual(Buffer.from(got), layer.subarray(0, 10));
      assert.equal(issuer.requests.length, 2, 'renewed once, without a 401 round trip first');
    } finally {
      issuer.set({ reportedExpiresIn: undefined });
      await c2.close();
    }
  });
});
