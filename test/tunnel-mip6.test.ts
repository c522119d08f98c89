// tunnel/mip6.ts end to end with two real IpsecEngine instances (HA and MN): BU with HAO from an
// IPv6 CoA and via UDP 4191 behind a NAT (NatRecord fed only for the BU SPI), BA with RH2 both ways,
// tunnel-mode data both ways with the CoA changing between packets while SAs and policies stay
// unchanged, an RH2 for a foreign address dropped, and tshark as the judge of the wire packets.
import { afterAll, describe, expect, it } from 'vitest';
import { decodeIpv6, encodeIpv6 } from '../common/ipv6.js';
import { decodeMobilityHeader, encodeMobilityHeader, type MobilityMessage } from '../common/mh.js';
import { baFlags, buFlags } from '../common/mhflags.js';
import { encodeUdp, encodeUdp4Packet, decodeUdp4Packet } from '../common/udp.js';
import { encodeIpv4 } from '../common/ipv4.js';
import { IpProto } from '../common/iana.js';
import { writePcap } from '../common/pcap.js';
import { IpsecEngine, type IpsecResult } from '../ipsec/index.js';
import { fromCareOf, fromMobile, toCareOf, toMobile, type NatRecorder } from '../tunnel/mip6.js';
import { NatRecord } from '../tunnel/natrecord.js';
import { isMipPacket } from '../tunnel/mipfilter.js';
import { wiresharkEspSa, type SampleSa } from './support/sample.js';
import { problems, tsharkFields } from './support/tshark.js';
import { tempDir, writeTemp } from './support/tools.js';

const HOA = '2001:db8:1::100';
const HA = '2001:db8:1::1';
const COA6 = '2001:db8:6::100';
const COA6B = '2001:db8:7::200';
const CN = '2001:db8:99::7';
const HA4 = '203.0.113.1';
const COA4 = '192.168.1.20'; // private, behind the NAT
const NAT4 = '198.51.100.7'; // the NAT's public address
const NATPORT = 61000;

const SAS: readonly SampleSa[] = [
  { spi: 0x2001, algorithm: 'aes-gcm-16', encKey: '000102030405060708090a0b0c0d0e0f' + 'a0a1a2a3' }, // BU, MN->HA transport
  { spi: 0x2002, algorithm: 'aes-cbc-hmac-sha256-128', encKey: '101112131415161718191a1b1c1d1e1f', authKey: '20'.repeat(32) }, // BA, HA->MN transport
  { spi: 0x2003, algorithm: 'aes-gcm-16', encKey: '303132333435363738393a3b3c3d3e3f' + 'b0b1b2b3' }, // data MN->HA tunnel
  { spi: 0x2004, algorithm: 'aes-cbc-hmac-sha256-128', encKey: '505152535455565758595a5b5c5d5e5f', authKey: '60'.repeat(32) }, // data HA->MN tunnel
];
const [BU_SA, BA_SA, MN_DATA, HA_DATA] = SAS;

function keys(sa: SampleSa) {
  return { algorithm: sa.algorithm, encKey: Buffer.from(sa.encKey, 'hex'), authKey: sa.authKey ? Buffer.from(sa.authKey, 'hex') : undefined };
}

