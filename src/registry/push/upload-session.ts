/**
 * One blob upload session of the distribution API: `POST /v2/<name>/blobs/uploads/` opens it
 * (or mounts the blob from another repository), `PATCH`es append bytes at the offset the
 * registry reports, `GET` on the session asks that offset after a failure, and
 * `PUT ?digest=` closes it. Every answer's `Location` is the URL of the next request (registries
 * carry state in it, e.g. distribution's `_state` token), so the session always follows the
 * latest one.
 *
 * @packageDocumentation
 */
import type { ImageReference } from '../../ref/index.js';
import type { RegistryClient } from '../client.js';
import { endpointUrl, type Endpoint } from '../endpoints.js';
import { RangeResponseError } from '../errors.js';
import { statusError, registryErrorDetail } from '../response-errors.js';
import type { HttpResponse } from '../transport.js';
import { PushRefusedError, UploadLostError, asPushError } from './errors.js';

/** Where an upload goes: the registry endpoint (never a mirror) and the repository. */
export interface UploadTarget {
  client: RegistryClient;
  ep: Endpoint;
  ref: ImageReference;
  /** `registry/repository`, for messages. */
  where: string;
  signal?: AbortSignal;
}

const OCTETS = 'application/octet-stream';

/** Sends a write request with a push-scoped token; auth failures become PushDeniedError. */
export async function pushRequest(
  t: UploadTarget,
  req: {
    url: URL;
    method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH';
    headers?: Record<string, string>;
    body?: Uint8Array;
    from?: string;
  },
): Promise<HttpResponse> {
  try {
    return await t.client.transport.request(t.ep, t.ref.repository, {
      url: req.url,
      method: req.method,
      ...(req.headers ? { headers: req.headers } : {}),
      ...(req.body ? { body: req.body } : {}),
      access: { push: true, ...(req.from !== undefined ? { from: req.from } : {}) },
      ...(t.signal ? { signal: t.signal } : {}),
    });
  } catch (err) {
    throw asPushError(err, t.where);
  }
}

/** Reads a failed response's body and turns it into a typed error (auth → PushDeniedError). */
export async function pushFailure(
  t: UploadTarget,
  res: HttpResponse,
  kind: 'blob' | 'manifest' | 'other',
  reference?: string,
): Promise<Error> {
  const body = await t.client.transport.discard(res);
  const detail = registryErrorDetail(body);
  const err = statusError(res, body, { where: t.where, kind, ...(reference !== undefined ? { reference } : {}) });
  if (res.status === 400 || res.status === 405 || res.status === 413 || res.status === 415) {
    const why = detail.message ? `: ${detail.message}` : '';
    return new PushRefusedError(
      `${t.where}: the registry refused the ${kind === 'other' ? 'upload' : `${kind} ${reference ?? ''}`.trim()} (HTTP ${res.status}${detail.code ? ` ${detail.code}` : ''}${why})`,
      {
        cause: err,
        data: { status: res.status, ...(detail.code ? { registryCode: detail.code } : {}) },
      },
    );
  }
  return asPushError(err, t.where) as Error;
}

/** The result of opening a session: a mounted blob needs nothing more. */
export type UploadStart = { mounted: true } | { mounted: false; session: UploadSession };

/**
 * Opens an upload session; with `mount`, asks the registry to link the blob from another
 * repository instead (201 = mounted; 202 = declined, and the answer is a fresh session).
 */
export async function startUpload(t: UploadTarget, mount?: { digest: string; from: string }): Promise<UploadStart> {
  const url = endpointUrl(
    t.ep,
    `/v2/${t.ref.repository}/blobs/uploads/`,
    mount ? { mount: mount.digest, from: mount.from } : {},
  );
  const res = await pushRequest(t, {
    url,
    method: 'POST',
    headers: { 'content-length': '0' },
    ...(mount ? { from: mount.from } : {}),
  });
  if (mount && res.status === 201) {
    await t.client.transport.discard(res);
    return { mounted: true };
  }
  if (res.status !== 202) throw await pushFailure(t, res, 'other');
  await t.client.transport.discard(res);
  return { mounted: false, session: new UploadSession(t, nextLocation(t, res, url), 0) };
}

