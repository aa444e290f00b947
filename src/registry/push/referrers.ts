/**
 * Attaching an artifact to a manifest (OCI distribution 1.1 "referrers"): the artifact's
 * manifest, with a `subject`, is pushed by digest; a registry with the referrers API indexes it
 * (and says so with the `OCI-Subject` header). A registry without it gets the referrers tag
 * schema instead: the tag `<alg>-<hex of the subject>` holds an image index listing the
 * referrers, read, extended and written back without losing the entries already there (and
 * read again afterwards, so a writer racing this one is merged rather than overwritten).
 *
 * @packageDocumentation
 */
import { debuglog } from '../../io/debug-log.js';
import { parseDigest, type ImageReference } from '../../ref/index.js';
import { MEDIA_TYPE_OCI_INDEX, parseManifestDocument, type Descriptor } from '../../oci/index.js';
import type { RegistryClient } from '../client.js';
import type { CallOptions } from '../options.js';
import { describe, endpointUrl } from '../endpoints.js';
import { PushRefusedError } from './errors.js';
import type { RegistryPusher } from './pusher.js';
import { pushFailure, pushRequest, type UploadTarget } from './upload-session.js';

const log = debuglog('ocifs:push');

/** Largest referrers index read back. */
const MAX_REFERRERS_INDEX = 4 * 1024 * 1024;
/** Rounds of write-and-check on the fallback tag against concurrent writers. */
const TAG_ROUNDS = 4;

/** An artifact manifest to attach: its bytes (with a `subject`), media type and artifact type. */
export interface ReferrerManifest {
  bytes: Uint8Array;
  mediaType: string;
  /** `artifactType` of the manifest (or its config media type), listed in the referrers index. */
  artifactType: string;
  /** Annotations of the manifest, copied into its referrers entry. */
  annotations?: Record<string, string>;
}

/** Where a referrer went. */
export interface PushedReferrer {
  digest: string;
  size: number;
  /** `api`: the registry indexed the subject; `tag`: the referrers tag schema was written. */
  via: 'api' | 'tag';
  /** The fallback tag, when `via` is `tag`. */
  tag?: string;
}

/** The referrers-tag-schema tag of a digest: `sha256:ab…` → `sha256-ab…`. */
export function referrersTag(digest: string): string {
  const d = parseDigest(digest);
  return `${d.algorithm}-${d.hex}`;
}

/**
 * Pushes `manifest` as a referrer of `subjectDigest` in the repository of `reference`: through
 * the referrers API when the registry has it, else through the fallback tag. Push the blobs the
 * manifest names first.
 */
export async function pushReferrer(
  client: RegistryClient,
  pusher: RegistryPusher,
  reference: ImageReference,
  manifest: ReferrerManifest,
  subjectDigest: string,
  options: CallOptions = {},
): Promise<PushedReferrer> {
  const pushed = await pusher.pushManifest(reference, manifest.bytes, manifest.mediaType, options);
  if (pushed.subjectIndexed) return { digest: pushed.digest, size: pushed.size, via: 'api' };
  const t = targetOf(client, reference, options);
  if (await hasReferrersApi(t, subjectDigest)) return { digest: pushed.digest, size: pushed.size, via: 'api' };
  const entry: Descriptor = {
    mediaType: manifest.mediaType,
    digest: pushed.digest,
    size: pushed.size,
    artifactType: manifest.artifactType,
    ...(manifest.annotations && Object.keys(manifest.annotations).length ? { annotations: manifest.annotations } : {}),
  };
  const tag = referrersTag(subjectDigest);
  for (let round = 0; round < TAG_ROUNDS; round++) {
    const current = await readTagIndex(t, tag);
    if (current?.some((d) => d.digest === entry.digest)) {
      log('%s: %s lists %s', t.where, tag, entry.digest);
      return { digest: pushed.digest, size: pushed.size, via: 'tag', tag };
    }
    const index = { schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_INDEX, manifests: [...(current ?? []), entry] };
    await pusher.pushManifest(reference, Buffer.from(JSON.stringify(index)), MEDIA_TYPE_OCI_INDEX, { ...options, tag });
  }
  throw new PushRefusedError(
    `${t.where}: the referrers tag ${tag} kept changing under this push (${TAG_ROUNDS} rounds); push again`,
    { data: { tag } },
  );
}

function targetOf(client: RegistryClient, ref: ImageReference, options: CallOptions): UploadTarget {
  const ep = client.transport.endpoints.all(ref.registry).at(-1)!;
  return {
    client,
    ep,
    ref,
    where: describe(ep, ref.repository),
    ...(options.signal ? { signal: options.signal } : {}),
  };
}

/** True when `GET /v2/<name>/referrers/<digest>` answers (404 means no API). */
async function hasReferrersApi(t: UploadTarget, subjectDigest: string): Promise<boolean> {
  const res = await pushRequest(t, {
    url: endpointUrl(t.ep, `/v2/${t.ref.repository}/referrers/${subjectDigest}`),
    method: 'GET',
    headers: { accept: MEDIA_TYPE_OCI_INDEX },
  });
  await t.client.transport.discard(res);
  return res.status === 200;
}

/** The descriptors of the fallback tag's index, from the registry itself; undefined when the tag does not exist. */
async function readTagIndex(t: UploadTarget, tag: string): Promise<Descriptor[] | undefined> {
  const res = await pushRequest(t, {
    url: endpointUrl(t.ep, `/v2/${t.ref.repository}/manifests/${tag}`),
    method: 'GET',
    headers: { accept: MEDIA_TYPE_OCI_INDEX },
  });
  if (res.status === 404) {
    await t.client.transport.discard(res);
    return undefined;
  }
  if (res.status !== 200) throw await pushFailure(t, res, 'manifest', tag);
  const bytes = await t.client.transport.readAll(
    res,
    MAX_REFERRERS_INDEX,
    () => new PushRefusedError(`${t.where}: referrers tag ${tag} is larger than ${MAX_REFERRERS_INDEX} bytes`),
  );
  const doc = parseManifestDocument(bytes, res.header('content-type') ?? MEDIA_TYPE_OCI_INDEX, MAX_REFERRERS_INDEX);
  if (doc.kind !== 'index')
    throw new PushRefusedError(
      `${t.where}: tag ${tag} exists and is not an index: it is not a referrers list, refusing to overwrite it`,
      { data: { tag } },
    );
  return doc.index.manifests;
}
