/**
 * The tags of a repository: `GET /v2/<name>/tags/list?n=N&last=TAG` (distribution spec,
 * "Listing Tags"), one page at a time. The next page is named by the `Link: <…>; rel="next"`
 * header, as the spec says a registry sends one when more tags follow; without it the page is
 * the last (distribution 2.8 ignores `n` and answers every tag at once).
 *
 * @packageDocumentation
 */
import { InvalidOptionError } from '../errors.js';
import type { ImageReference } from '../ref/reference.js';
import { BadManifestError } from '../oci/index.js';
import type { CallOptions } from './options.js';
import type { RegistryTransport } from './registry-transport.js';
import { describe, endpointUrl } from './endpoints.js';
import { statusError } from './response-errors.js';

/** Tags asked for per page when the caller names no page size. */
export const DEFAULT_TAGS_PAGE = 100;
/** Most tags one page may ask for. */
export const MAX_TAGS_PAGE = 10_000;
/** Largest tags-list response accepted (a page of 10,000 long tags stays under it). */
const MAX_TAGS_BODY = 4 * 1024 * 1024;

/** Options of {@link listTags}. */
export interface ListTagsOptions extends CallOptions {
  /** Tags per page (default {@link DEFAULT_TAGS_PAGE}, at most {@link MAX_TAGS_PAGE}). */
  n?: number;
  /** Start after this tag (the `next` of the previous page). */
  last?: string;
}

/** One page of tags. */
export interface TagsPage {
  /** The repository as the registry names it. */
  name: string;
  tags: string[];
  /** The `last` that fetches the next page; undefined on the last page. */
  next?: string;
}

/** The `last` parameter of a `Link: <url>; rel="next"` header, or undefined. */
export function nextFromLink(link: string | undefined): string | undefined {
  const m = /<([^>]*)>\s*;\s*rel="?next"?/i.exec(link ?? '');
  if (!m) return undefined;
  const last = new URL(m[1], 'http://registry.invalid').searchParams.get('last');
  return last === null || last === '' ? undefined : last;
}

/** Parses a tags-list body: `{"name": "...", "tags": [...] | null}`. */
export function parseTagsBody(bytes: Uint8Array, where: string): { name: string; tags: string[] } {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (cause) {
    throw new BadManifestError(`${where}: tags list is not JSON`, { cause });
  }
  const o = doc as { name?: unknown; tags?: unknown };
  if (typeof o !== 'object' || o === null) throw new BadManifestError(`${where}: tags list is not an object`);
  // The distribution registry answers `"tags": null` for a repository without tags.
  const tags = o.tags === null || o.tags === undefined ? [] : o.tags;
  if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string'))
    throw new BadManifestError(`${where}: tags list has no array of strings`);
  return { name: typeof o.name === 'string' ? o.name : '', tags };
}

/** Lists one page of the repository's tags (the reference's tag and digest are ignored). */
export async function listTags(
  transport: RegistryTransport,
  ref: ImageReference,
  options: ListTagsOptions = {},
): Promise<TagsPage> {
  const n = options.n ?? DEFAULT_TAGS_PAGE;
  if (!Number.isInteger(n) || n < 1 || n > MAX_TAGS_PAGE)
    throw new InvalidOptionError('n', `${n} is not an integer from 1 to ${MAX_TAGS_PAGE}`);
  const query: Record<string, string> = { n: String(n), ...(options.last ? { last: options.last } : {}) };
  return transport.withEndpoints(ref, options.signal, async (ep) => {
    const where = describe(ep, ref.repository);
    const res = await transport.request(ep, ref.repository, {
      url: endpointUrl(ep, `/v2/${ref.repository}/tags/list`, query),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (res.status !== 200) throw statusError(res, await transport.discard(res), { where, kind: 'other' });
    const bytes = await transport.readAll(
      res,
      MAX_TAGS_BODY,
      () => new BadManifestError(`${where}: tags list larger than ${MAX_TAGS_BODY} bytes`),
      options.signal,
    );
    const body = parseTagsBody(bytes, where);
    const next = nextFromLink(res.header('link'));
    return {
      name: body.name || ref.repository,
      tags: body.tags,
      ...(next !== undefined && next !== options.last ? { next } : {}),
    };
  });
}
