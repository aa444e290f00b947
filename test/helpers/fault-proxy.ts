// An HTTP proxy in front of a registry that injects faults per request: Range ignored (200 with
// the whole body), error statuses with Retry-After, truncated bodies, a flipped byte, a wrong
// Content-Range, stalled bodies and connection resets. It also works as a forward proxy
// (absolute-form request URLs), so HTTP_PROXY handling can be tested with it.
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
  type Server,
} from 'node:http';
import type { Socket } from 'node:net';

export type Fault =
  /** Drop the Range header: the registry answers 200 with the whole blob (cut after `truncateAfter` bytes if set). */
  | { kind: 'ignore-range'; truncateAfter?: number }
  /** Answer with this status (and Retry-After) instead of forwarding. */
  | { kind: 'status'; status: number; retryAfter?: string; body?: string }
  /** Forward headers, send only the first `after` body bytes, then close the connection. */
  | { kind: 'truncate'; after: number }
  /**
   * Forward, but XOR the body byte at `at` with 0xff; with `pause`, hold the body back for
   * `pause.ms` once `pause.at` bytes have been sent (a slow upstream from there on).
   */
  | { kind: 'flip'; at: number; pause?: { at: number; ms: number } }
  /** Forward headers and `after` body bytes, then send nothing more (connection stays open). */
  | { kind: 'stall'; after: number }
  /** Close the connection without answering. */
  | { kind: 'reset' }
  /** Take the request and never answer or forward it (the client waits until it gives up or dies). */
  | { kind: 'hold' }
  /** Forward, but shift the start and end of Content-Range by `shift`. */
  | { kind: 'shift-content-range'; shift: number }
  /** Forward, appending `extra` bytes to the body (Content-Length adjusted). */
  | { kind: 'extra-bytes'; extra: number }
  /** Answer with a redirect (default 307) to `to` + the request's path and query (blob storage). */
  | { kind: 'redirect'; to: string; status?: number }
  /**
   * Forward, but send `body`'s bytes instead of the upstream's at the same blob offsets (the
   * Content-Range start, or 0): a registry that lies about a blob's content, keeping its length.
   */
  | { kind: 'substitute'; body: Uint8Array };

export interface FaultRule {
  /** Which requests: method and a path regex (default: every request). */
  method?: string;
  path?: RegExp;
  /** Only requests with a Range header (true) / without (false). */
  ranged?: boolean;
  /** Only requests whose User-Agent matches (one client of a shared registry: ocifs, podman). */
  userAgent?: RegExp;
  fault: Fault;
  /** How many matching requests get the fault (default: all). */
  times?: number;
  /** Let this many matching requests through untouched first (a fault midway through a series). */
  skip?: number;
}

export interface ProxyLogEntry {
  method: string;
  path: string;
  range?: string;
  /** Status sent to the client (undefined for a reset). */
  status?: number;
  fault?: Fault['kind'];
  /** Body bytes sent to the client. */
  bytes: number;
  /** True when the request came in absolute form (forward proxy use). */
  forward: boolean;
  authorization?: string;
  userAgent?: string;
}

export interface FaultProxy {
  /** `127.0.0.1:PORT`, for image references. */
  host: string;
  url: string;
  port: number;
  log: ProxyLogEntry[];
  addRule(rule: FaultRule): void;
  clearRules(): void;
  stop(): Promise<void>;
}

