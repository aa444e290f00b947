import { DigestMismatchError } from '../errors.js';
import type { ExtraBytesSink } from '../io/byte-source.js';
import type { IoStats } from '../io/io-stats.js';
import { digestOf, parseDigest } from '../ref/digest.js';
import { parseReference, type ImageReference } from '../ref/reference.js';
import {
  BadManifestError,
  configPlatform,
  DEFAULT_MAX_MANIFEST_SIZE,
  hostPlatform,
  isManifestMediaType,
  MANIFEST_ACCEPT,
  MEDIA_TYPE_DOCKER_CONFIG,
  MEDIA_TYPE_OCI_CONFIG,
  MEDIA_TYPE_OCI_INDEX,
  parseImageConfig,
  parseManifestDocument,
  parsePlatform,
  selectPlatform,
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  type ManifestDocument,
  type Platform,
} from '../oci/index.js';
import { describe, endpointUrl, type Endpoint } from './endpoints.js';
import { BlobUnknownError, HttpStatusError, ShortBodyError } from './errors.js';
import * as opt from './options.js';
import type { CallOptions } from './options.js';
import { RegistryTransport } from './registry-transport.js';
import { RemoteBlobSource } from './remote-blob-source.js';
import { statusError } from './response-errors.js';
import { withRetry } from './retry.js';
import { listTags, type ListTagsOptions, type TagsPage } from './tags.js';
import { parseWwwAuthenticate, type AuthChallenge } from './www-authenticate.js';

/** A manifest or index as fetched: its exact bytes, computed digest and parsed form. */
export interface FetchedManifest {
  bytes: Uint8Array;
  /** Digest computed from the bytes (verified against the reference when it was a digest). */
  digest: string;
  mediaType: string;
  document: ManifestDocument;
  /** Base URL of the server that answered (a mirror or the registry). */
  source: string;
}

/** An image resolved down to one platform's manifest and config. */
export interface ResolvedImage {
  /** The reference as asked. */
  reference: ImageReference;
  /** Registry name (`docker.io`, `127.0.0.1:5000`). */
  registry: string;
  /** Repository (`library/alpine`). */
  repository: string;
  /** Digest of the platform manifest (computed from its bytes). */
  manifestDigest: string;
  /** Media type of the platform manifest. */
  mediaType: string;
  manifest: ImageManifest;
  /** The manifest's exact bytes. */
  manifestBytes: Uint8Array;
  /** The index the manifest was picked from, when the reference named one. */
  index?: { digest: string; mediaType: string; index: ImageIndex; bytes: Uint8Array };
  /** Platform: from the config, else from the index entry. */
  platform?: Platform;
  /** Config descriptor from the manifest. */
  configDescriptor: Descriptor;
  configDigest: string;
  /** Parsed config, for image configs (OCI/Docker); undefined for other artifacts or when not fetched. */
  config?: ImageConfig;
  /** The config's exact (verified) bytes; undefined when resolved with `config: false`. */
  configBytes?: Uint8Array;
  /** Layer descriptors, bottom first. */
  layers: Descriptor[];
  /** Base URL of the server that answered the first manifest request (mirror or registry). */
  source: string;
}

/**
 * A client for OCI distribution registries: references → manifests → blobs, with auth,
 * mirrors, retries and verification. One client holds one connection pool; close it when done.
 */
export class RegistryClient {
  /** Counters (requests, body bytes, retries); the transport's. */
  readonly stats: IoStats;
  /** Endpoint choice, retries, auth and Range memory under every call (see {@link RegistryTransport}). */
  readonly transport: RegistryTransport;
  private readonly maxManifestSize: number;
  private readonly maxBlobFetch: number;

  constructor(options: opt.RegistryClientOptions = {}) {
    this.transport = new RegistryTransport(options);
    this.stats = this.transport.stats;
    this.maxManifestSize = options.maxManifestSize ?? DEFAULT_MAX_MANIFEST_SIZE;
    this.maxBlobFetch = options.maxBlobFetch ?? opt.DEFAULT_MAX_BLOB_FETCH;
  }

