// Robustness of tunnel/mip6.ts: random bytes, and real rewritten packets with random octets changed,
// truncated or extended, into every data-plane function (with random CoA / binding / HoA arguments
// and a throwing SPI predicate): each returns { ok: true, ... } or a named drop, never throws. Plus
// a property: any IPv6 or IPv4 CoA round-trips (toCareOf/fromCareOf, toMobile/fromMobile) to the
// exact HoA<->HA addresses, and ipsec/ accepts the result.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeIpv6, encodeIpv6 } from '../common/ipv6.js';
import { encodeMobilityHeader } from '../common/mh.js';
import { buFlags } from '../common/mhflags.js';
import { IpProto } from '../common/iana.js';
import { canonicalIp } from '../common/addr.js';
import { encodeUdp4Packet } from '../common/udp.js';
import { encodeIpv4 } from '../common/ipv4.js';
import { IpsecEngine, type IpsecResult } from '../ipsec/index.js';
import { fromCareOf, fromMobile, MIP6_DROP_REASONS, toCareOf, toMobile, type NatRecorder } from '../tunnel/mip6.js';
import { NatRecord } from '../tunnel/natrecord.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 3000);
const HOA = '2001:db8:1::100';
const HA = '2001:db8:1::1';
const KEY = { algorithm: 'aes-gcm-16' as const, encKey: Buffer.alloc(20, 7) };

function pair() {
  const mn = new IpsecEngine({ clock: () => 0 });
  const ha = new IpsecEngine({ clock: () => 0 });
  mn.addSA({ spi: 0x3001, direction: 'outbound', mode: 'transport', ...KEY });
  mn.addPolicy({ direction: 'outbound', selector: { local: HOA, remote: HA, proto: IpProto.MH }, action: { protect: { spi: 0x3001 } } });
  ha.addSA({ spi: 0x3001, direction: 'inbound', mode: 'transport', ...KEY, selectors: [{ local: HA, remote: HOA, proto: IpProto.MH }] });
  ha.addSA({ spi: 0x3002, direction: 'outbound', mode: 'transport', ...KEY });
  ha.addPolicy({ direction: 'outbound', selector: { local: HA, remote: HOA, proto: IpProto.MH }, action: { protect: { spi: 0x3002 } } });
  mn.addSA({ spi: 0x3002, direction: 'inbound', mode: 'transport', ...KEY, selectors: [{ local: HOA, remote: HA, proto: IpProto.MH }] });
  return { mn, ha };
}

function ok(r: IpsecResult): Uint8Array {
  if (!r.ok) throw new Error(r.reason);
  return r.packet;
}

function mhPacket(src: string, dst: string, seq: number): Buffer {
  const m = { kind: 'BU' as const, sequence: seq, flags: buFlags({ A: true, H: true }), lifetime: 8, options: [] };
  return encodeIpv6({ header: { src, dst }, upperProtocol: IpProto.MH, upper: encodeMobilityHeader(m, { src, dst }) });
}

// Seeds: real packets at every stage (after ESP, on the wire with HAO / RH2, wrapped in IPv4).
const { mn, ha } = pair();
const sealedBu = ok(mn.outbound(mhPacket(HOA, HA, 1)));
const sealedBa = ok(ha.outbound(mhPacket(HA, HOA, 2)));
const buWire = (() => {
  const r = toCareOf(sealedBu, '2001:db8:6::1');
  if (!r.ok || r.via !== 'ipv6') throw new Error('seed');
  return r.packet;
})();
const buUdp = (() => {
  const r = toCareOf(sealedBu, '198.51.100.7');
  if (!r.ok || r.via !== 'udp4') throw new Error('seed');
  return r.payload;
})();
const baWire = (() => {
  const r = toMobile(sealedBa, { coa: '2001:db8:6::1' });
  if (!r.ok || r.via !== 'ipv6') throw new Error('seed');
  return r.packet;
})();
const SEEDS: Uint8Array[] = [
  sealedBu,
  sealedBa,
  buWire,
  buUdp,
  baWire,
  encodeUdp4Packet({ src: '198.51.100.7', dst: '203.0.113.1', srcPort: 40000, dstPort: 4191, payload: buUdp }),
  encodeUdp4Packet({ src: '203.0.113.1', dst: '198.51.100.7', srcPort: 4191, dstPort: 40000, payload: baWire }),
  encodeIpv4({ header: { protocol: IpProto.IPV6, src: '203.0.113.1', dst: '198.51.100.7' }, payload: baWire }),
];

/** A seed with random octets replaced, then cut or extended. */
const mutated = fc
  .tuple(
    fc.constantFrom(...SEEDS),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
    fc.option(fc.nat(), { nil: undefined }),
    fc.uint8Array({ maxLength: 16 }),
  )
  .map(([seed, edits, cut, extra]) => {
    const b = Uint8Array.from(seed);
    for (const [i, v] of edits) b[i % b.length] = v;
    const end = cut === undefined ? b.length : cut % (b.length + 1);
    return Uint8Array.from([...b.subarray(0, end), ...extra]);
  });
