import { AbortedError, InvalidOptionError, OcifsError, throwIfAborted } from '../errors.js';
import type { ByteSource, ExtraBytesSink, ReadOptions } from '../io/byte-source.js';
import { clampRead } from '../io/check-range.js';
import { parseDigest } from '../ref/digest.js';
import type { ImageReference } from '../ref/reference.js';
import { describe, endpointUrl, type Endpoint } from './endpoints.js';
import { isRetryable, RangeResponseError, ShortBodyError } from './errors.js';
import { parseContentRange } from './content-range.js';
import { FullBodyStream } from './full-body-stream.js';
import { statusError } from './response-errors.js';
import type { RegistryTransport } from './registry-transport.js';
import { withRetry } from './retry.js';
import { destroyBody, mapHttpError, type HttpResponse } from './transport.js';
import { abortable } from './auth.js';
import {
  consumeBlobResponse,
  SinkFailure,
  STREAM_RESUME_PROGRESS,
  type BodySink,
  type StreamCursor,
} from './blob-stream.js';

/** Options of {@link RemoteBlobSource}. */
export interface RemoteBlobSourceOptions {
  /** Receives bytes a server sent beyond what was asked (Range ignored); see ExtraBytesSink. */
  onExtraBytes?: ExtraBytesSink;
}

/**
 * One blob of a registry as a {@link ByteSource}: each read is a `Range: bytes=a-b` GET whose
 * 206 is checked against Content-Range (start, end, total = blob size) and its body length.
 * A server that answers with 200 (whole blob) is remembered; its body is streamed once and
 * shared by all reads still ahead of it, extra bytes going to `onExtraBytes`. Mirrors are
 * tried first; retries per the client's policy. A byte flipped inside a correct-length 206
 * cannot be seen here: the cache's whole-blob digest check catches it.
 */
export class RemoteBlobSource implements ByteSource {
  readonly size: number;
  /** The blob's digest. */
  readonly digest: string;
  private readonly streams = new Set<FullBodyStream>();
  private readonly pendingStreams = new Map<string, Promise<FullBodyStream>>();
  private readonly badMirrors = new Set<string>();
  private readonly closer = new AbortController();

  constructor(
    /** The transport of the client the source came from (endpoints, retries, auth, Range memory). */
    private readonly transport: RegistryTransport,
    /** The image the blob belongs to. */
    readonly ref: ImageReference,
    descriptor: { digest: string; size: number },
    private readonly options: RemoteBlobSourceOptions = {},
  ) {
    this.digest = parseDigest(descriptor.digest).value;
    if (!Number.isSafeInteger(descriptor.size) || descriptor.size < 0) {
      throw new InvalidOptionError('size', `blob size must be a non-negative integer, got ${String(descriptor.size)}`);
    }
    this.size = descriptor.size;
  }

  async read(offset: number, length: number, options: ReadOptions = {}): Promise<Uint8Array> {
    throwIfAborted(options.signal);
    const n = clampRead(offset, length, this.size);
    if (n === 0) return new Uint8Array(0);
    const signal = options.signal;
    const eps = this.transport.endpoints.usable(this.ref).filter((ep) => !this.badMirrors.has(ep.base));
    for (const ep of eps) {
      try {
        return await withRetry(() => this.readOnce(ep, offset, n, signal), this.transport.retry, {
          ...(signal ? { signal } : {}),
          stats: this.transport.stats,
        });
      } catch (err) {
        if (!ep.mirror || signal?.aborted || this.closer.signal.aborted) throw err;
        this.badMirrors.add(ep.base);
        this.transport.endpoints.noteFailure(ep, err);
      }
    }
    throw new Error('unreachable: the registry itself is always the last endpoint');
  }

  /**
   * Delivers `[offset, offset + length)` to `sink` as the response body arrives (no buffering of
   * the range): one request — without a Range header when the whole blob is asked for, the
   * cheapest request a registry serves — checked like a ranged read (Content-Range, lengths,
   * blob size). A failure part-way resumes at the first byte not yet delivered (a Range request),
   * with the client's retry policy, afresh after each attempt that made progress; mirrors first,
   * as for reads. A server that ignores Range is followed through its whole body, the bytes
   * outside the range going to `onExtraBytes`. Errors thrown by `sink` end the stream as they are.
   */
  async streamRange(offset: number, length: number, sink: BodySink, options: ReadOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    const n = clampRead(offset, length, this.size);
    if (n === 0) return;
    const signal = options.signal;
    const reqSignal = signal ? AbortSignal.any([signal, this.closer.signal]) : this.closer.signal;
    const cursor: StreamCursor = { pos: offset };
    const end = offset + n;
    const eps = this.transport.endpoints.usable(this.ref).filter((ep) => !this.badMirrors.has(ep.base));
    try {
      for (const ep of eps) {
        try {
          for (;;) {
            const from = cursor.pos;
            try {
              await withRetry(() => this.streamOnce(ep, cursor, end, sink, reqSignal), this.transport.retry, {
                ...(signal ? { signal } : {}),
                stats: this.transport.stats,
              });
              return;
            } catch (err) {
              // A round of attempts that moved the stream well forward does not use up the
              // retries of the next round (a long download over a flaky link goes on).
              if (cursor.pos - from < STREAM_RESUME_PROGRESS || !isRetryable(err) || reqSignal.aborted) throw err;
            }
          }
        } catch (err) {
          if (err instanceof SinkFailure || !ep.mirror || reqSignal.aborted) throw err;
          this.badMirrors.add(ep.base);
          this.transport.endpoints.noteFailure(ep, err);
        }
      }
    } catch (err) {
      if (err instanceof SinkFailure) throw err.error;
      if (this.closer.signal.aborted && !signal?.aborted) throw new AbortedError({ cause: 'source closed' });
      throw err;
    }
    throw new Error('unreachable: the registry itself is always the last endpoint');
  }