/** RFC 3776 / draft-laganier SPD and SAD: MH by type between HoA and HA (transport), data HoA<->HA (tunnel). */
function engines(seq = 0) {
  const mn = new IpsecEngine({ clock: () => 0 });
  const ha = new IpsecEngine({ clock: () => 0 });
  // MN
  mn.addSA({ spi: BU_SA.spi, direction: 'outbound', mode: 'transport', ...keys(BU_SA), seq });
  mn.addSA({ spi: BA_SA.spi, direction: 'inbound', mode: 'transport', ...keys(BA_SA), selectors: [{ local: HOA, remote: HA, proto: IpProto.MH, mhType: 6 }] });
  mn.addSA({ spi: MN_DATA.spi, direction: 'outbound', mode: 'tunnel', tunnel: { src: HOA, dst: HA }, ...keys(MN_DATA), seq });
  mn.addSA({ spi: HA_DATA.spi, direction: 'inbound', mode: 'tunnel', ...keys(HA_DATA), selectors: [{ local: HOA, remote: 'any' }] });
  mn.addPolicy({ direction: 'outbound', selector: { local: HOA, remote: HA, proto: IpProto.MH, mhType: 5 }, action: { protect: { spi: BU_SA.spi } } });
  mn.addPolicy({ direction: 'outbound', selector: { local: HOA, remote: 'any' }, action: { protect: { spi: MN_DATA.spi } } });
  // HA (mirror)
  ha.addSA({ spi: BU_SA.spi, direction: 'inbound', mode: 'transport', ...keys(BU_SA), selectors: [{ local: HA, remote: HOA, proto: IpProto.MH, mhType: 5 }] });
  ha.addSA({ spi: BA_SA.spi, direction: 'outbound', mode: 'transport', ...keys(BA_SA), seq });
  ha.addSA({ spi: MN_DATA.spi, direction: 'inbound', mode: 'tunnel', ...keys(MN_DATA), selectors: [{ local: 'any', remote: HOA }] });
  ha.addSA({ spi: HA_DATA.spi, direction: 'outbound', mode: 'tunnel', tunnel: { src: HA, dst: HOA }, ...keys(HA_DATA), seq });
  ha.addPolicy({ direction: 'outbound', selector: { local: HA, remote: HOA, proto: IpProto.MH, mhType: 6 }, action: { protect: { spi: BA_SA.spi } } });
  ha.addPolicy({ direction: 'outbound', selector: { local: 'any', remote: HOA }, action: { protect: { spi: HA_DATA.spi } } });
  return { mn, ha };
}

/**
 * The binding-SA predicate (Req #3/#4), from the SAD/SPD query API only: a transport SA whose own
 * selectors (inbound) or whose PROTECT policy (outbound) select the Mobility Header.
 */
function bindingSpiOf(e: IpsecEngine) {
  return (spi: number) => {
    const sa = e.getSA(spi);
    if (sa === undefined || sa.mode !== 'transport') return false;
    if ((sa.selectors ?? []).some((s) => s.proto === IpProto.MH)) return true;
    return e
      .listPolicies()
      .some((p) => typeof p.action === 'object' && 'spi' in p.action.protect && p.action.protect.spi === spi && p.selector.proto === IpProto.MH);
  };
}

function ok(r: IpsecResult): Uint8Array {
  if (!r.ok) throw new Error(`ipsec dropped: ${r.reason}`);
  return r.packet;
}

function mhPacket(src: string, dst: string, m: MobilityMessage): Buffer {
  return encodeIpv6({ header: { src, dst }, upperProtocol: IpProto.MH, upper: encodeMobilityHeader(m, { src, dst }) });
}

const bu = (sequence: number): MobilityMessage => ({ kind: 'BU', sequence, flags: buFlags({ A: true, H: true }), lifetime: 64, options: [] });
const bu4 = (sequence: number): MobilityMessage => ({
  kind: 'BU',
  sequence,
  flags: buFlags({ A: true, H: true }),
  lifetime: 64,
  options: [{ kind: 'Ipv4Coa', address: COA4 }],
});
const ba = (sequence: number): MobilityMessage => ({ kind: 'BA', status: 0, flags: baFlags({}), sequence, lifetime: 64, options: [] });

function udpData(src: string, dst: string, text: string): Buffer {
  const udp = encodeUdp({ srcPort: 5001, dstPort: 7, payload: Buffer.from(text) }, { version: 6, src, dst });
  return encodeIpv6({ header: { src, dst }, upperProtocol: IpProto.UDP, upper: udp });
}

/** The MH a decrypted packet carries (checksum over its now-restored HoA<->HA addresses). */
function mhOf(packet: Uint8Array): MobilityMessage {
  const p = decodeIpv6(packet);
  expect(p.upperProtocol).toBe(IpProto.MH);
  return decodeMobilityHeader(p.upper, { src: p.header.src, dst: p.header.dst }).message;
}

/** Every produced wire packet, for the tshark judge. */
const wire: { name: string; data: Uint8Array; expect: Record<string, string> }[] = [];

