/**
 * An OCI image layout directory as a conversion target (`oci:DIR[:TAG]`, as skopeo names it):
 * `oci-layout`, `blobs/sha256/<hex>`, and `index.json` whose entries carry the tag in
 * `org.opencontainers.image.ref.name`.
 *
 * Blobs are written to scratch files beside their final place (`blobs/sha256/.ocifs-tmp-PID-…`)
 * and renamed to their digest when complete; a blob already present is kept and the copy
 * dropped. `index.json` is replaced in one rename after everything it names is in place, and
 * keeps the entries of other tags. A conversion killed midway leaves the old `index.json` and
 * scratch files, which the next conversion into the directory removes (their process is gone).
 *
 * @packageDocumentation
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { throwIfAborted } from '../errors.js';
import { NotALayoutError } from '../oci/errors.js';
import { DigestingSink, type ByteSink } from '../build/sink.js';
import { processAlive } from '../cache/claims.js';
import type { Descriptor } from '../oci/descriptor.js';
import { MEDIA_TYPE_OCI_INDEX } from '../oci/media-types.js';
import type { ImageTarget, StoredBlob } from './target.js';

/** The annotation that names an image's tag in an OCI layout. */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
const TMP_PREFIX = '.ocifs-tmp-';

/** Writes an image into an OCI layout directory; see the module comment. */
export class LayoutTarget implements ImageTarget {
  readonly name: string;
  private readonly blobDir: string;
  private readonly scratch = new Set<string>();

  private constructor(
    readonly dir: string,
    readonly tag: string,
  ) {
    this.name = `oci:${dir}:${tag}`;
    this.blobDir = join(dir, 'blobs', 'sha256');
  }

  /** Opens (or creates) the layout at `dir`; `tag` is what {@link commit} points. */
  static async open(dir: string, tag: string): Promise<LayoutTarget> {
    const t = new LayoutTarget(dir, tag);
    await t.init();
    return t;
  }

  private async init(): Promise<void> {
    let entries: string[] | undefined;
    try {
      entries = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') throw new NotALayoutError(this.dir, 'not a directory');
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (entries && entries.length > 0 && !entries.includes('oci-layout')) {
      throw new NotALayoutError(this.dir, 'exists and is not an OCI image layout (no oci-layout file)');
    }
    await mkdir(this.blobDir, { recursive: true });
    if (!entries?.includes('oci-layout'))
      await writeFile(join(this.dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    // Scratch files of conversions that died.
    for (const n of await readdir(this.blobDir)) {
      const m = /^\.ocifs-tmp-(\d+)-/.exec(n);
      if (m && !processAlive(Number(m[1]))) await rm(join(this.blobDir, n), { force: true });
    }
  }

  async scratchPath(): Promise<string> {
    const p = join(this.blobDir, `${TMP_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`);
    this.scratch.add(p);
    return p;
  }

  /** Moves a complete scratch file to its digest's place (keeping a blob already there). */
  private async place(path: string, digest: string): Promise<void> {
    const final = join(this.blobDir, digest.slice('sha256:'.length));
    const exists = await stat(final).then(
      () => true,
      () => false,
    );
    if (exists) await rm(path, { force: true });
    else await rename(path, final);
    this.scratch.delete(path);
  }

  async writeBlob(
    produce: (sink: ByteSink) => Promise<void>,
    options: { signal?: AbortSignal } = {},
  ): Promise<StoredBlob> {
    const path = await this.scratchPath();
    const fh = await open(path, 'w', 0o644);
    const sink = new DigestingSink({
      write: async (b) => {
        throwIfAborted(options.signal);
        let done = 0;
        while (done < b.length) done += (await fh.write(b, done, b.length - done)).bytesWritten;
      },
    });
    try {
      await produce(sink);
      await fh.sync();
    } finally {
      await fh.close();
    }
    const digest = sink.digest();
    await this.place(path, digest);
    return { digest, size: sink.size };
  }

  writeBytes(bytes: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<StoredBlob> {
    return this.writeBlob(async (sink) => sink.write(bytes), options);
  }

  async writeBlobFile(path: string, options: { signal?: AbortSignal } = {}): Promise<StoredBlob> {
    const hash = createHash('sha256');
    let size = 0;
    for await (const c of createReadStream(path, {
      highWaterMark: 1 << 20,
      ...(options.signal ? { signal: options.signal } : {}),
    })) {
      hash.update(c as Buffer);
      size += (c as Buffer).length;
    }
    const digest = `sha256:${hash.digest('hex')}`;
    await this.place(path, digest);
    return { digest, size };
  }

  async putManifest(bytes: Uint8Array, mediaType: string): Promise<Descriptor> {
    const stored = await this.writeBytes(bytes);
    return { mediaType, digest: stored.digest, size: stored.size };
  }

  async commit(desc: Descriptor): Promise<void> {
    const indexPath = join(this.dir, 'index.json');
    let index: { schemaVersion: number; mediaType?: string; manifests: Descriptor[]; [k: string]: unknown } = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE_OCI_INDEX,
      manifests: [],
    };
    const text = await readFile(indexPath, 'utf8').catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    });
    if (text !== undefined) {
      try {
        const parsed: unknown = JSON.parse(text);
        if (
          typeof parsed !== 'object' ||
          parsed === null ||
          !Array.isArray((parsed as { manifests?: unknown }).manifests)
        )
          throw new Error('no manifests array');
        index = parsed as typeof index;
      } catch (err) {
        throw new NotALayoutError(this.dir, `index.json is not an image index (${(err as Error).message})`);
      }
    }
    const entry: Descriptor = { ...desc, annotations: { ...desc.annotations, [REF_NAME_ANNOTATION]: this.tag } };
    index.manifests = [...index.manifests.filter((m) => m.annotations?.[REF_NAME_ANNOTATION] !== this.tag), entry];
    const tmp = `${indexPath}.${TMP_PREFIX}${process.pid}`;
    const fh = await open(tmp, 'w', 0o644);
    try {
      await fh.writeFile(JSON.stringify(index));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, indexPath);
  }

  async close(): Promise<void> {
    for (const p of this.scratch) await rm(p, { force: true });
    this.scratch.clear();
  }
}
