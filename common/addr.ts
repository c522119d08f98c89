// Address text <-> octets for the codecs. Addresses in decoded values are canonical text (RFC 5952
// as ip6addr prints it: it also writes '::' for a single zero group); never returns a non-canonical
// form, never answers differently from ip6addr.
// These run per packet (decode, re-encode, binding lookups, the MH checksum), and ip6addr costs
// several microseconds a call, so the common text forms are parsed and printed here by hand:
// 1-8 groups of 1-4 hex digits with at most one '::', or the dotted IPv4 / ::ffff:a.b.c.d forms.
// ip6addr stays the parser of record: whatever the fast parser is not sure of (5-digit groups, a
// '::' standing for no group, leading zeros in dotted octets, anything invalid) goes to it, so it
// is ip6addr that accepts such text or throws its own error. test/common-addr.test.ts checks both
// ways against ip6addr on random addresses and spellings. No memo: a parse or print is ~0.1 µs,
// about what a memo miss cost, and with 1,000+ MNs moving to new CoAs the old memos mostly missed.
import ip6addr from 'ip6addr';
import { EncodeError } from './errors.js';

/** Fast-parse results: how ip6addr would mark the text (it prints dotted text back dotted). */
const NOT_SURE = -1;
const HEX = 0;
const MAPPED_DOTTED = 1; // ::ffff:a.b.c.d (or 0:0:0:0:0:ffff:a.b.c.d): ip6addr prints ::ffff:a.b.c.d
const BARE_IPV4 = 2; // a.b.c.d: ip6addr takes it as IPv4-mapped and prints a.b.c.d

/** The 8 groups of the last fast parse (module scratch: never handed out). */
const groups = new Uint16Array(8);

/** Value of hex digit `c` (a char code), or -1. */
function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20; // ASCII lower case
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

/**
 * Dotted quad at `i` to the end of `t` into groups[6..7], or false. Only octets with no leading zero
 * (ip6addr reads those as decimal too, but they are not worth being sure about here).
 */
function dottedTail(t: string, i: number): boolean {
  const len = t.length;
  let hi = 0;
  for (let part = 0; part < 4; part++) {
    if (part > 0) {
      if (i >= len || t.charCodeAt(i) !== 46) return false; // '.'
      i++;
    }
    const start = i;
    let v = 0;
    while (i < len && i - start < 3) {
      const c = t.charCodeAt(i);
      if (c < 48 || c > 57) break;
      v = v * 10 + (c - 48);
      i++;
    }
    if (i === start || v > 255 || (i - start > 1 && t.charCodeAt(start) === 48)) return false;
    if (part === 0 || part === 2) hi = v;
    else groups[part === 1 ? 6 : 7] = (hi << 8) | v;
  }
  return i === len;
}

/** Parses `t` into `groups`; returns HEX / MAPPED_DOTTED / BARE_IPV4, or NOT_SURE (ask ip6addr). */
function parseFast(t: string): number {
  const len = t.length;
  if (len === 0 || len > 39) return NOT_SURE;
  let n = 0; // groups so far
  let gap = -1; // group index where '::' stands, or -1
  let i = 0;
  if (t.charCodeAt(0) === 58) {
    if (len < 2 || t.charCodeAt(1) !== 58) return NOT_SURE;
    gap = 0;
    i = 2;
  }
  let dotted = false;
  while (i < len) {
    const start = i;
    let v = 0;
    let d = 0;
    while (i < len && i - start < 4 && (d = hexDigit(t.charCodeAt(i))) >= 0) {
      v = (v << 4) | d;
      i++;
    }
    if (i === start) return NOT_SURE;
    if (i < len && t.charCodeAt(i) === 46) {
      // Dotted IPv4 last: ip6addr takes it bare or after exactly 0:0:0:0:0:ffff (checked below).
      if (n > 6 || !dottedTail(t, start)) return NOT_SURE;
      if (n === 0 && gap < 0) {
        for (let k = 0; k < 5; k++) groups[k] = 0;
        groups[5] = 0xffff;
        return BARE_IPV4;
      }
      dotted = true;
      break;
    }
    if (n === 8) return NOT_SURE;
    groups[n++] = v;
    if (i === len) break;
    if (t.charCodeAt(i) !== 58) return NOT_SURE;
    i++;
    if (i < len && t.charCodeAt(i) === 58) {
      if (gap >= 0) return NOT_SURE;
      gap = n;
      i++;
    } else if (i === len) {
      return NOT_SURE; // a trailing single ':'
    }
  }
  const total = n + (dotted ? 2 : 0);
  if (gap < 0) {
    if (total !== 8) return NOT_SURE;
  } else {
    if (total >= 8) return NOT_SURE; // '::' standing for no group: ip6addr's call
    // Move the groups after the '::' to the end, zero the gap.
    const after = n - gap;
    const to = (dotted ? 6 : 8) - after;
    for (let k = after - 1; k >= 0; k--) groups[to + k] = groups[gap + k];
    for (let k = gap; k < to; k++) groups[k] = 0;
  }
  if (!dotted) return HEX;
  for (let k = 0; k < 5; k++) if (groups[k] !== 0) return NOT_SURE; // ip6addr refuses dotted non-mapped
  return groups[5] === 0xffff ? MAPPED_DOTTED : NOT_SURE;
}

