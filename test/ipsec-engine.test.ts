// The IPsec engine end to end: two peers with mirror SAs and policies, every algorithm
// in both modes and all four inner/outer family combinations, transport mode over
// IPv6 extension headers, every drop reason, lifetimes and the control API.

import { createHmac } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import {
  ALGORITHMS,
  DuplicatePolicyError,
  DuplicateSpiError,
  InvalidPolicyError,
  InvalidSaError,
  InvalidSelectorError,
  IpsecEngine,
  IpsecResult,
  SaInfo,
  UnknownPolicyError,
  UnknownSpiError,
} from '../ipsec/index.js';
import { addr, bytes, concat, dstOptsC9, hex, icmp, ipv4, ipv6, mh, rh2, tcp, toHex, udp } from './fixtures/ipsec-packets.js';
import { ALG_CASES, peers, SPI_AB, SPI_BA } from './fixtures/ipsec-peers.js';

function ok(r: IpsecResult): Uint8Array {
  if (!r.ok) throw new Error(`dropped: ${r.reason}`);
  return r.packet;
}

const GCM = ALG_CASES[0];
const CBC = ALG_CASES[2];
const NUL = ALG_CASES[4];

interface Layout {
  name: string;
  mode: 'transport' | 'tunnel';
  a: string;
  b: string;
  outerA?: string;
  outerB?: string;
}

const LAYOUTS: Layout[] = [
  { name: 'transport, IPv6', mode: 'transport', a: '2001:db8::a', b: '2001:db8::b' },
  { name: 'transport, IPv4', mode: 'transport', a: '192.0.2.1', b: '198.51.100.2' },
  { name: 'tunnel, IPv6 in IPv6', mode: 'tunnel', a: '2001:db8:1::10', b: '2001:db8:2::20', outerA: '2001:db8::a', outerB: '2001:db8::b' },
  { name: 'tunnel, IPv4 in IPv6', mode: 'tunnel', a: '10.1.0.10', b: '10.2.0.20', outerA: '2001:db8::a', outerB: '2001:db8::b' },
  { name: 'tunnel, IPv6 in IPv4', mode: 'tunnel', a: '2001:db8:1::10', b: '2001:db8:2::20', outerA: '192.0.2.1', outerB: '198.51.100.2' },
  { name: 'tunnel, IPv4 in IPv4', mode: 'tunnel', a: '10.1.0.10', b: '10.2.0.20', outerA: '192.0.2.1', outerB: '198.51.100.2' },
];

function packet(src: string, dst: string, payload: Uint8Array): Uint8Array {
  return src.includes(':') ? ipv6(src, dst, 17, udp(4000, 5000, payload)) : ipv4(src, dst, 17, udp(4000, 5000, payload));
}

/** Where the ESP header starts in a protected packet without extension headers. */
function espOffset(p: Uint8Array): number {
  return p[0] >> 4 === 6 ? 40 : (p[0] & 15) * 4;
}

describe.each(ALG_CASES)('round trips, $name', (alg) => {
  test.each(LAYOUTS)('$name, both directions, sizes 0..1400', (l) => {
    const { a, b } = peers({ alg, ...l });
    const info = ALGORITHMS[alg.algorithm];
    let seq = 0;
    for (const size of [0, 1, 2, 3, 13, 14, 15, 16, 17, 100, 1400]) {
      seq++;
      for (const [tx, rx, src, dst, spi, outerSrc, outerDst] of [
        [a, b, l.a, l.b, SPI_AB, l.outerA, l.outerB],
        [b, a, l.b, l.a, SPI_BA, l.outerB, l.outerA],
      ] as const) {
        const p = packet(src, dst, bytes(size, size + spi));
        const r = tx.outbound(p);
        expect(r.ok && r.spi).toBe(spi);
        const wire = ok(r);
        const off = espOffset(wire);
        // The wire packet: ESP next, SPI and sequence number, aligned ciphertext, right addresses.
        expect(wire[0] >> 4 === 6 ? wire[6] : wire[9]).toBe(50);
        expect(toHex(wire.subarray(off, off + 8))).toBe(spi.toString(16).padStart(8, '0') + seq.toString(16).padStart(8, '0'));
        const ctLen = wire.length - off - 8 - info.ivLen - info.icvLen;
        expect(ctLen % info.align).toBe(0);
        const srcOff = wire[0] >> 4 === 6 ? 8 : 12;
        const alen = wire[0] >> 4 === 6 ? 16 : 4;
        expect(toHex(wire.subarray(srcOff, srcOff + alen))).toBe(toHex(addr(outerSrc ?? src)));
        expect(toHex(wire.subarray(srcOff + alen, srcOff + 2 * alen))).toBe(toHex(addr(outerDst ?? dst)));
        if (alg.algorithm !== 'null-hmac-sha256-128' && size >= 16) expect(Buffer.from(wire).includes(Buffer.from(bytes(size, size + spi)))).toBe(false);
        const back = rx.inbound(wire);
        expect(back.ok && back.spi).toBe(spi);
        expect(toHex(ok(back))).toBe(toHex(p));
      }
    }
    for (const e of [a, b]) {
      const c = e.counters();
      expect(c.outProtected).toBe(11);
      expect(c.inProtected).toBe(11);
      expect(Object.values(c.drops).every((n) => n === 0)).toBe(true);
    }
    const sa = a.getSA(SPI_AB)!;
    expect(sa.packets).toBe(11);
    expect(sa.seq).toBe(11n);
    expect(b.getSA(SPI_AB)!.packets).toBe(11);
    expect(b.getSA(SPI_AB)!.bytes).toBe(sa.bytes);
  });
});

