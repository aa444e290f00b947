// Text with line numbers, loaded a page at a time as the reader scrolls: a 1 GiB log costs the
// pages looked at, not the file. Bytes are decoded as UTF-8 across page boundaries.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { getBytes, messageOf } from './api.js';
import { fmtBytes } from './format.js';
import { VirtualList } from './virtual-list.js';

/** Bytes fetched per page. */
const PAGE = 256 * 1024;
/** Load the next page when the view comes this close (in lines) to the end of what is loaded. */
const AHEAD = 200;

class TextPages {
  lines: string[] = [];
  partial = '';
  loaded = 0;
  loading = false;
  error?: string;
  private readonly decoder = new TextDecoder('utf-8');

  constructor(
    readonly params: Record<string, string | number | undefined>,
    readonly size: number,
  ) {}

  get done(): boolean {
    return this.loaded >= this.size;
  }

  /** Loads the next page; resolves when it is in. */
  async next(): Promise<void> {
    if (this.loading || this.done) return;
    this.loading = true;
    try {
      const { bytes } = await getBytes({ ...this.params, offset: this.loaded, length: PAGE });
      if (bytes.byteLength === 0) throw new Error('the file ended early');
      this.loaded += bytes.byteLength;
      const text = this.partial + this.decoder.decode(bytes, { stream: !this.done });
      const parts = text.split('\n');
      this.partial = parts.pop()!;
      for (const l of parts) this.lines.push(l);
      if (this.done && this.partial !== '') {
        this.lines.push(this.partial);
        this.partial = '';
      }
    } catch (err) {
      this.error = messageOf(err);
    } finally {
      this.loading = false;
    }
  }
}

export function TextView(p: { params: Record<string, string | number | undefined>; size: number }) {
  const pages = useMemo(() => new TextPages(p.params, p.size), [JSON.stringify(p.params), p.size]);
  const [, setVersion] = useState(0);
  const last = useRef(0);
  const more = () => {
    if (pages.done || pages.loading || pages.error) return;
    void pages.next().then(() => {
      setVersion((v) => v + 1);
      if (last.current + AHEAD >= pages.lines.length) more();
    });
  };
  useEffect(more, [pages]);
  const digits = String(Math.max(1, pages.lines.length)).length;
  return (
    <div class="textview" data-text-loaded={pages.done ? 'all' : String(pages.loaded)}>
      <p class="muted">
        {pages.lines.length} line{pages.lines.length === 1 ? '' : 's'}
        {pages.done ? '' : ` so far (${fmtBytes(pages.loaded)} of ${fmtBytes(p.size)} loaded; more as you scroll)`}
        {pages.error ? ` — failed: ${pages.error}` : ''}
      </p>
      <VirtualList
        name="text"
        count={pages.lines.length}
        rowHeight={18}
        onVisible={(_first, lastVisible) => {
          last.current = lastVisible;
          if (lastVisible + AHEAD >= pages.lines.length) more();
        }}
        row={(i) => (
          <div class="line">
            <span class="ln" style={{ width: `${digits + 1}ch` }}>
              {i + 1}
            </span>
            <span class="lt">{pages.lines[i]}</span>
          </div>
        )}
      />
    </div>
  );
}