  /**
   * Resolves a reference to one image: fetches the manifest (by tag or verified digest), picks
   * the platform's manifest from an index (default: this host's platform), and fetches and
   * verifies the config — unless `config` is false (work that only reads layers: one request
   * fewer; the platform then comes from the index entry only).
   */
  async resolve(
    reference: string | ImageReference,
    options: CallOptions & { platform?: Platform | string; config?: boolean } = {},
  ): Promise<ResolvedImage> {
    const ref = typeof reference === 'string' ? parseReference(reference) : reference;
    const wanted =
      typeof options.platform === 'string' ? parsePlatform(options.platform) : (options.platform ?? hostPlatform());
    const top = await this.fetchManifest(ref, ref.reference, options);
    let manifest: FetchedManifest = top;
    let index: ResolvedImage['index'];
    let platform: Platform | undefined;
    if (top.document.kind === 'index') {
      const idx = top.document.index;
      index = { digest: top.digest, mediaType: top.mediaType, index: idx, bytes: top.bytes };
      // Artifacts listed in an index (a SOCI v2 index has the image's platform too) are not images.
      const entry = selectPlatform(
        idx.manifests.filter((m) => isManifestMediaType(m.mediaType) && m.artifactType === undefined),
        wanted,
      );
      platform = entry.platform;
      manifest = await this.fetchManifest(ref, entry.digest, options);
      if (manifest.bytes.byteLength !== entry.size) {
        throw new BadManifestError(
          `${ref.registry}/${ref.repository}: manifest ${entry.digest} is ${manifest.bytes.byteLength} bytes, the index says ${entry.size}`,
        );
      }
      if (manifest.document.kind !== 'manifest')
        throw new BadManifestError(
          `${ref.registry}/${ref.repository}: index entry ${entry.digest} is itself an index (nested indexes are not supported)`,
        );
    }
    if (manifest.document.kind !== 'manifest') throw new Error('unreachable');
    const m = manifest.document.manifest;
    const configBytes = options.config === false ? undefined : await this.fetchBlob(ref, m.config, options);
    let config: ImageConfig | undefined;
    if (
      configBytes &&
      (m.config.mediaType === MEDIA_TYPE_OCI_CONFIG || m.config.mediaType === MEDIA_TYPE_DOCKER_CONFIG)
    ) {
      config = parseImageConfig(configBytes);
      platform = configPlatform(config);
    }
    return {
      reference: ref,
      registry: ref.registry,
      repository: ref.repository,
      manifestDigest: manifest.digest,
      mediaType: manifest.mediaType,
      manifest: m,
      manifestBytes: manifest.bytes,
      ...(index ? { index } : {}),
      ...(platform ? { platform } : {}),
      configDescriptor: m.config,
      configDigest: m.config.digest,
      ...(config ? { config } : {}),
      ...(configBytes ? { configBytes } : {}),
      layers: m.layers,
      source: top.source,
    };
  }

  /**
   * Fetches a manifest or index by tag or digest. The digest is always computed; when
   * `reference` is a digest the bytes must match it, and when the registry sends
   * Docker-Content-Digest for a tag, that must match too. Size is capped.
   */
  async fetchManifest(
    reference: string | ImageReference,
    tagOrDigest?: string,
    options: CallOptions = {},
  ): Promise<FetchedManifest> {
    const ref = typeof reference === 'string' ? parseReference(reference) : reference;
    const want = tagOrDigest ?? ref.reference;
    const expected = want.includes(':') ? parseDigest(want) : undefined;
    return this.transport.withEndpoints(ref, options.signal, async (ep) => {
      const where = describe(ep, ref.repository);
      const res = await this.transport.request(ep, ref.repository, {
        url: endpointUrl(ep, `/v2/${ref.repository}/manifests/${want}`),
        headers: { accept: MANIFEST_ACCEPT },
        ...(options.signal ? { signal: options.signal } : {}),
      });
      if (res.status !== 200)
        throw statusError(res, await this.transport.discard(res), { where, kind: 'manifest', reference: want });
      const bytes = await this.transport.readAll(
        res,
        this.maxManifestSize,
        () => new BadManifestError(`${where}: manifest ${want} is larger than the ${this.maxManifestSize}-byte limit`),
        options.signal,
      );
      const digest = digestOf(bytes, expected?.algorithm ?? 'sha256');
      if (expected && digest !== expected.value)
        throw new DigestMismatchError(expected.value, digest, `${where}: manifest`);
      const announced = res.header('docker-content-digest');
      if (!expected && announced && announced.startsWith('sha256:') && announced !== digest) {
        throw new DigestMismatchError(announced, digest, `${where}: manifest ${want} (Docker-Content-Digest)`);
      }
      const document = parseManifestDocument(bytes, res.header('content-type'), this.maxManifestSize);
      const mediaType = document.kind === 'index' ? document.index.mediaType : document.manifest.mediaType;
      return { bytes, digest, mediaType, document, source: ep.base };
    });
  }

