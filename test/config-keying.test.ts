// Manual keying from the example configs: the MN's and the HA's SAs and SPD (RFC 3776/4877
// layout, digest §6) installed in two IpsecEngines. A BU leaves through the BU SA and data
// through the tunnel SA, told apart by SPI (design Req #3); BU/BA and data (IPv6 and IPv4
// HoA) round-trip MN<->HA; cleartext that must pass does; cleartext that must not is dropped;
// and no SA or policy mentions a care-of address or an interface (Req #2).

import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { encodeIpv6 } from '../common/ipv6.js';
import { encodeMobilityHeader } from '../common/mh.js';
import { baFlags, buFlags } from '../common/mhflags.js';
import { encodeUdp, encodeUdp4Packet } from '../common/udp.js';
import { IpsecEngine, IpsecResult, parsePacket, PacketInfo } from '../ipsec/index.js';
import {
  applyKeying,
  haIpv4HoaPolicies,
  haKeying,
  insertPolicies,
  loadHaConfig,
  loadMnConfig,
  mnIpv4HoaPolicies,
  mnKeying,
  type HaConfig,
  type MnConfig,
} from '../config/index.js';

const HA_FILE = new URL('../config/ha.example.json', import.meta.url).pathname;
const MN_FILE = new URL('../config/mn.example.json', import.meta.url).pathname;

const HOA = '2001:db8:1::100';
const HA = '2001:db8:1::1';
const HOA4 = '10.1.0.10';
const CN = '2001:db8:99::7';
const CN4 = '198.51.100.7';

function ok(r: IpsecResult): Uint8Array {
  if (!r.ok) throw new Error(`dropped: ${r.reason}`);
  return r.packet;
}
function reason(r: IpsecResult): string {
  return r.ok ? 'passed' : r.reason;
}

function bu(src = HOA, dst = HA): Uint8Array {
  const mh = encodeMobilityHeader({ kind: 'BU', sequence: 7, flags: buFlags({ A: true, H: true }), lifetime: 900, options: [] }, { src, dst });
  return encodeIpv6({ header: { src, dst }, upperProtocol: 135, upper: mh });
}
function ba(src = HA, dst = HOA): Uint8Array {
  const mh = encodeMobilityHeader({ kind: 'BA', status: 0, flags: baFlags({}), sequence: 7, lifetime: 900, options: [] }, { src, dst });
  return encodeIpv6({ header: { src, dst }, upperProtocol: 135, upper: mh });
}
function udp6(src: string, dst: string, text = 'hello'): Uint8Array {
  const upper = encodeUdp({ srcPort: 40000, dstPort: 53, payload: Buffer.from(text) }, { version: 6, src, dst });
  return encodeIpv6({ header: { src, dst }, upperProtocol: 17, upper });
}
function udp4(src: string, dst: string, text = 'hello4'): Uint8Array {
  return encodeUdp4Packet({ src, dst, srcPort: 40000, dstPort: 53, payload: Buffer.from(text) });
}
/** An ICMPv6 Neighbor Solicitation (type 135). */
function ns(src: string, dst: string): Uint8Array {
  const upper = new Uint8Array(24);
  upper[0] = 135;
  return encodeIpv6({ header: { src, dst, hopLimit: 255 }, upperProtocol: 58, upper });
}

/** Outer header of an ESP packet: source, destination, SPI. */
function outer(p: Uint8Array): { src: string; dst: string; proto: number; spi: number } {
  const info = new PacketInfo();
  expect(parsePacket(p, info)).toBe(true);
  const view = Buffer.from(p);
  const fmt = (off: number) => (info.addrLen === 4 ? [...p.subarray(off, off + 4)].join('.') : view.subarray(off, off + 16).toString('hex'));
  return { src: fmt(info.srcOff), dst: fmt(info.dstOff), proto: info.proto, spi: view.readUInt32BE(info.ulOff) };
}
function expand(a: string): string {
  const [l, r] = a.split('::');
  const left = l ? l.split(':') : [];
  const right = r ? r.split(':') : [];
  return [...left, ...Array(8 - left.length - right.length).fill('0'), ...right].map((x) => x.padStart(4, '0')).join('');
}

