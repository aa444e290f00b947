// The Sizes tab: where the image's bytes are — a treemap of the merged tree (laid out by
// d3-hierarchy's squarified treemap; click a directory to zoom, the zoom is in the URL) and a
// bar per layer of the bytes it added and how many of them a later layer wasted.
import { hierarchy, treemap, type HierarchyRectangularNode } from 'd3-hierarchy';
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { ImageDoc, LayerBytesDoc, SizeNode, SizesLine } from '../api-types.js';
import { messageOf, streamJson } from './api.js';
import { fmtBytes, fmtPercent } from './format.js';
import { childPath, href, navigate, onLink, parentOf, type Route } from './route.js';

/** Levels drawn below the zoomed directory, the smallest box drawn (CSS pixels), and most boxes. */
const DEPTH = 12;
const MIN_BOX = 4;
const MAX_BOXES = 3000;

type Result = Extract<SizesLine, { t: 'done' }>;

/** The node at `path` of the size tree (or the root). */
function nodeAt(root: SizeNode, path: string): SizeNode {
  let n = root;
  for (const part of path.split('/').filter(Boolean)) {
    const next = n.length === 3 ? n[2].find((c) => c[0] === part) : undefined;
    if (!next || next.length !== 3) return n;
    n = next;
  }
  return n;
}

function Treemap(p: { root: SizeNode; route: Route }) {
  const box = useRef<HTMLDivElement>(null);
  const [size, setSize] = useState<[number, number]>([800, 500]);
  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    const measure = () => setSize([el.clientWidth || 800, el.clientHeight || 500]);
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  const zoom = nodeAt(p.root, p.route.path);
  const laid = useMemo(() => {
    const h = hierarchy<SizeNode>(zoom, (d) => (d.length === 3 ? d[2] : undefined))
      .sum((d) => (d.length === 2 ? d[1] : 0))
      .sort((a, b) => (b.value ?? 0) - (a.value ?? 0));
    return treemap<SizeNode>().size(size).paddingOuter(2).paddingTop(16).paddingInner(1).round(true)(h);
  }, [zoom, size[0], size[1]]);
  const pathOf = (n: HierarchyRectangularNode<SizeNode>) => {
    const names = n
      .ancestors()
      .reverse()
      .slice(1)
      .map((a) => a.data[0]);
    return names.reduce((dir, name) => childPath(dir, name), p.route.path);
  };
  const boxes = laid
    .descendants()
    .filter((n) => n.depth > 0 && n.depth <= DEPTH && n.x1 - n.x0 >= MIN_BOX && n.y1 - n.y0 >= MIN_BOX)
    .slice(0, MAX_BOXES);
  const total = laid.value ?? 0;
  return (
    <div class="treemap" ref={box} data-treemap={boxes.length}>
      {boxes.map((n) => {
        const dir = n.data.length === 3;
        const path = pathOf(n);
        const label = `${path} — ${fmtBytes(n.value ?? 0)} (${fmtPercent(n.value ?? 0, total)})`;
        return (
          <div
            class={`tm ${dir ? 'tm-dir' : 'tm-file'} tm-d${n.depth}`}
            title={label}
            style={{ left: `${n.x0}px`, top: `${n.y0}px`, width: `${n.x1 - n.x0}px`, height: `${n.y1 - n.y0}px` }}
            onClick={(e) => {
              e.stopPropagation();
              // A directory zooms in; a file zooms into its directory.
              const to = dir ? path : parentOf(path);
              if (to !== p.route.path) navigate({ ...p.route, path: to });
            }}
          >
            {n.x1 - n.x0 > 40 ? <span class="tmlabel">{n.data[0]}</span> : null}
          </div>
        );
      })}
    </div>
  );
}

function LayerBars(p: { layers: LayerBytesDoc[]; image: ImageDoc }) {
  const max = Math.max(1, ...p.layers.map((l) => l.added));
  const wasted = p.layers.reduce((n, l) => n + l.wasted, 0);
  const added = p.layers.reduce((n, l) => n + l.added, 0);
  return (
    <section>
      <h3>
        Bytes per layer — {fmtBytes(wasted)} of {fmtBytes(added)} ({fmtPercent(wasted, added)}) wasted: files a later
        layer overwrote or deleted
      </h3>
      <table class="bars" data-layer-bars>
        <tbody>
          {p.layers.map((l) => (
            <tr>
              <th>layer {l.index}</th>
              <td class="barcell">
                <div class="bar" style={{ width: `${(l.added / max) * 100}%` }}>
                  <div class="waste" style={{ width: `${l.added ? (l.wasted / l.added) * 100 : 0}%` }} />
                </div>
              </td>
              <td class="nowrap">
                {fmtBytes(l.added)} added in {l.files} files, {fmtBytes(l.wasted)} wasted ·{' '}
                {p.image.layers[l.index]?.format}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

export function SizesTab(p: { route: Route; image: ImageDoc }) {
  const r = p.route;
  const [result, setResult] = useState<Result | undefined>();
  const [status, setStatus] = useState('');
  const [run, setRun] = useState(0);
  const abort = useRef<AbortController | null>(null);
  useEffect(() => {
    const ac = new AbortController();
    abort.current = ac;
    setResult(undefined);
    setStatus('reading the whole tree’s metadata…');
    streamJson<SizesLine>(
      'sizes',
      { ref: r.ref, platform: r.platform },
      (line) => {
        if (line.t === 'progress') setStatus(`${line.scanned} entries read (${line.phase})…`);
        else if (line.t === 'done') {
          setResult(line);
          setStatus('');
        } else if (line.t === 'error') setStatus(`failed: ${line.error.message}`);
      },
      ac.signal,
    ).catch((err: unknown) => setStatus(ac.signal.aborted ? 'cancelled' : `failed: ${messageOf(err)}`));
    return () => ac.abort();
  }, [r.ref, r.platform, run]);
  const crumbs = r.path.split('/').filter(Boolean);
  return (
    <div class="sizes">
      {status ? (
        <p class="muted" data-sizes-status>
          {status}{' '}
          {result ? null : status.startsWith('cancelled') || status.startsWith('failed') ? (
            <button onClick={() => setRun(run + 1)}>again</button>
          ) : (
            <button onClick={() => abort.current?.abort()}>Cancel</button>
          )}
        </p>
      ) : null}
      {result ? (
        <>
          <LayerBars layers={result.layers} image={p.image} />
          <h3 class="crumbs">
            <a href={href({ ...r, path: '/' })} onClick={(e) => onLink(e, { ...r, path: '/' })}>
              /
            </a>
            {crumbs.map((c, i) => {
              const path = '/' + crumbs.slice(0, i + 1).join('/');
              return (
                <>
                  <a href={href({ ...r, path })} onClick={(e) => onLink(e, { ...r, path })}>
                    {c}
                  </a>
                  /
                </>
              );
            })}{' '}
            — {fmtBytes(nodeAt(result.tree, r.path)[1])} in {result.files} files (click a directory to zoom in)
          </h3>
          <Treemap root={result.tree} route={r} />
        </>
      ) : null}
    </div>
  );
}