const anyBytes = fc.oneof(fc.uint8Array({ maxLength: 200 }), mutated, mutated);
const anyAddr = fc.oneof(
  fc.constantFrom('2001:db8:6::1', '198.51.100.7', '::ffff:1.2.3.4', '', 'garbage', '1.2.3.999', '::', HOA),
  fc.ipV4(),
  fc.ipV6(),
  fc.string({ maxLength: 20 }),
);
const predicate = fc.constantFrom<(spi: number) => boolean>(
  () => true,
  () => false,
  () => {
    throw new Error('predicate failed');
  },
);

function isResult(r: unknown): boolean {
  if (typeof r !== 'object' || r === null) return false;
  const x = r as { ok?: unknown; reason?: unknown };
  return x.ok === true || (x.ok === false && (MIP6_DROP_REASONS as readonly unknown[]).includes(x.reason));
}

describe('garbage in never throws', () => {
  it('toCareOf', () => {
    fc.assert(fc.property(anyBytes, anyAddr, (b, coa) => isResult(toCareOf(b, coa))), { numRuns: RUNS });
  });

  it('fromCareOf (native, UDP meta, raw IPv4; with a NAT recorder whose predicate may throw)', () => {
    const table = new NatRecord(4);
    fc.assert(
      fc.property(anyBytes, fc.option(fc.record({ srcAddr: anyAddr, srcPort: fc.integer({ min: -1, max: 70000 }) }), { nil: undefined }), predicate, (b, udp4, isBindingSpi) => {
        const nat: NatRecorder = { isBindingSpi, table, clock: () => 1 };
        return isResult(fromCareOf(b, udp4 ? { udp4 } : undefined, nat));
      }),
      { numRuns: RUNS },
    );
    expect(table.size).toBeLessThanOrEqual(4);
  });

  it('toMobile', () => {
    const binding = fc.record(
      {
        coa: anyAddr,
        udp: fc.option(fc.record({ addr: anyAddr, port: fc.integer({ min: -1, max: 70000 }) }), { nil: undefined }),
        useUdp: fc.option(fc.boolean(), { nil: undefined }),
      },
      { requiredKeys: ['coa'] },
    );
    fc.assert(fc.property(anyBytes, binding, predicate, (b, bind, p) => isResult(toMobile(b, bind, p))), { numRuns: RUNS });
  });

  it('fromMobile', () => {
    fc.assert(fc.property(anyBytes, fc.array(anyAddr, { maxLength: 3 }), (b, hoas) => isResult(fromMobile(b, [HOA, ...hoas]))), { numRuns: RUNS });
  });

  it('non-Uint8Array and absurd arguments are drops too', () => {
    const junk = [undefined, null, 42, 'x', {}, [1, 2]] as unknown as Uint8Array[];
    for (const j of junk) {
      expect(isResult(toCareOf(j, '2001:db8::1'))).toBe(true);
      expect(isResult(fromCareOf(j))).toBe(true);
      expect(isResult(toMobile(j, { coa: '2001:db8::1' }))).toBe(true);
      expect(isResult(fromMobile(j, [HOA]))).toBe(true);
    }
    expect(isResult(toMobile(sealedBa, null as unknown as { coa: string }))).toBe(true);
    expect(isResult(fromMobile(baWire, null as unknown as string[]))).toBe(true);
  });
});

function notUnicast(a: string): boolean {
  if (!a.includes(':')) return Number(a.split('.')[0]) === 0 || Number(a.split('.')[0]) >= 224;
  try {
    const c = canonicalIp(a);
    const mapped = /^::ffff:([0-9a-f]{1,4}):[0-9a-f]{1,4}$/.exec(c);
    if (mapped) return parseInt(mapped[1], 16) < 0x100 || parseInt(mapped[1], 16) >= 0xe000;
    return c === '::' || c.startsWith('ff');
  } catch {
    return true;
  }
}

describe('any CoA round-trips to HoA<->HA and ipsec/ accepts', () => {
  it('BU via toCareOf/fromCareOf, BA via toMobile/fromMobile', () => {
    const { mn: m, ha: h } = pair();
    let seq = 0;
    fc.assert(
      fc.property(fc.oneof(fc.ipV6(), fc.ipV4()), (coa) => {
        seq++;
        const up = toCareOf(ok(m.outbound(mhPacket(HOA, HA, seq))), coa);
        // Refused CoAs: unspecified, multicast, 0/8, or embedded-IPv4 text common/addr does not parse.
        if (!up.ok) return up.reason === 'bad-address' && notUnicast(coa);
        const rx = fromCareOf(up.via === 'ipv6' ? up.packet : up.payload);
        if (!rx.ok) return false;
        const got = decodeIpv6(ok(h.inbound(rx.packet)));
        const down = toMobile(ok(h.outbound(mhPacket(HA, HOA, seq))), { coa, udp: { addr: '192.0.2.1', port: 4000 } }, () => true);
        if (!down.ok) return false;
        const back = fromMobile(down.via === 'ipv6' ? down.packet : down.payload, [HOA]);
        if (!back.ok) return false;
        const got2 = decodeIpv6(ok(m.inbound(back.packet)));
        return got.header.src === HOA && got.header.dst === HA && got2.header.src === HA && got2.header.dst === HOA;
      }),
      { numRuns: Math.min(RUNS, 500) },
    );
  });
});
