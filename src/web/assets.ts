/**
 * The page's static files, built by `npm run build` into `dist/web` (esbuild bundles the page's
 * TypeScript into one script and one stylesheet) and shipped in the package. They are read once
 * at start and served from memory; every page route answers the same `index.html`, which reads
 * its view from the URL (deep links).
 *
 * @packageDocumentation
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OcifsError } from '../errors.js';

/** A file the server sends as is. */
export interface Asset {
  type: string;
  body: Buffer;
}

/** The page's files: `index.html` and what it loads from `/assets/`. */
export interface PageAssets {
  index: Asset;
  files: Map<string, Asset>;
}

const TYPES: Record<string, string> = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

/** Where the built page is when this module runs from `dist/src/web` (the library build). */
export function defaultAssetsDir(): string {
  return fileURLToPath(new URL('../../web/', import.meta.url));
}

/** The web page's files are missing (the package was not built). */
export class WebAssetsError extends OcifsError {
  constructor(dir: string, cause: unknown) {
    super('ERR_OCIFS_WEB_ASSETS', `the web page is not built in ${dir} (run npm run build)`, { cause, data: { dir } });
  }
}

/** Reads the built page from `dir`; a clear error when it has not been built. */
export async function loadAssets(dir: string): Promise<PageAssets> {
  try {
    const index = { type: 'text/html; charset=utf-8', body: await readFile(join(dir, 'index.html')) };
    const files = new Map<string, Asset>();
    for (const [name, type] of Object.entries(TYPES)) files.set(name, { type, body: await readFile(join(dir, name)) });
    return { index, files };
  } catch (cause) {
    throw new WebAssetsError(dir, cause);
  }
}
