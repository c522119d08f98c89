// fast-check properties of the ipsec engine:
//  - for random payloads, inbound(outbound(p)) = p, for every algorithm, both modes and
//    all inner/outer family combinations;
//  - no byte string makes inbound(), outbound() or outboundSpiFor() throw: each returns
//    a packet or a counted drop, and the 'internal-error' counter (a caught exception)
//    stays 0.
//
// Run counts: the never-throws properties share FUZZ_RUNS runs (default 100000, the
// documented minimum for a full run; `FUZZ_RUNS=1000000 npx vitest run test/ipsec-fuzz`
// for a long one): 40% mutated genuine ESP packets, 20% authenticated garbage (a valid
// ICV over arbitrary plaintext, to reach every post-ICV check), 20% IP-shaped random
// packets in both directions, 20% arbitrary bytes.

import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { DROP_REASONS, IpsecEngine, IpsecResult } from '../ipsec/index.js';
import { concat, dstOptsC9, hex, ipv4, ipv6, mh, rh2, udp } from './fixtures/ipsec-packets.js';
import { ALG_CASES, peers } from './fixtures/ipsec-peers.js';

const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 100000);
const share = (f: number) => Math.max(1, Math.round(FUZZ_RUNS * f));

const LAYOUTS = [
  { mode: 'transport' as const, a: '2001:db8::a', b: '2001:db8::b' },
  { mode: 'transport' as const, a: '192.0.2.1', b: '198.51.100.2' },
  { mode: 'tunnel' as const, a: '2001:db8:1::10', b: '2001:db8:2::20', outerA: '2001:db8::a', outerB: '2001:db8::b' },
  { mode: 'tunnel' as const, a: '10.1.0.10', b: '10.2.0.20', outerA: '2001:db8::a', outerB: '2001:db8::b' },
  { mode: 'tunnel' as const, a: '2001:db8:1::10', b: '2001:db8:2::20', outerA: '192.0.2.1', outerB: '198.51.100.2' },
  { mode: 'tunnel' as const, a: '10.1.0.10', b: '10.2.0.20', outerA: '192.0.2.1', outerB: '198.51.100.2' },
];

function build(src: string, dst: string, kind: number, payload: Uint8Array): Uint8Array {
  if (!src.includes(':')) return ipv4(src, dst, 17, udp(1, 2, payload));
  if (kind === 1) return ipv6(src, dst, 60, concat(dstOptsC9(17, '2001:db8::c'), udp(1, 2, payload)));
  if (kind === 2) return ipv6(src, dst, 43, concat(rh2(17, '2001:db8::c'), udp(1, 2, payload)));
  return ipv6(src, dst, 17, udp(1, 2, payload));
}

const VALID = new Set<string>(DROP_REASONS);

function wellFormed(r: IpsecResult): void {
  if (r.ok) expect(r.packet).toBeInstanceOf(Uint8Array);
  else expect(VALID.has(r.reason)).toBe(true);
}

