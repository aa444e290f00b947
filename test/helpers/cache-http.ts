// A small HTTP server on 127.0.0.1 serving one file with Range support, counting what it sends
// (so bytes fetched by several processes are measured in one place), plus a ByteSource that
// reads from it with Range requests. Used by the cache's crash and multi-process tests.
import { createServer, Agent, request, type Server } from 'node:http';
import { open, type FileHandle } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { ByteSource, ReadOptions } from '../../src/io/byte-source.js';
import { clampRead } from '../../src/io/check-range.js';

export interface RangeServerOptions {
  /** Per-response throughput cap in bytes/second (0 = unlimited). */
  bytesPerSecond?: number;
}

export interface RangeServer {
  url: string;
  /** Body bytes sent so far (all responses). */
  bytesSent: number;
  requests: number;
  options: RangeServerOptions;
  reset(): void;
  stop(): Promise<void>;
}

/** Serves `path` at `/blob` with single-range support. */
export async function startRangeServer(path: string, options: RangeServerOptions = {}): Promise<RangeServer> {
  const fh: FileHandle = await open(path, 'r');
  const size = (await fh.stat()).size;
  const state = { bytesSent: 0, requests: 0 };
  // A rejected handler is an unhandled rejection: the test run fails, as it should.
  // eslint-disable-next-line @typescript-eslint/no-misused-promises -- see above
  const server: Server = createServer(async (req, res) => {
    state.requests++;
    let start = 0;
    let end = size - 1;
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (req.headers.range && !m) {
      res.writeHead(416).end();
      return;
    }
    if (m) {
      start = Number(m[1]);
      end = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
      if (start >= size || end < start) {
        res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
        return;
      }
      res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${size}`, 'content-length': end - start + 1 });
    } else {
      res.writeHead(200, { 'content-length': size });
    }
    if (req.method === 'HEAD') return void res.end();
    const piece = 64 * 1024;
    const t0 = Date.now();
    let sent = 0;
    try {
      for (let off = start; off <= end && !res.destroyed; off += piece) {
        const n = Math.min(piece, end - off + 1);
        const buf = Buffer.allocUnsafe(n);
        await fh.read(buf, 0, n, off);
        const bps = options.bytesPerSecond ?? 0;
        if (bps > 0) {
          const due = t0 + (sent / bps) * 1000;
          if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
        }
        if (!res.write(buf)) await new Promise((r) => res.once('drain', r));
        sent += n;
        state.bytesSent += n;
      }
      res.end();
    } catch {
      res.destroy();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/blob`,
    get bytesSent() {
      return state.bytesSent;
    },
    get requests() {
      return state.requests;
    },
    options,
    reset() {
      state.bytesSent = 0;
      state.requests = 0;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await fh.close();
    },
  };
}

const agent = new Agent({ keepAlive: true, maxSockets: 16 });

/** A ByteSource over an HTTP URL that answers Range requests with 206. */
export class HttpRangeSource implements ByteSource {
  constructor(
    readonly url: string,
    readonly size: number,
  ) {}

  read(offset: number, length: number, options: ReadOptions = {}): Promise<Uint8Array> {
    const n = clampRead(offset, length, this.size);
    if (n === 0) return Promise.resolve(new Uint8Array(0));
    return new Promise((resolve, reject) => {
      const req = request(
        this.url,
        { agent, headers: { range: `bytes=${offset}-${offset + n - 1}` }, signal: options.signal },
        (res) => {
          if (
            res.statusCode !== 206 ||
            res.headers['content-range'] !== `bytes ${offset}-${offset + n - 1}/${this.size}`
          ) {
            res.resume();
            return reject(new Error(`unexpected response ${res.statusCode} ${res.headers['content-range']}`));
          }
          const out = new Uint8Array(n);
          let got = 0;
          res.on('data', (b: Buffer) => {
            if (got + b.length > n) return res.destroy(new Error('body longer than asked'));
            out.set(b, got);
            got += b.length;
          });
          res.on('end', () => (got === n ? resolve(out) : reject(new Error(`short body: ${got} of ${n}`))));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end();
    });
  }
}