describe('BU and BA over an IPv6 CoA', () => {
  const { mn, ha } = engines();
  const nat = new NatRecord();
  const recorder: NatRecorder = { isBindingSpi: bindingSpiOf(ha), table: nat, clock: () => 1234 };

  it('MN BU -> ESP -> toCareOf -> HA fromCareOf -> ESP accepts, the MH is the BU', () => {
    const sealed = ok(mn.outbound(mhPacket(HOA, HA, bu(100))));
    const out = toCareOf(sealed, COA6);
    if (!out.ok || out.via !== 'ipv6') throw new Error(`toCareOf: ${JSON.stringify(out)}`);
    const w = decodeIpv6(out.packet);
    expect(w.header.src).toBe(COA6);
    expect(w.header.dst).toBe(HA);
    expect(w.homeAddress).toBe(HOA);
    expect(w.extensions[0].kind).toBe('destOpts');
    expect(w.esp?.spi).toBe(BU_SA.spi);
    // The 24 octets Linux expects: nh=ESP, len 2, PadN(2), C9 10, HoA.
    expect(Buffer.from(out.packet.subarray(40, 48)).toString('hex')).toBe('3202010200' + '00c910');
    wire.push({ name: 'BU (IPv6 CoA, HAO)', data: out.packet, expect: { 'ipv6.src': COA6, 'ipv6.opt.mipv6.home_address': HOA, 'mip6.mhtype': '5', 'mip6.bu.seqnr': '100' } });

    const back = fromCareOf(out.packet, undefined, recorder);
    if (!back.ok) throw new Error(back.reason);
    expect(back.coa).toBe(COA6);
    expect(back.homeAddress).toBe(HOA);
    const seen = decodeIpv6(back.packet);
    expect(seen.header.src).toBe(HOA);
    expect(seen.homeAddress).toBe(COA6);
    const plain = ok(ha.inbound(back.packet));
    expect(mhOf(plain)).toMatchObject({ kind: 'BU', sequence: 100 });
    // Native IPv6: nothing for the NAT record.
    expect(nat.size).toBe(0);
  });

  it('without the swap ipsec/ refuses the BU (its selectors are on the HoA)', () => {
    const out = toCareOf(ok(mn.outbound(mhPacket(HOA, HA, bu(101)))), COA6);
    if (!out.ok || out.via !== 'ipv6') throw new Error('toCareOf');
    expect(ha.inbound(out.packet)).toEqual({ ok: false, reason: 'policy-mismatch' });
  });

  it('HA BA -> ESP -> toMobile -> MN fromMobile -> ESP accepts, the MH is the BA', () => {
    const sealed = ok(ha.outbound(mhPacket(HA, HOA, ba(100))));
    const out = toMobile(sealed, { coa: COA6 }, bindingSpiOf(ha));
    if (!out.ok || out.via !== 'ipv6') throw new Error(`toMobile: ${JSON.stringify(out)}`);
    const w = decodeIpv6(out.packet);
    expect(w.header.dst).toBe(COA6);
    expect(w.finalDestination).toBe(HOA);
    expect(w.extensions).toEqual([{ kind: 'routing2', segmentsLeft: 1, reserved: 0, homeAddress: HOA }]);
    wire.push({
      name: 'BA (IPv6 CoA, RH2)',
      data: out.packet,
      expect: { 'ipv6.dst': COA6, 'ipv6.routing.type': '2', 'ipv6.routing.segleft': '1', 'ipv6.routing.mipv6.home_address': HOA, 'mip6.mhtype': '6' },
    });
    const back = fromMobile(out.packet, [HOA]);
    if (!back.ok) throw new Error(back.reason);
    expect(back.coa).toBe(COA6);
    const seen = decodeIpv6(back.packet);
    expect(seen.header.dst).toBe(HOA);
    expect(seen.extensions).toEqual([{ kind: 'routing2', segmentsLeft: 0, reserved: 0, homeAddress: COA6 }]);
    expect(mhOf(ok(mn.inbound(back.packet)))).toMatchObject({ kind: 'BA', sequence: 100, status: 0 });
  });

  it('an RH2 for a foreign address is dropped, never forwarded', () => {
    const out = toMobile(ok(ha.outbound(mhPacket(HA, HOA, ba(101)))), { coa: COA6 });
    if (!out.ok || out.via !== 'ipv6') throw new Error('toMobile');
    expect(fromMobile(out.packet, ['2001:db8:1::999'])).toEqual({ ok: false, reason: 'rh2-not-own-hoa' });
    expect(fromMobile(out.packet, [])).toEqual({ ok: false, reason: 'rh2-not-own-hoa' });
    // Non-canonical spelling of our own HoA still matches.
    expect(fromMobile(out.packet, ['2001:0db8:0001:0000:0000:0000:0000:0100']).ok).toBe(true);
  });
});

