import net from 'node:net';
import { ConfigError } from './config-error.ts';

type AddressRange = Readonly<{ address: string; prefix: number; family: 'ipv4' | 'ipv6' }>;

/** Private destinations an operator vouches for: exact host names and address ranges. */
export type OutboundAllow = Readonly<{ hosts: readonly string[]; ranges: readonly AddressRange[] }>;

const HOST_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * OUTBOUND_ALLOW: comma-separated host names (`mis.trust.internal`) or CIDR ranges
 * (`10.20.0.0/16`, `fd00::/8`; a bare address means just that address). Anything else is a
 * configuration error naming the entry, so a typo never silently widens or narrows the rule.
 */
export function parseOutboundAllow(value: string): OutboundAllow {
  const hosts: string[] = [];
  const ranges: AddressRange[] = [];
  for (const raw of value.split(',')) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    const range = parseRange(entry);
    if (range) ranges.push(range);
    else if (isHostName(entry)) hosts.push(entry.replace(/\.$/, ''));
    else
      throw new ConfigError(
        `Configuration error: OUTBOUND_ALLOW entry "${raw.trim()}" is neither a host name nor a CIDR range (e.g. mis.trust.internal or 10.20.0.0/16).`,
      );
  }
  return { hosts, ranges };
}

function parseRange(entry: string): AddressRange | undefined {
  const [address = '', prefixText, ...rest] = entry.split('/');
  const version = net.isIP(address);
  if (version === 0 || rest.length > 0) return undefined;
  const bits = version === 4 ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = prefixText === undefined ? bits : Number(prefixText);
  if (prefix > bits) return undefined;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

function isHostName(entry: string): boolean {
  const name = entry.replace(/\.$/, '');
  if (name.length === 0 || name.length > 253 || /^[\d.]+$/.test(name)) return false;
  return name.split('.').every((label) => HOST_LABEL.test(label));
}
