// Reads the fields an SPD lookup and ESP processing need from an IPv4 or IPv6 packet
// held as bytes: addresses (as offsets), the next-layer protocol after the extension
// header chain, ports / ICMP type and code / MH type. It fills a caller-owned
// PacketInfo, so it never allocates, never throws on any input, and never loops
// more than once per 8 octets of packet.

/** Protocol numbers this module itself interprets. */
export const Proto = Object.freeze({
  HOPOPTS: 0,
  ICMP: 1,
  IPV4: 4,
  TCP: 6,
  UDP: 17,
  IPV6: 41,
  ROUTING: 43,
  FRAGMENT: 44,
  ESP: 50,
  ICMPV6: 58,
  NONE: 59,
  DSTOPTS: 60,
  SCTP: 132,
  MH: 135,
});

/** What parsePacket found. Offsets index the packet that was parsed. */
export class PacketInfo {
  /** 4 or 6. */
  version = 0;
  /** Octets covered by the IP length fields (anything after is link padding, ignored). */
  end = 0;
  /** 4 or 16. */
  addrLen = 0;
  srcOff = 0;
  dstOff = 0;
  /** Next-layer protocol: the first header that is not hop-by-hop, routing, fragment or destination options. */
  proto = -1;
  /** Offset of the next-layer header. */
  ulOff = 0;
  /** Offset of the octet that holds `proto` (IPv4 Protocol, or the last Next Header of the IPv6 chain). */
  nhOff = 0;
  /** Part of a fragmented datagram (IPv4 MF/offset, or an IPv6 fragment header that is not atomic). */
  fragment = false;
  /** A non-initial fragment: the next-layer header is not in this packet, so ports and types are unknown. */
  nonInitial = false;
  /** Next-layer fields, -1 when absent or unknown. */
  sport = -1;
  dport = -1;
  icmpType = -1;
  icmpCode = -1;
  mhType = -1;
}

/** Fills `info` from `p`; false when `p` is not a well-formed IPv4/IPv6 packet (the fields are then meaningless). */
export function parsePacket(p: Uint8Array, info: PacketInfo): boolean {
  const n = p.length;
  if (n < 1) return false;
  const version = p[0] >> 4;
  info.fragment = false;
  info.nonInitial = false;
  info.sport = info.dport = info.icmpType = info.icmpCode = info.mhType = -1;
  let off: number;
  let nh: number;
  let end: number;
  if (version === 4) {
    if (n < 20) return false;
    const ihl = (p[0] & 0x0f) * 4;
    end = (p[2] << 8) | p[3];
    if (ihl < 20 || end < ihl || end > n) return false;
    const fragOff = ((p[6] & 0x1f) << 8) | p[7];
    info.fragment = (p[6] & 0x20) !== 0 || fragOff !== 0;
    info.nonInitial = fragOff !== 0;
    info.version = 4;
    info.addrLen = 4;
    info.srcOff = 12;
    info.dstOff = 16;
    info.nhOff = 9;
    nh = p[9];
    off = ihl;
  } else if (version === 6) {
    if (n < 40) return false;
    end = 40 + ((p[4] << 8) | p[5]);
    if (end > n) return false;
    info.version = 6;
    info.addrLen = 16;
    info.srcOff = 8;
    info.dstOff = 24;
    let nhOff = 6;
    nh = p[6];
    off = 40;
    // Each step advances `off` by at least 8, so the walk is bounded by the packet length.
    for (;;) {
      if (nh === Proto.HOPOPTS || nh === Proto.ROUTING || nh === Proto.DSTOPTS) {
        if (off + 2 > end) return false;
        const len = (p[off + 1] + 1) * 8;
        if (off + len > end) return false;
        nhOff = off;
        nh = p[off];
        off += len;
      } else if (nh === Proto.FRAGMENT) {
        if (off + 8 > end) return false;
        const fragOff = ((p[off + 2] << 8) | p[off + 3]) >> 3;
        if (fragOff !== 0 || (p[off + 3] & 1) !== 0) info.fragment = true;
        nhOff = off;
        nh = p[off];
        off += 8;
        // Past a non-initial fragment header the octets are the middle of some payload.
        if (fragOff !== 0) {
          info.nonInitial = true;
          break;
        }
      } else break;
    }
    info.nhOff = nhOff;
  } else return false;
  info.end = end;
  info.proto = nh;
  info.ulOff = off;
  if (info.nonInitial) return true;
  switch (nh) {
    case Proto.TCP:
    case Proto.UDP:
    case Proto.SCTP:
      if (off + 4 <= end) {
        info.sport = (p[off] << 8) | p[off + 1];
        info.dport = (p[off + 2] << 8) | p[off + 3];
      }
      break;
    case Proto.ICMP:
    case Proto.ICMPV6:
      if (off + 2 <= end) {
        info.icmpType = p[off];
        info.icmpCode = p[off + 1];
      }
      break;
    case Proto.MH:
      // The MH type is the octet at offset 2 (after Payload Proto and Header Len).
      if (off + 3 <= end) info.mhType = p[off + 2];
      break;
  }
  return true;
}
