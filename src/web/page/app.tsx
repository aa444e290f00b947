// The page: a reference box, the tabs of the image named in the URL, and a status line of what
// browsing has fetched so far against the image's size.
import { useEffect, useState } from 'preact/hooks';
import type { ImageDoc, StatusDoc } from '../api-types.js';
import { getJson, messageOf } from './api.js';
import { DiffTab } from './diff-tab.js';
import { FilesTab } from './files-tab.js';
import { fmtBytes, fmtPercent } from './format.js';
import { ImageTab } from './image-tab.js';
import { href, navigate, onLink, useRoute, type Route, type Tab } from './route.js';
import { SizesTab } from './sizes-tab.js';

/** How often the status line asks the server (ms), while the page is visible. */
const STATUS_EVERY = 1500;

function RefBox(p: { route: Route }) {
  const [text, setText] = useState(p.route.ref ?? '');
  useEffect(() => setText(p.route.ref ?? ''), [p.route.ref]);
  return (
    <form
      class="refbox"
      onSubmit={(e) => {
        e.preventDefault();
        const ref = text.trim();
        if (ref) navigate({ ref, tab: p.route.ref ? p.route.tab : 'files' });
      }}
    >
      <input
        name="ref"
        class="refinput"
        value={text}
        placeholder="registry/repository:tag or …@sha256:…"
        onInput={(e) => setText(e.currentTarget.value)}
      />
      <button type="submit">Open</button>
    </form>
  );
}

function StatusLine(p: { route: Route }) {
  const [s, setS] = useState<StatusDoc | undefined>();
  useEffect(() => {
    let stop = false;
    const tick = () => {
      if (document.visibilityState === 'visible')
        getJson<StatusDoc>('status', { ref: p.route.ref }).then(
          (x) => !stop && setS(x),
          () => {},
        );
    };
    tick();
    const t = setInterval(tick, STATUS_EVERY);
    return () => {
      stop = true;
      clearInterval(t);
    };
  }, [p.route.ref]);
  if (!s) return <footer class="status">…</footer>;
  return (
    <footer class="status" data-status>
      fetched <b data-fetched={s.bytesFetched}>{fmtBytes(s.bytesFetched)}</b>
      {s.imageSize !== undefined
        ? ` of a ${fmtBytes(s.imageSize)} image (${fmtPercent(s.bytesFetched, s.imageSize)})`
        : ''}{' '}
      in {s.requests} requests since {s.startedAt.slice(11, 19)} UTC · {fmtBytes(s.cacheHitBytes)} read from the cache
    </footer>
  );
}

const TAB_NAMES: [Tab, string][] = [
  ['image', 'Image'],
  ['files', 'Files'],
  ['sizes', 'Sizes'],
  ['diff', 'Diff'],
];

function ImagePage(p: { route: Route }) {
  const r = p.route;
  const [image, setImage] = useState<ImageDoc | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [version, setVersion] = useState(0);
  useEffect(() => {
    const ac = new AbortController();
    setError(undefined);
    getJson<ImageDoc>('image', { ref: r.ref, platform: r.platform }, ac.signal).then(
      setImage,
      (err: unknown) => !ac.signal.aborted && setError(messageOf(err)),
    );
    return () => ac.abort();
  }, [r.ref, r.platform, version]);
  const current = image && image.ref === r.ref ? image : undefined;
  return (
    <>
      <nav class="tabs">
        {TAB_NAMES.map(([t, label]) => {
          const to = { ...r, tab: t, path: t === r.tab ? r.path : '/' };
          return (
            <a class={t === r.tab ? 'tab current' : 'tab'} data-tab={t} href={href(to)} onClick={(e) => onLink(e, to)}>
              {label}
            </a>
          );
        })}
      </nav>
      <main>
        {error ? (
          <p class="error" data-error>
            {error}
          </p>
        ) : null}
        {!error && !current ? <p class="muted">opening {r.ref}…</p> : null}
        {current && r.tab === 'image' ? (
          <ImageTab route={r} image={current} reload={() => setVersion(version + 1)} />
        ) : null}
        {current && r.tab === 'files' ? <FilesTab route={r} image={current} /> : null}
        {current && r.tab === 'sizes' ? <SizesTab route={r} image={current} /> : null}
        {current && r.tab === 'diff' ? <DiffTab route={r} /> : null}
      </main>
    </>
  );
}

export function App() {
  const route = useRoute();
  return (
    <div class="app">
      <header>
        <a class="logo" href="/" onClick={(e) => onLink(e, {})}>
          ocifs web
        </a>
        <RefBox route={route} />
      </header>
      {route.ref ? (
        <ImagePage route={route} />
      ) : (
        <main>
          <p class="muted">
            Name an image above: any registry the command line can reach, with your credentials and mirrors. Nothing is
            pulled: only what you look at is fetched.
          </p>
        </main>
      )}
      <StatusLine route={route} />
    </div>
  );
}
