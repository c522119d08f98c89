// IPv4 header codec: published header vectors (checksums, options), error classes, and a generated
// round trip. Random/mutated-input fuzzing is in ipv4-fuzz.test.ts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ip4ToString } from '../common/addr.js';
import { fromHex, put16, toHex } from '../common/bytes.js';
import { BadChecksumError, BadLengthError, BadValueError, DecodeError, EncodeError, TruncatedError } from '../common/errors.js';
import { IpProto } from '../common/iana.js';
import { decodeIpv4, encodeIpv4, Ipv4Flag, ipv4HeaderChecksum, type Ipv4PacketInput } from '../common/ipv4.js';

const u8 = (hex: string) => new Uint8Array(fromHex(hex));

function errorOf(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected an exception');
}

// The IPv4 header example used in Wikipedia's "Internet checksum" / "IPv4 header checksum" articles and
// RFC 1071 discussions: 192.168.0.1 -> 192.168.0.199, UDP, DF, checksum 0xb861 (recomputed here, matches).
// The article gives the header only; Total Length 115 is filled with a zero payload for decoding.
const WIKI_HDR = u8('4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7');

// scapy test/scapy/layers/inet.uts "IP, TCP & UDP checksums": IP()/UDP() has IP checksum 0x7cce and UDP
// checksum 0x0172. The assertions are CONFIRMED in the stored secdev/scapy file; the bytes are scapy's
// defaults (id 1, ttl 64, 127.0.0.1, ports 53) written out here.
const SCAPY_IP_UDP = u8('4500001c 00010000 4011 7cce 7f000001 7f000001 0035 0035 0008 0172');

// scapy inet.uts "IP assembly and dissection with options" (bytes CONFIRMED in the stored file):
// IHL 8 with an SDBM option (0x95), checksum 0xa271; and IHL 11 with NOP, LSRR and Security, 0xf383.
const SCAPY_OPT_SDBM = u8(
  '48000034000100004006a271090a0b0c0d0e0f10950a01020304050607080000' + '001400500000000000000000500220005f4b0000',
);
const SCAPY_OPT_LSRR = u8(
  '4b000040000100004006f383090a0b0c0d0e0f1001830b040102030405060708820b00000000000058595a00' +
    '001400500000000000000000500220006f5b0000',
);

// scapy inet.uts "IPv4 - TCPError parsing" (bytes CONFIRMED in the stored file; a captured ICMP time
// exceeded, Ethernet header dropped): outer checksum 0x64b6, quoted inner header checksum 0xfdae.
const CAPTURED_ICMP = u8(
  '4500003800000000f80164b6682ce6b70ad50456 0b004f4100000000 45000028400e00000106fdae0ad50456681204d7f73100507d4430f8',
);

// scapy inet.uts "TCP Authentication Option: parse from TCP" (bytes CONFIRMED in the stored file): DSCP/ECN
// 0xe0, DF set, TTL 255, checksum 0xbf6b.
const CAPTURED_TCP_AO = u8(
  '45e0004cdd0f4000ff06bf6b0a0b0c0dac1b1c1de9d700b3fbfbab5a00000000e002ffffcac40000020405b4010303080402080a' +
    '00155ab7000000001d103d542ee437c6f8ede6d7c4d602e7',
);

