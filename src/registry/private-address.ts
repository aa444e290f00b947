/**
 * Addresses a registry redirect may not lead to under `denyPrivateRedirects`
 * (`--deny-private-redirects`): every address that is not globally routable, because a
 * registry that answers with a redirect (blob storage, usually) otherwise makes ocifs send a
 * GET to any service the host can reach — the cloud metadata service above all, whose
 * credentials a response body could carry back into an error message or a cache file.
 *
 * Denied: link-local (169.254.0.0/16 — AWS, GCP, Azure, OpenStack metadata at 169.254.169.254,
 * ECS task credentials at 169.254.170.2 — and fe80::/10), AWS's IPv6 metadata fd00:ec2::254 with
 * the rest of fc00::/7 (unique local), loopback (127.0.0.0/8, ::1: local daemons), RFC 1918
 * (10/8, 172.16/12, 192.168/16: the private network), shared address space 100.64.0.0/10
 * (carrier NAT, and Alibaba Cloud's metadata at 100.100.100.200), "this network" 0.0.0.0/8 and
 * ::, 192.0.0.0/24, multicast and reserved (224.0.0.0/3), and IPv4 embedded in IPv6
 * (::ffff:a.b.c.d, NAT64 64:ff9b::/96) by the IPv4 rules.
 *
 * @packageDocumentation
 */
import { BlockList, isIP } from 'node:net';

const denied = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['224.0.0.0', 3],
] as const) {
  denied.addSubnet(net, bits, 'ipv4');
}
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  denied.addSubnet(net, bits, 'ipv6');
}

/** The IPv4 address a NAT64 (64:ff9b::/96) address embeds, if it is one. */
function nat64(address: string): string | undefined {
  const m = /^64:ff9b::(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/i.exec(address);
  if (!m) return undefined;
  if (m[1]) return m[1];
  const hi = parseInt(m[2], 16);
  const lo = parseInt(m[3], 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/**
 * True when `address` (an IPv4 or IPv6 literal, brackets allowed) is not globally routable (see the
 * module comment).
 */
export function isPrivateAddress(address: string): boolean {
  const a = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const family = isIP(a);
  if (family === 4) return denied.check(a, 'ipv4');
  if (family === 6) {
    const embedded = nat64(a);
    return denied.check(a, 'ipv6') || (embedded !== undefined && denied.check(embedded, 'ipv4'));
  }
  return false;
}
