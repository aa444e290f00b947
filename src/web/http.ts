/**
 * Small HTTP helpers of the web API: JSON and NDJSON answers, errors as `{"error": …}` with
 * a status that says whose fault it was, query parameters read with bounds, and an AbortSignal
 * that fires when the browser goes away (a cancelled search stops its walk).
 *
 * @packageDocumentation
 */
import type { ServerResponse } from 'node:http';
import { InvalidOptionError, OcifsError, OutOfRangeError, type OcifsErrorCode } from '../errors.js';
import type { ApiError } from './api-types.js';

/** Error codes that are the request's fault (400). */
const BAD_REQUEST = new Set<OcifsErrorCode>([
  'ERR_OCIFS_INVALID_OPTION',
  'ERR_OCIFS_INVALID_REFERENCE',
  'ERR_OCIFS_INVALID_DIGEST',
  'ERR_OCIFS_INVALID_PLATFORM',
  'ERR_OCIFS_USAGE',
  'ERR_OCIFS_NOT_A_DIRECTORY',
  'ERR_OCIFS_IS_A_DIRECTORY',
  'ERR_OCIFS_NOT_A_FILE',
  'ERR_OCIFS_NOT_A_LAYER',
  'ERR_OCIFS_SYMLINK_LOOP',
]);
/** Error codes for something that does not exist (404). */
const NOT_FOUND = new Set<OcifsErrorCode>([
  'ERR_OCIFS_NOT_FOUND',
  'ERR_OCIFS_MANIFEST_UNKNOWN',
  'ERR_OCIFS_BLOB_UNKNOWN',
  'ERR_OCIFS_NO_SUCH_LAYER',
  'ERR_OCIFS_PLATFORM_NOT_FOUND',
  'ERR_OCIFS_BLOB_NOT_IN_IMAGE',
]);
/** Error codes of the registry side: it refused, failed or could not be reached (502). */
const UPSTREAM = new Set<OcifsErrorCode>([
  'ERR_OCIFS_HTTP',
  'ERR_OCIFS_NETWORK',
  'ERR_OCIFS_TIMEOUT',
  'ERR_OCIFS_UNAUTHORIZED',
  'ERR_OCIFS_DENIED',
  'ERR_OCIFS_CREDENTIALS',
  'ERR_OCIFS_SHORT_BODY',
  'ERR_OCIFS_RANGE',
  'ERR_OCIFS_DIGEST_MISMATCH',
  'ERR_OCIFS_BAD_MANIFEST',
]);

/** A range that starts past the end of a file (416). */
export class RangeNotSatisfiableError extends OutOfRangeError {
  constructor(offset: number, size: number) {
    super(offset, 0, size);
    this.message = `offset ${offset} is past the end of the file (${size} bytes)`;
  }
}

/** The HTTP status for an error. */
export function statusOf(err: unknown): number {
  if (!(err instanceof OcifsError)) return 500;
  if (err instanceof RangeNotSatisfiableError) return 416;
  if (err.code === 'ERR_OCIFS_NOT_A_PICTURE') return 415;
  if (BAD_REQUEST.has(err.code)) return 400;
  if (NOT_FOUND.has(err.code)) return 404;
  if (UPSTREAM.has(err.code)) return 502;
  return 500;
}

/** The `{"error": …}` body of an error. Messages are data: the page shows them as text. */
export function errorBody(err: unknown): ApiError {
  const code = err instanceof OcifsError ? err.code : 'ERR_OCIFS_INTERNAL';
  const message = err instanceof Error ? err.message.split('\n')[0].slice(0, 2000) : String(err);
  return { error: { code, message } };
}

/** Sends a JSON document. */
export function sendJson(res: ServerResponse, status: number, doc: unknown): void {
  const body = Buffer.from(JSON.stringify(doc));
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': body.byteLength });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** Sends an error as JSON with its status (or ends a response already under way). */
export function sendError(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy(err instanceof Error ? err : undefined);
    return;
  }
  sendJson(res, statusOf(err), errorBody(err));
}

/** An AbortSignal that fires when the client closes the connection before the answer ends. */
export function clientGone(res: ServerResponse): AbortSignal {
  const ac = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) ac.abort(new Error('the browser closed the request'));
  };
  res.on('close', onClose);
  return ac.signal;
}

/**
 * Streams NDJSON lines from `body` (one JSON value per line), waiting for the socket when it
 * is full; an error thrown after the first line becomes a last `{"t":"error"}` line.
 */
// Callers name the line type, so what they emit is checked.
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- see above
export async function streamLines<T>(
  res: ServerResponse,
  body: (emit: (line: T) => Promise<void>) => Promise<void>,
): Promise<void> {
  res.writeHead(200, { 'Content-Type': 'application/x-ndjson; charset=utf-8', 'X-Accel-Buffering': 'no' });
  const emit = async (line: T) => {
    if (res.destroyed) return;
    if (!res.write(JSON.stringify(line) + '\n')) {
      await new Promise<void>((r) => (res.once('drain', r), res.once('close', r)));
    }
  };
  try {
    await body(emit);
  } catch (err) {
    if (!res.destroyed) res.write(JSON.stringify({ t: 'error', ...errorBody(err) }) + '\n');
  }
  res.end();
}

/** A required string parameter. */
export function need(url: URL, name: string, max = 4096): string {
  const v = url.searchParams.get(name);
  if (v === null || v === '') throw new InvalidOptionError(name, 'is required');
  if (v.length > max) throw new InvalidOptionError(name, `is longer than ${max} characters`);
  return v;
}

/** An optional non-negative integer parameter, at most `max`. */
export function intParam(url: URL, name: string, dflt: number, max: number): number {
  const v = url.searchParams.get(name);
  if (v === null || v === '') return dflt;
  if (!/^\d{1,16}$/.test(v) || Number(v) > max) {
    throw new InvalidOptionError(name, `"${v.slice(0, 40)}" is not an integer from 0 to ${max}`);
  }
  return Number(v);
}

/** A path parameter: absolute, no NUL, bounded (default `/`). */
export function pathParam(url: URL, name = 'path'): string {
  const v = url.searchParams.get(name) ?? '/';
  if (v.length > 8192) throw new InvalidOptionError(name, 'is longer than 8192 characters');
  if (v.includes('\0')) throw new InvalidOptionError(name, 'contains a NUL byte');
  return v.startsWith('/') ? v : `/${v}`;
}

/**
 * A `Content-Disposition: attachment` value for a name from an image: an ASCII fallback with
 * everything unusual replaced, and the exact name in RFC 5987 form.
 */
export function attachment(name: string): string {
  const ascii = name.replace(/[^A-Za-z0-9._+-]/g, '_').slice(0, 120) || 'download';
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name).slice(0, 600)}`;
}
