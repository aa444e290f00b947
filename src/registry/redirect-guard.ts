/**
 * `denyPrivateRedirects`: where a redirect may lead. A redirect to another origin is checked
 * before it is followed (an address literal, or every address its name resolves to), and the
 * connection it opens resolves the name again through {@link guardedLookup}, which refuses
 * private addresses at connect time — so DNS that answers a public address to the check and a
 * private one to the connection (rebinding) gains nothing. Behind a proxy the proxy resolves
 * names; then only the check before following applies.
 *
 * @packageDocumentation
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { lookup as dnsLookupAsync } from 'node:dns/promises';
import { isIP } from 'node:net';
import { throwIfAborted } from '../errors.js';
import { RedirectRefusedError } from './errors.js';
import { isPrivateAddress } from './private-address.js';

function refusal(from: URL, to: URL, address: string): RedirectRefusedError {
  const where = `${from.protocol}//${from.host}${from.pathname}`;
  const target = `${to.protocol}//${to.host}${to.pathname}`;
  const via = to.hostname.replace(/^\[|\]$/g, '') === address ? '' : ` (${to.hostname} resolves to ${address})`;
  return new RedirectRefusedError(
    `${where}: refusing a redirect to ${target}${via}: a private or link-local address (--deny-private-redirects)`,
    {
      data: { url: where, location: target, address },
    },
  );
}

/** Throws `ERR_OCIFS_REDIRECT_REFUSED` when `to`'s host is, or resolves to, a private address. */
export async function refusePrivateTarget(from: URL, to: URL, signal?: AbortSignal): Promise<void> {
  const host = to.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) {
    if (isPrivateAddress(host)) throw refusal(from, to, host);
    return;
  }
  let addresses: LookupAddress[];
  try {
    addresses = await dnsLookupAsync(host, { all: true, verbatim: true });
  } catch {
    // An unknown host fails when the request connects, with the usual error.
    return;
  }
  throwIfAborted(signal);
  const bad = addresses.find((a) => isPrivateAddress(a.address));
  if (bad) throw refusal(from, to, bad.address);
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A `dns.lookup` for connections: fails when any address the name resolves to is private. */
export function guardedLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '');
    const bad = addresses.find((a) => isPrivateAddress(a.address));
    if (bad) {
      const e = new RedirectRefusedError(
        `${hostname}: refusing to connect to ${bad.address}, a private or link-local address (--deny-private-redirects)`,
        { data: { host: hostname, address: bad.address } },
      );
      return callback(e, '');
    }
    if (options.all) return callback(null, addresses);
    callback(null, addresses[0].address, addresses[0].family);
  });
}
