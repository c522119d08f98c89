// UDP codec (RFC 768, RFC 8200 §8.1) with pseudo-header checksums over IPv4 and IPv6, plus the
// IPv4+UDP packet used by DSMIPv6 (RFC 5555: bare IPv6/IPv4 packets in UDP 4191, no extra header).
// Never decodes the UDP payload, never throws anything but DecodeError subclasses when decoding.
import { ip4ToBytes, ip6ToBytes } from './addr.js';
import { need, put16, u16 } from './bytes.js';
import { finish, ipv4PseudoSum, ipv6PseudoSum, sumWords } from './checksum.js';
import { BadChecksumError, BadLengthError, BadValueError, EncodeError } from './errors.js';
import { IpProto } from './iana.js';
import { decodeIpv4, encodeIpv4, Ipv4Flag, type Ipv4Header } from './ipv4.js';

export const UDP_HEADER_LENGTH = 8;

/**
 * The addresses of the pseudo-header. For IPv6 with a HAO or RH2 pass pseudoHeaderAddresses(pkt)
 * from ipv6.ts (home address / final destination), not the IPv6 header's own pair.
 */
export interface UdpPseudoHeader {
  version: 4 | 6;
  src: string | Uint8Array;
  dst: string | Uint8Array;
}

export interface UdpDatagram {
  srcPort: number;
  dstPort: number;
  /** The Length field: header plus payload. */
  length: number;
  /** As received (verified unless 0 over IPv4, which means "no checksum"). */
  checksum: number;
  /** View of the octets up to Length. */
  payload: Uint8Array;
  /** Octets the enclosing packet carries beyond Length (RFC 768 ignores them; Linux trims them). */
  trailing?: Uint8Array;
}

/**
 * What encodeUdp takes; a decoded UdpDatagram fits as is. `checksum`: true or absent = compute
 * (a computed 0 is sent as 0xFFFF); false or 0 = send none (IPv4 only, RFC 768); another number
 * must equal the computed value (EncodeError), as must a given `length`.
 */
export interface UdpInput {
  srcPort: number;
  dstPort: number;
  length?: number;
  checksum?: boolean | number;
  payload?: Uint8Array;
  trailing?: Uint8Array;
}

function addrBytes(a: string | Uint8Array, version: 4 | 6, field: string): Uint8Array {
  const size = version === 4 ? 4 : 16;
  if (typeof a === 'string') return version === 4 ? ip4ToBytes(a, field) : ip6ToBytes(a, field);
  if (a.length !== size) throw new EncodeError(field, `${a.length} octets, an IPv${version} address has ${size}`);
  return a;
}

function pseudoSum(ps: UdpPseudoHeader, length: number): number {
  if (ps.version !== 4 && ps.version !== 6) throw new EncodeError('pseudo.version', `${String(ps.version)} is not 4 or 6`);
  const src = addrBytes(ps.src, ps.version, 'pseudo.src');
  const dst = addrBytes(ps.dst, ps.version, 'pseudo.dst');
  return ps.version === 4 ? ipv4PseudoSum(src, dst, length, IpProto.UDP) : ipv6PseudoSum(src, dst, length, IpProto.UDP);
}

/**
 * The checksum to transmit for the datagram buf[0, length) (its checksum field taken as zero).
 * Never 0: a computed zero is sent as 0xFFFF, since 0 means "none" (RFC 768).
 */
export function udpChecksum(buf: Uint8Array, length: number, pseudo: UdpPseudoHeader): number {
  const sum = sumWords(buf, UDP_HEADER_LENGTH, length - UDP_HEADER_LENGTH, sumWords(buf, 0, 6, pseudoSum(pseudo, length)));
  return finish(sum) || 0xffff;
}

/**
 * Decodes and verifies a UDP datagram. Length < 8 → BadLengthError; Length beyond buf →
 * TruncatedError; wrong checksum → BadChecksumError; checksum 0 over IPv6 → BadChecksumError
 * (RFC 8200 §8.1: zero is invalid there); checksum 0 over IPv4 → accepted unverified.
 */
export function decodeUdp(buf: Uint8Array, pseudo: UdpPseudoHeader): UdpDatagram {
  const layer = 'UDP';
  need(buf, 0, UDP_HEADER_LENGTH, layer);
  const length = u16(buf, 4, layer);
  if (length < UDP_HEADER_LENGTH) throw new BadLengthError(layer, 4, `Length ${length}, at least 8`);
  need(buf, 0, length, layer);
  const checksum = u16(buf, 6, layer);
  if (checksum !== 0 || pseudo.version === 6) {
    const expected = udpChecksum(buf, length, pseudo);
    if (checksum !== expected) throw new BadChecksumError(layer, 6, checksum, expected);
  }
  const d: UdpDatagram = {
    srcPort: u16(buf, 0, layer),
    dstPort: u16(buf, 2, layer),
    length,
    checksum,
    payload: buf.subarray(UDP_HEADER_LENGTH, length),
  };
  if (buf.length > length) d.trailing = buf.subarray(length);
  return d;
}

