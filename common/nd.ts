// Neighbor Discovery messages the daemons send themselves (RFC 4861): the unsolicited Neighbor
// Advertisement, for the HA's proxy duty and for an MN back on its home link. Pure byte building;
// it must never send anything or touch the kernel's neighbour tables.
import { ip6ToBytes } from './addr.js';
import { finish, ipv6PseudoSum, sumWords } from './checksum.js';

/**
 * An unsolicited Neighbor Advertisement as a complete IPv6 packet (hop limit 255, ICMPv6
 * checksum filled): src = the sender's link-local, dst = ff02::1, target = the HoA, and a Target
 * Link-Layer Address option with the sender's MAC, so neighbours point the HoA at it: the HA's
 * while it proxies, the MN's own once it is home again.
 */
export function buildUnsolicitedNa(src: string, target: string, mac: Uint8Array, router: boolean): Buffer {
  const icmpLen = 24 + 8;
  const p = Buffer.alloc(40 + icmpLen);
  p[0] = 0x60;
  p.writeUInt16BE(icmpLen, 4);
  p[6] = 58;
  p[7] = 255; // RFC 4861 §7.1.2: receivers drop an NA with any other hop limit
  const s = ip6ToBytes(src);
  const d = ip6ToBytes('ff02::1');
  p.set(s, 8);
  p.set(d, 24);
  const icmp = 40;
  p[icmp] = 136;
  p[icmp + 4] = (router ? 0x80 : 0) | 0x20; // R, S = 0, O = 1 (digest §5.5; UMIP's precedence bug sends O = 0)
  p.set(ip6ToBytes(target), icmp + 8);
  p[icmp + 24] = 2; // Target Link-Layer Address
  p[icmp + 25] = 1;
  p.set(mac.subarray(0, 6), icmp + 26);
  const sum = sumWords(p, icmp, icmpLen, ipv6PseudoSum(s, d, icmpLen, 58));
  p.writeUInt16BE(finish(sum), icmp + 2);
  return p;
}

