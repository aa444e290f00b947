// The Image tab: the repository's tags, an index's platforms, the config summary, the history
// next to the layers it made (each layer's format as ocifs reads it, its indexes and how much
// of it the cache holds), and the manifest, config and index as JSON with their digests linked.
import { useEffect, useState } from 'preact/hooks';
import type { HistoryDoc, ImageDoc, LayerDoc, LayerInfoDoc, TagsDoc } from '../api-types.js';
import { getJson, messageOf } from './api.js';
import { fmtBytes, fmtPercent, shortDigest } from './format.js';
import { JsonView, type DigestLink } from './json-view.js';
import { href, onLink, type Route } from './route.js';

/** The repository part of a reference (`host/repo`), for tag and digest links. */
export function repoOf(image: ImageDoc): string {
  return `${image.registry}/${image.repository}`;
}

function Tags(p: { image: ImageDoc }) {
  const [pages, setPages] = useState<TagsDoc[]>([]);
  const [error, setError] = useState<string | undefined>();
  const repo = repoOf(p.image);
  const load = (last?: string) =>
    getJson<TagsDoc>('tags', { ref: p.image.ref, n: 100, last }).then(
      (doc) => setPages((ps) => [...ps, doc]),
      (err: unknown) => setError(messageOf(err)),
    );
  useEffect(() => {
    setPages([]);
    void load();
  }, [repo]);
  const tags = pages.flatMap((x) => x.tags);
  const next = pages.at(-1)?.next;
  return (
    <section>
      <h3>Tags of {repo}</h3>
      {error ? <p class="error">{error}</p> : null}
      <ul class="tags" data-tags>
        {tags.map((t) => {
          const to = { ref: `${repo}:${t}`, tab: 'image' as const };
          return (
            <li class={t === p.image.tag ? 'current' : ''}>
              <a href={href(to)} onClick={(e) => onLink(e, to)}>
                {t}
              </a>
            </li>
          );
        })}
      </ul>
      {next !== undefined ? (
        <button name="more-tags" onClick={() => void load(next)}>
          more tags
        </button>
      ) : null}
    </section>
  );
}

function Summary(p: { image: ImageDoc }) {
  const s = p.image.summary;
  if (!s) return null;
  const rows: [string, string | string[] | undefined][] = [
    ['created', s.created],
    ['author', s.author],
    ['user', s.user],
    ['workdir', s.workingDir],
    ['entrypoint', s.entrypoint && JSON.stringify(s.entrypoint)],
    ['cmd', s.cmd && JSON.stringify(s.cmd)],
    ['env', s.env],
    ['labels', s.labels && Object.entries(s.labels).map(([k, v]) => `${k}=${v}`)],
    ['ports', s.exposedPorts],
    ['volumes', s.volumes],
    ['stop signal', s.stopSignal],
  ];
  return (
    <section>
      <h3>Config</h3>
      <table class="kv" data-summary>
        <tbody>
          {rows
            .filter(([, v]) => v !== undefined && (!Array.isArray(v) || v.length > 0))
            .map(([k, v]) => (
              <tr>
                <th>{k}</th>
                <td>{Array.isArray(v) ? v.map((x) => <div>{x}</div>) : v}</td>
              </tr>
            ))}
        </tbody>
      </table>
    </section>
  );
}

function LayerCell(p: { layer: LayerDoc; route: Route; onOpened: () => void }) {
  const l = p.layer;
  const [info, setInfo] = useState<string | undefined>();
  const to = { ...p.route, tab: 'files' as const, layer: l.index, path: '/' };
  const read = () => {
    setInfo('reading…');
    getJson<LayerInfoDoc>('layer', { ref: p.route.ref, platform: p.route.platform, layer: l.index }).then(
      (d) => {
        setInfo(d.text);
        p.onOpened();
      },
      (err: unknown) => setInfo(`failed: ${messageOf(err)}`),
    );
  };
  return (
    <div class="layer" data-layer={l.index}>
      <a href={href(to)} onClick={(e) => onLink(e, to)}>
        layer {l.index}
      </a>{' '}
      <code title={l.digest}>{shortDigest(l.digest)}</code> {fmtBytes(l.size)} · <span class="format">{l.format}</span>
      {l.formatKnown ? '' : ' (announced)'} · cached{' '}
      {l.cachedBytes === null ? 'in memory only' : fmtPercent(l.cachedBytes, l.size)}
      {l.verified ? ' (verified)' : ''}
      {l.indexes.length ? ` · indexes: ${l.indexes.join(', ')}` : ''} <button onClick={read}>read format</button>
      <div class="muted small">{l.mediaType}</div>
      {info ? <pre class="layerinfo">{info}</pre> : null}
    </div>
  );
}

