// A JSON document (a manifest, a config, an index) formatted, with every digest that names
// something the page can show turned into a link to it. Values are text: a label that holds
// markup is shown as the characters it is.
import type { ComponentChildren } from 'preact';

const DIGEST = /^sha(256:[0-9a-f]{64}|512:[0-9a-f]{128})$/;

/** Where a digest leads (an in-page link), or undefined. */
export type DigestLink = (digest: string) => { href: string; onClick?: (e: MouseEvent) => void } | undefined;

function render(v: unknown, indent: string, link: DigestLink, out: ComponentChildren[]): void {
  if (v === null || typeof v !== 'object') {
    if (typeof v === 'string') {
      const to = DIGEST.test(v) ? link(v) : undefined;
      out.push(
        to ? (
          <a class="jstr digest" href={to.href} onClick={to.onClick}>
            {JSON.stringify(v)}
          </a>
        ) : (
          <span class="jstr">{JSON.stringify(v)}</span>
        ),
      );
    } else out.push(<span class="jlit">{JSON.stringify(v)}</span>);
    return;
  }
  const inner = indent + '  ';
  if (Array.isArray(v)) {
    if (v.length === 0) return void out.push('[]');
    out.push('[\n');
    v.forEach((x, i) => {
      out.push(inner);
      render(x, inner, link, out);
      out.push(i < v.length - 1 ? ',\n' : '\n');
    });
    out.push(`${indent}]`);
    return;
  }
  const keys = Object.keys(v);
  if (keys.length === 0) return void out.push('{}');
  out.push('{\n');
  keys.forEach((k, i) => {
    out.push(inner, <span class="jkey">{JSON.stringify(k)}</span>, ': ');
    render((v as Record<string, unknown>)[k], inner, link, out);
    out.push(i < keys.length - 1 ? ',\n' : '\n');
  });
  out.push(`${indent}}`);
}

export function JsonView(p: { doc: unknown; link: DigestLink; name?: string }) {
  const out: ComponentChildren[] = [];
  render(p.doc, '', p.link, out);
  return (
    <pre class="json" data-json={p.name}>
      {out}
    </pre>
  );
}
