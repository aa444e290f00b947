/**
 * The write side of the layout registry (`serveLayout(dir, { writable: true })`): blob uploads
 * (`POST` sessions, `PATCH` chunks checked against Content-Range, `GET` status with `Range`,
 * `PUT ?digest=` verified before the blob enters `blobs/`, `?mount=` of a blob the layout has)
 * and manifest pushes (the blob, plus a tag in `index.json`; a manifest with a `subject` is
 * listed untagged so the referrers API finds it, and the answer carries `OCI-Subject`).
 * Uploads live in `DIR/.uploads/` until committed; `index.json` is replaced atomically.
 *
 * @packageDocumentation
 */
import { randomUUID } from 'node:crypto';
import { appendFile, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { digestOf, isDigest } from '../ref/digest.js';

/** Largest manifest accepted (as registries do). */
export const MAX_PUSHED_MANIFEST = 4 * 1024 * 1024;

const REF_NAME = 'org.opencontainers.image.ref.name';
const TAG_RE = /^[\w][\w.-]{0,127}$/;

type Send = (res: ServerResponse, status: number, code: string, message: string) => void;

interface IndexEntry {
  mediaType?: string;
  digest?: string;
  size?: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** Serialises index.json updates within this process. */
let indexLock: Promise<unknown> = Promise.resolve();

async function readBody(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > max) return undefined;
    parts.push(c);
  }
  return Buffer.concat(parts);
}

function blobFile(dir: string, digest: string): string {
  return join(dir, 'blobs', 'sha256', digest.slice(7));
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Handles a write request; returns false when it is not one this module serves. */
export async function handleWrite(
  dir: string,
  name: string,
  rest: string,
  req: IncomingMessage,
  res: ServerResponse,
  sendError: Send,
): Promise<boolean> {
  const url = new URL(req.url ?? '/', 'http://x');
  const uploads = join(dir, '.uploads');
  const location = (id: string) => `/v2/${name}/blobs/uploads/${id}`;
  const refuse = (status: number, code: string, message: string) => {
    sendError(res, status, code, message);
    return true;
  };
  if (rest === 'blobs/uploads/' || rest === 'blobs/uploads') {
    if (req.method !== 'POST') return false;
    const mount = url.searchParams.get('mount');
    if (mount && isDigest(mount, 'sha256') && (await exists(blobFile(dir, mount)))) {
      // Every repository name is the same layout: a blob it has can always be mounted.
      res
        .writeHead(201, { location: `/v2/${name}/blobs/${mount}`, 'docker-content-digest': mount, 'content-length': 0 })
        .end();
      return true;
    }
    const id = randomUUID();
    await mkdir(uploads, { recursive: true });
    await writeFile(join(uploads, id), new Uint8Array(0));
    res.writeHead(202, { location: location(id), range: '0-0', 'docker-upload-uuid': id, 'content-length': 0 }).end();
    return true;
  }
  const up = /^blobs\/uploads\/([0-9a-f-]{36})$/.exec(rest);
  if (up) {
    const file = join(uploads, up[1]);
    const size = await stat(file).then(
      (s) => s.size,
      () => undefined,
    );
    const status = (s: number, n: number) => {
      res
        .writeHead(s, {
          location: location(up[1]),
          range: `0-${Math.max(0, n - 1)}`,
          'docker-upload-uuid': up[1],
          'content-length': 0,
        })
        .end();
      return true;
    };
    if (size === undefined) {
      sendError(res, 404, 'BLOB_UPLOAD_UNKNOWN', 'upload unknown');
      return true;
    }
    if (req.method === 'GET') return status(204, size);
    if (req.method === 'PATCH' || req.method === 'PUT') {
      const cr = req.headers['content-range'];
      const m = typeof cr === 'string' ? /^(?:bytes )?(\d+)-(\d+)$/.exec(cr) : null;
      if (req.method === 'PATCH' && m && Number(m[1]) !== size) return status(416, size);
      const body = await readBody(req, 1 << 30);
      if (!body) return refuse(413, 'SIZE_INVALID', 'chunk too large');
      if (body.length) await appendFile(file, body);
      if (req.method === 'PATCH') return status(202, size + body.length);
      const digest = url.searchParams.get('digest') ?? '';
      if (!isDigest(digest, 'sha256')) return refuse(400, 'DIGEST_INVALID', `bad digest ${digest}`);
      const actual = digestOf(await readFile(file));
      if (actual !== digest) {
        await rm(file, { force: true });
        return refuse(400, 'DIGEST_INVALID', `content is ${actual}, not ${digest}`);
      }
      await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
      await rename(file, blobFile(dir, digest));
      res
        .writeHead(201, {
          location: `/v2/${name}/blobs/${digest}`,
          'docker-content-digest': digest,
          'content-length': 0,
        })
        .end();
      return true;
    }
    return false;
  }
  const man = /^manifests\/([^/]+)$/.exec(rest);
  if (man && req.method === 'PUT') {
    await putManifest(dir, name, man[1], req, res, sendError);
    return true;
  }
  return false;
}

async function putManifest(
  dir: string,
  name: string,
  ref: string,
  req: IncomingMessage,
  res: ServerResponse,
  sendError: Send,
): Promise<void> {
  const body = await readBody(req, MAX_PUSHED_MANIFEST);
  if (!body) {
    sendError(res, 413, 'MANIFEST_INVALID', `manifest larger than ${MAX_PUSHED_MANIFEST} bytes`);
    return;
  }
  const digest = digestOf(body);
  if (isDigest(ref, 'sha256') ? ref !== digest : !TAG_RE.test(ref)) {
    sendError(res, 400, 'MANIFEST_INVALID', `reference ${ref} does not match the manifest (${digest})`);
    return;
  }
  let doc: {
    mediaType?: string;
    artifactType?: string;
    config?: { mediaType?: string };
    subject?: { digest?: string };
  };
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    doc = parsed;
  } catch {
    sendError(res, 400, 'MANIFEST_INVALID', 'not a JSON object');
    return;
  }
  const mediaType = doc.mediaType ?? req.headers['content-type'] ?? '';
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(blobFile(dir, digest), body);
  const entry: IndexEntry = { mediaType, digest, size: body.length };
  const artifactType = doc.artifactType ?? (doc.subject ? doc.config?.mediaType : undefined);
  if (artifactType) entry.artifactType = artifactType;
  const tag = isDigest(ref, 'sha256') ? undefined : ref;
  if (tag || doc.subject) await updateIndex(dir, entry, tag);
  const headers: Record<string, string | number> = {
    location: `/v2/${name}/manifests/${digest}`,
    'docker-content-digest': digest,
    'content-length': 0,
  };
  if (doc.subject?.digest) headers['oci-subject'] = doc.subject.digest;
  res.writeHead(201, headers);
  res.end();
}