function History(p: { image: ImageDoc; route: Route; onOpened: () => void }) {
  const made = new Set(p.image.history.filter((h) => h.layer !== undefined).map((h) => h.layer));
  const orphans = p.image.layers.filter((l) => !made.has(l.index));
  const row = (h: HistoryDoc | undefined, l: LayerDoc | undefined) => (
    <tr>
      <td class="nowrap">{h?.created ?? ''}</td>
      <td>
        <code class="createdby">{h?.createdBy ?? h?.comment ?? ''}</code>
      </td>
      <td>
        {l ? (
          <LayerCell layer={l} route={p.route} onOpened={p.onOpened} />
        ) : (
          <span class="muted">{h?.emptyLayer ? 'empty layer (no files)' : ''}</span>
        )}
      </td>
    </tr>
  );
  return (
    <section>
      <h3>
        History and layers ({p.image.layers.length} layers, {fmtBytes(p.image.layers.reduce((n, l) => n + l.size, 0))})
      </h3>
      <table class="history" data-history>
        <tbody>
          {p.image.history.map((h) => row(h, h.layer !== undefined ? p.image.layers[h.layer] : undefined))}
          {orphans.map((l) => row(undefined, l))}
        </tbody>
      </table>
    </section>
  );
}

export function ImageTab(p: { route: Route; image: ImageDoc; reload: () => void }) {
  const img = p.image;
  const repo = repoOf(img);
  const diffIds = ((img.config as { rootfs?: { diff_ids?: unknown } } | undefined)?.rootfs?.diff_ids ??
    []) as unknown[];
  const link: DigestLink = (d) => {
    const layer = img.layers.findIndex((l) => l.digest === d);
    const byDiff = diffIds.indexOf(d);
    const index = layer >= 0 ? layer : byDiff;
    if (index >= 0) {
      const to = { ...p.route, tab: 'files' as const, layer: index, path: '/' };
      return { href: href(to), onClick: (e: MouseEvent) => onLink(e, to) };
    }
    if (img.configDescriptor?.digest === d) return { href: '#config-json' };
    if (img.index?.platforms.some((x) => x.digest === d) || img.digest === d || img.index?.digest === d) {
      const to = { ref: `${repo}@${d}`, tab: 'image' as const };
      return { href: href(to), onClick: (e: MouseEvent) => onLink(e, to) };
    }
    return undefined;
  };
  return (
    <div class="imagetab">
      <h2 class="ref">{img.canonical}</h2>
      <p>
        <code data-digest>{img.digest}</code> · {img.mediaType} {img.platform ? `· ${img.platform}` : ''} ·{' '}
        {fmtBytes(img.totalSize)}
      </p>
      {img.index ? (
        <section>
          <h3>Platforms of the index</h3>
          <ul class="platforms">
            {img.index.platforms.map((x) => {
              const to = { ref: p.route.ref, tab: 'image' as const, platform: x.platform };
              return (
                <li class={x.platform === img.platform ? 'current' : ''}>
                  <a href={href(to)} onClick={(e) => onLink(e, to)}>
                    {x.platform}
                  </a>{' '}
                  <code>{shortDigest(x.digest)}</code>
                </li>
              );
            })}
          </ul>
        </section>
      ) : null}
      {img.kind === 'registry' ? <Tags image={img} /> : null}
      <Summary image={img} />
      <History image={img} route={p.route} onOpened={p.reload} />
      {img.index ? (
        <details>
          <summary>Index {img.index.digest}</summary>
          <JsonView doc={img.index.document} link={link} name="index" />
        </details>
      ) : null}
      {img.manifest ? (
        <details open>
          <summary>Manifest {img.digest}</summary>
          <JsonView doc={img.manifest} link={link} name="manifest" />
        </details>
      ) : null}
      {img.config ? (
        <details id="config-json">
          <summary>Config {img.configDescriptor?.digest}</summary>
          <JsonView doc={img.config} link={link} name="config" />
        </details>
      ) : null}
    </div>
  );
}
