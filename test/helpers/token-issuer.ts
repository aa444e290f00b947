// A token server for the distribution registry's `auth: token` mode, in the test suite: it
// issues real ES256 JWTs (cert in the `x5c` header, self-signed with the openssl CLI) that the
// registry verifies against its rootcertbundle. Claims per the distribution token spec: iss,
// sub, aud (= service), exp, nbf, iat, jti, access.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createSign, randomUUID, createPrivateKey } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runOk } from './run.js';

export interface TokenIssuerOptions {
  /** user → password accepted with Basic auth (GET) or grant_type=password (POST). */
  users?: Record<string, string>;
  /** May an anonymous client pull this repository? Default: no. */
  anonymousPull?: (repository: string) => boolean;
  /** JWT lifetime in seconds (exp - iat). Default 300. */
  lifetime?: number;
  /** expires_in reported in the response (default = lifetime). */
  reportedExpiresIn?: number | null;
  /** Which field carries the token: `token`, `access_token` or both (default `token`). */
  tokenField?: 'token' | 'access_token' | 'both';
  /** The first N tokens issued are already expired (exp an hour ago): tests re-request after 401. */
  expiredFirst?: number;
  /** OAuth2 refresh tokens accepted with grant_type=refresh_token → the user they stand for. */
  refreshTokens?: Record<string, string>;
  /** May this user push to this repository? Default: every authenticated user may. */
  canPush?: (user: string, repository: string) => boolean;
}

export interface TokenRequestRecord {
  method: string;
  /** user authenticated (Basic or refresh token), or undefined for anonymous. */
  user?: string;
  scopes: string[];
  service?: string;
  grantType?: string;
  /** The Authorization header, if any (to check what was sent where). */
  authorization?: string;
}

export interface TokenIssuer {
  /** The realm URL (`http://127.0.0.1:PORT/token`). */
  realm: string;
  service: string;
  issuer: string;
  /** Path of the PEM certificate bundle for the registry config. */
  certPath: string;
  /** Every token request seen, in order. */
  requests: TokenRequestRecord[];
  /** YAML for startRegistry's extraConfig. */
  registryConfig(): string;
  /** Changes options at run time (e.g. expiredFirst). */
  set(options: Partial<TokenIssuerOptions>): void;
  stop(): Promise<void>;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/** Starts a token issuer on a free loopback port; call stop() in an after hook. */
export async function startTokenIssuer(options: TokenIssuerOptions = {}): Promise<TokenIssuer> {
  const dir = await mkdtemp(join(tmpdir(), 'ocifs-token-'));
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  await runOk('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    keyPath,
    '-out',
    certPath,
    '-days',
    '2',
    '-subj',
    '/CN=ocifs-test-token-issuer',
  ]);
  const key = createPrivateKey(await readFile(keyPath));
  const certPem = await readFile(certPath, 'utf8');
  const certDer = certPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  const opts: TokenIssuerOptions = { ...options };
  const requests: TokenRequestRecord[] = [];
  const service = 'ocifs-test-registry';
  const issuer = 'ocifs-test-issuer';
  let issued = 0;

  const sign = (sub: string, access: { type: string; name: string; actions: string[] }[]): string => {
    const now = Math.floor(Date.now() / 1000);
    const lifetime = opts.lifetime ?? 300;
    const expired = issued < (opts.expiredFirst ?? 0);
    issued++;
    const header = { typ: 'JWT', alg: 'ES256', x5c: [certDer] };
    const claims = {
      iss: issuer,
      sub,
      aud: service,
      exp: expired ? now - 3600 : now + lifetime,
      nbf: expired ? now - 7200 : now - 10,
      iat: expired ? now - 7200 : now,
      jti: randomUUID(),
      access,
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = createSign('SHA256').update(input).sign({ key, dsaEncoding: 'ieee-p1363' });
    return `${input}.${b64url(sig)}`;
  };

  const grant = (user: string | undefined, scopes: string[]) =>
    scopes.flatMap((s) => {
      const m = /^repository:([^:]+):(.+)$/.exec(s);
      if (!m) return [];
      const wanted = m[2].split(',');
      const actions =
        user !== undefined
          ? wanted.filter((a) => a !== 'push' || (opts.canPush?.(user, m[1]) ?? true))
          : wanted.filter((a) => a === 'pull' && (opts.anonymousPull?.(m[1]) ?? false));
      return actions.length > 0 ? [{ type: 'repository', name: m[1], actions }] : [];
    });

  const reply = (res: ServerResponse, sub: string, scopes: string[], user: string | undefined) => {
    const token = sign(sub, grant(user, scopes));
    const body: Record<string, unknown> = {};
    const f = opts.tokenField ?? 'token';
    if (f === 'token' || f === 'both') body.token = token;
    if (f === 'access_token' || f === 'both') body.access_token = token;
    const reported = opts.reportedExpiresIn === undefined ? (opts.lifetime ?? 300) : opts.reportedExpiresIn;
    if (reported !== null) body.expires_in = reported;
    body.issued_at = new Date().toISOString();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };

  const deny = (res: ServerResponse) =>
    res
      .writeHead(401, { 'content-type': 'application/json' })
      .end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }));

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/token') return res.writeHead(404).end();
    const authorization = req.headers.authorization;
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const scopes = form
        .getAll('scope')
        .flatMap((s) => s.split(' '))
        .filter(Boolean);
      const grantType = form.get('grant_type') ?? undefined;
      let user: string | undefined;
      if (grantType === 'refresh_token') user = opts.refreshTokens?.[form.get('refresh_token') ?? ''];
      else if (grantType === 'password' && opts.users?.[form.get('username') ?? ''] === form.get('password'))
        user = form.get('username')!;
      requests.push({
        method: 'POST',
        ...(user ? { user } : {}),
        scopes,
        service: form.get('service') ?? undefined,
        ...(grantType ? { grantType } : {}),
        ...(authorization ? { authorization } : {}),
      });
      if (!user) return deny(res);
      // OAuth2 responses carry access_token
      const f = opts.tokenField;
      opts.tokenField = 'access_token';
      reply(res, user, scopes, user);
      opts.tokenField = f;
      return;
    }
    const scopes = url.searchParams.getAll('scope');
    let user: string | undefined;
    if (authorization?.startsWith('Basic ')) {
      const [u, ...p] = Buffer.from(authorization.slice(6), 'base64').toString('utf8').split(':');
      requests.push({
        method: 'GET',
        user: u,
        scopes,
        service: url.searchParams.get('service') ?? undefined,
        authorization,
      });
      if (opts.users?.[u] !== p.join(':')) return deny(res);
      user = u;
    } else {
      requests.push({
        method: 'GET',
        scopes,
        service: url.searchParams.get('service') ?? undefined,
        ...(authorization ? { authorization } : {}),
      });
    }
    reply(res, user ?? '', scopes, user);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const realm = `http://127.0.0.1:${port}/token`;
  return {
    realm,
    service,
    issuer,
    certPath,
    requests,
    registryConfig: () =>
      `auth: {token: {realm: "${realm}", service: ${service}, issuer: ${issuer}, rootcertbundle: ${certPath}}}`,
    set: (o) => Object.assign(opts, o),
    async stop() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
