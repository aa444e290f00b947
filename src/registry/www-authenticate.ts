/** One authentication challenge from a WWW-Authenticate header. */
export interface AuthChallenge {
  /** Lowercased scheme, e.g. `bearer`, `basic`. */
  scheme: string;
  /** Lowercased parameter names → values (quotes and escapes removed). */
  params: Record<string, string>;
}

/** Longest header value parsed (bounded work on hostile input). */
const MAX_HEADER = 16 * 1024;
const TOKEN = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;

/**
 * Parses a WWW-Authenticate header value (RFC 7235 §4.1) into challenges, e.g.
 * `Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a:pull"`.
 * Handles several challenges in one value, quoted strings with commas and backslash escapes,
 * and token68 forms. Malformed parts are skipped, never thrown on.
 */
export function parseWwwAuthenticate(header: string | string[] | undefined): AuthChallenge[] {
  if (header === undefined) return [];
  if (Array.isArray(header)) return header.flatMap((h) => parseWwwAuthenticate(h));
  const s = header.slice(0, MAX_HEADER);
  const out: AuthChallenge[] = [];
  let i = 0;
  const skipWs = () => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < s.length && TOKEN.test(s[i])) i++;
    return s.slice(start, i);
  };
  const readBare = (): string => {
    const start = i;
    while (i < s.length && s[i] !== ',' && s[i] !== ' ' && s[i] !== '\t') i++;
    return s.slice(start, i);
  };
  const readQuoted = (): string => {
    // at the opening quote
    i++;
    let v = '';
    while (i < s.length && s[i] !== '"') {
      if (s[i] === '\\' && i + 1 < s.length) i++;
      v += s[i++];
    }
    i++; // closing quote (or end)
    return v;
  };
  let current: AuthChallenge | undefined;
  while (i < s.length) {
    skipWs();
    if (s[i] === ',') {
      i++;
      continue;
    }
    const start = i;
    const tok = readToken();
    if (tok.length === 0) {
      i = start + 1; // junk character: skip it
      continue;
    }
    skipWs();
    if (s[i] === '=' && current) {
      // auth-param (or token68 ending in '=' — treated as param with empty name below)
      i++;
      skipWs();
      // unquoted values should be tokens, but servers send bare URLs too: read to ',' or space
      const value = s[i] === '"' ? readQuoted() : readBare();
      current.params[tok.toLowerCase()] = value;
      continue;
    }
    // a new challenge: scheme [token68 | params]
    current = { scheme: tok.toLowerCase(), params: {} };
    out.push(current);
    // token68: a run of token68 chars (with trailing '=') not followed by '=' + value
    const m = /^[A-Za-z0-9._~+/-]+=*(?=\s*(,|$))/.exec(s.slice(i));
    if (m && !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+\s*=\s*[^=\s,]/.test(s.slice(i))) {
      current.params.token68 = m[0];
      i += m[0].length;
    }
  }
  return out;
}
