// tunnel/mss.ts: TCP MSS clamping in place. The packet vectors (input and expected output, with their
// checksums) were built by an independent script: Python's struct and ipaddress modules with its own
// RFC 1071 sum over the RFC 8200 §8.1 / RFC 793 pseudo-headers, not by this project's code. The
// clamped checksum is also cross-checked against a full recomputation (common/checksum.ts) for
// random packets. innerMtu's figures are worked by hand from RFC 4303 §2.4 and RFC 5555's framing.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { internetChecksum, ipv4PseudoSum, ipv6PseudoSum, sumWords, finish } from '../common/checksum.js';
import { ALGORITHMS } from '../ipsec/algorithms.js';
import { clampTcpMss, innerMtu, tunnelledSize } from '../tunnel/mss.js';

const hex = (s: string): Uint8Array => Uint8Array.from(s.match(/../g)!.map((b) => parseInt(b, 16)));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

// IPv6 SYN-ACK 2001:db8:1::100.5201 -> 2001:db8:7::5.40000, options MSS 1340, SACK-permitted, timestamps, NOP, window scale 7.
const V6_IN =
  '600000000028064020010db800010000000000000000010020010db800070000000000000000000514519c401122334455667788a012fd20c75a00000204053c0402080aa1b2c3d40000000001030307';
// The same with MSS 1314.
const V6_OUT =
  '600000000028064020010db800010000000000000000010020010db800070000000000000000000514519c401122334455667788a012fd20c7740000020405220402080aa1b2c3d40000000001030307';
// MSS after one NOP: its value straddles two 16-bit words of the checksum. 1340 -> 1314.
const ODD_IN = '60000000001c064020010db800010000000000000000010020010db800070000000000000000000514519c4011223344556677887012fd20323b0000010204053c010101';
const ODD_OUT = '60000000001c064020010db800010000000000000000010020010db800070000000000000000000514519c4011223344556677887012fd204c3b00000102040522010101';
// IPv4 SYN 10.1.2.3.40000 -> 192.0.2.7.5201, MSS 1460 (then NOP NOP SACK-permitted); clamped to 1334.
const V4_IN = '450000301234400040065a890a010203c00002079c40145101020304000000007002faf0058c0000020405b401010402';
const V4_OUT = '450000301234400040065a890a010203c00002079c40145101020304000000007002faf0060a00000204053601010402';

/** TCP checksum of an IPv6 or IPv4 packet recomputed whole: 0 when the packet's checksum is right. */
function tcpCheckResidue(p: Uint8Array, tcpAt?: number): number {
  const v6 = p[0] >> 4 === 6;
  const t = tcpAt ?? (v6 ? 40 : (p[0] & 15) * 4);
  const len = p.length - t;
  const pseudo = v6 ? ipv6PseudoSum(p.subarray(8, 24), p.subarray(24, 40), len, 6) : ipv4PseudoSum(p.subarray(12, 16), p.subarray(16, 20), len, 6);
  return finish(sumWords(p, t, len, pseudo));
}

