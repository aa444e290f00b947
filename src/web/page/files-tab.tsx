// The Files tab: a lazily expanding tree of the merged image or of the tree as one layer left
// it (with that layer's changes marked, as dive shows them), a name search in the loaded part,
// "find in image" over the whole tree, and the selected entry's contents beside it.
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { EntryDoc, ImageDoc } from '../api-types.js';
import { FilePane } from './file-pane.js';
import { FindPanel } from './find-panel.js';
import { fmtBytes, fmtMode, fmtTime } from './format.js';
import { href, linkTargetPath, navigate, onLink, type Route } from './route.js';
import { useTreeModel, type TreeRow } from './tree-model.js';
import { VirtualList } from './virtual-list.js';

const ROW = 22;
const MARK_LABEL: Record<string, string> = { added: 'A', changed: 'M', deleted: 'D' };

function EntryName(p: {
  row: TreeRow;
  route: Route;
  model: { toggle(path: string): void; expanded: Set<string> };
  flat?: boolean;
}) {
  const { entry, path, depth } = p.row;
  const open = p.model.expanded.has(path);
  const expandable = entry.type === 'dir' && entry.mark !== 'deleted';
  const to = { ...p.route, path };
  return (
    <span class="tname" style={{ paddingLeft: `${(p.flat ? 0 : depth) * 14 + 4}px` }}>
      {expandable && !p.flat ? (
        <button
          class="twisty"
          aria-label={open ? 'collapse' : 'expand'}
          data-path={path}
          onClick={() => p.model.toggle(path)}
        >
          {open ? '▾' : '▸'}
        </button>
      ) : (
        <span class="twisty-space" />
      )}
      <a
        class={`entry t-${entry.type}${entry.mark ? ` m-${entry.mark}` : ''}`}
        href={href(to)}
        data-path={path}
        onClick={(e) => onLink(e, to)}
      >
        {p.flat ? path : entry.name}
        {entry.type === 'dir' ? '/' : ''}
      </a>
      {entry.type === 'symlink' && entry.target !== undefined ? (
        <span class="target">
          {' → '}
          <a
            href={href({ ...p.route, path: linkTargetPath(path, entry.target) })}
            onClick={(e) => onLink(e, { ...p.route, path: linkTargetPath(path, entry.target!) })}
          >
            {entry.target}
          </a>
        </span>
      ) : null}
    </span>
  );
}

function Row(p: { row: TreeRow; route: Route; model: Parameters<typeof EntryName>[0]['model']; flat?: boolean }) {
  const e: EntryDoc = p.row.entry;
  return (
    <div class={`trow${p.row.path === p.route.path ? ' selected' : ''}`}>
      <span class={`mark m-${e.mark ?? 'none'}`} title={e.mark ?? ''}>
        {e.mark ? MARK_LABEL[e.mark] : ''}
      </span>
      <EntryName {...p} />
      <span class="col size">{e.type === 'file' ? fmtBytes(e.size) : ''}</span>
      <span class="col mode">{fmtMode(e.type, e.mode)}</span>
      <span class="col owner">
        {e.uid}:{e.gid}
      </span>
      <span class="col mtime">{fmtTime(e.mtime)}</span>
      <span class="col layer">{e.layer !== undefined ? `L${e.layer}` : ''}</span>
    </div>
  );
}

export function FilesTab(p: { route: Route; image: ImageDoc }) {
  const r = p.route;
  const model = useTreeModel(r.ref!, r.layer, r.platform);
  const [filter, setFilter] = useState('');
  useEffect(() => {
    void model.expandTo(r.path);
  }, [model, r.path]);
  const rows = useMemo(
    () => (filter ? model.search(filter) : model.rows(r.changed && r.layer !== 'merged')),
    [model, model.version, filter, r.changed, r.layer],
  );
  const selected = rows.findIndex((x) => x.path === r.path);
  const root = model.dirs.get('/');
  return (
    <div class="files">
      <div class="toolbar">
        <label>
          Tree{' '}
          <select
            name="layer"
            value={String(r.layer)}
            onChange={(e) => {
              const v = e.currentTarget.value;
              navigate({ ...r, layer: v === 'merged' ? 'merged' : Number(v) });
            }}
          >
            <option value="merged">all layers merged</option>
            {p.image.layers.map((l) => (
              <option value={String(l.index)}>
                after layer {l.index} ({l.format}, {fmtBytes(l.size)})
              </option>
            ))}
          </select>
        </label>
        {r.layer !== 'merged' ? (
          <label>
            <input
              type="checkbox"
              name="changed"
              checked={r.changed}
              onChange={(e) => navigate({ ...r, changed: e.currentTarget.checked })}
            />{' '}
            changed in this layer only
          </label>
        ) : null}
        <input
          class="filter"
          name="filter"
          placeholder="filter loaded names"
          value={filter}
          onInput={(e) => setFilter(e.currentTarget.value)}
        />
        <FindPanel route={r} />
      </div>
      <div class="split">
        <div class="treebox">
          {root?.status === 'error' ? <p class="error">{root.error}</p> : null}
          {root?.status === 'loading' && rows.length === 0 ? <p class="muted">loading…</p> : null}
          <VirtualList
            class="fixed"
            name="tree"
            count={rows.length}
            rowHeight={ROW}
            scrollTo={selected}
            row={(i) => <Row row={rows[i]} route={r} model={model} flat={!!filter} />}
          />
        </div>
        <FilePane route={r} />
      </div>
    </div>
  );
}
