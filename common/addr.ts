// Address text <-> octets for the codecs, on top of ip6addr. Addresses in decoded
// values are canonical text (RFC 5952 for IPv6); never returns a non-canonical form.
import ip6addr from 'ip6addr';
import { EncodeError } from './errors.js';

/** Canonical text of the 16 octets at `off` (IPv4-mapped addresses keep their ::ffff:a.b.c.d form). */
export function ip6ToString(buf: Uint8Array, off = 0): string {
  // ip6addr keeps the hex form for mapped addresses parsed from hex groups; RFC 5952 §5 wants
  // the dotted form, which is also what canonicalIp() gives for configuration text.
  if (isIpv4Mapped(buf, off)) return `::ffff:${ip4ToString(buf, off + 12)}`;
  const groups: string[] = new Array(8);
  for (let i = 0; i < 8; i++) groups[i] = ((buf[off + 2 * i] << 8) | buf[off + 2 * i + 1]).toString(16);
  return ip6addr.parse(groups.join(':')).toString({ format: 'auto' });
}

function isIpv4Mapped(buf: Uint8Array, off: number): boolean {
  for (let i = 0; i < 10; i++) if (buf[off + i] !== 0) return false;
  return buf[off + 10] === 0xff && buf[off + 11] === 0xff;
}

export function ip4ToString(buf: Uint8Array, off = 0): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

/** 16 octets of an IPv6 address (an IPv4 address is taken as IPv4-mapped). Throws EncodeError naming `field`. */
export function ip6ToBytes(text: string, field = 'address'): Uint8Array {
  try {
    return Uint8Array.from(ip6addr.parse(text).toBuffer());
  } catch (e) {
    throw new EncodeError(field, `'${text}' is not an IPv6 address (${(e as Error).message})`);
  }
}

/** 4 octets of a dotted-quad IPv4 address. Throws EncodeError naming `field`. */
export function ip4ToBytes(text: string, field = 'address'): Uint8Array {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  const octets = m ? m.slice(1).map(Number) : [];
  if (!m || octets.some((o) => o > 255)) {
    throw new EncodeError(field, `'${text}' is not a dotted-quad IPv4 address`);
  }
  return Uint8Array.from(octets);
}

export function writeIp6(buf: Uint8Array, off: number, text: string, field?: string): void {
  buf.set(ip6ToBytes(text, field), off);
}

export function writeIp4(buf: Uint8Array, off: number, text: string, field?: string): void {
  buf.set(ip4ToBytes(text, field), off);
}

/** Canonical form of any address text, for comparisons between configuration and decoded values. */
export function canonicalIp(text: string): string {
  return ip6addr.parse(text).toString({ format: 'auto' });
}