/** An open upload: where to send the next request and how many bytes the registry has. */
export class UploadSession {
  constructor(
    private readonly t: UploadTarget,
    /** URL of the next request. */
    public location: URL,
    /** Bytes the registry holds (as it last said). */
    public offset: number,
  ) {}

  /** Appends `bytes` at {@link offset} (`Content-Range: start-end`, inclusive, as the spec writes it). */
  async patch(bytes: Uint8Array): Promise<void> {
    const start = this.offset;
    const res = await pushRequest(this.t, {
      url: this.location,
      method: 'PATCH',
      headers: {
        'content-type': OCTETS,
        'content-length': String(bytes.byteLength),
        'content-range': `${start}-${start + bytes.byteLength - 1}`,
      },
      body: bytes,
    });
    if (res.status === 416) {
      await this.t.client.transport.discard(res);
      throw new RangeResponseError(
        `${this.t.where}: the registry refused an upload chunk at offset ${start} (HTTP 416)`,
        { retryable: true, data: { status: 416, offset: start } },
      );
    }
    if (res.status !== 202) throw await pushFailure(this.t, res, 'other');
    await this.t.client.transport.discard(res);
    this.location = nextLocation(this.t, res, this.location);
    const end = rangeEnd(res);
    // A registry that does not say how much it has is taken at its word of success.
    this.offset = end ?? start + bytes.byteLength;
    if (this.offset !== start + bytes.byteLength) {
      throw new RangeResponseError(
        `${this.t.where}: after a chunk of ${bytes.byteLength} bytes at ${start} the registry holds ${this.offset}`,
        { retryable: true, data: { offset: this.offset } },
      );
    }
  }

  /**
   * Asks the registry how much of the upload it holds (`GET` on the session, `Range: 0-N`),
   * after a failed request. A session the registry no longer knows is {@link UploadLostError}.
   */
  async refresh(): Promise<void> {
    const res = await pushRequest(this.t, { url: this.location, method: 'GET' });
    if (res.status === 404 || res.status === 400) {
      const detail = registryErrorDetail(await this.t.client.transport.discard(res));
      throw new UploadLostError(
        `${this.t.where}: the registry no longer knows the upload session (HTTP ${res.status}${detail.code ? ` ${detail.code}` : ''})`,
        { data: { status: res.status } },
      );
    }
    if (res.status !== 204 && res.status !== 200) throw await pushFailure(this.t, res, 'other');
    await this.t.client.transport.discard(res);
    this.location = nextLocation(this.t, res, this.location);
    this.offset = rangeEnd(res) ?? 0;
  }

  /** Closes the session: `PUT ?digest=` with the last bytes (or none). Checks the digest the registry reports. */
  async commit(digest: string, body?: Uint8Array): Promise<void> {
    const url = new URL(this.location);
    url.searchParams.set('digest', digest);
    const res = await pushRequest(this.t, {
      url,
      method: 'PUT',
      headers: { 'content-type': OCTETS, 'content-length': String(body?.byteLength ?? 0) },
      ...(body ? { body } : {}),
    });
    if (res.status !== 201 && res.status !== 204) throw await pushFailure(this.t, res, 'blob', digest);
    await this.t.client.transport.discard(res);
    const stored = res.header('docker-content-digest');
    if (stored && stored !== digest)
      throw new PushRefusedError(`${this.t.where}: the registry stored blob ${digest} as ${stored}`, {
        data: { digest, stored },
      });
    this.offset += body?.byteLength ?? 0;
  }
}

/** The `Location` of an answer, resolved against the request URL. */
function nextLocation(t: UploadTarget, res: HttpResponse, base: URL): URL {
  const loc = res.header('location');
  if (!loc)
    throw new PushRefusedError(`${t.where}: the registry answered an upload request without a Location`, {
      data: { status: res.status },
    });
  try {
    const u = new URL(loc, base);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(u.protocol);
    return u;
  } catch (err) {
    throw new PushRefusedError(`${t.where}: the registry gave an unusable upload Location`, { cause: err });
  }
}

/** Bytes held by the registry from a `Range: 0-N` header (N inclusive); undefined when absent. */
function rangeEnd(res: HttpResponse): number | undefined {
  const r = res.header('range');
  if (r === undefined) return undefined;
  const m = /^(?:bytes=)?0-(\d{1,15})$/.exec(r.trim());
  if (!m) return undefined;
  return Number(m[1]) + 1;
}
