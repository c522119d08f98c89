// tunnel/mip6.ts's byte-level fast paths against its general decode / re-encode path (already
// verified by tunnel-mip6.test.ts against tshark and by the fuzz test): for generated packets — plain
// IPv6 | ESP, our own HAO / RH2 shapes, other extension chains (Hop-by-Hop, other Destination
// Options, fragments, HAO with other padding, RH2 Segments Left 0), non-ESP upper layers, short
// ESP, link-layer padding, IPv4-mapped and other CoAs, UDP 4191 and IPv4-wrapped input, and single
// random octet changes — every public function returns the same result (same fields, same bytes)
// and records the same NAT observations as generalPath. Plus the round trips the data plane runs,
// where the fast paths must be the ones taken (the 24-octet headers this module writes).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeIpv6, type Ipv6Extension } from '../common/ipv6.js';
import { ip6ToString } from '../common/addr.js';
import { encodeUdp4Packet } from '../common/udp.js';
import { encodeIpv4 } from '../common/ipv4.js';
import { IpProto } from '../common/iana.js';
import { fromCareOf, fromMobile, generalPath, toCareOf, toMobile, type NatRecorder } from '../tunnel/mip6.js';
import { NatRecord } from '../tunnel/natrecord.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 1500);

/** Addresses with the shapes that matter to text forms: zero runs, IPv4-mapped, special prefixes, random. */
const addrBytes = fc.oneof(
  fc.uint8Array({ minLength: 16, maxLength: 16 }),
  fc.uint8Array({ minLength: 4, maxLength: 4 }).map((v4) => Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...v4])),
  fc.tuple(fc.constantFrom(0x2001, 0xfe80, 0, 0xff02), fc.array(fc.constantFrom(0, 1, 0x100, 0xffff), { minLength: 7, maxLength: 7 })).map(([a, rest]) => {
    const b = new Uint8Array(16);
    [a, ...rest].forEach((g, i) => {
      b[2 * i] = g >> 8;
      b[2 * i + 1] = g & 0xff;
    });
    return b;
  }),
);
const addr = addrBytes.map((b) => ip6ToString(b));

const coaText = fc.oneof(
  addr,
  fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 })).map((o) => o.join('.')),
  fc.constantFrom('2001:db8:6::100', '192.168.1.20', '::ffff:192.168.1.20', '::ffff:c0a8:114', '2001:DB8:6:0:0:0:0:100', 'not-an-address', '', '::', 'ff02::1', '224.0.0.1'),
);

const padN = (n: number) => ({ kind: 'padN' as const, data: new Uint8Array(n) });
const extension: fc.Arbitrary<Ipv6Extension> = fc.oneof(
  fc.constant<Ipv6Extension>({ kind: 'destOpts', options: [padN(4)] }),
  addr.map<Ipv6Extension>((h) => ({ kind: 'destOpts', options: [padN(2), { kind: 'homeAddress', homeAddress: h }] })),
  // The HAO at 8n+6 behind other padding: valid, but not our encoder's bytes.
  addr.map<Ipv6Extension>((h) => ({ kind: 'destOpts', options: [{ kind: 'pad1' }, { kind: 'pad1' }, { kind: 'pad1' }, { kind: 'pad1' }, { kind: 'homeAddress', homeAddress: h }] })),
  fc.tuple(addr, fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 0xffffffff })).map<Ipv6Extension>(([h, sl, reserved]) => ({ kind: 'routing2', segmentsLeft: sl, reserved, homeAddress: h })),
  fc.constant<Ipv6Extension>({ kind: 'routing', routingType: 0, segmentsLeft: 0, data: new Uint8Array(4) }),
  fc.tuple(fc.integer({ min: 0, max: 3 }), fc.boolean(), fc.integer({ min: 0, max: 0xffffffff })).map<Ipv6Extension>(([offset, more, identification]) => ({
    kind: 'fragment',
    offset,
    more,
    identification,
    reserved: 0,
    reservedBits: 0,
  })),
);

