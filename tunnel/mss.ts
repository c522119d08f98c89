// TCP MSS clamping at a tunnel end (what OpenVPN's --mssfix and iptables' TCPMSS --clamp-mss-to-pmtu
// do): lowers the MSS option of a TCP SYN so that a full-size segment, once sealed in ESP and
// tunnelled, still fits the path MTU. Without it a 1400-octet inner packet on an IPv4 CoA becomes a
// 1528-octet UDP 4191 datagram: two IPv4 fragments, reassembled by every NAT on the way and by the MN.
// Works in place on the packet's bytes (the TCP checksum is updated incrementally, RFC 1624); never
// raises an MSS, never touches anything but a SYN's MSS option, never allocates.
import type { AlgorithmInfo } from '../ipsec/algorithms.js';

const TCP = 6;
const HOP_BY_HOP = 0;
const ROUTING = 43;
const DEST_OPTS = 60;

/** Octets outside the ESP payload on a tunnel packet: outer IPv6 (40) and the HAO or RH2 (24). */
const MIP6_OUTER = 64;
/** IPv4 (20) and UDP (8) around a UDP 4191 payload (RFC 5555). */
const UDP4_OUTER = 28;

/**
 * Largest inner packet that, sealed with ESP tunnel mode (`esp`: IV, ICV, alignment) and sent to
 * an IPv6 CoA (family 6) or in UDP 4191 over IPv4 (family 4), makes an outer packet of at most
 * `pathMtu` octets.
 */
export function innerMtu(pathMtu: number, family: 4 | 6, esp: Pick<AlgorithmInfo, 'ivLen' | 'icvLen' | 'align'>): number {
  const room = pathMtu - MIP6_OUTER - (family === 4 ? UDP4_OUTER : 0) - 8 - esp.ivLen - esp.icvLen;
  // ESP payload = inner + padding + 2 (pad length, next header), a multiple of `align` (RFC 4303 §2.4).
  return Math.floor(room / esp.align) * esp.align - 2;
}

/** Octets on the wire for an `inner`-octet packet sealed with ESP tunnel mode and tunnelled as innerMtu counts. */
export function tunnelledSize(inner: number, family: 4 | 6, esp: Pick<AlgorithmInfo, 'ivLen' | 'icvLen' | 'align'>): number {
  const payload = Math.ceil((inner + 2) / esp.align) * esp.align;
  return MIP6_OUTER + (family === 4 ? UDP4_OUTER : 0) + 8 + esp.ivLen + payload + esp.icvLen;
}

/** RFC 1624 eqn. 3: the checksum field HC' = ~(~HC + ~m + m') after one 16-bit word m became m'. */
export function checksumAdjust(check: number, oldWord: number, newWord: number): number {
  let s = (~check & 0xffff) + (~oldWord & 0xffff) + newWord;
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** Offset of the TCP header of an unfragmented IPv4 or IPv6 packet, or -1. */
function tcpOffset(p: Uint8Array): number {
  const len = p.length;
  if (len < 20) return -1;
  const v = p[0] >> 4;
  if (v === 4) {
    const ihl = (p[0] & 15) * 4;
    // Only the first fragment holds the TCP header; a fragmented SYN is left alone.
    if (ihl < 20 || p[9] !== TCP || (p[6] & 0x3f) !== 0 || p[7] !== 0) return -1;
    return ihl;
  }
  if (v !== 6 || len < 40) return -1;
  let next = p[6];
  let off = 40;
  // Hop-by-Hop, Routing and Destination Options may precede TCP; anything else (a Fragment header) ends the walk.
  while (next === HOP_BY_HOP || next === ROUTING || next === DEST_OPTS) {
    if (off + 2 > len) return -1;
    next = p[off];
    off += (p[off + 1] + 1) * 8;
  }
  return next === TCP ? off : -1;
}

/** Offset of the TCP header when `p` is a TCP SYN (or SYN-ACK), else -1: a few byte reads, for the per-packet check. */
export function tcpSynOffset(p: Uint8Array): number {
  const t = tcpOffset(p);
  return t < 0 || t + 20 > p.length || (p[t + 13] & 0x02) === 0 ? -1 : t;
}

/**
 * If `p` is a TCP SYN (or SYN-ACK) whose MSS option lets a segment make an IP packet longer than
 * `maxPacket` octets, lowers the MSS to fit (maxPacket - IP headers - 20) and fixes the TCP
 * checksum. Returns the MSS written, or 0 when the packet was left as it was.
 */
export function clampTcpMss(p: Uint8Array, maxPacket: number): number {
  const t = tcpSynOffset(p);
  if (t < 0) return 0;
  const end = Math.min(t + (p[t + 12] >> 4) * 4, p.length);
  const limit = maxPacket - t - 20;
  if (limit < 1) return 0;
  for (let i = t + 20; i < end; ) {
    const kind = p[i];
    if (kind === 0) break; // End of Option List
    if (kind === 1) {
      i++; // NOP
      continue;
    }
    if (i + 1 >= end) break;
    const olen = p[i + 1];
    if (olen < 2 || i + olen > end) break;
    if (kind === 2 && olen === 4) {
      const mss = (p[i + 2] << 8) | p[i + 3];
      if (mss <= limit) return 0;
      // The checksum sums 16-bit words from the TCP header's start: the value may straddle two.
      const a = t + ((i + 2 - t) & ~1);
      const old0 = word(p, a);
      const old1 = word(p, a + 2);
      p[i + 2] = limit >> 8;
      p[i + 3] = limit & 0xff;
      // Only changed words: eqn. 3 turns an unchanged word's 0x0000 checksum into 0xffff (RFC 1624 erratum 4782).
      let c = (p[t + 16] << 8) | p[t + 17];
      if (word(p, a) !== old0) c = checksumAdjust(c, old0, word(p, a));
      if (word(p, a + 2) !== old1) c = checksumAdjust(c, old1, word(p, a + 2));
      p[t + 16] = c >> 8;
      p[t + 17] = c & 0xff;
      return limit;
    }
    i += olen;
  }
  return 0;
}

/** The 16-bit word at `at`, a missing octet past the end counting as zero (RFC 793's padding). */
function word(p: Uint8Array, at: number): number {
  return ((at < p.length ? p[at] : 0) << 8) | (at + 1 < p.length ? p[at + 1] : 0);
}