/** Adds `entry` to index.json: under `tag` (replacing the tag's old entry), or untagged once. */
function updateIndex(dir: string, entry: IndexEntry, tag: string | undefined): Promise<void> {
  const run = indexLock.then(async () => {
    const path = join(dir, 'index.json');
    const index = JSON.parse(await readFile(path, 'utf8')) as { manifests?: IndexEntry[] };
    const list = (index.manifests ?? []).filter((d) =>
      tag ? d.annotations?.[REF_NAME] !== tag : !(d.digest === entry.digest && !d.annotations?.[REF_NAME]),
    );
    list.push(tag ? { ...entry, annotations: { [REF_NAME]: tag } } : entry);
    index.manifests = list;
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(index));
    await rename(tmp, path);
  });
  indexLock = run.catch(() => {});
  return run;
}

/** The referrers of `digest` among the layout's manifests, as an OCI index body. */
export async function referrersOf(dir: string, digest: string, artifactType: string | null): Promise<string> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests?: IndexEntry[] };
  const seen = new Set<string>();
  const out: IndexEntry[] = [];
  for (const d of index.manifests ?? []) {
    if (!d.digest || !isDigest(d.digest, 'sha256') || seen.has(d.digest)) continue;
    seen.add(d.digest);
    if ((d.size ?? 0) > MAX_PUSHED_MANIFEST) continue;
    const doc = JSON.parse(await readFile(blobFile(dir, d.digest), 'utf8').catch(() => '{}')) as {
      subject?: { digest?: string };
      artifactType?: string;
      config?: { mediaType?: string };
      annotations?: Record<string, string>;
    };
    if (doc.subject?.digest !== digest) continue;
    const type = doc.artifactType ?? doc.config?.mediaType;
    if (artifactType && type !== artifactType) continue;
    out.push({
      mediaType: d.mediaType,
      digest: d.digest,
      size: d.size,
      ...(type ? { artifactType: type } : {}),
      ...(doc.annotations ? { annotations: doc.annotations } : {}),
    });
  }
  return JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: out });
}