describe('DSMIPv6: IPv4 CoA behind a NAT (UDP 4191)', () => {
  // Sequence numbers continue from the first pair's, so the capture shows no repeated (SPI, seq).
  const { mn, ha } = engines(100);
  const nat = new NatRecord(8);
  let now = 5000;
  const recorder: NatRecorder = { isBindingSpi: bindingSpiOf(ha), table: nat, clock: () => now };

  it('BU in UDP 4191: HA unwraps, records the NAT address/port for the BU SPI, ESP accepts', () => {
    const sealed = ok(mn.outbound(mhPacket(HOA, HA, bu4(7))));
    const out = toCareOf(sealed, COA4);
    if (!out.ok || out.via !== 'udp4') throw new Error(`toCareOf: ${JSON.stringify(out)}`);
    expect(out.dstPort).toBe(4191);
    const inner = decodeIpv6(out.payload);
    expect(inner.header.src).toBe(`::ffff:${COA4}`);
    expect(inner.homeAddress).toBe(HOA);
    // What leaves the NAT (the Bind would send out.payload; the NAT rewrites the outer source).
    const onWire = encodeUdp4Packet({ src: NAT4, dst: HA4, srcPort: NATPORT, dstPort: 4191, payload: out.payload });
    wire.push({ name: 'BU in UDP 4191 (NAT)', data: onWire, expect: { 'ip.src': NAT4, 'udp.dstport': '4191', 'ipv6.opt.mipv6.home_address': HOA, 'mip6.mhtype': '5', 'mip6.ipv4coa.addr': COA4 } });

    // The HA's Bind reports the datagram's payload with the source as seen.
    const back = fromCareOf(out.payload, { udp4: { srcAddr: NAT4, srcPort: NATPORT } }, recorder);
    if (!back.ok) throw new Error(back.reason);
    expect(back.coa).toBe(`::ffff:${COA4}`);
    expect(back.outer).toEqual({ via: 'udp4', addr: NAT4, port: NATPORT });
    expect(back.recordedSpi).toBe(BU_SA.spi);
    expect(nat.get(BU_SA.spi)).toEqual({ addr: NAT4, port: NATPORT, at: 5000 });
    const m = mhOf(ok(ha.inbound(back.packet)));
    expect(m).toMatchObject({ kind: 'BU', sequence: 7 });
    // ha/ then compares the IPv4 CoA option with the record: they differ, so a NAT is present.
    expect(m.kind === 'BU' && m.options[0]).toMatchObject({ kind: 'Ipv4Coa', address: COA4 });
  });

  it('the same datagram as a whole IPv4 packet (raw) unwraps the same way', () => {
    const out = toCareOf(ok(mn.outbound(mhPacket(HOA, HA, bu4(8)))), COA4);
    if (!out.ok || out.via !== 'udp4') throw new Error('toCareOf');
    now = 6000;
    const whole = encodeUdp4Packet({ src: NAT4, dst: HA4, srcPort: NATPORT + 1, dstPort: 4191, payload: out.payload });
    const back = fromCareOf(whole, undefined, recorder);
    if (!back.ok) throw new Error(back.reason);
    expect(nat.get(BU_SA.spi)).toEqual({ addr: NAT4, port: NATPORT + 1, at: 6000 });
    expect(mhOf(ok(ha.inbound(back.packet)))).toMatchObject({ kind: 'BU', sequence: 8 });
  });

  it('a data SPI in UDP 4191 is unwrapped but not recorded', () => {
    const sealed = ok(mn.outbound(udpData(HOA, CN, 'data via NAT')));
    const out = toCareOf(sealed, COA4);
    if (!out.ok || out.via !== 'udp4') throw new Error('toCareOf');
    const back = fromCareOf(out.payload, { udp4: { srcAddr: '100.64.9.9', srcPort: 1234 } }, recorder);
    if (!back.ok) throw new Error(back.reason);
    expect(back.recordedSpi).toBeUndefined();
    expect(nat.get(MN_DATA.spi)).toBeUndefined();
    expect(nat.list().map((e) => e.addr)).toEqual([NAT4]);
    const inner = decodeIpv6(ok(ha.inbound(back.packet)));
    expect([inner.header.src, inner.header.dst]).toEqual([HOA, CN]);
  });

  it('BA to the NAT in UDP (binding spi), data in UDP when the binding says so, else protocol 41', () => {
    const binding = { coa: COA4, udp: { addr: NAT4, port: NATPORT }, useUdp: true };
    const sealed = ok(ha.outbound(mhPacket(HA, HOA, ba(7))));
    const out = toMobile(sealed, binding, bindingSpiOf(ha));
    if (!out.ok || out.via !== 'udp4') throw new Error(`toMobile: ${JSON.stringify(out)}`);
    expect([out.dstAddr, out.dstPort]).toEqual([NAT4, NATPORT]);
    const inner = decodeIpv6(out.payload);
    expect(inner.header.dst).toBe(`::ffff:${COA4}`);
    expect(inner.finalDestination).toBe(HOA);
    const onWire = encodeUdp4Packet({ src: HA4, dst: NAT4, srcPort: 4191, dstPort: NATPORT, payload: out.payload });
    wire.push({ name: 'BA in UDP 4191 (NAT)', data: onWire, expect: { 'ip.dst': NAT4, 'udp.srcport': '4191', 'ipv6.routing.mipv6.home_address': HOA, 'mip6.mhtype': '6' } });
    // The MN's Bind delivers the payload; a whole IPv4 packet (raw) works too.
    for (const rx of [out.payload, onWire]) {
      const back = fromMobile(rx, [HOA]);
      if (!back.ok) throw new Error(back.reason);
      expect(back.coa).toBe(`::ffff:${COA4}`);
    }
    const back = fromMobile(out.payload, [HOA]);
    if (!back.ok) throw new Error(back.reason);
    expect(mhOf(ok(mn.inbound(back.packet)))).toMatchObject({ kind: 'BA', sequence: 7 });

    // Data with useUdp: UDP to the NAT. Without NAT and without useUdp: BA still UDP, data protocol 41.
    const d1 = toMobile(ok(ha.outbound(udpData(CN, HOA, 'to mn 1'))), binding, bindingSpiOf(ha));
    expect(d1.ok && d1.via).toBe('udp4');
    const noNat = { coa: COA4, udp: { addr: COA4, port: 40000 } };
    const b2 = toMobile(ok(ha.outbound(mhPacket(HA, HOA, ba(8)))), noNat, bindingSpiOf(ha));
    expect(b2.ok && b2.via).toBe('udp4');
    const d2 = toMobile(ok(ha.outbound(udpData(CN, HOA, 'to mn 2'))), noNat, bindingSpiOf(ha));
    if (!d2.ok || d2.via !== 'ip6in4') throw new Error(`toMobile: ${JSON.stringify(d2)}`);
    expect(d2.dstAddr).toBe(COA4);
    // The MN receives it from a raw socket with the IPv4 header (protocol 41).
    const raw = encodeIpv4({ header: { protocol: IpProto.IPV6, src: HA4, dst: COA4 }, payload: d2.payload });
    const r2 = fromMobile(raw, [HOA]);
    if (!r2.ok) throw new Error(r2.reason);
    expect(r2.outer).toEqual({ via: 'ip6in4', addr: HA4 });
    for (const r of [d1.ok && d1.via === 'udp4' ? d1.payload : new Uint8Array(), r2.packet]) {
      const x = fromMobile(r, [HOA]);
      if (!x.ok) throw new Error(x.reason);
      const inner2 = decodeIpv6(ok(mn.inbound(x.packet)));
      expect([inner2.header.src, inner2.header.dst]).toEqual([CN, HOA]);
    }
    // UDP needed but no endpoint known: a named drop.
    expect(toMobile(ok(ha.outbound(mhPacket(HA, HOA, ba(9)))), { coa: COA4 }, bindingSpiOf(ha))).toEqual({ ok: false, reason: 'no-udp-endpoint' });
  });

  it('the NatRecord is bounded, oldest evicted', () => {
    const t = new NatRecord(3);
    for (let i = 0; i < 5; i++) t.record(0x100 + i, '192.0.2.1', 1000 + i, i);
    expect(t.size).toBe(3);
    expect(t.evicted).toBe(2);
    expect(t.list().map((e) => e.spi)).toEqual([0x102, 0x103, 0x104]);
    t.record(0x102, '192.0.2.2', 1, 9); // refresh makes it newest
    t.record(0x200, '192.0.2.3', 2, 10);
    expect(t.list().map((e) => e.spi)).toEqual([0x104, 0x102, 0x200]);
    expect(t.take(0x102)).toEqual({ addr: '192.0.2.2', port: 1, at: 9 });
    expect(t.get(0x102)).toBeUndefined();
  });
});