  /** Fetches a small blob (config, SOCI index …) whole into memory, verified against its digest and size. */
  async fetchBlob(
    reference: string | ImageReference,
    descriptor: { digest: string; size?: number },
    options: CallOptions & { maxSize?: number } = {},
  ): Promise<Uint8Array> {
    const ref = typeof reference === 'string' ? parseReference(reference) : reference;
    const digest = parseDigest(descriptor.digest);
    const max = options.maxSize ?? this.maxBlobFetch;
    if (descriptor.size !== undefined && descriptor.size > max) {
      throw new BadManifestError(
        `${ref.registry}/${ref.repository}: blob ${digest.value} is ${descriptor.size} bytes, over the ${max}-byte in-memory limit`,
      );
    }
    return this.transport.withEndpoints(ref, options.signal, async (ep) => {
      const where = describe(ep, ref.repository);
      const res = await this.transport.request(ep, ref.repository, {
        url: endpointUrl(ep, `/v2/${ref.repository}/blobs/${digest.value}`),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      if (res.status !== 200)
        throw statusError(res, await this.transport.discard(res), { where, kind: 'blob', reference: digest.value });
      const limit = descriptor.size ?? max;
      const bytes = await this.transport.readAll(
        res,
        limit,
        () => new BadManifestError(`${where}: blob ${digest.value} is larger than ${limit} bytes`),
        options.signal,
      );
      if (descriptor.size !== undefined && bytes.byteLength !== descriptor.size) {
        const got = `${bytes.byteLength} bytes, expected ${descriptor.size}`;
        throw new ShortBodyError(`${where}: blob ${digest.value} has ${got}`);
      }
      const actual = digestOf(bytes, digest.algorithm);
      if (actual !== digest.value) throw new DigestMismatchError(digest.value, actual, `${where}: blob`);
      return bytes;
    });
  }

  /** The size of a blob from a HEAD request (when no descriptor gives it). */
  async statBlob(
    reference: string | ImageReference,
    digest: string,
    options: CallOptions = {},
  ): Promise<{ digest: string; size: number }> {
    const ref = typeof reference === 'string' ? parseReference(reference) : reference;
    const d = parseDigest(digest).value;
    return this.transport.withEndpoints(ref, options.signal, async (ep) => {
      const where = describe(ep, ref.repository);
      const res = await this.transport.request(ep, ref.repository, {
        url: endpointUrl(ep, `/v2/${ref.repository}/blobs/${d}`),
        method: 'HEAD',
        ...(options.signal ? { signal: options.signal } : {}),
      });
      await this.transport.discard(res);
      if (res.status === 404) throw new BlobUnknownError(where, d, { data: { status: 404 } });
      if (res.status !== 200) throw statusError(res, new Uint8Array(), { where, kind: 'blob', reference: d });
      const size = Number(res.header('content-length'));
      if (!Number.isSafeInteger(size) || size < 0) {
        throw new HttpStatusError(`${where}: HEAD of blob ${d} gave no usable Content-Length`, 200);
      }
      return { digest: d, size };
    });
  }

  /**
   * Where the blobs of `reference` come from, as the blob cache scopes unverified bytes: the
   * mirror chain as configured, ending at the registry (`https://mirror.example, then
   * https://registry-1.docker.io`), or the registry's base URL alone.
   */
  origin(reference: string | ImageReference): string {
    const ref = typeof reference === 'string' ? parseReference(reference) : reference;
    return this.transport.endpoints
      .all(ref.registry)
      .map((ep) => ep.base)
      .join(', then ');
  }

  /**
   * A random-access byte source over one blob, reading with Range requests. `onExtraBytes`
   * receives bytes beyond what was asked when a server ignores Range (give it to the cache).
   */
  blobSource(
    reference: string | ImageReference,
    descriptor: { digest: string; size: number },
    options: { onExtraBytes?: ExtraBytesSink } = {},
  ): RemoteBlobSource {
    const ref = typeof reference === 'string' ? parseReference(reference) : reference;
    return new RemoteBlobSource(this.transport, ref, descriptor, options);
  }

  /**
   * Artifacts that refer to `digest` (OCI 1.1 referrers API, falling back to the
   * `<alg>-<hex>` tag schema when the registry lacks the API), optionally of one artifactType.
   */
  async referrers(
    reference: string | ImageReference,
    digest: string,
    options: CallOptions & { artifactType?: string } = {},
  ): Promise<Descriptor[]> {
    const ref = typeof reference === 'string' ? parseReference(reference) : reference;
    const d = parseDigest(digest);
    const filter = (list: Descriptor[]) =>
      options.artifactType ? list.filter((x) => x.artifactType === options.artifactType) : list;
    return this.transport.withEndpoints(ref, options.signal, async (ep) => {
      const where = describe(ep, ref.repository);
      const out: Descriptor[] = [];
      let url: URL | undefined = endpointUrl(
        ep,
        `/v2/${ref.repository}/referrers/${d.value}`,
        options.artifactType ? { artifactType: options.artifactType } : {},
      );
      for (let page = 0; url && page < 50; page++) {
        const res = await this.transport.request(ep, ref.repository, {
          url,
          headers: { accept: MEDIA_TYPE_OCI_INDEX },
          ...(options.signal ? { signal: options.signal } : {}),
        });
        if (res.status === 404 && page === 0) {
          await this.transport.discard(res);
          return filter(await this.referrersByTag(ep, ref, d.algorithm + '-' + d.hex, options.signal));
        }
        if (res.status !== 200) throw statusError(res, await this.transport.discard(res), { where, kind: 'other' });
        const bytes = await this.transport.readAll(
          res,
          this.maxManifestSize,
          () => new BadManifestError(`${where}: referrers list too large`),
          options.signal,
        );
        const doc = parseManifestDocument(
          bytes,
          res.header('content-type') ?? MEDIA_TYPE_OCI_INDEX,
          this.maxManifestSize,
        );
        if (doc.kind !== 'index') throw new BadManifestError(`${where}: referrers response is not an index`);
        out.push(...doc.index.manifests);
        const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(res.header('link') ?? '');
        url = next ? new URL(next[1], url) : undefined;
        if (url && url.origin !== new URL(ep.base).origin)
          throw new BadManifestError(`${where}: referrers pagination points to another host`);
      }
      return filter(out);
    });
  }

  private async referrersByTag(
    ep: Endpoint,
    ref: ImageReference,
    tag: string,
    signal?: AbortSignal,
  ): Promise<Descriptor[]> {
    const where = describe(ep, ref.repository);
    const res = await this.transport.request(ep, ref.repository, {
      url: endpointUrl(ep, `/v2/${ref.repository}/manifests/${tag}`),
      headers: { accept: MEDIA_TYPE_OCI_INDEX },
      ...(signal ? { signal } : {}),
    });
    if (res.status === 404) {
      await this.transport.discard(res);
      return [];
    }
    if (res.status !== 200)
      throw statusError(res, await this.transport.discard(res), { where, kind: 'manifest', reference: tag });
    const bytes = await this.transport.readAll(
      res,
      this.maxManifestSize,
      () => new BadManifestError(`${where}: referrers tag ${tag} too large`),
      signal,
    );
    const doc = parseManifestDocument(bytes, res.header('content-type'), this.maxManifestSize);
    if (doc.kind !== 'index') throw new BadManifestError(`${where}: referrers tag ${tag} is not an index`);
    return doc.index.manifests;
  }

  /** One page of the repository's tags (`/v2/<name>/tags/list`); see {@link listTags}. */
  tags(reference: string | ImageReference, options: ListTagsOptions = {}): Promise<TagsPage> {
    return listTags(this.transport, typeof reference === 'string' ? parseReference(reference) : reference, options);
  }

  /** Checks that a registry answers the API (`GET /v2/`): its status and auth challenges. */
  async ping(
    registry: string,
    options: CallOptions = {},
  ): Promise<{ url: string; status: number; challenges: AuthChallenge[] }> {
    const ep = this.transport.endpoints.all(registry).at(-1)!;
    const url = endpointUrl(ep, '/v2/');
    const res = await withRetry(
      () => this.transport.http.send({ url, ...(options.signal ? { signal: options.signal } : {}) }),
      this.transport.retry,
      { ...(options.signal ? { signal: options.signal } : {}), stats: this.stats },
    );
    await this.transport.discard(res);
    return {
      url: url.toString(),
      status: res.status,
      challenges: parseWwwAuthenticate(res.headers['www-authenticate']),
    };
  }

  /** Closes the connection pool. */
  async close(): Promise<void> {
    await this.transport.close();
  }
}
