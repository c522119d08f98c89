// Address arithmetic for the testbed's topology descriptions: which family an address is,
// "address/len" parsing, and whether a prefix holds an address (to find the interface a
// gateway is reached through). Pure functions: this file must never touch the system.
import { isIPv4, isIPv6 } from 'node:net';

export type Family = 4 | 6;

/** An interface address or a prefix as written in a spec: "2001:db8:1::1/64", "10.1.0.1/24". */
export interface Cidr {
  readonly address: string;
  readonly prefixLen: number;
  readonly family: Family;
}

/** 4 or 6 for a literal address (no prefix length, no zone), undefined for anything else. */
export function familyOf(address: string): Family | undefined {
  if (isIPv4(address)) return 4;
  // Zones ("fe80::1%eth0") are refused: an address in a spec names no interface by itself.
  if (isIPv6(address) && !address.includes('%')) return 6;
  return undefined;
}

/** Parses "address/len"; undefined when either part is not valid for the family. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const address = text.slice(0, slash);
  const lenText = text.slice(slash + 1);
  const family = familyOf(address);
  if (!family || !/^\d{1,3}$/.test(lenText)) return undefined;
  const prefixLen = Number(lenText);
  if (prefixLen > (family === 4 ? 32 : 128)) return undefined;
  return { address, prefixLen, family };
}

/** The address as an unsigned integer (32 or 128 bits). The caller has checked the family. */
export function addressToBigInt(address: string, family: Family): bigint {
  return family === 4 ? BigInt(v4ToNumber(address)) : v6ToBigInt(address);
}

/** True when `address` lies inside `prefix` (same family, same leading prefixLen bits). */
export function prefixContains(prefix: Cidr, address: string): boolean {
  const family = familyOf(address);
  if (family !== prefix.family) return false;
  const bits = family === 4 ? 32 : 128;
  const shift = BigInt(bits - prefix.prefixLen);
  return addressToBigInt(prefix.address, family) >> shift === addressToBigInt(address, family) >> shift;
}

/** "10.1.0.7/24" -> "10.1.0.0/24": the network a prefix names (for readable errors and routes). */
export function networkOf(c: Cidr): string {
  const bits = c.family === 4 ? 32 : 128;
  const shift = BigInt(bits - c.prefixLen);
  const net = (addressToBigInt(c.address, c.family) >> shift) << shift;
  return `${c.family === 4 ? numberToV4(Number(net)) : bigIntToV6(net)}/${c.prefixLen}`;
}

function v4ToNumber(a: string): number {
  const p = a.split('.').map(Number);
  return ((p[0] << 24) >>> 0) + (p[1] << 16) + (p[2] << 8) + p[3];
}

function numberToV4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

// node:net has validated the text already, so this only has to expand "::" and a dotted tail.
function v6ToBigInt(a: string): bigint {
  let text = a;
  if (text.includes('.')) {
    const cut = text.lastIndexOf(':');
    const n = v4ToNumber(text.slice(cut + 1));
    text = `${text.slice(0, cut + 1)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  let groups: string[];
  if (text.includes('::')) {
    const [head, tail] = text.split('::');
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  } else {
    groups = text.split(':');
  }
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

function bigIntToV6(n: bigint): string {
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((n >> BigInt(i * 16)) & 0xffffn).toString(16));
  // Compress the longest run of zero groups, as `ip` prints it.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) [best, bestLen] = [i, j - i];
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}