describe('IPv4 vectors', () => {
  it('Wikipedia / RFC 1071 example header: checksum 0xb861 computed and verified', () => {
    expect(ipv4HeaderChecksum(WIKI_HDR, 0, 20)).toBe(0xb861);
    const pkt = new Uint8Array(0x73);
    pkt.set(WIKI_HDR);
    const p = decodeIpv4(pkt);
    expect(p.header).toMatchObject({
      tos: 0,
      totalLength: 115,
      identification: 0,
      flags: Ipv4Flag.DF,
      fragmentOffset: 0,
      ttl: 64,
      protocol: IpProto.UDP,
      checksum: 0xb861,
      src: '192.168.0.1',
      dst: '192.168.0.199',
    });
    expect(p.header.options).toHaveLength(0);
    expect(p.payloadOffset).toBe(20);
    expect(p.payload).toHaveLength(95);
    const built = encodeIpv4({
      header: { flags: Ipv4Flag.DF, protocol: IpProto.UDP, src: '192.168.0.1', dst: '192.168.0.199' },
      payload: new Uint8Array(95),
    });
    expect(built.equals(pkt)).toBe(true);
  });

  it('scapy IP()/UDP() (confirmed): header checksum 0x7cce, byte-exact re-encode', () => {
    const p = decodeIpv4(SCAPY_IP_UDP);
    expect(p.header.checksum).toBe(0x7cce);
    expect(p.header.identification).toBe(1);
    expect(p.header.src).toBe('127.0.0.1');
    expect(toHex(p.payload)).toBe('0035003500080172');
    expect(encodeIpv4(p).equals(SCAPY_IP_UDP)).toBe(true);
    const built = encodeIpv4({ header: { identification: 1, protocol: 17, src: '127.0.0.1', dst: '127.0.0.1' }, payload: p.payload });
    expect(built.equals(SCAPY_IP_UDP)).toBe(true);
  });

  it('scapy packets with options (confirmed): options kept raw, checksums 0xa271 and 0xf383', () => {
    for (const [v, ihl, sum, opt] of [
      [SCAPY_OPT_SDBM, 8, 0xa271, '950a01020304050607080000'],
      [SCAPY_OPT_LSRR, 11, 0xf383, '01830b040102030405060708820b00000000000058595a00'],
    ] as const) {
      const p = decodeIpv4(v);
      expect(p.payloadOffset).toBe(ihl * 4);
      expect(p.header.checksum).toBe(sum);
      expect(toHex(p.header.options)).toBe(opt);
      expect(p.header.protocol).toBe(IpProto.TCP);
      expect(p.header.src).toBe('9.10.11.12');
      expect(p.header.dst).toBe('13.14.15.16');
      expect(p.payload).toHaveLength(20);
      expect(encodeIpv4(p).equals(v)).toBe(true);
    }
  });

  it('captured packets (scapy inet.uts, confirmed): outer and quoted headers verify; TOS, DF, TTL decoded', () => {
    const p = decodeIpv4(CAPTURED_ICMP);
    expect(p.header).toMatchObject({ ttl: 0xf8, protocol: IpProto.ICMP, checksum: 0x64b6, src: '104.44.230.183', dst: '10.213.4.86' });
    expect(ipv4HeaderChecksum(p.payload, 8, 20)).toBe(0xfdae);
    expect(encodeIpv4(p).equals(CAPTURED_ICMP)).toBe(true);
    const q = decodeIpv4(CAPTURED_TCP_AO);
    expect(q.header).toMatchObject({ tos: 0xe0, identification: 0xdd0f, flags: Ipv4Flag.DF, ttl: 255, checksum: 0xbf6b });
    expect(encodeIpv4(q).equals(CAPTURED_TCP_AO)).toBe(true);
  });

  it('keeps octets after Total Length as trailing and re-encodes them', () => {
    const padded = new Uint8Array([...SCAPY_IP_UDP, 0, 0, 0, 0, 0, 0]);
    const p = decodeIpv4(padded);
    expect(toHex(p.payload)).toBe('0035003500080172');
    expect(p.trailing).toHaveLength(6);
    expect(encodeIpv4(p).equals(padded)).toBe(true);
  });

  it('accepts the 0xFFFF form of a zero checksum and keeps it', () => {
    // Find an identification for which the computed header checksum is 0, then send it as 0xFFFF.
    const hdr = Buffer.from(SCAPY_IP_UDP.subarray(0, 20));
    let id = 0;
    for (; id <= 0xffff; id++) {
      put16(hdr, 4, id);
      if (ipv4HeaderChecksum(hdr, 0, 20) === 0) break;
    }
    expect(id).toBeLessThanOrEqual(0xffff);
    const pkt = Buffer.concat([hdr, SCAPY_IP_UDP.subarray(20)]);
    put16(pkt, 10, 0xffff);
    const p = decodeIpv4(pkt);
    expect(p.header.checksum).toBe(0xffff);
    expect(encodeIpv4(p).equals(pkt)).toBe(true);
    put16(pkt, 10, 0);
    expect(decodeIpv4(pkt).header.checksum).toBe(0);
  });
});

