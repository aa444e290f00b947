// Fuzzes the parsers that take untrusted or user input: image references, digests, platforms,
// manifests/indexes/configs, WWW-Authenticate, Content-Range, Retry-After, the config file and
// --mirror flags. Each must either return a value that satisfies its invariants or throw an
// OcifsError — never another exception, never hang.
// Usage: node --import tsx scripts/fuzz-parsers.ts [ITERATIONS] [SEED]   (default 200000, 1)
import { parseReference, parseDigest } from '../src/ref/index.js';
import { parseManifestDocument, parseImageConfig, parsePlatform } from '../src/oci/index.js';
import { parseWwwAuthenticate, parseContentRange, parseRetryAfter } from '../src/registry/index.js';
import { parseConfig, parseMirrorFlag } from '../src/config/index.js';
import { OcifsError } from '../src/errors.js';
import { mulberry32 as rng } from '../test/helpers/prng.js';

const REF_SEEDS = [
  'alpine',
  'alpine:3.20',
  'docker.io/library/alpine@sha256:' + 'a'.repeat(64),
  'localhost:5000/x/y:t',
  '[::1]:5000/x',
  'ghcr.io/o/r:v1@sha512:' + 'b'.repeat(128),
  'a__b/c.d/e-f',
  'Foo/bar',
  'r.io:443/x',
];
const MANIFEST_SEED = JSON.stringify({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: 'sha256:' + 'c'.repeat(64), size: 10 },
  layers: [
    {
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      digest: 'sha256:' + 'd'.repeat(64),
      size: 5,
      annotations: { a: 'b' },
    },
  ],
});
const INDEX_SEED = JSON.stringify({
  schemaVersion: 2,
  manifests: [
    {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: 'sha256:' + 'e'.repeat(64),
      size: 7,
      platform: { os: 'linux', architecture: 'arm', variant: 'v7' },
    },
  ],
});
const CONFIG_SEED = JSON.stringify({
  os: 'linux',
  architecture: 'amd64',
  config: { Env: ['A=1'], Cmd: ['sh'] },
  rootfs: { type: 'layers', diff_ids: ['sha256:' + 'f'.repeat(64)] },
  history: [{ created_by: 'x' }],
});
const AUTH_SEEDS = [
  'Bearer realm="https://a/t",service="s",scope="repository:x:pull"',
  'Basic realm="r", Negotiate abc==',
  'Bearer realm=https://a/t',
];
const CR_SEEDS = ['bytes 0-99/100', 'bytes 5-5/*', 'bytes */10'];
const CFG_SEED = JSON.stringify({
  registries: { 'docker.io': { mirrors: ['http://m:1'], insecure: false } },
  cacheMaxSize: '1GiB',
  chunkSize: 4096,
});
const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABC0123456789:/@.-_[]"=, {}\\\u0000\u00ff\u2603';

function mutate(s: string, r: () => number): string {
  let out = s;
  const n = 1 + Math.floor(r() * 4);
  for (let k = 0; k < n; k++) {
    const pos = Math.floor(r() * (out.length + 1));
    const op = Math.floor(r() * 5);
    const ch = ALPHABET[Math.floor(r() * ALPHABET.length)];
    if (op === 0) out = out.slice(0, pos) + ch + out.slice(pos);
    else if (op === 1) out = out.slice(0, pos) + out.slice(pos + 1);
    else if (op === 2) out = out.slice(0, pos) + ch + out.slice(pos + 1);
    else if (op === 3)
      out =
        out.slice(0, pos) + out.slice(pos, pos + Math.floor(r() * 8)).repeat(2 + Math.floor(r() * 3)) + out.slice(pos);
    else out = out.slice(0, pos);
  }
  return out;
}

/** Replaces a random JSON value inside a document with another type. */
function mutateJson(doc: string, r: () => number): string {
  let o: unknown;
  try {
    o = JSON.parse(doc);
  } catch {
    return mutate(doc, r);
  }
  const values: unknown[] = [null, -1, 1.5, 2 ** 53, 'x', '', [], {}, true, 'sha256:' + '0'.repeat(64), 'a/b'];
  const walk = (v: unknown): unknown => {
    if (r() < 0.15) return values[Math.floor(r() * values.length)];
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object')
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [r() < 0.05 ? k + 'x' : k, walk(x)]));
    return v;
  };
  return JSON.stringify(walk(o));
}