describe.each([GCM, ALG_CASES[1], CBC, NUL])('transport mode over IPv6 extension headers, $name', (alg) => {
  const A = '2001:db8::a';
  const B = '2001:db8::b';
  // Policies select MH traffic by MH type: A sends type 5 to B, B sends type 6 to A.
  function mhPeers() {
    const a = new IpsecEngine();
    const b = new IpsecEngine();
    const k = { algorithm: alg.algorithm, encKey: alg.encKey, authKey: alg.authKey, mode: 'transport' as const };
    const ab = { local: A, remote: B, proto: 135, mhType: 5 };
    const ba = { local: B, remote: A, proto: 135, mhType: 6 };
    a.addSA({ spi: SPI_AB, direction: 'outbound', ...k });
    a.addSA({ spi: SPI_BA, direction: 'inbound', ...k, selectors: [{ local: A, remote: B, proto: 135, mhType: 6 }] });
    a.addPolicy({ direction: 'outbound', selector: ab, action: { protect: { spi: SPI_AB } } });
    a.addPolicy({ direction: 'inbound', selector: { ...ab, mhType: 6 }, action: { protect: { spi: SPI_BA } } });
    b.addSA({ spi: SPI_BA, direction: 'outbound', ...k });
    b.addSA({ spi: SPI_AB, direction: 'inbound', ...k, selectors: [{ local: B, remote: A, proto: 135, mhType: 5 }] });
    b.addPolicy({ direction: 'outbound', selector: ba, action: { protect: { spi: SPI_BA } } });
    b.addPolicy({ direction: 'inbound', selector: { ...ba, mhType: 5 }, action: { protect: { spi: SPI_AB } } });
    return { a, b };
  }

  const body = hex('0001d0000003 01020000'.replace(/ /g, ''));
  const withDst = (src: string, dst: string, type: number) => ipv6(src, dst, 60, concat(dstOptsC9(135, '2001:db8:ffff::1'), mh(type, body)));
  const withRh2 = (src: string, dst: string, type: number) => ipv6(src, dst, 43, concat(rh2(135, '2001:db8:ffff::1'), mh(type, body)));

  test.each([
    ['destination options (0xC9)', withDst, 60],
    ['type 2 routing header', withRh2, 43],
  ] as const)('%s, both directions', (_name, build, firstNh) => {
    const { a, b } = mhPeers();
    const info = ALGORITHMS[alg.algorithm];
    for (const [tx, rx, src, dst, type, spi] of [
      [a, b, A, B, 5, SPI_AB],
      [b, a, B, A, 6, SPI_BA],
    ] as const) {
      const p = build(src, dst, type);
      const wire = ok(tx.outbound(p));
      // The extension header stays outside ESP, its next header now says ESP, the rest is inside.
      expect(wire[6]).toBe(firstNh);
      expect(toHex(wire.subarray(40 + 1, 64))).toBe(toHex(p.subarray(41, 64)));
      expect(wire[40]).toBe(50);
      expect(toHex(wire.subarray(64, 68))).toBe(spi.toString(16).padStart(8, '0'));
      expect(((wire[4] << 8) | wire[5]) + 40).toBe(wire.length);
      expect(wire.length).toBe(64 + 8 + info.ivLen + (Math.ceil((p.length - 64 + 2) / info.align) * info.align) + info.icvLen);
      expect(toHex(ok(rx.inbound(wire)))).toBe(toHex(p));
    }
    // The MH type selects: a type-6 message from A matches no outbound policy.
    expect(a.outbound(build(A, B, 6))).toEqual({ ok: false, reason: 'no-policy' });
  });

  test('a packet with both headers and a destination options header after ESP keeps its order', () => {
    const { a, b } = mhPeers();
    // IPv6 | RH2 | DstOpt | MH: ESP goes right before the MH; both headers stay outside.
    const p = ipv6(A, B, 43, concat(rh2(60, '2001:db8:ffff::1'), dstOptsC9(135, '2001:db8:ffff::2'), mh(5, body)));
    const wire = ok(a.outbound(p));
    expect(wire[40]).toBe(60);
    expect(wire[64]).toBe(50);
    expect(toHex(ok(b.inbound(wire)))).toBe(toHex(p));
  });
});