describe('IPv4 errors', () => {
  it('every proper prefix of each vector is a TruncatedError', () => {
    for (const v of [SCAPY_IP_UDP, SCAPY_OPT_SDBM, SCAPY_OPT_LSRR, CAPTURED_ICMP, CAPTURED_TCP_AO]) {
      for (let n = 0; n < v.length; n++) expect(errorOf(() => decodeIpv4(v.subarray(0, n))), `prefix ${n}`).toBeInstanceOf(TruncatedError);
    }
  });

  it('version != 4 is a BadValueError', () => {
    for (const first of [0x65, 0x05, 0xf5]) {
      const b = Uint8Array.from(SCAPY_IP_UDP);
      b[0] = first;
      expect(errorOf(() => decodeIpv4(b))).toBeInstanceOf(BadValueError);
    }
  });

  it('IHL < 5 and Total Length < header length are BadLengthErrors', () => {
    for (const ihl of [0, 1, 4]) {
      const b = Uint8Array.from(SCAPY_IP_UDP);
      b[0] = 0x40 | ihl;
      expect(errorOf(() => decodeIpv4(b))).toBeInstanceOf(BadLengthError);
    }
    const b = Uint8Array.from(SCAPY_OPT_SDBM);
    put16(b, 2, 24); // shorter than the 32-octet header
    expect(errorOf(() => decodeIpv4(b))).toBeInstanceOf(BadLengthError);
  });

  it('IHL beyond the buffer, Total Length beyond the buffer are TruncatedErrors', () => {
    const b = Uint8Array.from(SCAPY_IP_UDP);
    b[0] = 0x4f; // 60-octet header in a 28-octet packet
    expect(errorOf(() => decodeIpv4(b))).toBeInstanceOf(TruncatedError);
    const c = Uint8Array.from(SCAPY_IP_UDP);
    put16(c, 2, 29);
    expect(errorOf(() => decodeIpv4(c))).toBeInstanceOf(TruncatedError);
  });

  it('a wrong header checksum, or any flipped header bit, is a BadChecksumError', () => {
    for (let bit = 0; bit < 160; bit++) {
      const b = Uint8Array.from(SCAPY_IP_UDP);
      b[bit >> 3] ^= 0x80 >> (bit & 7);
      const e = errorOf(() => decodeIpv4(b));
      // Flips in version/IHL/total length are caught by their own checks first.
      if (bit < 8 || (bit >= 16 && bit < 32)) expect(e).toBeInstanceOf(DecodeError);
      else expect(e, `bit ${bit}`).toBeInstanceOf(BadChecksumError);
    }
    const b = Uint8Array.from(SCAPY_IP_UDP);
    put16(b, 10, 0x7ccf);
    const e = errorOf(() => decodeIpv4(b)) as BadChecksumError;
    expect(e).toBeInstanceOf(BadChecksumError);
    expect(e.received).toBe(0x7ccf);
    expect(e.expected).toBe(0x7cce);
  });

  it('the encoder refuses bad options, stale lengths and checksums, out-of-range fields', () => {
    const h = { protocol: 17, src: '10.0.0.1', dst: '10.0.0.2' };
    const refuses = (p: Ipv4PacketInput) => expect(errorOf(() => encodeIpv4(p))).toBeInstanceOf(EncodeError);
    refuses({ header: { ...h, options: new Uint8Array(3) } });
    refuses({ header: { ...h, options: new Uint8Array(44) } });
    refuses({ header: { ...h, totalLength: 21 } });
    refuses({ header: { ...h, checksum: 1 } });
    refuses({ header: { ...h, flags: 8 } });
    refuses({ header: { ...h, fragmentOffset: 0x2000 } });
    refuses({ header: { ...h, ttl: 256 } });
    refuses({ header: { ...h, src: '10.0.0.256' } });
    refuses({ header: h, payload: new Uint8Array(0xffff - 19) });
  });
});

const ip4Arb = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => ip4ToString(b));

const ipv4PacketArb: fc.Arbitrary<Ipv4PacketInput> = fc.record({
  header: fc.record({
    tos: fc.nat({ max: 255 }),
    identification: fc.nat({ max: 0xffff }),
    flags: fc.nat({ max: 7 }),
    fragmentOffset: fc.nat({ max: 0x1fff }),
    ttl: fc.nat({ max: 255 }),
    protocol: fc.nat({ max: 255 }),
    src: ip4Arb,
    dst: ip4Arb,
    options: fc.nat({ max: 10 }).chain((n) => fc.uint8Array({ minLength: 4 * n, maxLength: 4 * n })),
  }),
  payload: fc.uint8Array({ maxLength: 64 }),
  trailing: fc.option(fc.uint8Array({ minLength: 1, maxLength: 8 }), { nil: undefined }),
}, { requiredKeys: ['header', 'payload'] });

describe('IPv4 generated round trip', () => {
  it('decode(encode(p)) = p, and encode(decode(b)) = b', () => {
    fc.assert(
      fc.property(ipv4PacketArb, (p) => {
        const bytes = new Uint8Array(encodeIpv4(p));
        const d = decodeIpv4(bytes);
        const { checksum, totalLength, ...rest } = d.header;
        expect(rest).toEqual(p.header);
        expect(totalLength).toBe(bytes.length - (p.trailing?.length ?? 0));
        expect(checksum).toBe(ipv4HeaderChecksum(bytes, 0, d.payloadOffset));
        expect(d.payload).toEqual(p.payload);
        expect(d.trailing).toEqual(p.trailing);
        expect(encodeIpv4(d).equals(bytes)).toBe(true);
      }),
      { numRuns: Number(process.env.PROP_RUNS ?? 3000) },
    );
  });
});