describe('tunnel-mode data both ways while the CoA changes; SAs and policies unchanged', () => {
  const { mn, ha } = engines(200);
  // Configuration only: the traffic counters (packets, bytes, seq) are meant to move.
  const sas = (e: IpsecEngine) => e.listSAs().map(({ packets: _p, bytes: _b, seq: _s, ...config }) => config);
  const snapshot = () => JSON.stringify([sas(mn), mn.listPolicies(), sas(ha), ha.listPolicies()]);
  const before = snapshot();

  it('MN -> HA and HA -> MN across three CoAs (two IPv6, one IPv4 via UDP)', () => {
    const coas = [COA6, COA6B, COA4, COA6];
    coas.forEach((coa, i) => {
      // MN -> CN via the HA.
      const sealed = ok(mn.outbound(udpData(HOA, CN, `up ${i}`)));
      const sd = decodeIpv6(sealed);
      expect([sd.header.src, sd.header.dst, sd.esp?.spi]).toEqual([HOA, HA, MN_DATA.spi]);
      const up = toCareOf(sealed, coa);
      if (!up.ok) throw new Error(up.reason);
      const upBytes = up.via === 'ipv6' ? up.packet : up.payload;
      const upWire = decodeIpv6(upBytes);
      expect(upWire.header.src).toBe(up.via === 'ipv6' ? coa : `::ffff:${coa}`);
      expect(upWire.homeAddress).toBe(HOA);
      if (i === 0) wire.push({ name: 'data MN->HA (HAO, ESP tunnel)', data: upBytes, expect: { 'ipv6.src': COA6, 'ipv6.opt.mipv6.home_address': HOA, 'esp.spi': '0x00002003', 'esp.protocol': '0x29', 'udp.dstport': '7' } });
      const rx = fromCareOf(upBytes, up.via === 'udp4' ? { udp4: { srcAddr: coa, srcPort: 40000 } } : undefined);
      if (!rx.ok) throw new Error(rx.reason);
      expect(rx.coa).toBe(up.via === 'ipv6' ? coa : `::ffff:${coa}`);
      const innerUp = decodeIpv6(ok(ha.inbound(rx.packet)));
      expect([innerUp.header.src, innerUp.header.dst]).toEqual([HOA, CN]);

      // CN -> MN via the HA.
      const down = toMobile(ok(ha.outbound(udpData(CN, HOA, `down ${i}`))), coa.includes(':') ? { coa } : { coa, udp: { addr: coa, port: 40000 }, useUdp: true });
      if (!down.ok) throw new Error(down.reason);
      const downBytes = down.via === 'ipv6' ? down.packet : down.payload;
      if (i === 0) wire.push({ name: 'data HA->MN (RH2, ESP tunnel)', data: downBytes, expect: { 'ipv6.dst': COA6, 'ipv6.routing.mipv6.home_address': HOA, 'esp.spi': '0x00002004', 'esp.protocol': '0x29', 'udp.dstport': '7' } });
      const mrx = fromMobile(downBytes, [HOA]);
      if (!mrx.ok) throw new Error(mrx.reason);
      const innerDown = decodeIpv6(ok(mn.inbound(mrx.packet)));
      expect([innerDown.header.src, innerDown.header.dst]).toEqual([CN, HOA]);
      expect(Buffer.from(innerDown.upper.subarray(8)).toString()).toBe(`down ${i}`);
    });
    expect(snapshot()).toBe(before);
  });

  it('a BU from the new CoA while data still uses the old one (Req #3: the caller picks the CoA by SPI)', () => {
    const spiBu = mn.outboundSpiFor(mhPacket(HOA, HA, bu(200)));
    const spiData = mn.outboundSpiFor(udpData(HOA, CN, 'x'));
    expect([spiBu, spiData]).toEqual([BU_SA.spi, MN_DATA.spi]);
    const pick = (spi: number | undefined) => (spi === BU_SA.spi ? COA6B : COA6);
    const a = toCareOf(ok(mn.outbound(mhPacket(HOA, HA, bu(200)))), pick(spiBu));
    const b = toCareOf(ok(mn.outbound(udpData(HOA, CN, 'old coa'))), pick(spiData));
    if (!a.ok || a.via !== 'ipv6' || !b.ok || b.via !== 'ipv6') throw new Error('toCareOf');
    expect(decodeIpv6(a.packet).header.src).toBe(COA6B);
    expect(decodeIpv6(b.packet).header.src).toBe(COA6);
    for (const p of [a.packet, b.packet]) {
      const r = fromCareOf(p);
      if (!r.ok) throw new Error(r.reason);
      expect(ha.inbound(r.packet).ok).toBe(true);
    }
    expect(snapshot()).toBe(before);
  });
});