function checkUint(v: number, max: number, field: string): number {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new EncodeError(field, `${v} is not an integer in 0..${max}`);
  return v;
}

export function encodeUdp(d: UdpInput, pseudo: UdpPseudoHeader): Buffer {
  const payload = d.payload ?? new Uint8Array(0);
  const trailing = d.trailing ?? new Uint8Array(0);
  const length = UDP_HEADER_LENGTH + payload.length;
  if (length > 0xffff) throw new EncodeError('payload', `datagram of ${length} octets exceeds 65535`);
  if (d.length !== undefined && d.length !== length) throw new EncodeError('length', `given ${d.length}, the datagram has ${length}`);
  const out = Buffer.alloc(length + trailing.length);
  put16(out, 0, checkUint(d.srcPort, 0xffff, 'srcPort'));
  put16(out, 2, checkUint(d.dstPort, 0xffff, 'dstPort'));
  put16(out, 4, length);
  out.set(payload, UDP_HEADER_LENGTH);
  out.set(trailing, length);
  if (d.checksum === false || d.checksum === 0) {
    if (pseudo.version === 6) throw new EncodeError('checksum', 'UDP over IPv6 must carry a checksum');
    return out; // field stays 0: "no checksum"
  }
  const checksum = udpChecksum(out, length, pseudo);
  if (typeof d.checksum === 'number' && d.checksum !== checksum) {
    throw new EncodeError('checksum', `given 0x${d.checksum.toString(16)}, the datagram sums to 0x${checksum.toString(16)}`);
  }
  put16(out, 6, checksum);
  return out;
}

/** IPv4 + UDP, as DSMIPv6 sends to/from port 4191. */
export interface Udp4PacketInput {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  payload?: Uint8Array;
  /** Default 64. */
  ttl?: number;
  /** Default true; false sends checksum 0 ("none", RFC 768). */
  checksum?: boolean;
  /** Default 0. */
  identification?: number;
  /** Default 0. */
  tos?: number;
  /** Default 0: DF clear, so a tunnelled packet may still be fragmented on the way. */
  flags?: number;
}

export interface Udp4Packet {
  ip: Ipv4Header;
  udp: UdpDatagram;
  /** Octets after the IPv4 Total Length (link-layer padding). */
  trailing?: Uint8Array;
  /** Version nibble of the UDP payload when it is 4 or 6: RFC 5555 carries a bare IP packet. */
  innerVersion?: 4 | 6;
}

export function encodeUdp4Packet(p: Udp4PacketInput): Buffer {
  const udp = encodeUdp(
    { srcPort: p.srcPort, dstPort: p.dstPort, payload: p.payload, checksum: p.checksum ?? true },
    { version: 4, src: p.src, dst: p.dst },
  );
  return encodeIpv4({
    header: {
      tos: p.tos,
      identification: p.identification,
      flags: p.flags,
      ttl: p.ttl,
      protocol: IpProto.UDP,
      src: p.src,
      dst: p.dst,
    },
    payload: udp,
  });
}

/**
 * Decodes IPv4 then UDP. Not UDP → BadValueError; a fragment (MF or offset set) → BadValueError,
 * since only the reassembled datagram can be checked. The UDP payload is not decoded here.
 */
export function decodeUdp4Packet(buf: Uint8Array): Udp4Packet {
  const ip = decodeIpv4(buf);
  const h = ip.header;
  if (h.protocol !== IpProto.UDP) throw new BadValueError('IPv4', 9, `protocol ${h.protocol}, expected UDP (17)`);
  if ((h.flags & Ipv4Flag.MF) !== 0 || h.fragmentOffset !== 0) {
    throw new BadValueError('IPv4', 6, 'a fragment; reassemble before decoding UDP');
  }
  const udp = decodeUdp(ip.payload, { version: 4, src: buf.subarray(12, 16), dst: buf.subarray(16, 20) });
  const out: Udp4Packet = { ip: h, udp };
  if (ip.trailing) out.trailing = ip.trailing;
  const v = udp.payload.length > 0 ? udp.payload[0] >> 4 : 0;
  if (v === 4 || v === 6) out.innerVersion = v;
  return out;
}
