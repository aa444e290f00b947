// --deny-private-redirects: which addresses count as private, and the connect-time lookup that
// refuses them (so DNS cannot answer a public address to the check and a private one later).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { isPrivateAddress } from '../../src/registry/private-address.js';
import { undiciParts } from '../../src/registry/undici-parts.js';
import { guardedLookup, refusePrivateTarget } from '../../src/registry/redirect-guard.js';

test('private, link-local, metadata and other non-routable addresses are recognised, public ones are not', () => {
  for (const a of [
    '169.254.169.254',
    '169.254.170.2',
    '100.100.100.200',
    '127.0.0.1',
    '127.8.9.10',
    '10.0.0.5',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '::',
    '::1',
    '[::1]',
    'fd00:ec2::254',
    'fc00::1',
    'fe80::1%eth0',
    'ff02::1',
    '::ffff:169.254.169.254',
    '::ffff:a9fe:a9fe',
    '64:ff9b::169.254.169.254',
    '64:ff9b::a9fe:a9fe',
  ]) {
    assert.equal(isPrivateAddress(a), true, a);
  }
  for (const a of [
    '8.8.8.8',
    '172.32.0.1',
    '100.128.0.1',
    '169.255.0.1',
    '2001:4860:4860::8888',
    '64:ff9b::808:808',
    '::ffff:8.8.8.8',
    'example.com',
    '',
  ]) {
    assert.equal(isPrivateAddress(a), false, a);
  }
});

test('the connect-time lookup refuses a name that resolves to loopback; the pre-check names the address', async () => {
  const err = await new Promise<unknown>((resolve) => guardedLookup('localhost', {}, (e) => resolve(e)));
  assert.equal((err as { code?: string })?.code, 'ERR_OCIFS_REDIRECT_REFUSED');
  await assert.rejects(
    refusePrivateTarget(new URL('https://registry.example/v2/'), new URL('http://localhost:9/x')),
    (e: any) => e.code === 'ERR_OCIFS_REDIRECT_REFUSED' && /localhost resolves to/.test(e.message),
  );
  await assert.rejects(
    refusePrivateTarget(new URL('https://registry.example/v2/'), new URL('http://[fd00:ec2::254]/')),
    { code: 'ERR_OCIFS_REDIRECT_REFUSED' },
  );
  // A public literal passes (no lookup needed).
  await refusePrivateTarget(new URL('https://registry.example/v2/'), new URL('https://8.8.8.8/blob'));
});

test('a connection pool with the guarded lookup cannot reach a name that resolves to loopback', async () => {
  const server = createServer((_q, r) => r.end('secret'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { EnvHttpProxyAgent, request } = undiciParts();
  const pool = new EnvHttpProxyAgent({ connect: { timeout: 2000, lookup: guardedLookup } });
  try {
    await assert.rejects(
      request(pool, {
        origin: `http://localhost:${(server.address() as { port: number }).port}`,
        path: '/',
        method: 'GET',
      }),
      { code: 'ERR_OCIFS_REDIRECT_REFUSED' },
    );
  } finally {
    await pool.close();
    server.close();
  }
});
