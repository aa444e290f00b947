// Calls to the server's JSON API. The cookie set when the page was first opened authenticates
// every call (same origin, credentials included by default).
import type { ApiError } from '../api-types.js';

/** A failed API call: the server's message (text, shown as text). */
export class ApiFailure extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
  ) {
    super(message);
  }
}

/** A query string from parameters (undefined ones left out). */
export function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  return q.toString();
}

/** The URL of an endpoint with parameters. */
export function apiUrl(endpoint: string, params: Record<string, string | number | undefined>): string {
  return `/api/${endpoint}?${query(params)}`;
}

async function failure(res: Response): Promise<ApiFailure> {
  try {
    const body = (await res.json()) as ApiError;
    return new ApiFailure(body.error.message, res.status, body.error.code);
  } catch {
    return new ApiFailure(`HTTP ${res.status}`, res.status, 'ERR_OCIFS_HTTP');
  }
}

/** GETs a JSON document. */
export async function getJson<T>(
  endpoint: string,
  params: Record<string, string | number | undefined>,
  signal?: AbortSignal,
): Promise<T> {
  const res = await fetch(apiUrl(endpoint, params), { signal: signal ?? null });
  if (!res.ok) throw await failure(res);
  return (await res.json()) as T;
}

/** GETs bytes of a file; `size` is the whole file's size. */
export async function getBytes(
  params: Record<string, string | number | undefined>,
  signal?: AbortSignal,
): Promise<{ bytes: Uint8Array; size: number }> {
  const res = await fetch(apiUrl('file', params), { signal: signal ?? null });
  if (!res.ok) throw await failure(res);
  const bytes = new Uint8Array(await res.arrayBuffer());
  return { bytes, size: Number(res.headers.get('x-file-size') ?? bytes.byteLength) };
}

/** Reads an NDJSON stream, calling `onLine` for each line, until it ends or `signal` aborts. */
// The caller names the line type its endpoint sends (api-types.ts).
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- see above
export async function streamJson<T>(
  endpoint: string,
  params: Record<string, string | number | undefined>,
  onLine: (line: T) => void,
  signal: AbortSignal,
): Promise<void> {
  const res = await fetch(apiUrl(endpoint, params), { signal });
  if (!res.ok || !res.body) throw await failure(res);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let rest = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    rest += value;
    let i: number;
    while ((i = rest.indexOf('\n')) >= 0) {
      const line = rest.slice(0, i);
      rest = rest.slice(i + 1);
      if (line) onLine(JSON.parse(line) as T);
    }
  }
  if (rest.trim()) onLine(JSON.parse(rest) as T);
}

/** The message of an error, for showing as text. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