function setup(): { mnCfg: MnConfig; haCfg: HaConfig; mn: IpsecEngine; ha: IpsecEngine } {
  const mnCfg = loadMnConfig(MN_FILE);
  const haCfg = loadHaConfig(HA_FILE);
  const mn = new IpsecEngine();
  const ha = new IpsecEngine();
  applyKeying(mn, mnKeying(mnCfg));
  applyKeying(ha, haKeying(haCfg));
  return { mnCfg, haCfg, mn, ha };
}

describe('layout', () => {
  test('MN: four SAs (transport BU/BA pair, tunnel HoA<->HA pair) and the SPD in RFC 3776 order', () => {
    const k = mnKeying(loadMnConfig(MN_FILE));
    expect(k.sas.map((s) => [s.direction, s.mode, s.tunnel])).toEqual([
      ['outbound', 'transport', undefined],
      ['inbound', 'transport', undefined],
      ['outbound', 'tunnel', { src: HOA, dst: HA }],
      ['inbound', 'tunnel', { src: HA, dst: HOA }],
    ]);
    expect(k.policies.map((p) => p.id)).toEqual([
      'bypass-nd',
      'bypass-mldv2',
      `mn:${HOA}:bu`,
      `mn:${HOA}:ba`,
      `mn:${HOA}:payload:${HOA}:out`,
      `mn:${HOA}:payload:${HOA}:in`,
      `mn:${HOA}:payload:${HOA4}:out`,
      `mn:${HOA}:payload:${HOA4}:in`,
      'discard-other-mh',
      'bypass-rest',
    ]);
    expect(k.policies[2]).toMatchObject({ direction: 'outbound', selector: { local: HOA, remote: HA, proto: 135, mhType: 5 } });
    expect(k.policies[3]).toMatchObject({ direction: 'inbound', selector: { local: HOA, remote: HA, proto: 135, mhType: 6 } });
    expect(Object.isFrozen(k) && Object.isFrozen(k.sas) && Object.isFrozen(k.policies)).toBe(true);
  });

  test('HA: the mirror image, for every MN', () => {
    const c = loadHaConfig(HA_FILE);
    const k = haKeying(c);
    expect(k.sas).toHaveLength(8);
    const mine = k.policies.filter((p) => p.id!.startsWith(`ha:${HOA}:`));
    expect(mine[0]).toMatchObject({ direction: 'inbound', selector: { local: HA, remote: HOA, proto: 135, mhType: 5 }, action: { protect: { spi: c.mobileNodes[0].keys.bu.in.spi } } });
    expect(mine[1]).toMatchObject({ direction: 'outbound', selector: { local: HA, remote: HOA, proto: 135, mhType: 6 }, action: { protect: { spi: c.mobileNodes[0].keys.bu.out.spi } } });
    expect(mine.slice(2).map((p) => p.selector)).toEqual([{ remote: HOA }, { remote: HOA }, { remote: HOA4 }, { remote: HOA4 }]);
    // The second MN has no static IPv4 HoA: only its IPv6 entries.
    expect(k.policies.filter((p) => p.id!.startsWith('ha:2001:db8:1::200:'))).toHaveLength(4);
    expect(k.policies.at(-1)).toMatchObject({ id: 'bypass-rest', action: 'bypass' });
  });

  test('no SA or policy names an interface or any address but the HoAs and the HA (so no CoA)', () => {
    const { mnCfg, haCfg, mn, ha } = setup();
    const allowed = new Set(['any', HA, HOA, HOA4, ...haCfg.mobileNodes.map((m) => m.hoa)]);
    for (const engine of [mn, ha]) {
      const text = JSON.stringify([engine.listSAs(), engine.listPolicies()], (_k, v) => (typeof v === 'bigint' ? String(v) : v));
      for (const name of [...mnCfg.interfaces, haCfg.interfaces.homeLink, haCfg.interfaces.public]) expect(text).not.toContain(`"${name}"`);
      expect(text).not.toMatch(/iface|interface|coa/i);
      const addrs: string[] = [];
      for (const s of engine.listSAs()) if (s.tunnel) addrs.push(s.tunnel.src, s.tunnel.dst);
      for (const p of engine.listPolicies()) addrs.push(String(p.selector.local), String(p.selector.remote));
      for (const a of addrs) expect(allowed.has(a), a).toBe(true);
    }
  });
});

