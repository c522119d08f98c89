// Which IPv6 packets take the user-space path: the same rule as the classic BPF filter the
// AF_PACKET tap runs in the kernel (native/packet.c build_mip_filter), in TypeScript, for the
// fakes and for tests that check the two agree. Must stay total (any bytes -> boolean, never
// throws) and must accept everything nft.ts drops, or a dropped packet would be lost.
import { IpProto } from '../common/iana.js';

/** Options examined in the Destination Options header (the BPF program is unrolled this far). */
export const MIP_FILTER_OPTION_WALK = 8;
const HAO = 0xc9;

/**
 * True for an IPv6 packet whose FIRST extension header is
 *  - ESP (plain ESP between an MN at home and its HA), or
 *  - a Routing header of type 2, or
 *  - a Destination Options header with a Home Address option: `c9 10` at octet 46 (the standard
 *    24-octet form after PadN 01 02 00 00, which nft.ts drops), or option type 0xC9 among the
 *    header's first 8 options.
 * A packet too short for an octet the test reads is rejected, as BPF does (a failed load ends
 * the program with 0).
 */
export function isMipPacket(p: Uint8Array): boolean {
  if (p.length < 40 || p[0] >> 4 !== 6) return false;
  const nh = p[6];
  if (nh === IpProto.ROUTING) return p.length > 42 && p[42] === 2;
  if (nh === IpProto.ESP) return true; // plain ESP: an MN at home and its HA (no HAO / RH2)
  if (nh !== IpProto.DSTOPTS) return false;
  if (p.length < 48) return false; // BPF's load of octets 46..47 fails: the program rejects
  if (p[46] === HAO && p[47] === 0x10) return true;
  const end = 40 + 8 * (p[41] + 1);
  let x = 42;
  for (let i = 0; i < MIP_FILTER_OPTION_WALK; i++) {
    if (x === end || x > end) return false; // at the end: no HAO; past it: malformed
    if (x >= p.length) return false;
    const type = p[x];
    if (type === HAO) return true;
    if (type === 0) {
      x += 1;
      continue;
    }
    if (x + 1 >= p.length) return false;
    x += p[x + 1] + 2;
  }
  return false;
}