/** Runs `iterations` fuzz cases; throws on the first invariant violation. */
export function fuzzParsers(iterations: number, seed = 1): { cases: number } {
  const r = rng(seed);
  const pick = <T>(a: T[]) => a[Math.floor(r() * a.length)];
  const expectOk = (what: string, input: unknown, fn: () => void) => {
    try {
      fn();
    } catch (err) {
      if (err instanceof OcifsError) return;
      throw new Error(`${what}: non-OcifsError for input ${JSON.stringify(input)}: ${(err as Error).stack}`);
    }
  };
  const enc = new TextEncoder();
  for (let i = 0; i < iterations; i++) {
    const kind = i % 8;
    if (kind === 0) {
      const s = mutate(pick(REF_SEEDS), r);
      expectOk('parseReference', s, () => {
        const ref = parseReference(s);
        if (ref.repository !== ref.repository.toLowerCase())
          throw new Error(`uppercase repository from ${JSON.stringify(s)}`);
        if (ref.reference !== (ref.digest ?? ref.tag))
          throw new Error(`reference field wrong for ${JSON.stringify(s)}`);
        if (ref.digest) parseDigest(ref.digest);
      });
    } else if (kind === 1) {
      const s = mutate(pick(['sha256:' + 'a'.repeat(64), 'sha512:' + 'b'.repeat(128)]), r);
      expectOk('parseDigest', s, () => parseDigest(s));
      const p = mutate(pick(['linux/amd64', 'linux/arm/v7', 'windows/amd64']), r);
      expectOk('parsePlatform', p, () => parsePlatform(p));
    } else if (kind === 2 || kind === 3) {
      const doc =
        r() < 0.5 ? mutateJson(pick([MANIFEST_SEED, INDEX_SEED]), r) : mutate(pick([MANIFEST_SEED, INDEX_SEED]), r);
      expectOk('parseManifestDocument', doc, () => {
        const d = parseManifestDocument(
          enc.encode(doc),
          pick([undefined, 'application/vnd.docker.distribution.manifest.v2+json', 'text/plain']),
        );
        const descs = d.kind === 'index' ? d.index.manifests : [d.manifest.config, ...d.manifest.layers];
        for (const x of descs)
          if (!Number.isSafeInteger(x.size) || x.size < 0) throw new Error(`bad size accepted from ${doc}`);
      });
    } else if (kind === 4) {
      const doc = r() < 0.5 ? mutateJson(CONFIG_SEED, r) : mutate(CONFIG_SEED, r);
      expectOk('parseImageConfig', doc, () => parseImageConfig(enc.encode(doc)));
    } else if (kind === 5) {
      const h = mutate(pick(AUTH_SEEDS), r);
      expectOk('parseWwwAuthenticate', h, () => {
        for (const c of parseWwwAuthenticate(h))
          if (typeof c.scheme !== 'string' || c.scheme.length === 0) throw new Error(`empty scheme from ${h}`);
      });
    } else if (kind === 6) {
      const h = mutate(pick(CR_SEEDS), r);
      expectOk('parseContentRange', h, () => {
        const cr = parseContentRange(h);
        if (cr && (cr.end < cr.start || (cr.total !== undefined && cr.end >= cr.total)))
          throw new Error(`inconsistent range from ${h}`);
      });
      const ra = mutate('120', r);
      expectOk('parseRetryAfter', ra, () => {
        const v = parseRetryAfter(ra);
        if (v !== undefined && !(v >= 0)) throw new Error(`negative Retry-After from ${ra}`);
      });
    } else {
      const doc = r() < 0.5 ? mutateJson(CFG_SEED, r) : mutate(CFG_SEED, r);
      expectOk('parseConfig', doc, () => parseConfig(doc));
      const f = mutate('docker.io=http://10.0.0.5:5000', r);
      expectOk('parseMirrorFlag', f, () => parseMirrorFlag(f));
    }
  }
  return { cases: iterations };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const n = Number(process.argv[2] ?? 200_000);
  const seed = Number(process.argv[3] ?? 1);
  const t0 = Date.now();
  fuzzParsers(n, seed);
  console.log(`fuzz-parsers: ${n} cases, seed ${seed}, ${Date.now() - t0} ms, no failures`);
}