describe('drops, each with its own counted reason', () => {
  const L = LAYOUTS[0];

  function only(e: IpsecEngine, reason: string, n = 1): void {
    const d = e.counters().drops as Record<string, number>;
    for (const [k, v] of Object.entries(d)) expect(v, k).toBe(k === reason ? n : 0);
  }

  test('replay: the same packet twice', () => {
    const { a, b } = peers({ alg: GCM, ...L });
    const wire = ok(a.outbound(packet(L.a, L.b, bytes(50))));
    ok(b.inbound(wire));
    expect(b.inbound(wire)).toEqual({ ok: false, reason: 'replay' });
    only(b, 'replay');
  });

  test('left of the window (default window 1024)', () => {
    const { a, b } = peers({ alg: GCM, ...L });
    const first = ok(a.outbound(packet(L.a, L.b, bytes(10))));
    for (let i = 0; i < 1024; i++) ok(b.inbound(ok(a.outbound(packet(L.a, L.b, bytes(10, i))))));
    expect(b.getSA(SPI_AB)!.replayWindow).toBe(1024);
    expect(b.inbound(first)).toEqual({ ok: false, reason: 'outside-window' });
    only(b, 'outside-window');
  });

  test('a window of 1024 accepts 1024 packets in reverse order, and not the 1025th', () => {
    const { a, b } = peers({ alg: GCM, ...L });
    const wires = Array.from({ length: 1100 }, (_, i) => ok(a.outbound(packet(L.a, L.b, bytes(8, i)))));
    for (let i = 1099; i >= 1100 - 1024; i--) ok(b.inbound(wires[i]));
    expect(b.inbound(wires[1100 - 1025])).toEqual({ ok: false, reason: 'outside-window' });
    expect(b.counters().inProtected).toBe(1024);
  });

  test('a window of 4096 is configurable; below 32 is refused', () => {
    const { a, b } = peers({ alg: GCM, ...L, replayWindow: 4096 });
    const wires = Array.from({ length: 4200 }, (_, i) => ok(a.outbound(packet(L.a, L.b, bytes(1, i)))));
    for (let i = 4199; i >= 4200 - 4096; i--) ok(b.inbound(wires[i]));
    expect(b.inbound(wires[4200 - 4097])).toEqual({ ok: false, reason: 'outside-window' });
    expect(() => peers({ alg: GCM, ...L, replayWindow: 16 })).toThrow(/replayWindow: must be an integer from 32/);
  });

  test.each(ALG_CASES)('tampered ciphertext and tampered ICV ($name), and the genuine packet still passes', (alg) => {
    const { a, b } = peers({ alg, ...L });
    const wire = ok(a.outbound(packet(L.a, L.b, bytes(64))));
    const ct = Uint8Array.from(wire);
    ct[40 + 8 + ALGORITHMS[alg.algorithm].ivLen + 3] ^= 0x10;
    expect(b.inbound(ct)).toEqual({ ok: false, reason: 'icv-mismatch' });
    const icv = Uint8Array.from(wire);
    icv[icv.length - 1] ^= 0x01;
    expect(b.inbound(icv)).toEqual({ ok: false, reason: 'icv-mismatch' });
    const seqBit = Uint8Array.from(wire);
    seqBit[40 + 7] ^= 0x02;
    expect(b.inbound(seqBit)).toEqual({ ok: false, reason: 'icv-mismatch' });
    // Failed packets did not move the window.
    expect(toHex(ok(b.inbound(wire)))).toBe(toHex(packet(L.a, L.b, bytes(64))));
    only(b, 'icv-mismatch', 3);
  });

  test('inbound SPD check: inner addresses outside the SA selectors (transport and tunnel)', () => {
    for (const l of [LAYOUTS[0], LAYOUTS[2], LAYOUTS[5]]) {
      const { a, b } = peers({ alg: GCM, ...l });
      // A is made to send traffic for another address pair through the same SA.
      const other = l.a.includes(':') ? '2001:db8:99::99' : '10.99.0.99';
      a.addPolicy({ direction: 'outbound', selector: { local: other }, action: { protect: { spi: SPI_AB } } });
      const wire = ok(a.outbound(packet(other, l.b, bytes(20))));
      expect(b.inbound(wire)).toEqual({ ok: false, reason: 'policy-mismatch' });
      only(b, 'policy-mismatch');
      // Also when the selectors come from the inbound PROTECT policy rather than the SA.
      const p2 = peers({ alg: GCM, ...l, saSelectors: false });
      p2.a.addPolicy({ direction: 'outbound', selector: { local: other }, action: { protect: { spi: SPI_AB } } });
      expect(p2.b.inbound(ok(p2.a.outbound(packet(other, l.b, bytes(20)))))).toEqual({ ok: false, reason: 'policy-mismatch' });
      expect(ok(p2.b.inbound(ok(p2.a.outbound(packet(l.a, l.b, bytes(20))))))).toBeTruthy();
    }
  });

  test('selectors narrower than the addresses: proto and port are checked too', () => {
    const { a, b } = peers({ alg: CBC, ...L, extra: { proto: 17 } });
    ok(b.inbound(ok(a.outbound(packet(L.a, L.b, bytes(5))))));
    // B's SA only takes UDP from port 4000 to its port 5000.
    b.removeSA(SPI_AB);
    b.addSA({ spi: SPI_AB, direction: 'inbound', mode: 'transport', algorithm: CBC.algorithm, encKey: CBC.encKey, authKey: CBC.authKey, selectors: [{ local: L.b, remote: L.a, proto: 17, localPort: 5000, remotePort: 4000 }] });
    ok(b.inbound(ok(a.outbound(packet(L.a, L.b, bytes(5))))));
    expect(b.inbound(ok(a.outbound(ipv6(L.a, L.b, 17, udp(4001, 5000, bytes(5))))))).toEqual({ ok: false, reason: 'policy-mismatch' });
    a.addPolicy({ direction: 'outbound', selector: { local: L.a, proto: 6 }, action: { protect: { spi: SPI_AB } } });
    const t = ok(a.outbound(ipv6(L.a, L.b, 6, tcp(1, 2, bytes(5)))));
    expect(b.inbound(t)).toEqual({ ok: false, reason: 'policy-mismatch' });
  });

  test('unknown SPI (and an outbound SA SPI is not an inbound one)', () => {
    const { a, b } = peers({ alg: GCM, ...L });
    const wire = ok(a.outbound(packet(L.a, L.b, bytes(20))));
    const other = Uint8Array.from(wire);
    other.set(hex('00009999'), 40);
    expect(b.inbound(other)).toEqual({ ok: false, reason: 'unknown-spi' });
    // SPI_AB is A's outbound SA: A has no inbound SA with it.
    expect(a.inbound(wire)).toEqual({ ok: false, reason: 'unknown-spi' });
    only(b, 'unknown-spi');
  });

  test('sequence number exhausted without ESN (the counter set to 2^32 - 2)', () => {
    const { a, b } = peers({ alg: GCM, ...L });
    a.removeSA(SPI_AB);
    a.addSA({ spi: SPI_AB, direction: 'outbound', mode: 'transport', algorithm: 'aes-gcm-16', encKey: GCM.encKey, seq: 0xfffffffe });
    b.removeSA(SPI_AB);
    b.addSA({ spi: SPI_AB, direction: 'inbound', mode: 'transport', algorithm: 'aes-gcm-16', encKey: GCM.encKey, seq: 0xfffffff0, selectors: [{}] });
    const last = ok(a.outbound(packet(L.a, L.b, bytes(5))));
    expect(toHex(last.subarray(44, 48))).toBe('ffffffff');
    ok(b.inbound(last));
    expect(a.outbound(packet(L.a, L.b, bytes(5)))).toEqual({ ok: false, reason: 'seq-exhausted' });
    expect(a.outbound(packet(L.a, L.b, bytes(5)))).toEqual({ ok: false, reason: 'seq-exhausted' });
    only(a, 'seq-exhausted', 2);
    expect(a.getSA(SPI_AB)!.seq).toBe(0xffffffffn);
  });

  test('with ESN the counter crosses 2^32 and the receiver follows; it stops at 2^64 - 1', () => {
    for (const alg of [GCM, CBC, NUL]) {
      const { a, b } = peers({ alg, ...L, esn: true });
      a.removeSA(SPI_AB);
      a.addSA({ spi: SPI_AB, direction: 'outbound', mode: 'transport', algorithm: alg.algorithm, encKey: alg.encKey, authKey: alg.authKey, esn: true, seq: 0xfffffffdn });
      b.removeSA(SPI_AB);
      b.addSA({ spi: SPI_AB, direction: 'inbound', mode: 'transport', algorithm: alg.algorithm, encKey: alg.encKey, authKey: alg.authKey, esn: true, seq: 0xfffffff0n, selectors: [{}] });
      const wires = Array.from({ length: 6 }, (_, i) => ok(a.outbound(packet(L.a, L.b, bytes(9, i)))));
      expect(wires.map((w) => toHex(w.subarray(44, 48)))).toEqual(['fffffffe', 'ffffffff', '00000000', '00000001', '00000002', '00000003']);
      // Delivered out of order across the boundary.
      for (const i of [2, 0, 5, 1, 4, 3]) ok(b.inbound(wires[i]));
      expect(b.getSA(SPI_AB)!.seq).toBe((1n << 32n) + 3n);
      expect(b.inbound(wires[1])).toEqual({ ok: false, reason: 'replay' });
      a.removeSA(SPI_AB);
      a.addSA({ spi: SPI_AB, direction: 'outbound', mode: 'transport', algorithm: alg.algorithm, encKey: alg.encKey, authKey: alg.authKey, esn: true, seq: (1n << 64n) - 2n });
      ok(a.outbound(packet(L.a, L.b, bytes(1))));
      expect(a.outbound(packet(L.a, L.b, bytes(1)))).toEqual({ ok: false, reason: 'seq-exhausted' });
    }
  });

  test('dummy packet (next header 59) and bad padding, with authentic ICVs', () => {
    const authKey = NUL.authKey!;
    const e = new IpsecEngine();
    e.addSA({ spi: 0x3003, direction: 'inbound', mode: 'transport', algorithm: 'null-hmac-sha256-128', authKey, selectors: [{}] });
    // Hand-made NULL+HMAC ESP: SPI | seq | plaintext | ICV = HMAC-SHA-256(SPI|seq|plaintext)[0:16].
    const esp = (seq: number, pt: Uint8Array) => {
      const body = concat(hex('00003003'), hex(seq.toString(16).padStart(8, '0')), pt);
      return ipv6('2001:db8::b', '2001:db8::a', 50, concat(body, createHmac('sha256', authKey).update(body).digest().subarray(0, 16)));
    };
    expect(e.inbound(esp(1, hex('0102023b')))).toEqual({ ok: false, reason: 'dummy-packet' });
    // UDP (9 octets) + one pad octet that should be 01.
    expect(e.inbound(esp(2, concat(udp(1, 2, hex('aa')), hex('00 01 11'))))).toEqual({ ok: false, reason: 'bad-padding' });
    // Pad length 5 overruns the 2 octets before the trailer.
    expect(e.inbound(esp(3, hex('0102 0511')))).toEqual({ ok: false, reason: 'bad-padding' });
    // Pad octets 02 03 instead of 01 02.
    expect(e.inbound(esp(4, hex('0203 0211')))).toEqual({ ok: false, reason: 'bad-padding' });
    // Well padded: accepted.
    expect(e.inbound(esp(5, concat(udp(1, 2, hex('aa')), hex('01 01 11')))).ok).toBe(true);
    const d = e.counters().drops;
    expect(d['dummy-packet']).toBe(1);
    expect(d['bad-padding']).toBe(3);
    // A dummy packet is authenticated, so it does advance the window.
    expect(e.inbound(esp(1, hex('0102023b')))).toEqual({ ok: false, reason: 'replay' });
  });

  test('mode mismatch: a tunnel SA receiving a transport payload is malformed', () => {
    const authKey = NUL.authKey!;
    const e = new IpsecEngine();
    e.addSA({ spi: 0x3003, direction: 'inbound', mode: 'tunnel', algorithm: 'null-hmac-sha256-128', authKey, selectors: [{}] });
    const body = concat(hex('00003003 00000001'), udp(1, 2, hex('aabb')), hex('0011'));
    const wire = ipv6('2001:db8::b', '2001:db8::a', 50, concat(body, createHmac('sha256', authKey).update(body).digest().subarray(0, 16)));
    expect(e.inbound(wire)).toEqual({ ok: false, reason: 'malformed' });
  });

  test('no policy, discard, bypass (same buffer back), and ESP required for unprotected traffic', () => {
    const { a, b } = peers({ alg: GCM, ...L });
    const stranger = packet('2001:db8::77', '2001:db8::88', bytes(4));
    expect(a.outbound(stranger)).toEqual({ ok: false, reason: 'no-policy' });
    expect(a.inbound(stranger)).toEqual({ ok: false, reason: 'no-policy' });
    a.addPolicy({ direction: 'both', selector: { local: '2001:db8::77' }, action: 'discard' }, 0);
    expect(a.outbound(stranger)).toEqual({ ok: false, reason: 'discard-policy' });
    a.addPolicy({ direction: 'both', selector: { remote: '2001:db8::77' }, action: 'bypass' }, 0);
    const back = packet('2001:db8::88', '2001:db8::77', bytes(4));
    const r = a.outbound(back);
    expect(r.ok && r.packet).toBe(back);
    const r2 = a.inbound(stranger);
    expect(r2.ok && r2.packet).toBe(stranger);
    // Unprotected A<->B traffic into B, whose inbound policy says PROTECT.
    expect(b.inbound(packet(L.a, L.b, bytes(4)))).toEqual({ ok: false, reason: 'esp-required' });
    const c = a.counters();
    expect(c.outBypassed).toBe(1);
    expect(c.inBypassed).toBe(1);
    expect(c.drops['no-policy']).toBe(2);
    expect(c.drops['discard-policy']).toBe(1);
    expect(b.counters().drops['esp-required']).toBe(1);
  });

  test('a PROTECT policy naming an absent SA drops with no-sa', () => {
    const e = new IpsecEngine();
    e.addPolicy({ direction: 'outbound', action: { protect: { spi: 0x5555 } } });
    expect(e.outbound(packet('::1', '::2', bytes(3)))).toEqual({ ok: false, reason: 'no-sa' });
    e.addPolicy({ direction: 'outbound', selector: { local: '10.0.0.0/8' }, action: { protect: { bundle: 'x' } } }, 0);
    expect(e.outbound(packet('10.0.0.1', '10.0.0.2', bytes(3)))).toEqual({ ok: false, reason: 'no-sa' });
  });

  test('malformed input never throws', () => {
    const { b } = peers({ alg: GCM, ...L });
    for (const junk of [new Uint8Array(0), hex('60'), hex('45000014'), hex('4f000014'), hex('6000ffff'), null as unknown as Uint8Array, 'text' as unknown as Uint8Array]) {
      expect(b.inbound(junk)).toEqual({ ok: false, reason: 'malformed' });
      expect(b.outbound(junk)).toEqual({ ok: false, reason: 'malformed' });
      expect(b.outboundSpiFor(junk)).toBeUndefined();
    }
    // A well-formed IPv6 packet whose ESP header is cut short: malformed inbound, a plain packet outbound.
    const cut = ipv6('::1', '::2', 50, hex('0000'));
    expect(b.inbound(cut)).toEqual({ ok: false, reason: 'malformed' });
    expect(b.outbound(cut)).toEqual({ ok: false, reason: 'no-policy' });
  });

  test('ESP inside a fragment and transport-mode protection of a fragment are refused', () => {
    const { a, b } = peers({ alg: GCM, ...L });
    const frag = ipv6(L.a, L.b, 44, concat(Uint8Array.of(50, 0, 0, 1, 0, 0, 0, 7), hex('00001001 00000001'), bytes(40)));
    expect(b.inbound(frag)).toEqual({ ok: false, reason: 'malformed' });
    const f2 = ipv6(L.a, L.b, 44, concat(Uint8Array.of(17, 0, 0, 1, 0, 0, 0, 7), udp(4000, 5000, bytes(8))));
    expect(a.outbound(f2)).toEqual({ ok: false, reason: 'malformed' });
  });

  test('too big: the result would not fit the 16-bit length field', () => {
    const { a } = peers({ alg: GCM, ...LAYOUTS[1] });
    const big = packet(LAYOUTS[1].a, LAYOUTS[1].b, new Uint8Array(65535 - 28));
    expect(a.outbound(big)).toEqual({ ok: false, reason: 'too-big' });
    expect(a.getSA(SPI_AB)!.seq).toBe(0n);
  });
});

