// A hex dump (offset, 16 bytes, their printable ASCII) of any size: only the pages of rows in
// view are fetched.
import { useMemo, useState } from 'preact/hooks';
import { getBytes, messageOf } from './api.js';
import { VirtualList } from './virtual-list.js';

const PER_ROW = 16;
/** Bytes fetched per page. */
const PAGE = 64 * 1024;
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

class HexPages {
  /** A page's bytes, or 'loading', or the message of its failure. */
  readonly pages = new Map<number, Uint8Array | string>();
  constructor(
    readonly params: Record<string, string | number | undefined>,
    readonly size: number,
  ) {}

  /** Fetches the pages holding rows [first, last]; `done` after each arrives. */
  want(first: number, last: number, done: () => void): void {
    const from = Math.floor((first * PER_ROW) / PAGE);
    const to = Math.floor((Math.max(first, last) * PER_ROW) / PAGE);
    for (let page = from; page <= to && page * PAGE < this.size; page++) {
      if (this.pages.has(page)) continue;
      this.pages.set(page, 'loading');
      getBytes({ ...this.params, offset: page * PAGE, length: PAGE }).then(
        ({ bytes }) => {
          this.pages.set(page, bytes);
          done();
        },
        (err: unknown) => {
          this.pages.set(page, messageOf(err));
          done();
        },
      );
    }
  }

  /** The bytes of row `i`, or a note while they are not here. */
  row(i: number): Uint8Array | string {
    const off = i * PER_ROW;
    const page = this.pages.get(Math.floor(off / PAGE));
    if (page === undefined || page === 'loading') return '…';
    if (typeof page === 'string') return page;
    const at = off % PAGE;
    return page.subarray(at, at + PER_ROW);
  }
}

export function HexView(p: { params: Record<string, string | number | undefined>; size: number }) {
  const pages = useMemo(() => new HexPages(p.params, p.size), [JSON.stringify(p.params), p.size]);
  const [, setVersion] = useState(0);
  const rows = Math.ceil(p.size / PER_ROW);
  const width = Math.max(8, p.size.toString(16).length);
  return (
    <div class="hexview">
      <VirtualList
        name="hex"
        count={rows}
        rowHeight={18}
        onVisible={(first, last) => pages.want(first, last, () => setVersion((v) => v + 1))}
        row={(i) => {
          const b = pages.row(i);
          const offset = (i * PER_ROW).toString(16).padStart(width, '0');
          if (typeof b === 'string') {
            return (
              <div class="hexline">
                <span class="off">{offset}</span> <span class="muted">{b}</span>
              </div>
            );
          }
          let hex = '';
          let text = '';
          for (let k = 0; k < PER_ROW; k++) {
            hex += k < b.length ? HEX[b[k]] : '  ';
            hex += k === 7 ? '  ' : ' ';
            if (k < b.length) text += b[k] >= 0x20 && b[k] < 0x7f ? String.fromCharCode(b[k]) : '.';
          }
          return (
            <div class="hexline">
              <span class="off">{offset}</span> <span class="hex">{hex}</span> <span class="asc">{text}</span>
            </div>
          );
        }}
      />
    </div>
  );
}
