// The Diff tab: this image against another reference — paths added, removed and changed with
// their size deltas, computed lazily on the server (identical directories are not descended),
// and a line diff (jsdiff) of a changed text file's two versions.
import { diffLines } from 'diff';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { DiffEntry, DiffLine, StatDoc } from '../api-types.js';
import { getBytes, getJson, messageOf, streamJson } from './api.js';
import { fmtBytes, fmtDelta } from './format.js';
import { navigate, type Route } from './route.js';
import { VirtualList } from './virtual-list.js';

/** Largest file whose versions are diffed in the page. */
const MAX_TEXT_DIFF = 1024 * 1024;

function ContentDiff(p: { a: string; b: string; path: string; platform?: string }) {
  const [parts, setParts] = useState<{ added?: boolean; removed?: boolean; value: string }[] | undefined>();
  const [note, setNote] = useState('loading both versions…');
  useEffect(() => {
    const ac = new AbortController();
    setParts(undefined);
    setNote('loading both versions…');
    (async () => {
      const sides = await Promise.all(
        [p.a, p.b].map(async (ref) => {
          const st = await getJson<StatDoc>('stat', { ref, path: p.path, platform: p.platform }, ac.signal);
          if (st.entry.type !== 'file' || (st.kind !== 'text' && st.kind !== 'empty' && st.kind !== 'svg'))
            return undefined;
          if (st.entry.size > MAX_TEXT_DIFF) return undefined;
          const { bytes } = await getBytes(
            { ref, path: p.path, platform: p.platform, offset: 0, length: MAX_TEXT_DIFF },
            ac.signal,
          );
          return new TextDecoder().decode(bytes);
        }),
      );
      if (sides[0] === undefined || sides[1] === undefined) {
        setNote('not a text file on both sides (or larger than 1 MiB): no line diff');
        return;
      }
      setParts(diffLines(sides[0], sides[1]));
      setNote('');
    })().catch((err: unknown) => !ac.signal.aborted && setNote(`failed: ${messageOf(err)}`));
    return () => ac.abort();
  }, [p.a, p.b, p.path]);
  return (
    <div class="contentdiff" data-content-diff={p.path}>
      <h3>{p.path}</h3>
      {note ? <p class="muted">{note}</p> : null}
      {parts ? (
        <pre class="linediff">
          {parts.flatMap((x) =>
            x.value
              .replace(/\n$/, '')
              .split('\n')
              .map((line) => (
                <div
                  class={x.added ? 'add' : x.removed ? 'del' : 'same'}
                >{`${x.added ? '+' : x.removed ? '-' : ' '} ${line}`}</div>
              )),
          )}
        </pre>
      ) : null}
    </div>
  );
}

export function DiffTab(p: { route: Route }) {
  const r = p.route;
  const [other, setOther] = useState(r.b ?? '');
  const [entries, setEntries] = useState<DiffEntry[]>([]);
  const [status, setStatus] = useState('');
  const [summary, setSummary] = useState<Extract<DiffLine, { t: 'done' }> | undefined>();
  const [selected, setSelected] = useState<DiffEntry | undefined>();
  const abort = useRef<AbortController | null>(null);
  useEffect(() => setOther(r.b ?? ''), [r.b]);
  useEffect(() => {
    if (!r.b) return;
    const ac = new AbortController();
    abort.current = ac;
    const found: DiffEntry[] = [];
    setEntries([]);
    setSummary(undefined);
    setSelected(undefined);
    setStatus('comparing…');
    let flush = 0;
    const sorted = () => [...found].sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
    streamJson<DiffLine>(
      'diff',
      { a: r.ref, b: r.b, platform: r.platform, path: r.path, deep: r.deep ? 1 : undefined },
      (line) => {
        if (line.t === 'diff') {
          found.push(line.entry);
          if (++flush % 50 === 0) setEntries([...found]);
        } else if (line.t === 'progress') setStatus(`${line.scanned} entries compared, at ${line.at}`);
        else if (line.t === 'done') {
          setEntries(sorted());
          setSummary(line);
          setStatus('');
        } else if (line.t === 'error') setStatus(`failed: ${line.error.message}`);
      },
      ac.signal,
    )
      .catch((err: unknown) => setStatus(ac.signal.aborted ? 'cancelled' : `failed: ${messageOf(err)}`))
      .finally(() => setEntries(sorted()));
    return () => ac.abort();
  }, [r.ref, r.b, r.path, r.deep, r.platform]);
  const counts = { added: 0, removed: 0, changed: 0 };
  for (const e of entries) counts[e.status]++;
  return (
    <div class="difftab">
      <form
        class="toolbar"
        onSubmit={(e) => {
          e.preventDefault();
          if (other) navigate({ ...r, b: other.trim() });
        }}
      >
        <span>
          compare <code>{r.ref}</code> with
        </span>{' '}
        <input
          name="b"
          class="refinput"
          value={other}
          placeholder="another reference, e.g. a tag of the same repository"
          onInput={(e) => setOther(e.currentTarget.value)}
        />
        <button type="submit">Compare</button>
        {status && !summary && !status.startsWith('failed') ? (
          <button type="button" onClick={() => abort.current?.abort()}>
            Cancel
          </button>
        ) : null}
      </form>
      {status ? <p class="muted">{status}</p> : null}
      {summary ? (
        <p data-diff-summary>
          {counts.added} added, {counts.removed} removed, {counts.changed} changed ({summary.scanned} entries compared
          {summary.truncated ? ', stopped at the limit' : ''}).{' '}
          {summary.skippedDirs && !r.deep ? (
            <>
              {summary.skippedDirs} directories with identical metadata were not descended.{' '}
              <button onClick={() => navigate({ ...r, deep: true })}>Compare them too</button>
            </>
          ) : null}
        </p>
      ) : null}
      <div class="split">
        <div class="treebox">
          <VirtualList
            class="fixed"
            name="diff"
            count={entries.length}
            rowHeight={22}
            row={(i) => {
              const e = entries[i];
              const delta = (e.sizeB ?? 0) - (e.sizeA ?? 0);
              return (
                <div
                  class={`trow d-${e.status}${selected?.path === e.path ? ' selected' : ''}`}
                  data-diff-path={e.path}
                  onClick={() => setSelected(e)}
                >
                  <span class={`mark d-${e.status}`}>
                    {e.status === 'added' ? '+' : e.status === 'removed' ? '−' : '~'}
                  </span>
                  <span class="tname">
                    {e.path}
                    {e.type === 'dir' ? '/' : ''}
                  </span>
                  <span class="col size">
                    {e.status === 'changed'
                      ? `${fmtBytes(e.sizeA ?? 0)} → ${fmtBytes(e.sizeB ?? 0)}`
                      : fmtBytes(e.sizeA ?? e.sizeB ?? 0)}
                  </span>
                  <span class="col delta">{fmtDelta(delta)}</span>
                  <span class="col what">{e.what?.join(', ') ?? ''}</span>
                </div>
              );
            }}
          />
        </div>
        <div class="pane">
          {selected && selected.status === 'changed' && selected.type === 'file' ? (
            <ContentDiff a={r.ref!} b={r.b!} path={selected.path} {...(r.platform ? { platform: r.platform } : {})} />
          ) : (
            <p class="muted">
              {selected ? `${selected.path}: ${selected.status}` : 'pick a changed file to see its line diff'}
            </p>
          )}
        </div>
      </div>
    </div>
  );
}
