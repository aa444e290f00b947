// A list that renders only the rows in view, so a directory of 40,000 entries, a text file of a
// million lines or a hex dump of a 100 MiB file costs the same few dozen DOM nodes. Rows have
// one fixed height (a CSS variable), which makes the arithmetic exact — the reason this is
// written here rather than taken from a library whose value lies in measuring variable rows.
import type { ComponentChildren } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';

/** Rows rendered above and below the visible ones. */
const OVERSCAN = 8;

export interface VirtualListProps {
  count: number;
  /** Row height in CSS pixels. */
  rowHeight: number;
  row: (index: number) => ComponentChildren;
  /** Called with the last visible index (to load the next page of a paged view). */
  onVisible?: (first: number, last: number) => void;
  /** Scrolls so that this row is visible (when it changes). */
  scrollTo?: number;
  class?: string;
  /** Test hook: names the list in the DOM. */
  name?: string;
}

export function VirtualList(p: VirtualListProps) {
  const box = useRef<HTMLDivElement>(null);
  const [top, setTop] = useState(0);
  const [height, setHeight] = useState(600);
  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    setHeight(el.clientHeight || 600);
    const ro = new ResizeObserver(() => setHeight(el.clientHeight || 600));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  useEffect(() => {
    const el = box.current;
    if (!el || p.scrollTo === undefined || p.scrollTo < 0) return;
    const y = p.scrollTo * p.rowHeight;
    if (y < el.scrollTop || y + p.rowHeight > el.scrollTop + el.clientHeight)
      el.scrollTop = Math.max(0, y - el.clientHeight / 3);
  }, [p.scrollTo]);
  const first = Math.max(0, Math.floor(top / p.rowHeight) - OVERSCAN);
  const last = Math.min(p.count, Math.ceil((top + height) / p.rowHeight) + OVERSCAN);
  useEffect(() => {
    p.onVisible?.(Math.floor(top / p.rowHeight), Math.min(p.count, Math.ceil((top + height) / p.rowHeight)) - 1);
  }, [top, height, p.count]);
  const rows = [];
  for (let i = first; i < last; i++) {
    rows.push(
      <div class="vrow" key={i} style={{ top: `${i * p.rowHeight}px`, height: `${p.rowHeight}px` }}>
        {p.row(i)}
      </div>,
    );
  }
  return (
    <div
      class={`vlist ${p.class ?? ''}`}
      ref={box}
      data-list={p.name}
      onScroll={(e) => setTop(e.currentTarget.scrollTop)}
    >
      <div class="vspace" style={{ height: `${p.count * p.rowHeight}px` }}>
        {rows}
      </div>
    </div>
  );
}