  private async streamOnce(
    ep: Endpoint,
    cursor: StreamCursor,
    end: number,
    sink: BodySink,
    signal: AbortSignal,
  ): Promise<void> {
    if (this.closer.signal.aborted) throw new AbortedError({ cause: 'source closed' });
    const whole = cursor.pos === 0 && end === this.size;
    const ranged = !whole && !this.transport.ranges.ignores(ep, this.ref.repository);
    const res = await this.get(ep, ranged ? `bytes=${cursor.pos}-${end - 1}` : undefined, signal);
    if (res.status !== 200 && res.status !== 206) throw await this.failedResponse(ep, res, cursor.pos, end);
    if (res.status === 206 && !ranged) {
      destroyBody(res.body);
      throw new RangeResponseError(`${this.where(ep)}: HTTP 206 to a request without Range`, {
        retryable: true,
        data: { status: 206 },
      });
    }
    const http = this.transport.http;
    const outcome = await consumeBlobResponse(res, cursor, {
      size: this.size,
      end,
      ranged,
      sink,
      ...(this.options.onExtraBytes ? { extra: this.options.onExtraBytes } : {}),
      count: (b) => http.count(b, 0),
      where: this.where(ep),
      signal,
    });
    if (outcome === 'ignored') this.transport.ranges.noteIgnored(ep, this.ref.repository);
    else if (ranged) this.transport.ranges.noteHonoured(ep, this.ref.repository);
  }

  /** Stops running streams; later reads reject. */
  async close(): Promise<void> {
    this.closer.abort();
  }

  private where(ep: Endpoint): string {
    return `${describe(ep, this.ref.repository)}: blob ${this.digest}`;
  }

  private async readOnce(ep: Endpoint, offset: number, n: number, signal?: AbortSignal): Promise<Uint8Array> {
    if (this.closer.signal.aborted) throw new AbortedError({ cause: 'source closed' });
    for (const s of this.streams) {
      if (s.endpoint.base === ep.base && s.canServe(offset, n)) return s.wait(offset, n, signal);
    }
    if (this.transport.ranges.ignores(ep, this.ref.repository)) {
      // Whole-body mode: share one stream (even while its headers are pending) among reads.
      for (let tries = 0; tries < 3; tries++) {
        const pending = this.pendingStreams.get(ep.base) ?? this.openStream(ep);
        const stream = await (signal ? abortable(pending, signal) : pending);
        if (stream.canServe(offset, n)) return stream.wait(offset, n, signal);
        if (this.pendingStreams.get(ep.base) === pending) this.pendingStreams.delete(ep.base);
      }
      throw new RangeResponseError(`${this.where(ep)}: could not join a whole-body stream`, { retryable: true });
    }
    const probe = this.transport.ranges.probe(ep, this.ref.repository);
    if (probe instanceof Promise) {
      await (signal ? abortable(probe, signal) : probe);
      return this.readOnce(ep, offset, n, signal);
    }
    const reqSignal = signal ? AbortSignal.any([signal, this.closer.signal]) : this.closer.signal;
    const end = offset + n - 1;
    let res: HttpResponse;
    try {
      res = await this.get(ep, `bytes=${offset}-${end}`, reqSignal);
    } finally {
      // waiters re-evaluate after the status is known (or the probe failed: one of them probes)
      if (probe) {
        queueMicrotask(() => probe.done());
      }
    }
    if (res.status === 206) {
      this.transport.ranges.noteHonoured(ep, this.ref.repository);
      return this.readPartial(ep, res, offset, n, reqSignal);
    }
    if (res.status === 200) {
      this.transport.ranges.noteIgnored(ep, this.ref.repository);
      return this.startStream(ep, res).wait(offset, n, signal);
    }
    throw await this.failedResponse(ep, res, offset, offset + n);
  }

