import net from 'node:net';
import type { OutboundAllow } from '../config/outbound-allow.ts';

/**
 * Addresses that are not on the public internet (IANA special-purpose registries, the same
 * ranges oidc-provider's own guard refuses, plus multicast): loopback, private networks, link-local
 * (cloud metadata at 169.254.169.254), carrier-grade NAT, documentation and reserved ranges.
 */
const SPECIAL_USE = new net.BlockList();
for (const [address, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.31.196.0', 24],
  ['192.52.193.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['192.175.48.0', 24],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  SPECIAL_USE.addSubnet(address, prefix, 'ipv4');
for (const [address, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['64:ff9b:1::', 48],
  ['100::', 64],
  ['2001::', 23],
  ['2001:db8::', 32],
  ['2002::', 16],
  ['2620:4f:8000::', 48],
  ['3fff::', 20],
  ['5f00::', 16],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const)
  SPECIAL_USE.addSubnet(address, prefix, 'ipv6');

/**
 * IPv6 addresses that embed an IPv4 one: ::/96 (IPv4-compatible, deprecated) and ::ffff:0:0/96
 * (IPv4-mapped). A mapped address is judged as its IPv4 address first; any IPv6 address still in
 * these ranges is refused outright. Its own list, consulted for IPv6 only, because BlockList
 * matches every IPv4 address against an IPv6 rule for ::ffff:0:0/96.
 */
const EMBEDDED_IPV4 = new net.BlockList();
EMBEDDED_IPV4.addSubnet('::', 96, 'ipv6');
EMBEDDED_IPV4.addSubnet('::ffff:0:0', 96, 'ipv6');

const isSpecialUse = (address: string, family: 'ipv4' | 'ipv6') =>
  SPECIAL_USE.check(address, family) || (family === 'ipv6' && EMBEDDED_IPV4.check(address, family));

export type Verdict = { allowed: true } | { allowed: false; reason: string };

export type DestinationPolicy = {
  /** May Gatehouse connect to `address`, which `host` (the name in the URL) resolved to? */
  check(host: string, address: string): Verdict;
};

const LOOPBACK = new net.BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/**
 * The one rule for every server-to-server call: public addresses always; loopback ones in
 * development (ISSUER itself on loopback), where the relying party runs on the same machine; any
 * other private or special-use address (a school network, link-local cloud metadata at
 * 169.254.169.254) only when the operator listed the host name or a range containing the address
 * in OUTBOUND_ALLOW, in development too. It judges the address actually connected to, so a name
 * that resolves (or re-resolves) to a private address is refused like the address.
 */
export function createDestinationPolicy(issuer: string, allow: OutboundAllow): DestinationPolicy {
  const development = isLoopbackHost(new URL(issuer).hostname);
  const hosts = new Set(allow.hosts);
  const ranges = new net.BlockList();
  for (const range of allow.ranges) ranges.addSubnet(range.address, range.prefix, range.family);
  return {
    check(host, rawAddress) {
      const address = unmapIPv4(rawAddress);
      const family = net.isIPv4(address) ? 'ipv4' : 'ipv6';
      if (!isSpecialUse(address, family)) return { allowed: true };
      if (development && LOOPBACK.check(address, family)) return { allowed: true };
      if (hosts.has(normaliseHost(host)) || ranges.check(address, family)) return { allowed: true };
      return {
        allowed: false,
        reason: `${host} is a private or special-use address (${address}); list it in OUTBOUND_ALLOW to allow it`,
      };
    },
  };
}

export function isLoopbackHost(hostname: string): boolean {
  const host = normaliseHost(hostname);
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  const address = unmapIPv4(host);
  if (net.isIPv4(address)) return address.startsWith('127.');
  return address === '::1';
}

/** URL host names: lower case, without IPv6 brackets or a trailing dot. */
export function normaliseHost(hostname: string): string {
  return hostname
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '');
}

/** `::ffff:10.0.0.1` (also written `::ffff:a00:1`) is 10.0.0.1: judge it as IPv4. */
function unmapIPv4(address: string): string {
  if (!net.isIPv6(address)) return address;
  const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (dotted) return dotted[1]!;
  const groups = ipv6Groups(address);
  if (!groups || !groups.slice(0, 5).every((group) => group === 0) || groups[5] !== 0xffff) return address;
  return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.');
}

/** The eight 16-bit groups of an IPv6 address without an embedded dotted quad. */
function ipv6Groups(address: string): number[] | undefined {
  if (address.includes('.')) return undefined;
  const [head = '', tail = ''] = address.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const zeros = address.includes('::') ? 8 - headGroups.length - tailGroups.length : 0;
  const groups = [...headGroups, ...Array<string>(zeros).fill('0'), ...tailGroups].map((group) => Number.parseInt(group, 16));
  return groups.length === 8 ? groups : undefined;
}