describe('clampTcpMss', () => {
  it('lowers an IPv6 SYN-ACK MSS to fit maxPacket - 60 and fixes the checksum (independent vector)', () => {
    const p = hex(V6_IN);
    expect(clampTcpMss(p, 1374)).toBe(1314);
    expect(toHex(p)).toBe(V6_OUT);
  });

  it('handles an MSS value straddling two checksum words', () => {
    const p = hex(ODD_IN);
    expect(clampTcpMss(p, 1374)).toBe(1314);
    expect(toHex(p)).toBe(ODD_OUT);
  });

  it('lowers an IPv4 SYN MSS to maxPacket - 40 (the IPv4 header checksum is untouched)', () => {
    const p = hex(V4_IN);
    expect(clampTcpMss(p, 1374)).toBe(1334);
    expect(toHex(p)).toBe(V4_OUT);
    expect(internetChecksum(p, 0, 20)).toBe(0);
  });

  it('never raises an MSS and leaves non-SYN, non-TCP and fragmented packets alone', () => {
    const p = hex(V6_IN);
    expect(clampTcpMss(p, 1400)).toBe(0); // 1340 already fits 1400 - 60
    expect(toHex(p)).toBe(V6_IN);
    const ack = hex(V6_IN);
    ack[53] = 0x10; // ACK only
    expect(clampTcpMss(ack, 1000)).toBe(0);
    const udp = hex(V6_IN);
    udp[6] = 17;
    expect(clampTcpMss(udp, 1000)).toBe(0);
    const frag = hex(V4_IN);
    frag[7] = 1; // a non-first fragment
    expect(clampTcpMss(frag, 1000)).toBe(0);
    expect(clampTcpMss(hex(V6_IN).subarray(0, 50), 1000)).toBe(0); // cut short
  });

  it('finds TCP after a Destination Options header', () => {
    const base = hex(V6_IN);
    const p = new Uint8Array(base.length + 8);
    p.set(base.subarray(0, 40));
    p[6] = 60; // Destination Options, then TCP
    p[5] = base[5] + 8;
    p.set([6, 0, 1, 4, 0, 0, 0, 0], 40); // next header TCP, length 0 (8 octets), PadN 4
    p.set(base.subarray(40), 48);
    expect(tcpCheckResidue(p, 48)).toBe(0);
    expect(clampTcpMss(p, 1382)).toBe(1314); // 1382 - 48 - 20
    expect(tcpCheckResidue(p, 48)).toBe(0);
  });

  it('keeps the TCP checksum right for random SYNs (against a full recomputation)', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 536, max: 65535 }),
        fc.uint8Array({ minLength: 0, maxLength: 9 }),
        fc.integer({ min: 600, max: 1500 }),
        (v6, addrs, nops, mss, payload, maxPacket) => {
          const opts = [...new Array(nops).fill(1), 2, 4, mss >> 8, mss & 0xff];
          while (opts.length % 4) opts.push(0);
          const ipLen = v6 ? 40 : 20;
          const tcpLen = 20 + opts.length + payload.length;
          const p = new Uint8Array(ipLen + tcpLen);
          if (v6) {
            p[0] = 0x60;
            p[4] = tcpLen >> 8;
            p[5] = tcpLen & 0xff;
            p[6] = 6;
            p[7] = 64;
            p.set(addrs, 8);
          } else {
            p[0] = 0x45;
            p[9] = 6;
            p.set(addrs.subarray(0, 8), 12);
          }
          const t = ipLen;
          p.set([0x13, 0x89, 0x9c, 0x40, 1, 2, 3, 4, 0, 0, 0, 0, ((20 + opts.length) / 4) << 4, 0x02, 0xff, 0xff], t);
          p.set(opts, t + 20);
          p.set(payload, t + 20 + opts.length);
          const pseudo = v6 ? ipv6PseudoSum(p.subarray(8, 24), p.subarray(24, 40), tcpLen, 6) : ipv4PseudoSum(p.subarray(12, 16), p.subarray(16, 20), tcpLen, 6);
          const c = finish(sumWords(p, t, tcpLen, pseudo));
          p[t + 16] = c >> 8;
          p[t + 17] = c & 0xff;
          const limit = maxPacket - ipLen - 20;
          const got = clampTcpMss(p, maxPacket);
          const now = (p[t + 20 + nops + 2] << 8) | p[t + 20 + nops + 3];
          expect(got).toBe(mss > limit ? limit : 0);
          expect(now).toBe(Math.min(mss, limit));
          expect(tcpCheckResidue(p)).toBe(0);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('innerMtu', () => {
  it('leaves room for the outer headers and ESP (worked examples)', () => {
    const gcm = ALGORITHMS['aes-gcm-16'];
    // UDP 4191: 20 + 8 + 40 + 24 (RH2/HAO) + 8 (SPI, sequence) + 8 (IV) + 16 (ICV) = 124; ESP payload
    // (inner + pad + 2) a multiple of 4 up to 1376: inner 1374 makes exactly 1500, 1375 would make 1504.
    expect(innerMtu(1500, 4, gcm)).toBe(1374);
    // IPv6 CoA: 28 octets less outside: payload up to 1404, inner 1402.
    expect(innerMtu(1500, 6, gcm)).toBe(1402);
    // CBC: 16-octet IV, 16-octet alignment: 1500 - 92 - 8 - 16 - 16 = 1368 -> payload 1360, inner 1358.
    expect(innerMtu(1500, 4, ALGORITHMS['aes-cbc-hmac-sha256-128'])).toBe(1358);
  });

  it('tunnelledSize: a 1400-octet packet behind the NAT is 1528 octets on the wire (124 + 1404), 1500 on an IPv6 CoA', () => {
    const gcm = ALGORITHMS['aes-gcm-16'];
    expect(tunnelledSize(1400, 4, gcm)).toBe(1528);
    expect(tunnelledSize(1400, 6, gcm)).toBe(1500);
    for (const f of [4, 6] as const) {
      expect(tunnelledSize(innerMtu(1500, f, gcm), f, gcm)).toBeLessThanOrEqual(1500);
      expect(tunnelledSize(innerMtu(1500, f, gcm) + 1, f, gcm)).toBeGreaterThan(1500);
    }
  });
});
