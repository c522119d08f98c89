// Robustness of decodeUdp (over IPv4 and IPv6 pseudo-headers) and decodeUdp4Packet: random and
// mutated bytes yield a value or a DecodeError subclass, never another exception; whatever decodes
// re-encodes to the same bytes.
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { fromHex, put16 } from '../common/bytes.js';
import { DecodeError } from '../common/errors.js';
import { encodeIpv4, ipv4HeaderChecksum } from '../common/ipv4.js';
import { decodeUdp, decodeUdp4Packet, encodeUdp, udpChecksum, type UdpPseudoHeader } from '../common/udp.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 100000);

const PSEUDOS: UdpPseudoHeader[] = [
  { version: 4, src: '198.51.100.7', dst: '203.0.113.1' },
  { version: 6, src: '2001:db8::1', dst: '2001:db8::2' },
];

// Seeds: the digest's V11 (IPv4/UDP 4191 carrying an IPv6 BU; constructed fixture) with and without a
// UDP checksum, and scapy inet.uts IP()/UDP().
const V11 = new Uint8Array(
  fromHex(
    '4500006400010000 4011144cc6336407cb007101 9c40105f00500000' +
      '600000000020874020010db800010000000000000000010020010db8000100000000000000000001' +
      '3b030500ff911234d00001001d0680000000000020060000c000020a01020000',
  ),
);
const PACKET_SEEDS = [V11, new Uint8Array(fromHex('4500001c000100004011 7cce 7f0000017f000001 0035003500080172'))];
const withSum = Uint8Array.from(V11);
put16(withSum, 26, udpChecksum(withSum.subarray(20), 80, PSEUDOS[0]));
PACKET_SEEDS.push(withSum);
const DATAGRAM_SEEDS = [V11.subarray(20), encodeUdp({ srcPort: 4191, dstPort: 5000, payload: V11.subarray(28, 60) }, PSEUDOS[1])];

const edits = fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { minLength: 1, maxLength: 4 });
const cutArb = fc.oneof({ arbitrary: fc.constant(undefined), weight: 4 }, { arbitrary: fc.nat(), weight: 1 });

function mutate(seed: Uint8Array, ed: [number, number][], cut: number | undefined, extra: Uint8Array): Uint8Array {
  let b = Uint8Array.from(seed);
  for (const [i, v] of ed) b[i % b.length] = v;
  if (cut !== undefined) b = b.subarray(0, cut % (b.length + 1));
  if (extra.length) b = Uint8Array.from([...b, ...extra]);
  return b;
}

/** Makes the UDP Length and checksum at `off` agree with the bytes, so decoding gets past them. */
function fixUdp(b: Uint8Array, off: number, ps: UdpPseudoHeader, len: boolean, sum: boolean): void {
  if (b.length < off + 8) return;
  if (len) put16(b, off + 4, b.length - off);
  const l = (b[off + 4] << 8) | b[off + 5];
  if (sum && l >= 8 && off + l <= b.length) {
    put16(b, off + 6, 0);
    put16(b, off + 6, udpChecksum(b.subarray(off), l, ps));
  }
}

const datagramArb = fc
  .tuple(
    fc.nat({ max: 1 }),
    fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.tuple(fc.constantFrom(...DATAGRAM_SEEDS), edits, cutArb, fc.uint8Array({ maxLength: 8 })).map(([s, e, c, x]) => mutate(s, e, c, x)),
    ),
    fc.nat({ max: 3 }),
  )
  .map(([which, orig, dice]) => {
    const b = Uint8Array.from(orig); // never mutate a generated value (shrinking replays it)
    const ps = PSEUDOS[which];
    fixUdp(b, 0, ps, dice > 0, dice > 1);
    return { ps, b };
  });

const packetArb = fc
  .tuple(
    fc.oneof(
      fc.uint8Array({ maxLength: 120 }).map((orig) => {
        const b = Uint8Array.from(orig);
        if (b.length) b[0] = 0x45;
        return b;
      }),
      fc.tuple(fc.constantFrom(...PACKET_SEEDS), edits, cutArb, fc.uint8Array({ maxLength: 8 })).map(([s, e, c, x]) => mutate(s, e, c, x)),
    ),
    fc.nat({ max: 3 }),
    fc.nat({ max: 3 }),
  )
  .map(([orig, ipDice, udpDice]) => {
    const b = Uint8Array.from(orig);
    if (b.length >= 20) {
      if (ipDice > 0) put16(b, 2, b.length);
      const hl = (b[0] & 0x0f) * 4;
      if (hl >= 20 && hl + 8 <= b.length) {
        const ps: UdpPseudoHeader = { version: 4, src: b.subarray(12, 16), dst: b.subarray(16, 20) };
        fixUdp(b, hl, ps, udpDice > 0, udpDice > 1);
      }
      if (ipDice > 0 && hl >= 20 && hl <= b.length) put16(b, 10, ipv4HeaderChecksum(b, 0, hl));
    }
    return b;
  });

function rethrowUnlessDecodeError(e: unknown): void {
  if (!(e instanceof DecodeError)) throw e;
}

describe('UDP fuzz', () => {
  it(`decodeUdp: ${RUNS} random and mutated datagrams over IPv4 and IPv6 pseudo-headers`, () => {
    fc.assert(
      fc.property(datagramArb, ({ ps, b }) => {
        let d;
        try {
          d = decodeUdp(b, ps);
        } catch (e) {
          return rethrowUnlessDecodeError(e);
        }
        if (!encodeUdp(d, ps).equals(b)) throw new Error(`re-encoding differs: ${Buffer.from(b).toString('hex')}`);
      }),
      { numRuns: RUNS },
    );
  });

  it(`decodeUdp4Packet: ${RUNS} random and mutated IPv4/UDP packets`, () => {
    fc.assert(
      fc.property(packetArb, (b) => {
        let p;
        try {
          p = decodeUdp4Packet(b);
        } catch (e) {
          return rethrowUnlessDecodeError(e);
        }
        const udp = encodeUdp(p.udp, { version: 4, src: p.ip.src, dst: p.ip.dst });
        const again = encodeIpv4({ header: p.ip, payload: udp, trailing: p.trailing });
        if (!again.equals(b)) throw new Error(`re-encoding differs: ${Buffer.from(b).toString('hex')}`);
      }),
      { numRuns: RUNS },
    );
  });
});
