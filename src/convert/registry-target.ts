/**
 * A registry repository as a conversion target: blobs pushed as they are produced (a stream in
 * chunked `PATCH` uploads; an EROFS image file or a config with its digest first, so a
 * repository that has it skips it after a `HEAD`, and one that does not gets it by a
 * cross-repository mount from the source repository when that holds it), manifests by digest,
 * and last the tag — the one `PUT` that makes the new image visible under the destination name. The
 * registry push module does the uploads (retries, resumed chunks, push-scoped tokens).
 *
 * @packageDocumentation
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { throwIfAborted } from '../errors.js';
import type { ByteSink } from '../build/sink.js';
import { FileSource } from '../io/file-source.js';
import type { Descriptor } from '../oci/descriptor.js';
import type { ImageReference } from '../ref/index.js';
import { RegistryPusher, type RegistryClient } from '../registry/index.js';
import type { ImageTarget, StoredBlob } from './target.js';

/**
 * Hands a producer's writes to a consumer as an async iterable, one chunk at a time (the
 * producer waits until the consumer takes each one: backpressure, bounded memory).
 */
class Handoff implements AsyncIterable<Uint8Array> {
  private waiting: { chunk: Uint8Array; taken: () => void; failed: (e: unknown) => void } | undefined;
  private wake: (() => void) | undefined;
  private ended = false;
  private error: unknown;

  /** Producer side: resolves once the consumer has the chunk. */
  put(chunk: Uint8Array): Promise<void> {
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the failure fail() recorded, as given
    if (this.error) return Promise.reject(this.error);
    return new Promise((taken, failed) => {
      this.waiting = { chunk, taken, failed };
      this.wake?.();
    });
  }

  end(): void {
    this.ended = true;
    this.wake?.();
  }

  /** Stops both sides with `err`. */
  fail(err: unknown): void {
    this.error ??= err;
    this.waiting?.failed(err);
    this.waiting = undefined;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    for (;;) {
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = undefined;
        w.taken();
        yield w.chunk;
        continue;
      }
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- the failure fail() recorded, as given
      if (this.error) throw this.error;
      if (this.ended) return;
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
  }
}

/** Writes an image into a registry repository; see the module comment. */
export class RegistryTarget implements ImageTarget {
  readonly name: string;
  private readonly pusher: RegistryPusher;
  private readonly manifests = new Map<string, Uint8Array>();
  private readonly scratch = new Set<string>();

  /**
   * `ref` must name a tag: it is what {@link commit} sets. `mountFrom`: repositories of the
   * same registry to mount blobs from (the source image's: an earlier conversion of it into
   * that repository left the same blobs there).
   */
  constructor(
    client: RegistryClient,
    private readonly ref: ImageReference,
    private readonly tag: string,
    private readonly mountFrom: string[] = [],
  ) {
    this.pusher = new RegistryPusher(client);
    this.name = `${ref.registry}/${ref.repository}:${tag}`;
  }

  async writeBlob(
    produce: (sink: ByteSink) => Promise<void>,
    options: { signal?: AbortSignal } = {},
  ): Promise<StoredBlob> {
    const handoff = new Handoff();
    const producing = produce({
      write: async (b) => {
        throwIfAborted(options.signal);
        // A copy: the producer may reuse its buffer once this resolves, while the chunk waits to be sent.
        await handoff.put(b.slice());
      },
    }).then(
      () => handoff.end(),
      (err: unknown) => {
        handoff.fail(err);
        throw err;
      },
    );
    producing.catch(() => {}); // awaited below
    try {
      const pushed = await this.pusher.pushStream(this.ref, handoff, options.signal ? { signal: options.signal } : {});
      await producing;
      return { digest: pushed.digest, size: pushed.size };
    } catch (err) {
      handoff.fail(err);
      await producing.catch(() => {});
      throw err;
    }
  }

  async writeBytes(bytes: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<StoredBlob> {
    const pushed = await this.pusher.pushBlob(this.ref, bytes, {
      mountFrom: this.mountFrom,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return { digest: pushed.digest, size: pushed.size };
  }

  async scratchPath(): Promise<string> {
    const p = join(tmpdir(), `ocifs-convert-${process.pid}-${randomBytes(6).toString('hex')}.erofs`);
    this.scratch.add(p);
    return p;
  }

  async writeBlobFile(path: string, options: { signal?: AbortSignal } = {}): Promise<StoredBlob> {
    const hash = createHash('sha256');
    for await (const c of createReadStream(path, {
      highWaterMark: 1 << 20,
      ...(options.signal ? { signal: options.signal } : {}),
    }))
      hash.update(c as Buffer);
    const digest = `sha256:${hash.digest('hex')}`;
    const source = await FileSource.open(path);
    try {
      const pushed = await this.pusher.pushBlob(this.ref, source, {
        digest,
        mountFrom: this.mountFrom,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      return { digest: pushed.digest, size: pushed.size };
    } finally {
      await source.close();
      await rm(path, { force: true });
      this.scratch.delete(path);
    }
  }

  async putManifest(bytes: Uint8Array, mediaType: string, options: { signal?: AbortSignal } = {}): Promise<Descriptor> {
    const pushed = await this.pusher.pushManifest(
      this.ref,
      bytes,
      mediaType,
      options.signal ? { signal: options.signal } : {},
    );
    this.manifests.set(pushed.digest, bytes);
    return { mediaType, digest: pushed.digest, size: pushed.size };
  }

  async commit(desc: Descriptor, options: { signal?: AbortSignal } = {}): Promise<void> {
    const bytes = this.manifests.get(desc.digest);
    if (!bytes) throw new Error(`internal: commit of ${desc.digest}, which was not put`);
    await this.pusher.pushManifest(this.ref, bytes, desc.mediaType, {
      tag: this.tag,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  async close(): Promise<void> {
    for (const p of this.scratch) await rm(p, { force: true });
    this.scratch.clear();
  }
}