describe('round trip: inbound(outbound(p)) = p', () => {
  test.each(ALG_CASES)('$name', (alg) => {
    const pairs = LAYOUTS.map((l) => ({ l, ...peers({ alg, ...l, replayWindow: 1 << 16, esn: l.mode === 'tunnel' }) }));
    fc.assert(
      fc.property(fc.nat(LAYOUTS.length - 1), fc.boolean(), fc.nat(2), fc.uint8Array({ maxLength: 1400 }), (li, reverse, kind, payload) => {
        const { l, a, b } = pairs[li];
        const [tx, rx, src, dst] = reverse ? [b, a, l.b, l.a] : [a, b, l.a, l.b];
        const p = build(src, dst, kind, payload);
        const wire = tx.outbound(p);
        expect(wire.ok).toBe(true);
        if (!wire.ok) return;
        const back = rx.inbound(wire.packet);
        expect(back.ok).toBe(true);
        if (back.ok) expect(Buffer.from(back.packet).equals(Buffer.from(p))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

describe('never throws', () => {
  // Receivers for every algorithm and layout, and a corpus of genuine packets for them.
  const rigs = ALG_CASES.flatMap((alg, i) => {
    const l = LAYOUTS[i % LAYOUTS.length];
    const l2 = LAYOUTS[(i + 3) % LAYOUTS.length];
    return [peers({ alg, ...l, esn: i % 2 === 0 }), peers({ alg, ...l2, esn: i % 2 === 1 })].map((pr, j) => ({ ...pr, l: j ? l2 : l }));
  });
  const corpus: { rx: IpsecEngine; wire: Uint8Array }[] = [];
  for (const r of rigs) {
    for (let k = 0; k < 20; k++) {
      const out = r.a.outbound(build(r.l.a, r.l.b, k % 3, Uint8Array.from({ length: k * 37 }, (_, i) => i)));
      if (out.ok) corpus.push({ rx: r.b, wire: out.packet });
    }
  }

  function noInternalErrors(): void {
    for (const r of rigs) for (const e of [r.a, r.b]) expect(e.counters().drops['internal-error']).toBe(0);
  }

  test(`mutated genuine ESP packets (${share(0.4)} runs)`, () => {
    expect(corpus.length).toBeGreaterThan(100);
    fc.assert(
      fc.property(
        fc.nat(corpus.length - 1),
        // At least one edit: an unchanged packet would be accepted once, then stopped as a replay before its ICV is looked at.
        fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 4 }),
        // Truncate one time in five, append junk one time in five.
        fc.oneof({ arbitrary: fc.constant(undefined), weight: 4 }, { arbitrary: fc.nat(), weight: 1 }),
        fc.oneof({ arbitrary: fc.constant(new Uint8Array(0)), weight: 4 }, { arbitrary: fc.uint8Array({ minLength: 1, maxLength: 8 }), weight: 1 }),
        (ci, edits, cut, extra) => {
          const { rx, wire } = corpus[ci];
          let p: Uint8Array = Uint8Array.from(wire);
          for (const [pos, v] of edits) p[pos % p.length] = v;
          if (cut !== undefined) p = p.subarray(0, cut % (p.length + 1));
          if (extra.length) p = concat(p, extra);
          wellFormed(rx.inbound(p));
        },
      ),
      { numRuns: share(0.4) },
    );
    noInternalErrors();
    // The mutations reach the ICV check, not only the parsers.
    const icv = rigs.reduce((n, r) => n + r.b.counters().drops['icv-mismatch'], 0);
    expect(icv).toBeGreaterThan(share(0.4) / 100);
  });

  test(`authenticated garbage through every post-ICV check (${share(0.2)} runs)`, () => {
    const authKey = ALG_CASES[4].authKey!;
    const e = new IpsecEngine();
    e.addSA({ spi: 0x9001, direction: 'inbound', mode: 'transport', algorithm: 'null-hmac-sha256-128', authKey, replayWindow: 1 << 20, selectors: [{}] });
    e.addSA({ spi: 0x9002, direction: 'inbound', mode: 'tunnel', algorithm: 'null-hmac-sha256-128', authKey, replayWindow: 1 << 20, selectors: [{ local: '2001:db8::/32' }, { proto: 17 }] });
    let seq = 0;
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.boolean(),
        fc.oneof(
          fc.uint8Array({ maxLength: 120 }),
          // An IP packet (or its upper layer) with a plausible trailer.
          fc.tuple(fc.nat(3), fc.uint8Array({ maxLength: 60 }), fc.nat(8), fc.constantFrom(4, 41, 17, 59, 0, 60, 43, 44, 135, 255)).map(([k, pay, pad, nh]) => {
            const inner = k === 0 ? ipv6('2001:db8::1', '2001:db8::2', 17, udp(1, 2, pay)) : k === 1 ? ipv4('10.0.0.1', '10.0.0.2', 17, udp(1, 2, pay)) : k === 2 ? mh(5, pay) : pay;
            return concat(inner, Uint8Array.from({ length: pad }, (_, i) => i + 1), Uint8Array.of(pad, nh));
          }),
        ),
        fc.boolean(),
        (v6, tunnel, pt, fixAlign) => {
          let plain = pt;
          if (fixAlign && plain.length % 4) plain = concat(new Uint8Array(4 - (plain.length % 4)), plain);
          seq++;
          const body = concat(hex(tunnel ? '00009002' : '00009001'), Uint8Array.of(seq >>> 24, (seq >>> 16) & 255, (seq >>> 8) & 255, seq & 255), plain);
          const esp = concat(body, createHmac('sha256', authKey).update(body).digest().subarray(0, 16));
          const p = v6 ? ipv6('2001:db8::b', '2001:db8::a', 50, esp) : ipv4('192.0.2.2', '192.0.2.1', 50, esp);
          wellFormed(e.inbound(p));
        },
      ),
      { numRuns: share(0.2) },
    );
    const c = e.counters();
    expect(c.drops['internal-error']).toBe(0);
    // Every post-ICV outcome was reached.
    for (const n of [c.inProtected, c.drops['bad-padding'], c.drops['dummy-packet'], c.drops.malformed]) expect(n).toBeGreaterThan(0);
  });

  // IP-shaped random packets: a real header with a random chain of extension headers and body.
  const ipShaped = fc
    .tuple(
      fc.boolean(),
      fc.array(fc.tuple(fc.constantFrom(0, 43, 44, 60, 50, 17, 6, 58, 1, 135, 59, 4, 41, 132), fc.nat(3), fc.uint8Array({ maxLength: 30 })), { maxLength: 4 }),
      fc.uint8Array({ maxLength: 200 }),
      fc.constantFrom('2001:db8::a', '2001:db8:1::10', '10.1.0.10', '192.0.2.1'),
      fc.constantFrom('2001:db8::b', '2001:db8:2::20', '10.2.0.20', '198.51.100.2'),
      fc.integer({ min: -3, max: 3 }),
    )
    .map(([v6, chain, body, src, dst, lenSkew]) => {
      const parts: Uint8Array[] = [];
      for (let i = 0; i < chain.length; i++) {
        const [, len, fill] = chain[i];
        const next = i + 1 < chain.length ? chain[i + 1][0] : 17;
        const h = new Uint8Array((len + 1) * 8);
        h.set(fill.subarray(0, h.length));
        h[0] = next;
        h[1] = len;
        parts.push(h);
      }
      parts.push(body);
      const first = chain.length ? chain[0][0] : 17;
      const s6 = src.includes(':') === v6 ? src : v6 ? '2001:db8::a' : '192.0.2.1';
      const d6 = dst.includes(':') === v6 ? dst : v6 ? '2001:db8::b' : '198.51.100.2';
      const p = v6 ? ipv6(s6, d6, first, concat(...parts)) : ipv4(s6, d6, first, concat(...parts));
      // Sometimes the length field lies.
      if (lenSkew !== 0) {
        const at = v6 ? 4 : 2;
        const n = (((p[at] << 8) | p[at + 1]) + lenSkew) & 0xffff;
        p[at] = n >> 8;
        p[at + 1] = n & 0xff;
      }
      return p;
    });

  test(`IP-shaped random packets, both directions (${share(0.2)} runs)`, () => {
    fc.assert(
      fc.property(ipShaped, fc.nat(rigs.length - 1), (p, ri) => {
        const r = rigs[ri];
        for (const e of [r.a, r.b]) {
          wellFormed(e.inbound(p));
          wellFormed(e.outbound(p));
          const spi = e.outboundSpiFor(p);
          expect(spi === undefined || (Number.isInteger(spi) && spi >= 256)).toBe(true);
        }
      }),
      { numRuns: share(0.2) },
    );
    noInternalErrors();
  });

  test(`arbitrary bytes (${share(0.2)} runs)`, () => {
    const e = rigs[0].b;
    e.addPolicy({ direction: 'both', action: 'bypass' });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), fc.constantFrom(0x45, 0x46, 0x4f, 0x60, 0x61, undefined), (bytes, first) => {
        const p = first === undefined || bytes.length === 0 ? bytes : Uint8Array.from(bytes);
        if (first !== undefined && p.length) p[0] = first;
        wellFormed(e.inbound(p));
        wellFormed(e.outbound(p));
        e.outboundSpiFor(p);
      }),
      { numRuns: share(0.2) },
    );
    expect(e.counters().drops['internal-error']).toBe(0);
  });
});
