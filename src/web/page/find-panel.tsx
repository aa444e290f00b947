// "Find in image": a walk of the whole tree on the server for names containing a text, with
// matches arriving as they are found, a progress line, and a Cancel that stops the walk.
import { useRef, useState } from 'preact/hooks';
import type { FindLine } from '../api-types.js';
import { messageOf, streamJson } from './api.js';
import { fmtBytes } from './format.js';
import { href, onLink, type Route } from './route.js';
import { VirtualList } from './virtual-list.js';

interface Match {
  path: string;
  type: string;
  size: number;
}

export function FindPanel(p: { route: Route }) {
  const [text, setText] = useState('');
  const [matches, setMatches] = useState<Match[]>([]);
  const [status, setStatus] = useState('');
  const [running, setRunning] = useState(false);
  const [open, setOpen] = useState(false);
  const abort = useRef<AbortController | null>(null);

  const start = async () => {
    if (!text) return;
    abort.current?.abort();
    const ac = new AbortController();
    abort.current = ac;
    const found: Match[] = [];
    setMatches([]);
    setOpen(true);
    setRunning(true);
    setStatus('starting…');
    const r = p.route;
    try {
      await streamJson<FindLine>(
        'find',
        { ref: r.ref, layer: r.layer === 'merged' ? undefined : r.layer, platform: r.platform, q: text },
        (line) => {
          if (line.t === 'match') {
            found.push({ path: line.path, type: line.type, size: line.size });
            setMatches([...found]);
          } else if (line.t === 'progress') setStatus(`${line.scanned} entries scanned, at ${line.at}`);
          else if (line.t === 'done')
            setStatus(
              `${line.matches} match${line.matches === 1 ? '' : 'es'} in ${line.scanned} entries${line.truncated ? ' (stopped at the limit)' : ''}`,
            );
          else if (line.t === 'error') setStatus(`failed: ${line.error.message}`);
        },
        ac.signal,
      );
    } catch (err) {
      setStatus(ac.signal.aborted ? `cancelled after ${found.length} matches` : `failed: ${messageOf(err)}`);
    } finally {
      if (abort.current === ac) setRunning(false);
    }
  };

  return (
    <span class="find">
      <input
        name="find"
        placeholder="find in image"
        value={text}
        onInput={(e) => setText(e.currentTarget.value)}
        onKeyDown={(e) => e.key === 'Enter' && void start()}
      />
      <button name="find-go" onClick={() => void start()} disabled={!text}>
        Find
      </button>
      {running ? (
        <button name="find-cancel" onClick={() => abort.current?.abort()}>
          Cancel
        </button>
      ) : null}
      {open ? (
        <div class="findbox" data-find-status={running ? 'running' : 'done'}>
          <div class="findhead">
            <span class="findstatus">{status}</span>
            <button
              onClick={() => {
                abort.current?.abort();
                setOpen(false);
              }}
            >
              Close
            </button>
          </div>
          <VirtualList
            class="fixed"
            name="find"
            count={matches.length}
            rowHeight={22}
            row={(i) => (
              <div class="trow">
                <a
                  href={href({ ...p.route, path: matches[i].path })}
                  onClick={(e) => onLink(e, { ...p.route, path: matches[i].path })}
                >
                  {matches[i].path}
                </a>
                <span class="col size">{matches[i].type === 'file' ? fmtBytes(matches[i].size) : matches[i].type}</span>
              </div>
            )}
          />
        </div>
      ) : null}
    </span>
  );
}
