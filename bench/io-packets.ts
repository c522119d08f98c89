// Packets the I/O benchmarks and the tunnel edge tests put on the wire, built with the project's
// own encoders (common/): IPv6/UDP, ICMPv6 echo, a Binding Update with a Home Address option and a
// Binding Acknowledgement with a type 2 routing header. Pure functions; never sends anything.
import { ip6ToBytes } from '../common/addr.js';
import { finish, ipv6PseudoSum, sumWords } from '../common/checksum.js';
import { IpProto } from '../common/iana.js';
import { encodeIpv6, haoDestOpts, routing2 } from '../common/ipv6.js';
import { encodeMobilityHeader } from '../common/mh.js';
import { baFlags, buFlags } from '../common/mhflags.js';
import { encodeUdp } from '../common/udp.js';

export function udp6Packet(src: string, dst: string, srcPort: number, dstPort: number, payload: Uint8Array, hopLimit = 64): Buffer {
  const upper = encodeUdp({ srcPort, dstPort, payload }, { version: 6, src, dst });
  return encodeIpv6({ header: { src, dst, hopLimit }, upperProtocol: IpProto.UDP, upper });
}

/** ICMPv6 echo request (type 128) with a correct checksum. */
export function icmp6EchoRequest(src: string, dst: string, id: number, seq: number, data: Uint8Array): Buffer {
  const icmp = Buffer.alloc(8 + data.length);
  icmp[0] = 128;
  icmp.writeUInt16BE(id, 4);
  icmp.writeUInt16BE(seq, 6);
  icmp.set(data, 8);
  const sum = sumWords(icmp, 0, icmp.length, ipv6PseudoSum(ip6ToBytes(src), ip6ToBytes(dst), icmp.length, IpProto.ICMPV6));
  icmp.writeUInt16BE(finish(sum), 2);
  return encodeIpv6({ header: { src, dst }, upperProtocol: IpProto.ICMPV6, upper: icmp });
}

/** MN -> HA: a Binding Update from the care-of address with the home address in a HAO (RFC 6275 §6.1.7, §6.3). */
export function buWithHao(coa: string, hoa: string, ha: string, sequence: number): Buffer {
  const mh = encodeMobilityHeader(
    { kind: 'BU', sequence, flags: buFlags({ A: true, H: true }), lifetime: 100, options: [] },
    { src: hoa, dst: ha },
  );
  return encodeIpv6({ header: { src: coa, dst: ha }, extensions: [haoDestOpts(hoa)], upperProtocol: IpProto.MH, upper: mh });
}

/** HA -> MN: a Binding Acknowledgement to the care-of address with the home address in a type 2 routing header (§6.4). */
export function baWithRh2(ha: string, coa: string, hoa: string, sequence: number): Buffer {
  const mh = encodeMobilityHeader(
    { kind: 'BA', status: 0, flags: baFlags(), sequence, lifetime: 100, options: [] },
    { src: ha, dst: hoa },
  );
  return encodeIpv6({ header: { src: ha, dst: coa }, extensions: [routing2(hoa)], upperProtocol: IpProto.MH, upper: mh });
}
