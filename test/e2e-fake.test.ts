// HomeAgent (ha/agent.ts) and MobileNode (mn/node.ts) wired together in one process over the
// in-memory fakes (wireguard-go's TestTwoDevicePing in spirit): the example configs, a fake IPv6
// link (fakeMipPacketIoPair), a fake UDP/IPv4 network with a NAT (FakeUdpNetwork.addNat), a fake
// Device pair per node where the test plays the correspondent / the applications, and one manual
// clock driving both nodes' injected timers. No sleeps: only event-loop turns (until()).
// The harness lives in test/support/e2e-harness.ts (shared with e2e-fake-more.test.ts).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { IpProto } from '../common/iana.js';
import { decodeIpv6, encodeIpv6, haoDestOpts } from '../common/ipv6.js';
import { decodeMobilityHeader, encodeMobilityHeader, type BindingUpdate } from '../common/mh.js';
import { buFlags } from '../common/mhflags.js';
import { applyKeying, haKeying } from '../config/keying.js';
import { IpsecEngine } from '../ipsec/index.js';
import { fromCareOf, toCareOf } from '../tunnel/mip6.js';
import { until } from './support/until.js';
import { CN4, COA4, COA6, COA6B, CN6, HA4, HA6, HA_CFG, HOA, HOA4, MN_CFG, NAT4, OTHER_HOA, harness, udp6 } from './support/e2e-harness.js';

