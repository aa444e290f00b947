import { parseRetryAfter } from './retry.js';
import {
  BlobUnknownError,
  DeniedError,
  HttpStatusError,
  ManifestUnknownError,
  UnauthorizedError,
  type RegistryError,
} from './errors.js';
import type { HttpResponse } from './transport.js';

/** The first `{errors:[{code,message}]}` entry of a registry error body, if any. */
export function registryErrorDetail(body: Uint8Array): { code?: string; message?: string } {
  try {
    const o = JSON.parse(Buffer.from(body).toString('utf8')) as { errors?: { code?: unknown; message?: unknown }[] };
    const e = Array.isArray(o.errors) ? o.errors[0] : undefined;
    if (!e) return {};
    return {
      ...(typeof e.code === 'string' ? { code: e.code } : {}),
      ...(typeof e.message === 'string' ? { message: e.message.slice(0, 300) } : {}),
    };
  } catch {
    return {};
  }
}

/** What a failed request was about, for error messages. */
export interface Subject {
  /** e.g. `docker.io/library/alpine` or `… (mirror http://…)`. */
  where: string;
  kind: 'manifest' | 'blob' | 'other';
  /** Tag or digest. */
  reference?: string;
}

/** Turns a non-success response (whose body was read into `body`) into a typed error. */
export function statusError(res: HttpResponse, body: Uint8Array, subject: Subject): RegistryError {
  const detail = registryErrorDetail(body);
  const why = detail.message ? `: ${detail.message}` : '';
  const data = { status: res.status, ...(detail.code ? { registryCode: detail.code } : {}) };
  const s = res.status;
  if (
    s === 404 ||
    detail.code === 'MANIFEST_UNKNOWN' ||
    detail.code === 'BLOB_UNKNOWN' ||
    detail.code === 'NAME_UNKNOWN'
  ) {
    if (subject.kind === 'manifest') {
      return detail.code === 'NAME_UNKNOWN'
        ? new ManifestUnknownError(subject.where, `${subject.reference ?? ''} (repository not found)`, { data })
        : new ManifestUnknownError(subject.where, subject.reference ?? '?', { data });
    }
    if (subject.kind === 'blob') return new BlobUnknownError(subject.where, subject.reference ?? '?', { data });
  }
  if (s === 401) return new UnauthorizedError(`${subject.where}: authentication required or failed${why}`, { data });
  if (s === 403 || detail.code === 'DENIED') return new DeniedError(`${subject.where}: access denied${why}`, { data });
  const retryAfter = parseRetryAfter(res.header('retry-after'));
  return new HttpStatusError(
    `${subject.where}: ${subject.kind === 'other' ? 'request' : subject.kind + ' ' + (subject.reference ?? '')} failed with HTTP ${s}${why}`,
    s,
    {
      data,
      ...(retryAfter !== undefined ? { retryAfter } : {}),
    },
  );
}
