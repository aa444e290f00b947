// The selected entry: its metadata, a download (a directory as a tar stream), where a symlink
// leads, and the contents — text with line numbers, a hex view, a picture, ELF facts.
import { useEffect, useState } from 'preact/hooks';
import type { StatDoc } from '../api-types.js';
import { apiUrl, getJson, messageOf } from './api.js';
import { fmtBytes, fmtMode, fmtTime } from './format.js';
import { HexView } from './hex-view.js';
import { href, onLink, type Route } from './route.js';
import { TextView } from './text-view.js';

function params(r: Route) {
  return { ref: r.ref, layer: r.layer === 'merged' ? undefined : r.layer, platform: r.platform, path: r.path };
}

function Contents(p: { route: Route; stat: StatDoc }) {
  const [source, setSource] = useState(false);
  const s = p.stat;
  const size = s.entry.size;
  switch (s.kind) {
    case 'empty':
      return <p class="muted">empty file</p>;
    case 'text':
      return <TextView params={params(p.route)} size={size} />;
    case 'png':
    case 'jpeg':
    case 'gif':
    case 'svg':
      return (
        <div class="picture">
          <p class="muted">
            {s.kind.toUpperCase()} picture, shown as an image (an SVG's scripts never run){' '}
            {s.kind === 'svg' ? (
              <button onClick={() => setSource(!source)}>{source ? 'show picture' : 'show source'}</button>
            ) : null}
          </p>
          {source ? (
            <TextView params={params(p.route)} size={size} />
          ) : (
            <img alt={s.path} src={apiUrl('file', { ...params(p.route), as: 'picture' })} />
          )}
        </div>
      );
    default:
      return (
        <>
          {s.elf ? (
            <table class="kv elf">
              <tbody>
                <tr>
                  <th>ELF</th>
                  <td>
                    {s.elf.class}-bit {s.elf.endian}-endian
                  </td>
                </tr>
                <tr>
                  <th>type</th>
                  <td>{s.elf.type}</td>
                </tr>
                <tr>
                  <th>machine</th>
                  <td>{s.elf.machine}</td>
                </tr>
                <tr>
                  <th>interpreter</th>
                  <td>{s.elf.interpreter ?? 'none (static)'}</td>
                </tr>
                <tr>
                  <th>entry</th>
                  <td>{s.elf.entry}</td>
                </tr>
              </tbody>
            </table>
          ) : null}
          <HexView params={params(p.route)} size={size} />
        </>
      );
  }
}

export function FilePane(p: { route: Route }) {
  const r = p.route;
  const [stat, setStat] = useState<StatDoc | undefined>();
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    const ac = new AbortController();
    setStat(undefined);
    setError(undefined);
    getJson<StatDoc>('stat', params(r), ac.signal).then(
      setStat,
      (err: unknown) => !ac.signal.aborted && setError(messageOf(err)),
    );
    return () => ac.abort();
  }, [r.ref, r.layer, r.platform, r.path]);
  if (error)
    return (
      <div class="pane">
        <p class="error">{error}</p>
      </div>
    );
  if (!stat)
    return (
      <div class="pane">
        <p class="muted">loading…</p>
      </div>
    );
  const e = stat.entry;
  const to = stat.resolved ? { ...r, path: stat.resolved } : undefined;
  return (
    <div class="pane" data-pane-path={stat.path}>
      <div class="panehead">
        <h2 class="path">{stat.path}</h2>
        <span class="meta">
          {fmtMode(e.type, e.mode)} {e.uid}:{e.gid} {e.type === 'file' ? fmtBytes(e.size) : ''} {fmtTime(e.mtime)}
          {e.layer !== undefined ? ` · from layer ${e.layer}` : ''}
          {e.mark ? ` · ${e.mark} in this layer` : ''}
        </span>
        {e.type === 'file' || e.type === 'dir' ? (
          <a class="button" href={apiUrl('download', params(r))} download>
            {e.type === 'dir' ? 'Download as tar' : 'Download'}
          </a>
        ) : null}
      </div>
      {e.type === 'symlink' ? (
        <p>
          symbolic link to <code>{e.target}</code>
          {to ? (
            <>
              {' → '}
              <a href={href(to)} onClick={(ev) => onLink(ev, to)} class="resolved">
                {stat.resolved}
              </a>
              {stat.resolvedType ? ` (${stat.resolvedType})` : ' (dangling)'}
            </>
          ) : null}
        </p>
      ) : null}
      {e.type === 'dir' ? <p class="muted">a directory: open it in the tree, or download it as a tar stream</p> : null}
      {e.type === 'file' ? <Contents route={r} stat={stat} /> : null}
    </div>
  );
}
