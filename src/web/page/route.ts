// The page's state lives in its URL, so every view is a deep link that can be pasted into
// another tab: /image/REF?tab=files&layer=merged&path=/etc. This module reads and writes it.
import { useEffect, useState } from 'preact/hooks';

/** The page's tabs. */
export type Tab = 'image' | 'files' | 'sizes' | 'diff';
const TABS: Tab[] = ['image', 'files', 'sizes', 'diff'];

/** Everything a view needs to know, from the URL. */
export interface Route {
  /** The image reference (absent on the start page). */
  ref?: string;
  tab: Tab;
  /** Files: the selected path; sizes: the treemap's zoom; diff: where it starts. */
  path: string;
  /** Files: `merged` or a layer index. */
  layer: 'merged' | number;
  /** Files: show only what the layer changed. */
  changed: boolean;
  /** A platform picked from an index. */
  platform?: string;
  /** Diff: the other image. */
  b?: string;
  /** Diff: descend directories even when their metadata is identical. */
  deep: boolean;
}

/** A query value with `/` and `:` left readable. */
const enc = (v: string) => encodeURIComponent(v).replace(/%2F/gi, '/').replace(/%3A/gi, ':').replace(/%40/g, '@');

/** Parses a location (pathname + search). */
export function parseRoute(pathname: string, search: string): Route {
  const q = new URLSearchParams(search);
  const m = /^\/image\/(.+)$/.exec(pathname);
  let ref: string | undefined;
  if (m) {
    try {
      ref = decodeURIComponent(m[1]);
    } catch {
      ref = undefined;
    }
  }
  const tab = (TABS as string[]).includes(q.get('tab') ?? '') ? (q.get('tab') as Tab) : ref ? 'files' : 'image';
  const layerText = q.get('layer');
  const layer = layerText !== null && /^\d+$/.test(layerText) ? Number(layerText) : 'merged';
  const path = q.get('path') || '/';
  return {
    ...(ref ? { ref } : {}),
    tab,
    path: path.startsWith('/') ? path : `/${path}`,
    layer,
    changed: q.get('changed') === '1',
    ...(q.get('platform') ? { platform: q.get('platform')! } : {}),
    ...(q.get('b') ? { b: q.get('b')! } : {}),
    deep: q.get('deep') === '1',
  };
}

/** The URL of a route: always a path on this server (`/…`), never anything a name could turn into a script. */
export function href(r: Partial<Route>): string {
  if (!r.ref) return '/';
  const q: string[] = [`tab=${r.tab ?? 'files'}`];
  if (r.platform) q.push(`platform=${enc(r.platform)}`);
  if (r.layer !== undefined && r.layer !== 'merged') q.push(`layer=${r.layer}`);
  if (r.path && r.path !== '/') q.push(`path=${enc(r.path)}`);
  if (r.changed) q.push('changed=1');
  if (r.b) q.push(`b=${enc(r.b)}`);
  if (r.deep) q.push('deep=1');
  return `/image/${enc(r.ref)}?${q.join('&')}`;
}

const listeners = new Set<() => void>();

/** Goes to a route (a new history entry unless `replace`). */
export function navigate(r: Partial<Route>, replace = false): void {
  const url = href(r);
  if (url === location.pathname + location.search) return;
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  for (const l of listeners) l();
}

/** The current route; re-renders on navigation and on back/forward. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.pathname, location.search));
  useEffect(() => {
    const update = () => setRoute(parseRoute(location.pathname, location.search));
    listeners.add(update);
    addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      removeEventListener('popstate', update);
    };
  }, []);
  return route;
}

/** Click handler of an in-page link: navigates without reloading (plain clicks only). */
export function onLink(e: MouseEvent, r: Partial<Route>): void {
  if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(r);
}

/** The lexical parent of a path. */
export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** A path joined with a name. */
export function childPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/** Where a symlink target points, lexically, from the link's directory. */
export function linkTargetPath(linkPath: string, target: string): string {
  const parts = (target.startsWith('/') ? target : `${parentOf(linkPath)}/${target}`).split('/');
  const out: string[] = [];
  for (const p of parts) {
    if (p === '' || p === '.') continue;
    if (p === '..') out.pop();
    else out.push(p);
  }
  return '/' + out.join('/');
}