/** A packet the encoder accepts: header fields, 0..2 extension headers (Hop-by-Hop sometimes first), an upper layer, padding. */
const packet = fc
  .record({
    trafficClass: fc.integer({ min: 0, max: 255 }),
    flowLabel: fc.integer({ min: 0, max: 0xfffff }),
    hopLimit: fc.integer({ min: 0, max: 255 }),
    src: addr,
    dst: addr,
    hbh: fc.boolean(),
    exts: fc.oneof({ weight: 3, arbitrary: fc.constant([] as Ipv6Extension[]) }, { weight: 2, arbitrary: fc.array(extension, { minLength: 1, maxLength: 2 }) }),
    upperProtocol: fc.oneof({ weight: 4, arbitrary: fc.constant(IpProto.ESP) }, { weight: 1, arbitrary: fc.constantFrom(IpProto.UDP, IpProto.MH, 59) }),
    upper: fc.uint8Array({ minLength: 0, maxLength: 120 }),
    trailing: fc.oneof({ weight: 4, arbitrary: fc.constant(new Uint8Array(0)) }, { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
    flip: fc.option(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { freq: 5 }),
  })
  .map((g) => {
    const extensions = g.hbh ? [{ kind: 'hopByHop' as const, options: [padN(4)] }, ...g.exts] : g.exts;
    let bytes: Uint8Array;
    try {
      bytes = encodeIpv6({
        header: { trafficClass: g.trafficClass, flowLabel: g.flowLabel, hopLimit: g.hopLimit, src: g.src, dst: g.dst },
        extensions,
        upperProtocol: g.upperProtocol,
        upper: g.upper,
        trailing: g.trailing,
      });
    } catch {
      // A chain the encoder refuses (two HAOs, ESP under 8 octets, ...): the raw octets still make a test input.
      bytes = Uint8Array.from([0x60, 0, 0, 0, 0, g.upper.length, g.upperProtocol, 64, ...new Uint8Array(32), ...g.upper]);
    }
    if (g.flip) {
      const [at, v] = g.flip;
      bytes = Uint8Array.from(bytes);
      bytes[at % bytes.length] = v;
    }
    return { bytes, src: g.src, dst: g.dst };
  });

/** A NatRecorder that logs what it was asked and what it recorded, so both paths' side effects compare. */
function recorder(bindingSpi: (spi: number) => boolean) {
  const log: unknown[] = [];
  const table = new NatRecord();
  const orig = table.record.bind(table);
  table.record = (spi, a, port, at) => {
    log.push(['record', spi, a, port, at]);
    orig(spi, a, port, at);
  };
  const nat: NatRecorder = {
    isBindingSpi: (spi) => {
      log.push(['ask', spi]);
      return bindingSpi(spi);
    },
    table,
    clock: () => 42,
  };
  return { nat, log };
}

const spiPredicate = fc.constantFrom(
  (spi: number) => spi % 2 === 1,
  () => false,
  () => {
    throw new Error('predicate throws');
  },
);

describe('tunnel/mip6 fast paths equal the general path', () => {
  it('toCareOf', () => {
    fc.assert(
      fc.property(packet, coaText, (p, coa) => {
        expect(toCareOf(p.bytes, coa)).toStrictEqual(generalPath.toCareOf(p.bytes, coa));
      }),
      { numRuns: RUNS },
    );
  });

  it('toMobile (IPv6 and IPv4 CoAs, UDP endpoints or none, signalling SPIs)', () => {
    const binding = fc.record(
      {
        coa: coaText,
        udp: fc.record({ addr: fc.constantFrom('198.51.100.7', '192.168.1.20', 'bad'), port: fc.constantFrom(0, 4191, 61000, 70000) }),
        useUdp: fc.boolean(),
      },
      { requiredKeys: ['coa'] },
    );
    fc.assert(
      fc.property(packet, binding, spiPredicate, (p, b, isBindingSpi) => {
        expect(toMobile(p.bytes, b, isBindingSpi)).toStrictEqual(generalPath.toMobile(p.bytes, b, isBindingSpi));
      }),
      { numRuns: RUNS },
    );
  });

  it('fromCareOf (native IPv6, UDP 4191 payload with meta, IPv4-wrapped; NAT records)', () => {
    const how = fc.constantFrom('ipv6', 'udp-meta', 'udp-wrapped', 'proto41');
    fc.assert(
      fc.property(packet, how, spiPredicate, fc.boolean(), (p, via, pred, withNat) => {
        let input: Uint8Array = p.bytes;
        let meta;
        if (via === 'udp-meta') meta = { udp4: { srcAddr: '198.51.100.7', srcPort: 61000 } };
        if (via === 'udp-wrapped') input = encodeUdp4Packet({ src: '198.51.100.7', dst: '203.0.113.1', srcPort: 61000, dstPort: 4191, payload: p.bytes });
        if (via === 'proto41') input = encodeIpv4({ header: { src: '198.51.100.7', dst: '203.0.113.1', protocol: IpProto.IPV6 }, payload: p.bytes });
        const a = recorder(pred);
        const b = recorder(pred);
        const fast = fromCareOf(input, meta, withNat ? a.nat : undefined);
        const general = generalPath.fromCareOf(input, meta, withNat ? b.nat : undefined);
        expect(fast).toStrictEqual(general);
        expect(a.log).toStrictEqual(b.log);
      }),
      { numRuns: RUNS },
    );
  });

  it('fromMobile (own HoA or not, IPv4-wrapped)', () => {
    fc.assert(
      fc.property(packet, fc.boolean(), fc.constantFrom('ipv6', 'udp-wrapped'), addr, (p, ownIsRh2, via, other) => {
        // The RH2 address (when there is one) is the packet's, so "own" needs it: take it from the octets.
        const rh2At = p.bytes.length >= 64 && p.bytes[6] === IpProto.ROUTING ? 48 : 24;
        const own = ownIsRh2 && p.bytes.length >= rh2At + 16 ? [other, ip6ToString(p.bytes, rh2At)] : [other];
        const input = via === 'ipv6' ? p.bytes : encodeUdp4Packet({ src: '203.0.113.1', dst: '192.168.1.20', srcPort: 4191, dstPort: 61000, payload: p.bytes });
        expect(fromMobile(input, own)).toStrictEqual(generalPath.fromMobile(input, own));
      }),
      { numRuns: RUNS },
    );
  });

  it('the data-plane round trips take the fast shapes and still equal the general path', () => {
    const esp = fc.record({ src: addr, dst: addr, tc: fc.integer({ min: 0, max: 255 }), fl: fc.integer({ min: 0, max: 0xfffff }), upper: fc.uint8Array({ minLength: 8, maxLength: 200 }) });
    fc.assert(
      fc.property(esp, coaText, (g, coa) => {
        const plain = encodeIpv6({ header: { trafficClass: g.tc, flowLabel: g.fl, src: g.src, dst: g.dst }, upperProtocol: IpProto.ESP, upper: g.upper });
        // MN -> HA.
        const out = toCareOf(plain, coa);
        expect(out).toStrictEqual(generalPath.toCareOf(plain, coa));
        if (out.ok) {
          const wire = out.via === 'ipv6' ? out.packet : out.payload;
          expect(wire.length).toBe(plain.length + 24);
          const meta = out.via === 'udp4' ? { udp4: { srcAddr: '198.51.100.7', srcPort: 61000 } } : undefined;
          const back = fromCareOf(wire, meta);
          expect(back).toStrictEqual(generalPath.fromCareOf(wire, meta));
          // The HoA<->HA packet again: source and ESP as before, the HAO now holding the CoA.
          expect(back.ok).toBe(true);
          if (back.ok) {
            expect(back.homeAddress).toBe(g.src);
            expect(Buffer.from(back.packet.subarray(8, 24))).toStrictEqual(Buffer.from(plain.subarray(8, 24)));
            expect(Buffer.from(back.packet.subarray(64))).toStrictEqual(Buffer.from(plain.subarray(40)));
          }
        }
        // HA -> MN.
        const t = toMobile(plain, { coa, udp: { addr: '198.51.100.7', port: 61000 }, useUdp: true });
        expect(t).toStrictEqual(generalPath.toMobile(plain, { coa, udp: { addr: '198.51.100.7', port: 61000 }, useUdp: true }));
        if (t.ok) {
          const wire = t.via === 'ipv6' ? t.packet : t.payload;
          const own = [g.dst];
          const r = fromMobile(wire, own);
          expect(r).toStrictEqual(generalPath.fromMobile(wire, own));
          // Dropped only when the HoA is not a unicast address an MN could own (::, multicast).
          if (r.ok) expect(Buffer.from(r.packet.subarray(24, 40))).toStrictEqual(Buffer.from(plain.subarray(24, 40)));
          else expect(r.reason).toBe('rh2-not-own-hoa');
        }
      }),
      { numRuns: RUNS },
    );
  });
});