describe('MN -> HA -> MN through two engines', () => {
  test('BU goes through the BU SA and data through the tunnel SA; outboundSpiFor tells them apart', () => {
    const { mnCfg, mn } = setup();
    const buSpi = mn.outboundSpiFor(bu());
    const dataSpi = mn.outboundSpiFor(udp6(HOA, CN));
    expect(buSpi).toBe(mnCfg.keys.bu.out.spi);
    expect(dataSpi).toBe(mnCfg.keys.payload.out.spi);
    expect(buSpi).not.toBe(dataSpi);
    expect(mn.outboundSpiFor(udp4(HOA4, CN4))).toBe(mnCfg.keys.payload.out.spi);
    // BU in transport mode keeps its HoA->HA header; data is tunnelled HoA->HA.
    const b = outer(ok(mn.outbound(bu())));
    expect(b.proto).toBe(50);
    expect(b.spi).toBe(buSpi);
    const d = outer(ok(mn.outbound(udp6(HOA, CN))));
    expect([d.src, d.dst, d.spi]).toEqual([expand(HOA), expand(HA), dataSpi]);
  });

  test('BU in, BA out, data both ways (IPv6 and IPv4 HoA)', () => {
    const { mnCfg, mn, ha } = setup();
    const buPkt = bu();
    const atHa = ha.inbound(ok(mn.outbound(buPkt)));
    expect(Buffer.from(ok(atHa)).equals(Buffer.from(buPkt))).toBe(true);
    expect(atHa.ok && atHa.spi).toBe(mnCfg.keys.bu.out.spi);

    const baPkt = ba();
    const baOut = ha.outbound(baPkt);
    expect(baOut.ok && baOut.spi).toBe(mnCfg.keys.bu.in.spi);
    expect(Buffer.from(ok(mn.inbound(ok(baOut)))).equals(Buffer.from(baPkt))).toBe(true);

    for (const [up, down] of [
      [udp6(HOA, CN, 'up'), udp6(CN, HOA, 'down')],
      [udp4(HOA4, CN4, 'up4'), udp4(CN4, HOA4, 'down4')],
    ]) {
      const r1 = ha.inbound(ok(mn.outbound(up)));
      expect(Buffer.from(ok(r1)).equals(Buffer.from(up))).toBe(true);
      expect(r1.ok && r1.spi).toBe(mnCfg.keys.payload.out.spi);
      const enc = ok(ha.outbound(down));
      expect(outer(enc).dst).toBe(expand(HOA)); // tunnel/ rewrites to the CoA below IPsec
      const r2 = mn.inbound(enc);
      expect(Buffer.from(ok(r2)).equals(Buffer.from(down))).toBe(true);
      expect(r2.ok && r2.spi).toBe(mnCfg.keys.payload.in.spi);
    }
    expect(mn.counters().drops).toSatisfy((d: Record<string, number>) => Object.values(d).every((n) => n === 0));
    expect(ha.counters().drops).toSatisfy((d: Record<string, number>) => Object.values(d).every((n) => n === 0));
  });

  test('a BU cannot come through the tunnel SA with another HoA, nor an MN use another MN\'s HoA', () => {
    const { haCfg, ha } = setup();
    // A rogue MN holding the second MN's keys tries to send as the first MN's HoA.
    const other = haCfg.mobileNodes[1];
    const rogue = new IpsecEngine();
    rogue.addSA({ spi: other.keys.payload.in.spi, direction: 'outbound', mode: 'tunnel', tunnel: { src: other.hoa, dst: HA }, algorithm: other.keys.payload.in.algorithm, encKey: Buffer.from(other.keys.payload.in.encKey!, 'hex') });
    rogue.addPolicy({ direction: 'outbound', action: { protect: { spi: other.keys.payload.in.spi } } });
    expect(reason(ha.inbound(ok(rogue.outbound(udp6(HOA, CN)))))).toBe('policy-mismatch');
    expect(ok(ha.inbound(ok(rogue.outbound(udp6(other.hoa, CN)))))).toBeDefined();
  });
});