  /**
   * The error for a blob response that is neither 200 nor 206 asking for `[offset, end)` (its
   * body discarded): an unsatisfiable range (416) says so, anything else is a status error.
   */
  private async failedResponse(ep: Endpoint, res: HttpResponse, offset: number, end: number): Promise<Error> {
    const body = await this.transport.discard(res);
    if (res.status === 416) {
      return new RangeResponseError(
        `${this.where(ep)}: range ${offset}-${end - 1} not satisfiable (HTTP 416; is the blob smaller than ${this.size} bytes?)`,
        {
          data: {
            status: 416,
            offset,
            length: end - offset,
            size: this.size,
            contentRange: res.header('content-range'),
          },
        },
      );
    }
    return statusError(res, body, { where: describe(ep, this.ref.repository), kind: 'blob', reference: this.digest });
  }

  /** Starts an unranged GET whose body becomes a shared stream, not tied to any one caller. */
  private openStream(ep: Endpoint): Promise<FullBodyStream> {
    const p = (async () => {
      const res = await this.get(ep, undefined, this.closer.signal);
      if (res.status !== 200) {
        throw statusError(res, await this.transport.discard(res), {
          where: describe(ep, this.ref.repository),
          kind: 'blob',
          reference: this.digest,
        });
      }
      return this.startStream(ep, res);
    })();
    this.pendingStreams.set(ep.base, p);
    // a failed request is forgotten at once; a finished stream is dropped by the next reader
    // that finds it cannot serve it
    p.catch(() => {
      if (this.pendingStreams.get(ep.base) === p) this.pendingStreams.delete(ep.base);
    });
    return p;
  }

  private get(ep: Endpoint, range: string | undefined, signal: AbortSignal): Promise<HttpResponse> {
    return this.transport.request(ep, this.ref.repository, {
      url: endpointUrl(ep, `/v2/${this.ref.repository}/blobs/${this.digest}`),
      headers: range ? { range } : {},
      signal,
    });
  }

  private startStream(ep: Endpoint, res: HttpResponse): FullBodyStream {
    const len = res.header('content-length');
    if (len !== undefined && Number(len) !== this.size) {
      destroyBody(res.body);
      throw new RangeResponseError(
        `${this.where(ep)}: server sent the whole blob as ${len} bytes, expected ${this.size}`,
        {
          data: { status: 200, contentLength: len, size: this.size },
        },
      );
    }
    const http = this.transport.http;
    const stream: FullBodyStream = new FullBodyStream(ep, res.body, {
      size: this.size,
      ...(this.options.onExtraBytes ? { sink: this.options.onExtraBytes } : {}),
      count: (b) => http.count(b, 0),
      mapError: (err) => mapHttpError(err, res.url, undefined, true),
      onDone: () => this.streams.delete(stream),
      where: this.where(ep),
    });
    this.streams.add(stream);
    return stream;
  }

  /** Reads a 206 body after checking Content-Range; exactly `n` bytes or an error. */
  private async readPartial(
    ep: Endpoint,
    res: HttpResponse,
    offset: number,
    n: number,
    signal: AbortSignal,
  ): Promise<Uint8Array> {
    const end = offset + n - 1;
    const crText = res.header('content-range');
    const cr = parseContentRange(crText);
    const where = this.where(ep);
    if (!cr || cr.start !== offset || cr.end !== end) {
      destroyBody(res.body);
      throw new RangeResponseError(
        `${where}: asked for bytes ${offset}-${end}, got Content-Range ${JSON.stringify(crText ?? null)}`,
        {
          retryable: true,
          data: { status: 206, offset, length: n, contentRange: crText },
        },
      );
    }
    if (cr.total !== undefined && cr.total !== this.size) {
      destroyBody(res.body);
      throw new RangeResponseError(
        `${where}: registry says the blob has ${cr.total} bytes, the manifest says ${this.size}`,
        {
          data: { status: 206, total: cr.total, size: this.size },
        },
      );
    }
    const cl = res.header('content-length');
    if (cl !== undefined && Number(cl) !== n) {
      destroyBody(res.body);
      throw new RangeResponseError(`${where}: 206 for ${n} bytes has Content-Length ${cl}`, {
        retryable: true,
        data: { status: 206, contentLength: cl },
      });
    }
    const buf = new Uint8Array(n);
    let got = 0;
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        this.transport.http.count(chunk.byteLength, 0);
        if (got + chunk.byteLength > n) {
          destroyBody(res.body);
          throw new RangeResponseError(`${where}: 206 body is longer than the ${n} bytes of its Content-Range`, {
            retryable: true,
            data: { offset, length: n },
          });
        }
        buf.set(chunk, got);
        got += chunk.byteLength;
      }
    } catch (err) {
      if (err instanceof OcifsError) throw err;
      throw mapHttpError(err, res.url, signal, true);
    }
    if (got !== n)
      throw new ShortBodyError(`${where}: 206 body ended after ${got} of ${n} bytes at offset ${offset}`, {
        data: { offset, length: n, received: got },
      });
    return buf;
  }
}