/** Starts a proxy forwarding to `upstream` (`http://127.0.0.1:PORT`). */
export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const up = new URL(upstream);
  const rules: (FaultRule & { used: number; passed: number })[] = [];
  const log: ProxyLogEntry[] = [];

  const pick = (req: IncomingMessage, path: string): Fault | undefined => {
    for (const r of rules) {
      if (r.method && r.method !== req.method) continue;
      if (r.path && !r.path.test(path)) continue;
      if (r.ranged !== undefined && r.ranged !== (req.headers.range !== undefined)) continue;
      if (r.userAgent && !r.userAgent.test(req.headers['user-agent'] ?? '')) continue;
      if (r.times !== undefined && r.used >= r.times) continue;
      if (r.skip !== undefined && r.passed < r.skip) {
        r.passed++;
        continue;
      }
      r.used++;
      return r.fault;
    }
    return undefined;
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const forward = /^https?:\/\//.test(req.url ?? '');
    const target = forward ? new URL(req.url!) : new URL(req.url ?? '/', up);
    const path = target.pathname + target.search;
    const fault = pick(req, target.pathname);
    const entry: ProxyLogEntry = {
      method: req.method ?? 'GET',
      path,
      ...(req.headers.range ? { range: req.headers.range } : {}),
      ...(fault ? { fault: fault.kind } : {}),
      bytes: 0,
      forward,
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      ...(req.headers['user-agent'] ? { userAgent: req.headers['user-agent'] } : {}),
    };
    log.push(entry);
    if (fault?.kind === 'reset') {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'hold') {
      req.resume();
      return;
    }
    if (fault?.kind === 'status') {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (fault.retryAfter !== undefined) headers['retry-after'] = fault.retryAfter;
      entry.status = fault.status;
      const body = fault.body ?? JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'injected fault' }] });
      entry.bytes = Buffer.byteLength(body);
      res.writeHead(fault.status, headers).end(body);
      return;
    }
    if (fault?.kind === 'redirect') {
      entry.status = fault.status ?? 307;
      res.writeHead(entry.status, { location: fault.to.replace(/\/$/, '') + path, 'content-length': '0' }).end();
      return;
    }
    // The registry builds upload Locations from X-Forwarded-Host: they lead back through the proxy.
    const headers = {
      ...req.headers,
      host: target.host,
      ...(!forward && req.headers.host ? { 'x-forwarded-host': req.headers.host } : {}),
    };
    if (fault?.kind === 'ignore-range') delete headers.range;
    const upReq = httpRequest(
      { host: target.hostname, port: target.port, path, method: req.method, headers },
      (upRes) => {
        const outHeaders = { ...upRes.headers };
        if (fault?.kind === 'shift-content-range' && typeof outHeaders['content-range'] === 'string') {
          const m = /^bytes (\d+)-(\d+)\/(.*)$/.exec(outHeaders['content-range']);
          if (m)
            outHeaders['content-range'] = `bytes ${Number(m[1]) + fault.shift}-${Number(m[2]) + fault.shift}/${m[3]}`;
        }
        if (fault?.kind === 'extra-bytes' && outHeaders['content-length']) {
          outHeaders['content-length'] = String(Number(outHeaders['content-length']) + fault.extra);
        }
        entry.status = upRes.statusCode;
        res.writeHead(upRes.statusCode ?? 502, outHeaders);
        let sent = 0;
        const limit =
          fault?.kind === 'truncate' || fault?.kind === 'stall'
            ? fault.after
            : fault?.kind === 'ignore-range'
              ? (fault.truncateAfter ?? Infinity)
              : Infinity;
        const rangeStart = Number(/^bytes (\d+)-/.exec(upRes.headers['content-range'] ?? '')?.[1] ?? 0);
        upRes.on('data', (chunk: Buffer) => {
          if (sent >= limit) return;
          let c = chunk;
          if (fault?.kind === 'substitute')
            c = Buffer.from(fault.body.subarray(rangeStart + sent, rangeStart + sent + c.length));
          if (sent + c.length > limit) c = c.subarray(0, limit - sent);
          if (fault?.kind === 'flip' && fault.at >= sent && fault.at < sent + c.length) {
            c = Buffer.from(c);
            c[fault.at - sent] ^= 0xff;
          }
          if (fault?.kind === 'flip' && fault.pause && fault.pause.at >= sent && fault.pause.at < sent + c.length) {
            // The rest of this chunk goes after the pause too.
            const cut = fault.pause.at - sent;
            const rest = c.subarray(cut);
            c = c.subarray(0, cut);
            upRes.pause();
            setTimeout(() => {
              if (res.destroyed) return;
              res.write(rest);
              sent += rest.length;
              entry.bytes = sent;
              upRes.resume();
            }, fault.pause.ms);
          }
          sent += c.length;
          entry.bytes = sent;
          res.write(c);
          if (sent >= limit && fault?.kind !== 'stall') {
            upRes.destroy();
            // let the partial body reach the client, then drop the connection
            res.socket?.end();
            setTimeout(() => res.socket?.destroy(), 20);
          }
        });
        upRes.on('end', () => {
          if (sent >= limit) return; // truncated or stalled: never end properly
          if (fault?.kind === 'extra-bytes') {
            res.write(Buffer.alloc(fault.extra, 0x41));
            entry.bytes += fault.extra;
          }
          res.end();
        });
        upRes.on('error', () => res.destroy());
      },
    );
    upReq.on('error', () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    req.pipe(upReq);
  };

  const server: Server = createServer(handle);
  // CONNECT tunnels are not supported: refuse them at once instead of hanging
  server.on('connect', (req: IncomingMessage, socket: Socket) => {
    log.push({ method: 'CONNECT', path: req.url ?? '', status: 405, bytes: 0, forward: true });
    socket.end('HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n');
  });
  const { port, stop } = await listenOnLoopback(server);
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    port,
    log,
    addRule: (rule) => rules.push({ ...rule, used: 0, passed: 0 }),
    clearRules: () => void rules.splice(0),
    stop,
  };
}

/**
 * Listens on a free port of 127.0.0.1; `stop` destroys every connection (stalled ones too) and
 * closes the server.
 */
export async function listenOnLoopback(server: Server): Promise<{ port: number; stop: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
