/**
 * The gate in front of every request of the web server. A local web server is reachable by
 * every local user and, through the browser, by every web page the user visits, so:
 *
 * - a random token: the printed URL carries it once (`/?token=…`); the server answers with an
 *   `HttpOnly; SameSite=Strict` cookie and a redirect to the same URL without it, and from then
 *   on every request must carry the cookie (or the token). Other users cannot guess it, other
 *   sites cannot send it (SameSite=Strict, no CORS);
 * - the Host header must name this server (`127.0.0.1:PORT`, `localhost:PORT`, `[::1]:PORT` or
 *   the address it was told to listen on): a DNS-rebinding page's requests carry its own host name;
 * - a request that says it comes from another origin (`Origin`, `Sec-Fetch-Site: cross-site`, or
 *   `same-site` — another port of this host — other than a navigation) is refused even with the
 *   cookie;
 * - only GET and HEAD: the server changes nothing.
 *
 * @packageDocumentation
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';

/** Bytes of randomness in a token (256 bits). */
const TOKEN_BYTES = 32;

/** A fresh random token, URL-safe. */
export function newToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url');
}

/** Constant-time comparison of a presented token with the real one. */
export function tokenMatches(presented: string | undefined, token: string): boolean {
  if (presented === undefined) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The cookie's name. Cookies do not keep ports apart, so two servers on one host (or a server
 * restarted on another port) each have their own name and do not overwrite each other's.
 */
export function cookieName(port: number): string {
  return `ocifs_web_${port}`;
}

/** The value of cookie `name` in a Cookie header, or undefined. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

/** The `Set-Cookie` value that carries the token. */
export function tokenCookie(port: number, token: string): string {
  return `${cookieName(port)}=${token}; Path=/; HttpOnly; SameSite=Strict`;
}

/**
 * Whether a Host header (or an Origin's host) names this server: the right port, and a host
 * that is `localhost`, an IP address, or the name the server was told to listen on. A
 * DNS-rebinding page reaches the server under a DNS name of its own, which none of these is.
 */
export function hostAllowed(host: string, expect: { port: number; listenHost: string }): boolean {
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+):(\d+)$/i.exec(host);
  if (!m || Number(m[2]) !== expect.port) return false;
  const name = m[1].toLowerCase();
  if (name === 'localhost' || isIP(name) === 4) return true;
  if (name.startsWith('[')) return isIP(name.slice(1, -1)) === 6;
  return name === expect.listenHost.toLowerCase();
}

/** Why a request is refused, or undefined when it may go on. */
export interface Refusal {
  status: 401 | 403 | 405;
  message: string;
}

/** What the gate decided for one request. */
export type GateResult = { ok: true; setCookie: boolean } | { ok: false; refusal: Refusal };

/** The checks every request goes through, in order: method, Host, origin, token. */
export function checkRequest(
  req: IncomingMessage,
  url: URL,
  expect: { token: string; port: number; listenHost: string },
): GateResult {
  if (req.method !== 'GET' && req.method !== 'HEAD')
    return { ok: false, refusal: { status: 405, message: 'this server is read-only (GET and HEAD only)' } };
  const host = (req.headers.host ?? '').toLowerCase();
  if (!hostAllowed(host, expect))
    return { ok: false, refusal: { status: 403, message: `wrong Host header "${host.slice(0, 100)}"` } };
  const origin = req.headers.origin;
  if (origin !== undefined && !(/^http:\/\//i.test(origin) && hostAllowed(origin.slice(7).toLowerCase(), expect))) {
    return { ok: false, refusal: { status: 403, message: 'cross-origin request refused' } };
  }
  // Ports do not separate sites: a page on another localhost port is `same-site` and its
  // SameSite=Strict cookie goes along. Only navigations may come from it (the page itself is
  // harmless); its fetches and embeds are refused.
  const site = req.headers['sec-fetch-site'];
  if (site === 'cross-site' || (site === 'same-site' && req.headers['sec-fetch-mode'] !== 'navigate')) {
    return { ok: false, refusal: { status: 403, message: `${site} request refused` } };
  }
  const fromCookie = readCookie(req.headers.cookie, cookieName(expect.port));
  if (tokenMatches(fromCookie, expect.token)) return { ok: true, setCookie: false };
  if (tokenMatches(url.searchParams.get('token') ?? undefined, expect.token)) return { ok: true, setCookie: true };
  return {
    ok: false,
    refusal: { status: 401, message: 'missing or wrong token: open the URL that `ocifs web` printed' },
  };
}

/**
 * The page's Content-Security-Policy: scripts and styles from this server only (no inline
 * script, no eval), pictures from here or from blob:/data: URLs the page made, requests to this
 * server only, no frames, no plugins, no form posts elsewhere.
 */
export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob: data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * The policy of every response that carries image content (file bytes, pictures, downloads):
 * opened as a page of its own it runs in a sandbox (an opaque origin, no script), loads nothing,
 * so an HTML or SVG file from an image can never act as this server's page.
 */
export const CONTENT_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox";

/** Headers of every response. */
export function setCommonHeaders(res: ServerResponse): void {
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
  res.setHeader('Cache-Control', 'no-store');
}