describe('e2e over fakes: HomeAgent + MobileNode', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('(a) IPv6 CoA: BU with HAO out, BA with RH2 back, binding HoA->CoA, data both ways unchanged; expiry by the injected clock', async () => {
    const h = harness();
    h.mn.moveTo(COA6);
    h.mn.start();
    await h.registered(COA6);

    const bu = decodeIpv6(h.mnLink.sent[0]);
    expect(bu.header.src).toBe(COA6);
    expect(bu.header.dst).toBe(HA6);
    expect(bu.homeAddress).toBe(HOA);
    expect(bu.esp?.spi).toBe(MN_CFG.keys.bu.out.spi);
    const ba = decodeIpv6(h.haLink.sent[0]);
    expect(ba.header.dst).toBe(COA6);
    expect(ba.finalDestination).toBe(HOA);
    expect(ba.extensions[0].kind).toBe('routing2');
    expect(ba.esp?.spi).toBe(MN_CFG.keys.bu.in.spi);

    const b = h.ha.binding(HOA)!;
    expect(b).toMatchObject({ hoa: HOA, coa: COA6, udp: false, sequence: 1000, ipv4Hoa: HOA4 });
    expect(b.natAddress).toBeUndefined();
    expect(h.ha.counters).toMatchObject({ buReceived: 1, buAccepted: 1, baSent: 1 });
    expect(h.mn.ipv4Hoa).toBe(HOA4);

    await h.pingPong('v6');
    // Data on the wire carries the HAO / RH2 too, on the payload SAs.
    const dataUp = decodeIpv6(h.mnLink.sent.at(-1)!);
    expect(dataUp).toMatchObject({ header: { src: COA6, dst: HA6 }, homeAddress: HOA, esp: { spi: MN_CFG.keys.payload.out.spi } });
    const dataDown = decodeIpv6(h.haLink.sent.at(-1)!);
    expect(dataDown).toMatchObject({ header: { dst: COA6 }, finalDestination: HOA, esp: { spi: MN_CFG.keys.payload.in.spi } });
    // The IPv4 HoA's traffic rides the same IPv6 tunnel.
    await h.pingPong('v4 over v6', CN4, HOA4);
    expect(h.ha.counters.drops).toEqual({});
    expect(h.mn.counters.drops).toEqual({});

    // A packet for a HoA with no binding is dropped and counted at the HA.
    h.cn.write([udp6(CN6, OTHER_HOA, 'nobody')]);
    await until(() => h.ha.counters.drops['no-binding'] === 1, 2000, 'no-binding drop');

    // Expiry: the MN goes silent; the HA's injected timer removes the binding at its lifetime.
    h.mn.close();
    h.clock.advance(b.expiresAt - h.clock.t - 1);
    expect(h.ha.binding(HOA)).toBeDefined();
    h.clock.advance(1);
    expect(h.ha.binding(HOA)).toBeUndefined();
    expect(h.ha.pool?.addressOf(HOA)).toBeUndefined();
    h.close();
  });

  it('(b) IPv4 CoA behind a NAT: BU in UDP 4191 with the IPv4 CoA option, NAT detected, data both ways through the NAT', async () => {
    const h = harness();
    h.mn.moveTo(COA4);
    h.mn.start();
    await h.registered(COA4);

    // The BU left in UDP 4191 to the HA's IPv4 address, from the IPv4 CoA (mapped) with a HAO.
    const d = h.mnUdpLog[0];
    expect(d).toMatchObject({ dstAddr: HA4, dstPort: 4191 });
    const w = decodeIpv6(d.data);
    expect(w).toMatchObject({ header: { src: `::ffff:${COA4}`, dst: HA6 }, homeAddress: HOA, esp: { spi: MN_CFG.keys.bu.out.spi } });
    // An independent HA-keyed engine opens it: the BU carries the IPv4 CoA option.
    const judge = new IpsecEngine();
    applyKeying(judge, haKeying(HA_CFG));
    const fc = fromCareOf(d.data, { udp4: { srcAddr: NAT4, srcPort: 1 } });
    if (!fc.ok) throw new Error(fc.reason);
    const opened = judge.inbound(fc.packet);
    if (!opened.ok) throw new Error(opened.reason);
    const inner = decodeIpv6(opened.packet);
    const m = decodeMobilityHeader(inner.upper, { src: inner.header.src, dst: inner.header.dst }).message as BindingUpdate;
    expect(m.options).toContainEqual({ kind: 'Ipv4Coa', address: COA4 });

    const b = h.ha.binding(HOA)!;
    expect(b).toMatchObject({ coa: COA4, natAddress: NAT4, udp: true });
    expect(b.natPort).toBeGreaterThan(0);
    expect(h.mn.nat).toMatchObject({ natDetected: true, refreshTimeSeconds: HA_CFG.natRefreshSeconds });
    // The BA went back in UDP to the NAT's public address and port.
    expect(h.haUdpLog[0]).toMatchObject({ dstAddr: NAT4, dstPort: b.natPort });

    await h.pingPong('v6 via NAT');
    await h.pingPong('v4 via NAT', CN4, HOA4);
    expect(h.haUdpLog.at(-1)).toMatchObject({ dstAddr: NAT4, dstPort: b.natPort });
    expect(h.ha.counters.drops).toEqual({});
    expect(h.mn.counters.drops).toEqual({});
    h.close();
  });

  it('(c) NAT rebinding: after flush the keepalive BU at the NAT refresh time moves natPort, and data flows again', async () => {
    // The fake NAT picks fully-random ports: pin them so the new mapping surely differs from the old.
    const rnd = vi.spyOn(Math, 'random').mockReturnValue(0.25);
    const h = harness();
    h.mn.moveTo(COA4);
    h.mn.start();
    await h.registered(COA4);
    const oldPort = h.ha.binding(HOA)!.natPort!;
    expect(oldPort).toBe(1024 + Math.floor(0.25 * (65536 - 1024)));
    await h.pingPong('before');

    h.nat.flush();
    // Without a mapping, HA->MN traffic is lost at the NAT (a real NAT would do the same).
    const lost0 = h.net.lost;
    h.cn.write([udp6(CN6, HOA, 'into the void')]);
    await until(() => h.net.lost > lost0, 2000, 'datagram lost at the NAT');

    rnd.mockReturnValue(0.75);
    const bus0 = h.mn.counters.buSent;
    h.clock.advance(HA_CFG.natRefreshSeconds * 1000);
    expect(h.mn.counters.buSent).toBe(bus0 + 1);
    await until(() => h.mn.registeredCoa !== null && h.mn.registeringCoa === null && h.mn.counters.baReceived === 2, 2000, 'keepalive BA');
    const b = h.ha.binding(HOA)!;
    expect(b.natAddress).toBe(NAT4);
    expect(b.natPort).toBe(1024 + Math.floor(0.75 * (65536 - 1024)));
    expect(b.natPort).not.toBe(oldPort);
    expect(h.ha.counters.buAccepted).toBe(2);
    await h.pingPong('after');
    rnd.mockRestore();
    h.close();
  });

  it('(d) Req #3: between a new BU and its BA, data still leaves from the old CoA; after the BA from the new one', async () => {
    const h = harness();
    h.mn.moveTo(COA6);
    h.mn.start();
    await h.registered(COA6);

    h.mnLink.hold = true; // keep the next BA back
    const s0 = h.mnLink.sent.length;
    const fromMobile = h.ha.counters.fromMobile;
    const c0 = h.atCn.length;
    h.mn.moveTo(COA6B);
    h.apps.write([udp6(HOA, CN6, 'in flight')]);
    await until(() => h.mnLink.sent.length >= s0 + 2, 2000, 'BU and data sent');
    const [bu, data] = h.mnLink.sent.slice(s0).map((p) => decodeIpv6(p));
    expect(bu).toMatchObject({ header: { src: COA6B }, homeAddress: HOA, esp: { spi: MN_CFG.keys.bu.out.spi } });
    expect(data).toMatchObject({ header: { src: COA6 }, homeAddress: HOA, esp: { spi: MN_CFG.keys.payload.out.spi } });
    expect(h.mn.registeredCoa?.address).toBe(COA6);
    // The HA accepted the BU before the data arrived; the packet from the previous CoA is still
    // delivered (PREVIOUS_COA_GRACE_MS), not dropped.
    await until(() => h.ha.binding(HOA)?.coa === COA6B && h.ha.counters.fromMobile === fromMobile + 1, 2000, 'HA moved, in-flight data delivered');
    expect(h.ha.counters.drops['coa-mismatch']).toBeUndefined();
    await until(() => h.atCn.length > c0, 2000, 'in-flight data at the CN');
    expect(Buffer.from(h.atCn[c0])).toEqual(Buffer.from(udp6(HOA, CN6, 'in flight')));

    await until(() => h.haLink.sent.length >= 2, 2000, 'BA sent');
    h.mnLink.release();
    await h.registered(COA6B);
    const s1 = h.mnLink.sent.length;
    await h.pingPong('after move');
    expect(decodeIpv6(h.mnLink.sent[s1]).header.src).toBe(COA6B);
    h.close();
  });

  it('(e) return home: Lifetime-0 BU from the HoA, BA back, binding gone, IPv4 HoA released', async () => {
    const h = harness();
    h.mn.moveTo(COA6);
    h.mn.start();
    await h.registered(COA6);
    expect(h.ha.pool?.addressOf(HOA)).toBe(HOA4);

    h.mn.moveTo('home');
    await until(() => h.ha.binding(HOA) === undefined && h.mn.registration.bul.state === 'at-home', 2000, 'deregistered');
    expect(h.mn.registeredCoa).toBeNull();
    expect(h.ha.cache.size).toBe(0);
    expect(h.ha.pool?.addressOf(HOA)).toBeUndefined();
    expect(h.ha.counters).toMatchObject({ buReceived: 2, buAccepted: 2, baSent: 2 });
    // Nothing more goes to the old CoA.
    const s = h.mnLink.sent.length;
    h.cn.write([udp6(CN6, HOA, 'after dereg')]);
    await until(() => h.ha.counters.drops['no-binding'] === 1, 2000, 'no-binding');
    expect(h.mnLink.sent.length).toBe(s);
    h.close();
  });

  it('(f) a replayed BU, a BU for another HoA over this SA, and a BU without ESP change nothing and are counted', async () => {
    const h = harness();
    h.mn.moveTo(COA6);
    h.mn.start();
    await h.registered(COA6);
    const snap = h.ha.cache.snapshot();
    const before = { ...h.ha.counters, drops: { ...h.ha.counters.drops } };

    // 1. The first BU, byte for byte, again.
    h.mnLinkRaw.send([h.mnLink.sent[0]]);
    await until(() => h.ha.counters.drops['ipsec-in:replay'] === 1, 2000, 'replay drop');

    // 2. A BU for the other MN's HoA, under this MN's BU SA (an SPD entry the attacker added).
    h.mn.engine.addPolicy(
      { id: 'evil', direction: 'outbound', selector: { local: OTHER_HOA, remote: HA6, proto: IpProto.MH, mhType: 5 }, action: { protect: { spi: MN_CFG.keys.bu.out.spi } } },
      0,
    );
    const evil: BindingUpdate = { kind: 'BU', sequence: 5000, flags: buFlags({ A: true, H: true }), lifetime: 100, options: [] };
    const pseudo = { src: OTHER_HOA, dst: HA6 };
    const sealed = h.mn.engine.outbound(encodeIpv6({ header: pseudo, upperProtocol: IpProto.MH, upper: encodeMobilityHeader(evil, pseudo) }));
    if (!sealed.ok) throw new Error(sealed.reason);
    const wire = toCareOf(sealed.packet, COA6B);
    if (!wire.ok || wire.via !== 'ipv6') throw new Error('toCareOf');
    h.mnLinkRaw.send([wire.packet]);
    await until(() => h.ha.counters.drops['ipsec-in:policy-mismatch'] === 1, 2000, 'policy-mismatch drop');

    // 3. A well-formed BU with a HAO but no ESP.
    const plainBu: BindingUpdate = { kind: 'BU', sequence: 6000, flags: buFlags({ A: true, H: true }), lifetime: 100, options: [] };
    const ps = { src: HOA, dst: HA6 };
    h.mnLinkRaw.send([
      encodeIpv6({ header: { src: COA6B, dst: HA6 }, extensions: [haoDestOpts(HOA)], upperProtocol: IpProto.MH, upper: encodeMobilityHeader(plainBu, ps) }),
    ]);
    await until(() => h.ha.counters.drops['ipsec-in:esp-required'] === 1, 2000, 'esp-required drop');

    expect(h.ha.cache.snapshot()).toEqual(snap);
    expect(h.ha.binding(OTHER_HOA)).toBeUndefined();
    expect(h.ha.counters).toMatchObject({ buReceived: before.buReceived, buAccepted: before.buAccepted, buRejected: {}, baSent: before.baSent });
    expect(h.ha.counters.drops).toEqual({ 'ipsec-in:replay': 1, 'ipsec-in:policy-mismatch': 1, 'ipsec-in:esp-required': 1 });
    // And the real MN still works.
    await h.pingPong('still fine');
    h.close();
  });

  it('(g) an authenticated BU with a stale sequence number is answered 135, counted by status, and changes nothing', async () => {
    const h = harness();
    h.mn.moveTo(COA6);
    h.mn.start();
    await h.registered(COA6);
    const snap = h.ha.cache.snapshot();
    const stale: BindingUpdate = { kind: 'BU', sequence: 999, flags: buFlags({ A: true, H: true }), lifetime: 100, options: [] };
    const pseudo = { src: HOA, dst: HA6 };
    const sealed = h.mn.engine.outbound(encodeIpv6({ header: pseudo, upperProtocol: IpProto.MH, upper: encodeMobilityHeader(stale, pseudo) }));
    if (!sealed.ok) throw new Error(sealed.reason);
    const wire = toCareOf(sealed.packet, COA6B);
    if (!wire.ok || wire.via !== 'ipv6') throw new Error('toCareOf');
    h.mnLinkRaw.send([wire.packet]);
    await until(() => h.mn.counters.baReceived === 2, 2000, 'the 135 BA reached the MN');
    expect(h.ha.counters).toMatchObject({ buReceived: 2, buAccepted: 1, buRejected: { 135: 1 }, baSent: 2 });
    expect(h.ha.cache.snapshot()).toEqual(snap);
    // The rejection BA went back to the packet's source CoA; the MN (nothing outstanding) ignores it.
    expect(decodeIpv6(h.haLink.sent.at(-1)!).header.dst).toBe(COA6B);
    expect(h.mn.registeredCoa?.address).toBe(COA6);
    h.close();
  });
});