describe('what passes in the clear, and what is dropped', () => {
  test('neighbour discovery bypasses on both sides, also for the HoA', () => {
    const { mn, ha } = setup();
    const p = ns(HOA, 'ff02::1:ff00:1');
    expect(mn.outbound(p)).toMatchObject({ ok: true, packet: p });
    expect(ha.inbound(p)).toMatchObject({ ok: true, packet: p });
    expect(mn.outboundSpiFor(p)).toBeUndefined();
  });

  test('cleartext of a home address is refused; the HA\'s other traffic passes', () => {
    const { mn, ha } = setup();
    expect(reason(ha.inbound(bu()))).toBe('esp-required');
    expect(reason(ha.inbound(udp6(HOA, CN)))).toBe('esp-required');
    expect(reason(ha.inbound(udp4(HOA4, CN4)))).toBe('esp-required');
    expect(reason(mn.inbound(udp6(CN, HOA)))).toBe('esp-required');
    expect(reason(mn.inbound(ba()))).toBe('esp-required');
    // A BU in the clear from an address with no keys: discarded by the MH guard.
    expect(reason(ha.inbound(bu('2001:db8:1::999', HA)))).toBe('discard-policy');
    // The HA's own traffic, and the MN's traffic from another (care-of) address, pass as they are.
    expect(ha.outbound(udp6(HA, CN)).ok).toBe(true);
    expect(ha.inbound(udp6(CN, HA)).ok).toBe(true);
    expect(mn.outbound(udp6('2001:db8:77::5', CN)).ok).toBe(true);
    expect(mn.outboundSpiFor(udp6('2001:db8:77::5', CN))).toBeUndefined();
  });
});

describe('dynamic IPv4 home address', () => {
  test('entries for the granted address are inserted before the final bypass, on both sides', () => {
    const raw = JSON.parse(readFileSync(MN_FILE, 'utf8'));
    raw.ipv4Hoa = 'dynamic';
    const mnCfg = loadMnConfig(raw);
    const haRaw = JSON.parse(readFileSync(HA_FILE, 'utf8'));
    delete haRaw.mobileNodes[0].ipv4Hoa;
    const haCfg = loadHaConfig(haRaw);
    const mn = new IpsecEngine();
    const ha = new IpsecEngine();
    applyKeying(mn, mnKeying(mnCfg));
    applyKeying(ha, haKeying(haCfg));
    const granted = '10.1.0.77';
    expect(mn.outboundSpiFor(udp4(granted, CN4))).toBeUndefined();
    insertPolicies(mn, mnIpv4HoaPolicies(mnCfg, granted));
    insertPolicies(ha, haIpv4HoaPolicies(haCfg.mobileNodes[0], granted));
    expect(mn.listPolicies().at(-1)!.id).toBe('bypass-rest');
    expect(mn.outboundSpiFor(udp4(granted, CN4))).toBe(mnCfg.keys.payload.out.spi);
    const up = udp4(granted, CN4);
    expect(Buffer.from(ok(ha.inbound(ok(mn.outbound(up))))).equals(Buffer.from(up))).toBe(true);
    const down = udp4(CN4, granted);
    expect(Buffer.from(ok(mn.inbound(ok(ha.outbound(down))))).equals(Buffer.from(down))).toBe(true);
    // Or given at keying time.
    const k = mnKeying(mnCfg, { ipv4Hoa: granted });
    expect(k.policies.some((p) => p.selector?.local === granted)).toBe(true);
  });
});
