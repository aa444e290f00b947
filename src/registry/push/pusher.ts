/**
 * Pushing to a registry, the way `crane`/go-containerregistry's `remote.Write` does it: a blob
 * the repository already has is skipped (`HEAD`), one another repository of the registry has is
 * mounted (`POST ?mount=&from=`), a small one goes up in one `PUT`, a large or streamed one in
 * chunks (`PATCH` with Content-Range) that resume from the registry's `Range` after a failed
 * chunk; manifests go last (`PUT /v2/<name>/manifests/<ref>`), so nothing is half-pushed under
 * a tag. Pushes go to the registry itself, never to a mirror, with a `pull,push` token.
 *
 * @packageDocumentation
 */
import { createHash, type Hash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { debuglog } from '../../io/debug-log.js';
import { AbortedError, InvalidOptionError, throwIfAborted } from '../../errors.js';
import type { ByteSource } from '../../io/byte-source.js';
import { digestOf, parseDigest, parseReference, type ImageReference } from '../../ref/index.js';
import type { RegistryClient } from '../client.js';
import type { CallOptions } from '../options.js';
import { describe, endpointUrl } from '../endpoints.js';
import { isRetryable, RegistryError } from '../errors.js';
import { retryDelay, withRetry } from '../retry.js';
import { PushRefusedError, UploadLostError } from './errors.js';
import { pushFailure, pushRequest, startUpload, type UploadSession, type UploadTarget } from './upload-session.js';

const log = debuglog('ocifs:push');

/** Default bytes per `PATCH` of a chunked upload (and the largest blob sent in one `PUT`). */
export const DEFAULT_PUSH_CHUNK_SIZE = 8 * 1024 * 1024;

/** Options of {@link RegistryPusher}. */
export interface PusherOptions {
  /** Bytes per PATCH; blobs up to this size go up in one PUT (default {@link DEFAULT_PUSH_CHUNK_SIZE}). */
  chunkSize?: number;
}

/** Options of one blob push. */
export interface BlobPushOptions extends CallOptions {
  /** Repositories of the same registry that may hold the blob: tried as cross-repository mounts first. */
  mountFrom?: string[];
  /** Called as bytes are accepted by the registry. */
  onProgress?: (sent: number, total: number | undefined) => void;
}

/** What a blob push did. */
export interface PushedBlob {
  digest: string;
  size: number;
  /** `exists`: the repository had it; `mounted`: linked from another repository; `uploaded`. */
  how: 'exists' | 'mounted' | 'uploaded';
}

/** What a manifest push did. */
export interface PushedManifest {
  digest: string;
  size: number;
  /** The `OCI-Subject` header of the answer: the registry indexed the manifest's subject (it has the referrers API). */
  subjectIndexed: boolean;
}

/** See the module comment. One pusher per client; it is cheap. */
export class RegistryPusher {
  private readonly chunkSize: number;

  constructor(
    private readonly client: RegistryClient,
    options: PusherOptions = {},
  ) {
    this.chunkSize = options.chunkSize ?? DEFAULT_PUSH_CHUNK_SIZE;
    if (!Number.isSafeInteger(this.chunkSize) || this.chunkSize < 64 * 1024 || this.chunkSize > 1024 * 1024 * 1024) {
      throw new InvalidOptionError('chunkSize', 'must be an integer between 64 KiB and 1 GiB');
    }
  }

  /** The size of a blob the repository holds, or undefined when it has none (`HEAD`). */
  async blobSize(
    reference: string | ImageReference,
    digest: string,
    options: CallOptions = {},
  ): Promise<number | undefined> {
    const t = this.target(reference, options);
    const d = parseDigest(digest).value;
    return this.retrying(t, async () => {
      const res = await pushRequest(t, {
        url: endpointUrl(t.ep, `/v2/${t.ref.repository}/blobs/${d}`),
        method: 'HEAD',
      });
      await this.client.transport.discard(res);
      if (res.status === 404) return undefined;
      if (res.status !== 200) throw await pushFailure(t, res, 'blob', d);
      const size = Number(res.header('content-length'));
      return Number.isSafeInteger(size) && size >= 0 ? size : undefined;
    });
  }

  /**
   * Pushes a blob held in memory or readable at random (a {@link ByteSource}: a cache entry, a
   * file). With `digest` the blob is skipped when present and mounted when possible; without,
   * the digest is computed first (bytes) or on the way (source, then no skip).
   */
  async pushBlob(
    reference: string | ImageReference,
    content: Uint8Array | ByteSource,
    options: BlobPushOptions & { digest?: string } = {},
  ): Promise<PushedBlob> {
    const t = this.target(reference, options);
    const bytes = content instanceof Uint8Array ? content : undefined;
    const size = bytes ? bytes.byteLength : (content as ByteSource).size;
    const digest = options.digest ?? (bytes ? digestOf(bytes) : undefined);
    if (digest !== undefined) {
      parseDigest(digest);
      const have = await this.blobSize(t.ref, digest, options);
      if (have !== undefined) {
        log('%s: %s already there', t.where, digest);
        options.onProgress?.(size, size);
        return { digest, size, how: 'exists' };
      }
    }
    // One mount attempt (as crane): a declined mount answers with an ordinary session.
    const from = digest === undefined ? undefined : options.mountFrom?.find((r) => r !== t.ref.repository);
    for (let restarts = 0; ; restarts++) {
      const start = await this.retrying(t, () =>
        startUpload(t, from !== undefined && restarts === 0 ? { digest: digest!, from } : undefined),
      );
      if (start.mounted) {
        log('%s: %s mounted from %s', t.where, digest, from);
        options.onProgress?.(size, size);
        return { digest: digest!, size, how: 'mounted' };
      }
      try {
        return await this.upload(t, start.session, content, size, digest, options);
      } catch (err) {
        // The bytes are at hand again: a lost session is started over (twice at most).
        if (!(err instanceof UploadLostError) || restarts >= 2 || t.signal?.aborted) throw err;
        log('%s: %s; starting the upload again', t.where, err.message);
      }
    }
  }

  /**
   * Pushes a blob from a stream of unknown size, computing its digest on the way (checked
   * against `expectedDigest` when given). Memory stays at about two chunks. A chunk the
   * registry refuses is sent again from where the registry says it stopped; a session the
   * registry lost cannot be resumed from a stream ({@link UploadLostError}: push again).
   */
  async pushStream(
    reference: string | ImageReference,
    stream: AsyncIterable<Uint8Array>,
    options: BlobPushOptions & { expectedDigest?: string } = {},
  ): Promise<PushedBlob> {
    const t = this.target(reference, options);
    const start = await this.retrying(t, () => startUpload(t));
    if (start.mounted) throw new Error('unreachable: a plain upload never mounts');
    const session = start.session;
    const hash = createHash('sha256');
    let size = 0;
    // Sending chunk k overlaps reading chunk k+1 from the stream.
    let sending: Promise<void> | undefined;
    for await (const chunk of rechunk(stream, this.chunkSize, hash)) {
      await sending;
      throwIfAborted(options.signal);
      const at = size;
      size += chunk.byteLength;
      sending = this.sendChunk(t, session, chunk, at).then(() =>
        options.onProgress?.(at + chunk.byteLength, undefined),
      );
      sending.catch(() => {}); // awaited above or below
    }
    await sending;
    const digest = `sha256:${hash.digest('hex')}`;
    if (options.expectedDigest !== undefined && options.expectedDigest !== digest) {
      throw new PushRefusedError(
        `${t.where}: the stream hashed to ${digest}, not ${options.expectedDigest}: not committed`,
        { data: { digest, expected: options.expectedDigest } },
      );
    }
    await this.commit(t, session, digest, undefined, size);
    options.onProgress?.(size, size);
    return { digest, size, how: 'uploaded' };
  }

  /**
   * Pushes a manifest or index under `tagOrDigest` (default: its digest). Push it after every
   * blob and child manifest it names: the registry may refuse one naming what it lacks, and a
   * tag must never point at something incomplete.
   */
  async pushManifest(
    reference: string | ImageReference,
    bytes: Uint8Array,
    mediaType: string,
    options: CallOptions & { tag?: string } = {},
  ): Promise<PushedManifest> {
    const t = this.target(reference, options);
    const digest = digestOf(bytes);
    const name = options.tag ?? digest;
    const res = await this.retrying(t, async () => {
      const r = await pushRequest(t, {
        url: endpointUrl(t.ep, `/v2/${t.ref.repository}/manifests/${name}`),
        method: 'PUT',
        headers: { 'content-type': mediaType, 'content-length': String(bytes.byteLength) },
        body: bytes,
      });
      if (r.status !== 201 && r.status !== 200) throw await pushFailure(t, r, 'manifest', name);
      await this.client.transport.discard(r);
      return r;
    });
    const stored = res.header('docker-content-digest');
    if (stored && stored.startsWith('sha256:') && stored !== digest)
      throw new PushRefusedError(`${t.where}: the registry stored manifest ${digest} as ${stored}`, {
        data: { digest, stored },
      });
    log('%s: manifest %s → %s', t.where, name, digest);
    return { digest, size: bytes.byteLength, subjectIndexed: res.header('oci-subject') !== undefined };
  }

  /** The upload target for a reference: the registry itself (pushes never go to mirrors). */
  private target(reference: string | ImageReference, options: CallOptions): UploadTarget {
    const ref = typeof reference === 'string' ? parseReference(reference) : reference;
    const ep = this.client.transport.endpoints.all(ref.registry).at(-1)!;
    return {
      client: this.client,
      ep,
      ref,
      where: describe(ep, ref.repository),
      ...(options.signal ? { signal: options.signal } : {}),
    };
  }

  /** Uploads a whole blob into an open session: one PUT when small, else chunks from the registry's offset. */
  private async upload(
    t: UploadTarget,
    session: UploadSession,
    content: Uint8Array | ByteSource,
    size: number,
    digest: string | undefined,
    options: BlobPushOptions,
  ): Promise<PushedBlob> {
    if (content instanceof Uint8Array && size <= this.chunkSize) {
      await this.commit(t, session, digest ?? digestOf(content), content, size);
      options.onProgress?.(size, size);
      return { digest: digest ?? digestOf(content), size, how: 'uploaded' };
    }
    const source: ByteSource =
      content instanceof Uint8Array ? { size, read: async (o, n) => content.subarray(o, o + n) } : content;
    // Without a digest it is computed on the way, so the bytes must go out in order, once.
    const hash = digest === undefined ? createHash('sha256') : undefined;
    let hashed = 0;
    let ahead: { at: number; p: Promise<Uint8Array> } | undefined;
    const readAt = (at: number) => {
      const n = Math.min(this.chunkSize, size - at);
      const p = source.read(at, n, options.signal ? { signal: options.signal } : {});
      p.catch(() => {});
      return { at, p };
    };
    while (session.offset < size) {
      const at = session.offset;
      const cur = ahead && ahead.at === at ? ahead : readAt(at);
      const chunk = await cur.p;
      ahead = at + chunk.byteLength < size ? readAt(at + chunk.byteLength) : undefined;
      if (hash) {
        if (at !== hashed)
          throw new UploadLostError(
            `${t.where}: the registry went back to offset ${at} of an upload whose digest is being computed`,
          );
        hash.update(chunk);
        hashed += chunk.byteLength;
      }
      await this.sendChunk(t, session, chunk, at);
      options.onProgress?.(session.offset, size);
    }
    const final = digest ?? `sha256:${hash!.digest('hex')}`;
    await this.commit(t, session, final, undefined, size);
    return { digest: final, size, how: 'uploaded' };
  }

  /**
   * Sends `chunk` (which starts at blob offset `at`) through PATCHes; after a retryable failure
   * asks the registry where it stands and sends the rest from there.
   */
  private async sendChunk(t: UploadTarget, session: UploadSession, chunk: Uint8Array, at: number): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const skip = session.offset - at;
      if (skip >= chunk.byteLength) return;
      if (skip < 0)
        throw new UploadLostError(
          `${t.where}: the registry holds ${session.offset} bytes of the upload, fewer than the ${at} already sent`,
          { data: { offset: session.offset } },
        );
      try {
        await session.patch(skip === 0 ? chunk : chunk.subarray(skip));
        return;
      } catch (err) {
        if (!isRetryable(err) || attempt >= this.client.transport.retry.maxRetries || t.signal?.aborted) throw err;
        await this.backoff(t, attempt, err);
        log(
          '%s: chunk at %d failed (%s); asking the registry where the upload stands',
          t.where,
          at + skip,
          (err as Error).message,
        );
        await this.retrying(t, () => session.refresh());
      }
    }
  }

  /** The final PUT; if its answer is lost, a blob that arrived anyway counts as pushed. */
  private async commit(
    t: UploadTarget,
    session: UploadSession,
    digest: string,
    body: Uint8Array | undefined,
    size: number,
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await session.commit(digest, body);
        return;
      } catch (err) {
        if (!isRetryable(err) || attempt >= this.client.transport.retry.maxRetries || t.signal?.aborted) throw err;
        await this.backoff(t, attempt, err);
        if ((await this.blobSize(t.ref, digest, t.signal ? { signal: t.signal } : {})) === size) return;
        if (body === undefined) await this.retrying(t, () => session.refresh());
      }
    }
  }

  /** Runs a request-level step with the client's retry policy. */
  private retrying<T>(t: UploadTarget, fn: () => Promise<T>): Promise<T> {
    return withRetry(fn, this.client.transport.retry, {
      ...(t.signal ? { signal: t.signal } : {}),
      stats: this.client.stats,
      log: (m) => log('%s: %s', t.where, m),
    });
  }

  private async backoff(t: UploadTarget, attempt: number, err: unknown): Promise<void> {
    this.client.stats.retries++;
    const delay = retryDelay(
      attempt,
      this.client.transport.retry,
      err instanceof RegistryError ? err.retryAfter : undefined,
    );
    log('%s: retry %d in %d ms after: %s', t.where, attempt + 1, Math.round(delay), (err as Error).message);
    try {
      await sleep(delay, undefined, t.signal ? { signal: t.signal } : {});
    } catch {
      throw new AbortedError({ cause: t.signal?.reason });
    }
  }
}

/** Regroups a stream into chunks of exactly `size` bytes (the last may be shorter), hashing it in order. */
async function* rechunk(stream: AsyncIterable<Uint8Array>, size: number, hash: Hash): AsyncGenerator<Uint8Array> {
  let buf = new Uint8Array(size);
  let n = 0;
  for await (const piece of stream) {
    hash.update(piece);
    let p = 0;
    while (p < piece.byteLength) {
      const take = Math.min(size - n, piece.byteLength - p);
      buf.set(piece.subarray(p, p + take), n);
      n += take;
      p += take;
      if (n === size) {
        yield buf;
        buf = new Uint8Array(size);
        n = 0;
      }
    }
  }
  if (n > 0) yield buf.subarray(0, n);
}