describe('lifetimes', () => {
  const L = LAYOUTS[0];

  test('hard lifetime in seconds (injected clock): the SA dies, drops with sa-expired both ways, one event', () => {
    let now = 1_000_000;
    const { a, b } = peers({ alg: GCM, ...L, clock: () => now, lifetime: { hardSeconds: 10 } });
    const events: [string, SaInfo][] = [];
    a.on('hard-expire', (sa) => events.push(['a', sa]));
    b.on('hard-expire', (sa) => events.push(['b', sa]));
    const early = ok(a.outbound(packet(L.a, L.b, bytes(5))));
    now += 9_999;
    ok(b.inbound(early));
    const late = ok(a.outbound(packet(L.a, L.b, bytes(5))));
    now += 1;
    expect(a.outbound(packet(L.a, L.b, bytes(5)))).toEqual({ ok: false, reason: 'sa-expired' });
    expect(b.inbound(late)).toEqual({ ok: false, reason: 'sa-expired' });
    expect(a.outbound(packet(L.a, L.b, bytes(5)))).toEqual({ ok: false, reason: 'sa-expired' });
    expect(events.map(([who, sa]) => `${who}:${sa.spi}:${sa.state}`)).toEqual([`a:${SPI_AB}:dead`, `b:${SPI_AB}:dead`]);
    // tick() finds the other two (A's inbound, B's outbound) once each.
    expect(a.tick()).toBeUndefined();
    expect(b.tick()).toBeUndefined();
    expect(events.length).toBe(4);
    expect(a.counters().drops['sa-expired']).toBe(2);
    expect(a.getSA(SPI_AB)!.state).toBe('dead');
    // Removing the dead SA: now the SPI is simply unknown.
    b.removeSA(SPI_AB);
    expect(b.inbound(late)).toEqual({ ok: false, reason: 'unknown-spi' });
  });

  test('hard lifetime in bytes: the packet that crosses passes, the next is dropped', () => {
    const { a, b } = peers({ alg: CBC, ...L, lifetime: { hardBytes: 1000 } });
    let hard = 0;
    a.on('hard-expire', () => hard++);
    const p = packet(L.a, L.b, bytes(600));
    ok(b.inbound(ok(a.outbound(p))));
    expect(a.getSA(SPI_AB)!.bytes).toBe(608);
    ok(b.inbound(ok(a.outbound(p))));
    expect(hard).toBe(1);
    expect(a.outbound(p)).toEqual({ ok: false, reason: 'sa-expired' });
    expect(b.getSA(SPI_AB)!.state).toBe('dead');
  });

  test('soft lifetime fires once, the SA keeps working, tick() reports deadlines', () => {
    let now = 0;
    const { a, b } = peers({ alg: GCM, ...L, clock: () => now, lifetime: { softSeconds: 5, hardSeconds: 60, softBytes: 100 } });
    const softA: number[] = [];
    const softB: number[] = [];
    a.on('soft-expire', (sa) => softA.push(sa.spi));
    b.on('soft-expire', (sa) => softB.push(sa.spi));
    expect(a.tick()).toBe(5000);
    now = 5000;
    expect(a.tick()).toBe(60_000);
    expect(softA.sort()).toEqual([SPI_AB, SPI_BA].sort());
    // B learns lazily: its inbound SA turns dying on the first packet, once, though bytes cross 100 later too.
    for (let i = 0; i < 5; i++) ok(b.inbound(ok(a.outbound(packet(L.a, L.b, bytes(50))))));
    expect(softB).toEqual([SPI_AB]);
    expect(b.tick()).toBe(60_000);
    expect(softB).toEqual([SPI_AB, SPI_BA]);
    expect(a.tick()).toBe(60_000);
    expect(softA.length).toBe(2);
    expect(a.getSA(SPI_AB)!.state).toBe('dying');
    expect(b.getSA(SPI_AB)!.state).toBe('dying');
    // Bytes alone: a soft byte limit fires once when crossed.
    const q = peers({ alg: GCM, ...L, lifetime: { softBytes: 100 } });
    let n = 0;
    q.a.on('soft-expire', () => n++);
    for (let i = 0; i < 5; i++) ok(q.a.outbound(packet(L.a, L.b, bytes(50))));
    expect(n).toBe(1);
    expect(q.a.tick()).toBeUndefined();
  });

  test('listeners that throw are counted, never rethrown into the data plane', () => {
    const { a } = peers({ alg: GCM, ...L, lifetime: { hardBytes: 10 } });
    a.on('hard-expire', () => {
      throw new Error('listener bug');
    });
    expect(a.outbound(packet(L.a, L.b, bytes(20))).ok).toBe(true);
    expect(a.counters().listenerErrors).toBe(1);
  });

  test('a bundle picks its newest live SA: rekeying needs no policy change', () => {
    let now = 0;
    const e = new IpsecEngine({ clock: () => now });
    const k = { direction: 'outbound' as const, mode: 'transport' as const, algorithm: 'aes-gcm-16' as const, encKey: GCM.encKey, bundle: 'peer' };
    e.addPolicy({ direction: 'outbound', action: { protect: { bundle: 'peer' } } });
    e.addSA({ spi: 0x7001, ...k, lifetime: { softSeconds: 1, hardSeconds: 2 } });
    expect(e.outboundSpiFor(packet('::1', '::2', bytes(1)))).toBe(0x7001);
    e.addSA({ spi: 0x7002, ...k });
    expect(e.outboundSpiFor(packet('::1', '::2', bytes(1)))).toBe(0x7002);
    e.removeSA(0x7002);
    expect(toHex(ok(e.outbound(packet('::1', '::2', bytes(1)))).subarray(40, 44))).toBe('00007001');
    now = 2000;
    expect(e.outbound(packet('::1', '::2', bytes(1)))).toEqual({ ok: false, reason: 'sa-expired' });
    expect(e.outboundSpiFor(packet('::1', '::2', bytes(1)))).toBeUndefined();
  });
});

