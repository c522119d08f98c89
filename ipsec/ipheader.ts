// Writes and patches IPv4/IPv6 headers for ESP encapsulation: the outer header of a
// tunnel-mode packet, length fields, the IPv4 header checksum. Bytes only: never
// parses (packet.ts does), never allocates, never throws on in-bounds offsets.

import { writeU16 } from './bytes.js';
import { Proto } from './packet.js';

/** Hop limit / TTL of outer tunnel headers. */
export const OUTER_HOP_LIMIT = 64;

/** RFC 791 header checksum of p[off, off+len) (len even), with the checksum field counted as read. */
function ipv4Sum(p: Uint8Array, off: number, len: number): number {
  let sum = 0;
  for (let i = 0; i < len; i += 2) sum += (p[off + i] << 8) | p[off + i + 1];
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Recomputes the IPv4 header checksum of the header at p[0..]. */
export function fixIPv4Checksum(p: Uint8Array): void {
  p[10] = 0;
  p[11] = 0;
  writeU16(p, 10, ipv4Sum(p, 0, (p[0] & 0x0f) * 4));
}

/** True when the IPv4 header at p[0..] carries a valid checksum. */
export function ipv4ChecksumOk(p: Uint8Array): boolean {
  return ipv4Sum(p, 0, (p[0] & 0x0f) * 4) === 0;
}

/** Sets the length field of the IP header at p[0..] for a packet of `total` octets. */
export function setIpLength(p: Uint8Array, version: number, total: number): void {
  if (version === 6) writeU16(p, 4, total - 40);
  else {
    writeU16(p, 2, total);
    fixIPv4Checksum(p);
  }
}

/** DSCP + ECN of the header at p[0..] (RFC 4301 §5.1.2.1 copies them to the outer header). */
export function trafficClass(p: Uint8Array, version: number): number {
  return version === 6 ? ((p[0] & 0x0f) << 4) | (p[1] >> 4) : p[1];
}

/**
 * Writes an outer header with next header ESP at out[0..]: 20 octets for IPv4
 * (src/dst of length 4), 40 for IPv6. `total` is the whole packet's length.
 */
export function writeOuterHeader(out: Uint8Array, src: Uint8Array, dst: Uint8Array, total: number, tclass: number, df: boolean, id: number): number {
  if (src.length === 4) {
    out[0] = 0x45;
    out[1] = tclass;
    writeU16(out, 2, total);
    writeU16(out, 4, id);
    out[6] = df ? 0x40 : 0;
    out[7] = 0;
    out[8] = OUTER_HOP_LIMIT;
    out[9] = Proto.ESP;
    out.set(src, 12);
    out.set(dst, 16);
    fixIPv4Checksum(out);
    return 20;
  }
  out[0] = 0x60 | (tclass >> 4);
  out[1] = (tclass & 0x0f) << 4;
  out[2] = 0;
  out[3] = 0;
  writeU16(out, 4, total - 40);
  out[6] = Proto.ESP;
  out[7] = OUTER_HOP_LIMIT;
  out.set(src, 8);
  out.set(dst, 24);
  return 40;
}
