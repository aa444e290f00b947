/**
 * The JSON API of the web server: one handler per endpoint, each a thin call into the library
 * through an image held for the length of the request.
 *
 * | endpoint | answer |
 * | --- | --- |
 * | `/api/image?ref&platform` | {@link ImageDoc} |
 * | `/api/layer?ref&layer` | {@link LayerInfoDoc} (opens the layer) |
 * | `/api/tags?ref&n&last` | {@link TagsDoc} |
 * | `/api/dir?ref&layer&path` | {@link DirDoc} |
 * | `/api/stat?ref&layer&path` | {@link StatDoc} |
 * | `/api/file?ref&layer&path&offset&length[&as=picture]` | bytes |
 * | `/api/download?ref&layer&path` | a file, or a directory as tar |
 * | `/api/find?ref&layer&path&q` | NDJSON {@link FindLine} |
 * | `/api/sizes?ref` | NDJSON {@link SizesLine} |
 * | `/api/diff?a&b&path&deep` | NDJSON {@link DiffLine} |
 * | `/api/status?ref` | {@link StatusDoc} |
 *
 * @packageDocumentation
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidOptionError } from '../errors.js';
import { parseReference } from '../ref/index.js';
import type { DiffLine, FindLine, SizesLine, StatusDoc, TagsDoc } from './api-types.js';
import { imageDoc, layerInfoDoc } from './api-image.js';
import { listDir, statEntry } from './api-tree.js';
import { DEFAULT_RANGE, MAX_RANGE, sendDownload, sendPicture, sendRange } from './api-file.js';
import { findNames } from './api-find.js';
import { computeSizes } from './sizes.js';
import { diffImages } from './diff.js';
import { clientGone, intParam, need, pathParam, sendJson, streamLines } from './http.js';
import { parseViewName } from './image-views.js';
import type { ImageSessions, Lease } from './sessions.js';

/** What a handler gets. */
export interface ApiContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  signal: AbortSignal;
  sessions: ImageSessions;
  startedAt: Date;
}

type Handler = (c: ApiContext) => Promise<void>;

/** Holds the image named by the `ref` (and `platform`) parameter while `body` runs. */
async function withLease<T>(c: ApiContext, param: string, body: (lease: Lease) => Promise<T>): Promise<T> {
  const platform = c.url.searchParams.get('platform') ?? undefined;
  const lease = await c.sessions.acquire(need(c.url, param, 1024), platform || undefined);
  try {
    return await body(lease);
  } finally {
    lease.release();
  }
}

const view = (c: ApiContext, lease: Lease) => parseViewName(c.url.searchParams.get('layer'), lease.views.layerCount);

const handlers: Record<string, Handler> = {
  '/api/image': (c) =>
    withLease(c, 'ref', async (l) =>
      sendJson(c.res, 200, await imageDoc(need(c.url, 'ref'), l.views, await c.sessions.blobCache())),
    ),

  '/api/layer': (c) =>
    withLease(c, 'ref', async (l) => {
      const v = view(c, l);
      if (v === 'merged') throw new InvalidOptionError('layer', 'name one layer (0, 1, …)');
      sendJson(c.res, 200, await layerInfoDoc(l.views, v));
    }),

  '/api/tags': async (c) => {
    const ref = need(c.url, 'ref', 1024);
    c.sessions.checkRef(ref);
    const last = c.url.searchParams.get('last') ?? undefined;
    const page = await c.sessions.tags(parseReference(ref), {
      n: intParam(c.url, 'n', 100, 1000) || 100,
      ...(last ? { last } : {}),
      signal: c.signal,
    });
    const doc: TagsDoc = {
      repository: `${parseReference(ref).registry}/${page.name}`,
      tags: page.tags,
      ...(page.next ? { next: page.next } : {}),
    };
    sendJson(c.res, 200, doc);
  },

  '/api/dir': (c) =>
    withLease(c, 'ref', async (l) =>
      sendJson(c.res, 200, await listDir(l.views, view(c, l), pathParam(c.url), { signal: c.signal })),
    ),

  '/api/stat': (c) =>
    withLease(c, 'ref', async (l) =>
      sendJson(c.res, 200, await statEntry(l.views, view(c, l), pathParam(c.url), { signal: c.signal })),
    ),

  '/api/file': (c) =>
    withLease(c, 'ref', async (l) => {
      const fs = l.views.tree(view(c, l));
      if (c.url.searchParams.get('as') === 'picture')
        return sendPicture(c.res, fs, pathParam(c.url), { signal: c.signal });
      const offset = intParam(c.url, 'offset', 0, Number.MAX_SAFE_INTEGER);
      const length = intParam(c.url, 'length', DEFAULT_RANGE, MAX_RANGE);
      return sendRange(c.res, fs, pathParam(c.url), offset, length, { signal: c.signal });
    }),

  '/api/download': (c) =>
    withLease(c, 'ref', async (l) =>
      sendDownload(c.res, l.views.tree(view(c, l)), pathParam(c.url), { signal: c.signal }),
    ),

  '/api/find': (c) =>
    withLease(c, 'ref', async (l) => {
      const q = need(c.url, 'q', 256);
      const fs = l.views.tree(view(c, l));
      await streamLines<FindLine>(c.res, (emit) => findNames(fs, pathParam(c.url), q, emit, c.signal));
    }),

  '/api/sizes': (c) =>
    withLease(c, 'ref', async (l) =>
      streamLines<SizesLine>(c.res, async (emit) => {
        const r = await computeSizes(l.views, emit, c.signal);
        await emit({ t: 'done', ...r });
      }),
    ),

  '/api/diff': (c) =>
    withLease(c, 'a', (la) =>
      withLease(c, 'b', async (lb) => {
        const deep = c.url.searchParams.get('deep') === '1';
        await streamLines<DiffLine>(c.res, (emit) =>
          diffImages(la.views, lb.views, pathParam(c.url), deep, emit, c.signal),
        );
      }),
    ),

  '/api/status': async (c) => {
    const s = c.sessions.stats;
    const ref = c.url.searchParams.get('ref');
    const size = ref ? await c.sessions.openImageSize(ref) : undefined;
    const doc: StatusDoc = {
      bytesFetched: s.bytesFetched,
      requests: s.requests,
      cacheHitBytes: s.cacheHitBytes,
      ...(size !== undefined ? { imageSize: size } : {}),
      startedAt: c.startedAt.toISOString(),
    };
    sendJson(c.res, 200, doc);
  },
};

/** The handler of an API path, or undefined. */
export function apiHandler(path: string): Handler | undefined {
  return Object.hasOwn(handlers, path) ? handlers[path] : undefined;
}

/** Runs one API request. */
export async function handleApi(handler: Handler, c: Omit<ApiContext, 'signal'>): Promise<void> {
  await handler({ ...c, signal: clientGone(c.res) });
}
