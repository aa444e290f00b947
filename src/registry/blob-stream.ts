/**
 * One response of a streamed blob range ({@link RemoteBlobSource.streamRange}): checks the
 * status line against what was asked, then hands the body's chunks on as they arrive — the
 * asked part to the consumer, the rest of a whole-body answer (a server that ignored Range) to
 * the extra-bytes sink — without gathering them into buffers first.
 *
 * @packageDocumentation
 */
import type { ExtraBytesSink } from '../io/byte-source.js';
import { OcifsError } from '../errors.js';
import { parseContentRange } from './content-range.js';
import { RangeResponseError, ShortBodyError } from './errors.js';
import { destroyBody, mapHttpError, type HttpResponse } from './transport.js';

/**
 * A stream whose retries are used up gets a fresh round of them when the last round delivered
 * at least this many bytes (so a server cutting every body short after a few bytes still ends
 * in an error, and a long download over a flaky link still completes).
 */
export const STREAM_RESUME_PROGRESS = 1024 * 1024;

/** Receives the asked bytes in order; a returned promise pauses the body (backpressure). */
export type BodySink = (chunk: Uint8Array) => void | Promise<void>;

/** Where a stream stands: `pos` advances as bytes are delivered, so a retry resumes there. */
export interface StreamCursor {
  pos: number;
}

/** What {@link consumeBlobResponse} needs besides the response. */
export interface BlobStreamContext {
  /** The blob's size. */
  size: number;
  /** Exclusive end of the range asked for. */
  end: number;
  /** Whether the request carried a Range header. */
  ranged: boolean;
  sink: BodySink;
  /** Takes the bytes of a whole-body answer outside the range (optional). */
  extra?: ExtraBytesSink;
  /** Counts received body bytes. */
  count: (bytes: number) => void;
  /** For messages. */
  where: string;
  signal: AbortSignal;
}

/** An error thrown by the consumer's sink: passed through untouched, never retried. */
export class SinkFailure {
  constructor(readonly error: unknown) {}
}

/**
 * Checks a 200/206 response for the range `[cursor.pos, ctx.end)` and streams its body. Returns
 * 'ignored' when a ranged request got the whole blob (the caller records that), else 'ok'.
 * Throws typed (retryable where sensible) errors for a mismatching answer or a short body, and a
 * {@link SinkFailure} wrapping anything the sink threw.
 */
export async function consumeBlobResponse(
  res: HttpResponse,
  cursor: StreamCursor,
  ctx: BlobStreamContext,
): Promise<'ok' | 'ignored'> {
  const { size, end, where } = ctx;
  let bodyPos: number;
  let bodyEnd: number;
  if (res.status === 206) {
    const crText = res.header('content-range');
    const cr = parseContentRange(crText);
    if (!cr || cr.start !== cursor.pos || cr.end !== end - 1) {
      destroyBody(res.body);
      throw new RangeResponseError(
        `${where}: asked for bytes ${cursor.pos}-${end - 1}, got Content-Range ${JSON.stringify(crText ?? null)}`,
        {
          retryable: true,
          data: { status: 206, offset: cursor.pos, length: end - cursor.pos, contentRange: crText },
        },
      );
    }
    if (cr.total !== undefined && cr.total !== size) {
      destroyBody(res.body);
      throw new RangeResponseError(
        `${where}: registry says the blob has ${cr.total} bytes, the manifest says ${size}`,
        { data: { status: 206, total: cr.total, size } },
      );
    }
    bodyPos = cr.start;
    bodyEnd = end;
  } else {
    bodyPos = 0;
    bodyEnd = size;
  }
  const cl = res.header('content-length');
  if (cl !== undefined && Number(cl) !== bodyEnd - bodyPos) {
    destroyBody(res.body);
    throw new RangeResponseError(
      `${where}: HTTP ${res.status} for ${bodyEnd - bodyPos} bytes has Content-Length ${cl}`,
      {
        retryable: res.status === 206,
        data: { status: res.status, contentLength: cl, size },
      },
    );
  }
  // A whole body for a ranged request also feeds the extra sink past the range, to its end.
  const keepGoing = res.status === 200 && ctx.extra !== undefined;
  try {
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      ctx.count(chunk.byteLength);
      const cStart = bodyPos;
      const cEnd = cStart + chunk.byteLength;
      bodyPos = cEnd;
      if (cEnd > bodyEnd) {
        destroyBody(res.body);
        throw new RangeResponseError(
          `${where}: body is longer than the ${bodyEnd - (res.status === 206 ? cursor.pos : 0)} bytes announced`,
          { retryable: true },
        );
      }
      if (cStart < cursor.pos && ctx.extra)
        await feed(ctx.extra, cStart, chunk.subarray(0, Math.min(chunk.byteLength, cursor.pos - cStart)));
      const s = Math.max(cStart, cursor.pos);
      const e = Math.min(cEnd, end);
      if (s < e) {
        const part = s === cStart && e === cEnd ? chunk : chunk.subarray(s - cStart, e - cStart);
        try {
          const r = ctx.sink(part);
          if (r) await r;
        } catch (err) {
          destroyBody(res.body);
          // A wrapper the retry loop unwraps, so the sink's own error passes through untouched.
          // eslint-disable-next-line @typescript-eslint/only-throw-error -- see above
          throw new SinkFailure(err);
        }
        cursor.pos = e;
      }
      if (cEnd > end && ctx.extra)
        await feed(ctx.extra, Math.max(cStart, end), chunk.subarray(Math.max(0, end - cStart)));
      if (cursor.pos >= end && !keepGoing) {
        if (bodyPos < bodyEnd) destroyBody(res.body);
        break;
      }
    }
  } catch (err) {
    if (err instanceof SinkFailure || err instanceof OcifsError) throw err;
    throw mapHttpError(err, res.url, ctx.signal, true);
  }
  if (cursor.pos < end) {
    throw new ShortBodyError(`${where}: body ended after ${bodyPos} of ${bodyEnd} bytes`, {
      data: { received: bodyPos, expected: bodyEnd },
    });
  }
  return res.status === 200 && ctx.ranged ? 'ignored' : 'ok';
}

/** Hands bytes to the extra sink; a failing sink only costs the optimisation. */
async function feed(extra: ExtraBytesSink, offset: number, bytes: Uint8Array): Promise<void> {
  if (bytes.byteLength === 0) return;
  try {
    await extra(offset, bytes);
  } catch {
    /* the cache keeping extra bytes is an optimisation */
  }
}