describe('named drops', () => {
  const { mn } = engines();
  it('toCareOf refuses non-ESP, a second HAO, bad CoA text; fromMobile/fromCareOf refuse non-tunnel IPv4', () => {
    const plain = udpData(HOA, CN, 'x');
    expect(toCareOf(plain, COA6)).toEqual({ ok: false, reason: 'not-esp' });
    const once = toCareOf(ok(mn.outbound(mhPacket(HOA, HA, bu(1)))), COA6);
    if (!once.ok || once.via !== 'ipv6') throw new Error('toCareOf');
    expect(toCareOf(once.packet, COA6)).toEqual({ ok: false, reason: 'hao-present' });
    expect(toCareOf(once.packet, 'not an address')).toEqual({ ok: false, reason: 'bad-address' });
    const udp = encodeUdp4Packet({ src: NAT4, dst: HA4, srcPort: 1, dstPort: 53, payload: Buffer.from('x') });
    expect(fromCareOf(udp)).toEqual({ ok: false, reason: 'not-tunnelled' });
    expect(fromMobile(udp, [HOA])).toEqual({ ok: false, reason: 'not-tunnelled' });
    expect(decodeUdp4Packet(udp).udp.dstPort).toBe(53);
    expect(toMobile(plain, { coa: COA6 })).toEqual({ ok: false, reason: 'not-esp' });
    expect(fromCareOf(new Uint8Array([0x60]))).toEqual({ ok: false, reason: 'malformed' });
  });
});