describe('control API', () => {
  test('outboundSpiFor answers without consuming a sequence number or counting', () => {
    const { a, b } = peers({ alg: GCM, ...LAYOUTS[2] });
    const p = packet(LAYOUTS[2].a, LAYOUTS[2].b, bytes(10));
    for (let i = 0; i < 5; i++) expect(a.outboundSpiFor(p)).toBe(SPI_AB);
    expect(a.getSA(SPI_AB)!.seq).toBe(0n);
    expect(a.counters().outProtected).toBe(0);
    expect(a.outboundSpiFor(packet('2001:db8::1', '2001:db8::2', bytes(1)))).toBeUndefined();
    const wire = ok(a.outbound(p));
    expect(toHex(wire.subarray(44, 48))).toBe('00000001');
    ok(b.inbound(wire));
    // BYPASS and DISCARD have no SPI.
    a.addPolicy({ direction: 'outbound', action: 'bypass' }, 0);
    expect(a.outboundSpiFor(p)).toBeUndefined();
  });

  test('SPI selects: MH messages by type go to different SAs', () => {
    const e = new IpsecEngine();
    const k = { direction: 'outbound' as const, mode: 'transport' as const, algorithm: 'aes-gcm-16' as const, encKey: GCM.encKey };
    e.addSA({ spi: 0x4001, ...k });
    e.addSA({ spi: 0x4002, ...k, mode: 'tunnel', tunnel: { src: '2001:db8::a', dst: '2001:db8::b' } });
    e.addPolicy({ direction: 'outbound', selector: { local: '2001:db8:1::1', remote: '2001:db8::b', proto: 135, mhType: 5 }, action: { protect: { spi: 0x4001 } } });
    e.addPolicy({ direction: 'outbound', selector: { local: '2001:db8:1::1' }, action: { protect: { spi: 0x4002 } } });
    expect(e.outboundSpiFor(ipv6('2001:db8:1::1', '2001:db8::b', 135, mh(5)))).toBe(0x4001);
    expect(e.outboundSpiFor(ipv6('2001:db8:1::1', '2001:db8::b', 135, mh(1)))).toBe(0x4002);
    expect(e.outboundSpiFor(ipv6('2001:db8:1::1', '2001:db8::c', 58, icmp(128, 0)))).toBe(0x4002);
  });

  test('policies: ordered, first match wins, insert at a position, remove, list', () => {
    const e = new IpsecEngine();
    const id1 = e.addPolicy({ direction: 'both', action: 'discard' });
    const id2 = e.addPolicy({ id: 'web', direction: 'outbound', selector: { proto: 6, remotePort: 80 }, action: 'bypass' }, 0);
    const id3 = e.addPolicy({ direction: 'inbound', selector: { remote: '2001:db8::/32' }, action: { protect: { bundle: 'b' } } }, 1);
    expect(id2).toBe('web');
    expect(e.listPolicies().map((p) => [p.id, p.index])).toEqual([
      ['web', 0],
      [id3, 1],
      [id1, 2],
    ]);
    expect(e.listPolicies()[1]).toEqual({ id: id3, index: 1, direction: 'inbound', selector: { local: 'any', remote: '2001:db8::/32', proto: 'any' }, action: { protect: { bundle: 'b' } } });
    const web = ipv4('10.0.0.1', '10.0.0.2', 6, tcp(1234, 80, bytes(3)));
    expect(e.outbound(web).ok).toBe(true);
    e.removePolicy('web');
    expect(e.outbound(web)).toEqual({ ok: false, reason: 'discard-policy' });
    expect(() => e.removePolicy('web')).toThrow(UnknownPolicyError);
    expect(() => e.addPolicy({ id: id1, direction: 'both', action: 'bypass' })).toThrow(DuplicatePolicyError);
    expect(() => e.addPolicy({ direction: 'both', action: 'bypass' }, 9)).toThrow(/position: must be an integer from 0 to 2/);
  });

  test('SAs: add, get, list, remove; errors name the field and the allowed values', () => {
    const e = new IpsecEngine({ clock: () => 42 });
    const info = e.addSA({ spi: 0x1234, direction: 'inbound', mode: 'tunnel', tunnel: { src: '2001:DB8::b', dst: '2001:db8::a' }, algorithm: 'aes-gcm-16', encKey: GCM.encKey, selectors: [{ local: '2001:db8:1::/48' }], bundle: 'x' });
    expect(info).toMatchObject({ spi: 0x1234, direction: 'inbound', mode: 'tunnel', tunnel: { src: '2001:db8::b', dst: '2001:db8::a' }, algorithm: 'aes-gcm-16', esn: false, replayWindow: 1024, state: 'mature', addedAt: 42, packets: 0, bytes: 0, seq: 0n, bundle: 'x' });
    expect(info.selectors).toEqual([{ local: '2001:db8:1::/48', remote: 'any', proto: 'any' }]);
    expect(JSON.stringify(info, (_k, v) => (typeof v === 'bigint' ? String(v) : v))).not.toMatch(/encKey|authKey/);
    expect(e.getSA(0x1234)).toEqual(info);
    expect(e.listSAs()).toEqual([info]);
    expect(() => e.addSA({ spi: 0x1234, direction: 'outbound', mode: 'transport', algorithm: 'aes-gcm-16', encKey: GCM.encKey })).toThrow(DuplicateSpiError);
    e.removeSA(0x1234);
    expect(e.getSA(0x1234)).toBeUndefined();
    expect(() => e.removeSA(0x1234)).toThrow(UnknownSpiError);

    const base = { spi: 0x1000, direction: 'outbound', mode: 'transport', algorithm: 'aes-gcm-16', encKey: GCM.encKey } as const;
    const bad: [object, string, RegExp][] = [
      [{ spi: 5 }, 'spi', /256 to 4294967295/],
      [{ spi: 2 ** 32 }, 'spi', /256 to 4294967295/],
      [{ direction: 'up' }, 'direction', /'inbound' or 'outbound'/],
      [{ mode: 'beet' }, 'mode', /'transport' or 'tunnel'/],
      [{ algorithm: 'des' }, 'algorithm', /aes-gcm-16, aes-cbc-hmac-sha256-128, null-hmac-sha256-128/],
      [{ encKey: new Uint8Array(16) }, 'encKey', /20 or 28 or 36 octets \(AES key \+ 4-octet salt\), got 16/],
      [{ algorithm: 'aes-cbc-hmac-sha256-128', encKey: new Uint8Array(16) }, 'authKey', /32 octets/],
      [{ algorithm: 'aes-cbc-hmac-sha256-128', encKey: new Uint8Array(20), authKey: new Uint8Array(32) }, 'encKey', /16 or 24 or 32/],
      [{ authKey: new Uint8Array(32) }, 'authKey', /AEAD and takes no authKey/],
      [{ mode: 'tunnel' }, 'tunnel', /outer addresses/],
      [{ tunnel: { src: '::1', dst: '::2' } }, 'tunnel', /only mode 'tunnel'/],
      [{ mode: 'tunnel', tunnel: { src: '::1', dst: '10.0.0.1' } }, 'tunnel', /same family/],
      [{ mode: 'tunnel', tunnel: { src: '::1', dst: 'nowhere' } }, 'tunnel.dst', /not an IPv4 or IPv6/],
      [{ replayWindow: 64 }, 'replayWindow', /only inbound/],
      [{ direction: 'inbound', replayWindow: 31 }, 'replayWindow', /32 to 1048576/],
      [{ lifetime: { hardSeconds: -1 } }, 'lifetime.hardSeconds', /positive finite/],
      [{ lifetime: { softBytes: 10, hardBytes: 5 } }, 'lifetime.softBytes', /must not exceed hardBytes/],
      [{ seq: 2 ** 32 }, 'seq', /0 to 4294967295/],
      [{ seq: -1 }, 'seq', /0 to/],
      [{ ivMask: new Uint8Array(4) }, 'ivMask', /8 octets/],
      [{ bundle: '' }, 'bundle', /non-empty/],
      [{ esn: 'yes' }, 'esn', /true or false/],
      [{ iface: 'eth0' }, 'iface', /unknown SA field/],
    ];
    for (const [patch, field, msg] of bad) {
      try {
        e.addSA({ ...base, ...patch } as never);
        expect.unreachable(JSON.stringify(patch));
      } catch (err) {
        expect(err, JSON.stringify(patch)).toBeInstanceOf(InvalidSaError);
        expect((err as InvalidSaError).field).toBe(field);
        expect((err as Error).message).toMatch(msg);
      }
    }
    expect(() => e.addSA({ ...base, selectors: [{ local: '10.0.0.1/40' }] })).toThrow(InvalidSelectorError);
    expect(() => e.addSA({ ...base, selectors: [{ local: '10.0.0.1/40' }] })).toThrow(/selectors\[0\]\.local/);
    expect(() => e.addPolicy({ direction: 'sideways' } as never)).toThrow(InvalidPolicyError);
    expect(() => e.addPolicy({ direction: 'both', action: { protect: { spi: 1 } } })).toThrow(/action: must be 'bypass', 'discard'/);
    expect(() => e.addPolicy({ direction: 'both', action: { protect: {} } } as never)).toThrow(InvalidPolicyError);
    expect(e.listSAs()).toEqual([]);
  });

  test('counters() is a snapshot', () => {
    const e = new IpsecEngine();
    const c = e.counters();
    e.outbound(new Uint8Array(3));
    expect(c.drops.malformed).toBe(0);
    expect(e.counters().drops.malformed).toBe(1);
  });
});