/** Hex of 0..255 without and with a leading zero ('a' and '0a'): groups print without Number#toString. */
const HEX_BYTE: readonly string[] = Array.from({ length: 256 }, (_, v) => v.toString(16));
const HEX_BYTE_PADDED: readonly string[] = Array.from({ length: 256 }, (_, v) => v.toString(16).padStart(2, '0'));

/**
 * ip6addr's v6 text of `groups`: the longest run of zero groups (the first of equal runs, even a
 * single group) as '::', hex without leading zeros.
 */
function formatGroups(): string {
  let best = -1;
  let bestLen = 0;
  for (let k = 0; k < 8; ) {
    if (groups[k] !== 0) {
      k++;
      continue;
    }
    const s = k;
    while (k < 8 && groups[k] === 0) k++;
    if (k - s > bestLen) {
      best = s;
      bestLen = k - s;
    }
  }
  if (bestLen === 8) return '::';
  let out = '';
  let sep = false; // a ':' goes before the next group
  for (let k = 0; k < 8; k++) {
    if (k === best) {
      out += '::';
      k += bestLen - 1;
      sep = false;
      continue;
    }
    if (sep) out += ':';
    const v = groups[k];
    out += v < 0x100 ? HEX_BYTE[v] : HEX_BYTE[v >> 8] + HEX_BYTE_PADDED[v & 0xff];
    sep = true;
  }
  return out;
}

function dottedOfGroups(): string {
  const a = groups[6];
  const b = groups[7];
  return `${a >> 8}.${a & 0xff}.${b >> 8}.${b & 0xff}`;
}

/** Canonical text of the 16 octets at `off` (IPv4-mapped addresses keep their ::ffff:a.b.c.d form). */
export function ip6ToString(buf: Uint8Array, off = 0): string {
  if (off < 0 || off + 16 > buf.length || !Number.isInteger(off)) return formatIp6Slow(buf, off);
  if (isIpv4Mapped(buf, off)) return `::ffff:${ip4ToString(buf, off + 12)}`;
  for (let k = 0; k < 8; k++) groups[k] = (buf[off + 2 * k] << 8) | buf[off + 2 * k + 1];
  return formatGroups();
}

/** The ip6addr path, for octets not all inside `buf` (missing ones read as 0, as they always did). */
function formatIp6Slow(buf: Uint8Array, off: number): string {
  // ip6addr keeps the hex form for mapped addresses parsed from hex groups; RFC 5952 §5 wants
  // the dotted form, which is also what canonicalIp() gives for configuration text.
  if (isIpv4Mapped(buf, off)) return `::ffff:${ip4ToString(buf, off + 12)}`;
  const g: string[] = new Array(8);
  for (let i = 0; i < 8; i++) g[i] = ((buf[off + 2 * i] << 8) | buf[off + 2 * i + 1]).toString(16);
  return ip6addr.parse(g.join(':')).toString({ format: 'auto' });
}

function isIpv4Mapped(buf: Uint8Array, off: number): boolean {
  for (let i = 0; i < 10; i++) if (buf[off + i] !== 0) return false;
  return buf[off + 10] === 0xff && buf[off + 11] === 0xff;
}

export function ip4ToString(buf: Uint8Array, off = 0): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

/** Writes the 16 octets of `text` at `off` (nothing written if it throws). Throws as ip6ToBytes. */
function putIp6(buf: Uint8Array, off: number, text: string, field: string): void {
  if (typeof text === 'string' && parseFast(text) !== NOT_SURE) {
    for (let k = 0; k < 8; k++) {
      buf[off + 2 * k] = groups[k] >> 8;
      buf[off + 2 * k + 1] = groups[k] & 0xff;
    }
    return;
  }
  let b: Uint8Array;
  try {
    b = Uint8Array.from(ip6addr.parse(text).toBuffer());
  } catch (e) {
    throw new EncodeError(field, `'${text}' is not an IPv6 address (${(e as Error).message})`);
  }
  buf.set(b, off);
}

/** 16 octets of an IPv6 address (an IPv4 address is taken as IPv4-mapped). Throws EncodeError naming `field`. */
export function ip6ToBytes(text: string, field = 'address'): Uint8Array {
  const b = new Uint8Array(16);
  putIp6(b, 0, text, field);
  return b;
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

export function writeIp6(buf: Uint8Array, off: number, text: string, field = 'address'): void {
  if (off >= 0 && off + 16 <= buf.length && Number.isInteger(off)) putIp6(buf, off, text, field);
  else buf.set(ip6ToBytes(text, field), off); // throws as it always did for a bad offset
}

export function writeIp4(buf: Uint8Array, off: number, text: string, field?: string): void {
  buf.set(ip4ToBytes(text, field), off);
}

/** Canonical form of any address text, for comparisons between configuration and decoded values. */
export function canonicalIp(text: string): string {
  const kind = typeof text === 'string' ? parseFast(text) : NOT_SURE;
  if (kind === HEX) return formatGroups();
  if (kind === MAPPED_DOTTED) return `::ffff:${dottedOfGroups()}`;
  if (kind === BARE_IPV4) return dottedOfGroups();
  return ip6addr.parse(text).toString({ format: 'auto' });
}