describe('tshark judges the rewritten packets (HAO, RH2, ESP decrypts)', () => {
  const tmp = tempDir();
  afterAll(() => tmp.cleanup());

  it('the edge capture filter (AF_PACKET path) takes every native-IPv6 wire packet', () => {
    const native = wire.filter((w) => w.data[0] >> 4 === 6 && !w.name.includes('UDP'));
    expect(native.length).toBe(4);
    for (const w of native) expect(isMipPacket(w.data), w.name).toBe(true);
  });

  it('every field as built, ICVs good, nothing malformed', () => {
    expect(wire.map((w) => w.name)).toEqual([
      'BU (IPv6 CoA, HAO)',
      'BA (IPv6 CoA, RH2)',
      'BU in UDP 4191 (NAT)',
      'BA in UDP 4191 (NAT)',
      'data MN->HA (HAO, ESP tunnel)',
      'data HA->MN (RH2, ESP tunnel)',
    ]);
    // One capture per scenario's packet: they come from three independent engine pairs, so one
    // capture would show sequence-number gaps per SPI that are no property of the packets.
    wire.forEach((w, i) => {
      const pcap = writeTemp(tmp.dir, `mip6-${i}.pcap`, writePcap([{ data: w.data }]));
      const judged = tsharkFields(pcap, wiresharkEspSa(SAS));
      expect(judged.length).toBe(1);
      const f = judged[0];
      for (const [field, want] of Object.entries(w.expect)) expect(f.get(field), `${w.name}: ${field}`).toContain(want);
      expect(problems(f), w.name).toEqual([]);
      expect(f.get('esp.decrypted_data')?.length, `${w.name}: tshark did not decrypt`).toBe(1);
      expect(f.get('esp.icv_good'), w.name).toEqual(['1']);
    });
  });
});
