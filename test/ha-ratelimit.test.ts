// ha/ratelimit.ts on its own: the token buckets (per (SPI, source), per source, per SPI) under an
// injected clock, the trusted-pair bypass, the caps on memory, the bounded ESP-SPI walk, the gate's
// order (unknown SPI first, limits only for BU SAs), and the memo of the BU-SA predicate.
import { describe, expect, it } from 'vitest';
import { IpProto } from '../common/iana.js';
import { encodeIpv6, haoDestOpts } from '../common/ipv6.js';
import { admit, BuRateLimiter, espSpiOf, memoBindingSpi, RATE_LIMIT_DEFAULTS } from '../ha/ratelimit.js';

function clock(t = 0) {
  const c = { t, now: () => c.t };
  return c;
}

describe('BuRateLimiter', () => {
  it('one (SPI, source) pair gets its burst, then its rate; the refill is proportional to the time passed', () => {
    const c = clock();
    const l = new BuRateLimiter(c.now, { perPairRate: 3, perPairBurst: 6 });
    const v = () => l.check(7, '192.0.2.1');
    expect(Array.from({ length: 6 }, v)).toEqual(Array(6).fill('pass'));
    expect(v()).toBe('rate-limited:source');
    c.t += 333; // 0.999 of a token
    expect(v()).toBe('rate-limited:source');
    c.t += 1;
    expect(v()).toBe('pass');
    c.t += 10_000; // never more than the burst
    expect(Array.from({ length: 7 }, v).filter((x) => x === 'pass').length).toBe(6);
  });

  it('a refused packet spends nothing from later buckets: one address flooding an SPI leaves the SPI bucket for others', () => {
    const c = clock();
    const l = new BuRateLimiter(c.now, { perPairRate: 3, perPairBurst: 6, perSpiRate: 10, perSpiBurst: 20 });
    for (let i = 0; i < 1000; i++) l.check(7, '203.0.113.66');
    // 6 of the attacker's packets took SPI tokens; the MN from elsewhere still has 14.
    const mn = Array.from({ length: 14 }, (_, i) => l.check(7, `198.51.100.${i}`));
    expect(mn).toEqual(Array(14).fill('pass'));
    expect(l.check(7, '198.51.100.200')).toBe('rate-limited:spi');
  });

  it('the per-source bucket spans SPIs and ignores ports (the key is the address)', () => {
    const c = clock();
    const l = new BuRateLimiter(c.now, { perSourceRate: 1, perSourceBurst: 4, perPairBurst: 100, perPairRate: 100 });
    expect([1, 2, 3, 4, 5].map((spi) => l.check(spi, '192.0.2.9'))).toEqual(['pass', 'pass', 'pass', 'pass', 'rate-limited:source']);
  });

  it('the trusted pair (last authenticated source of the SPI) bypasses every bucket; another source does not', () => {
    const c = clock();
    const l = new BuRateLimiter(c.now, { perSpiRate: 1, perSpiBurst: 1 });
    l.trust(7, '198.51.100.7');
    expect(l.check(7, '203.0.113.66')).toBe('pass');
    expect(l.check(7, '203.0.113.67')).toBe('rate-limited:spi');
    for (let i = 0; i < 100; i++) expect(l.check(7, '198.51.100.7')).toBe('trusted');
    l.trust(7, '198.51.100.8'); // the MN moved: the old address is trusted no more
    expect(l.check(7, '198.51.100.7')).toBe('rate-limited:spi');
  });

  it('memory is capped: the oldest bucket goes first and comes back full', () => {
    const c = clock();
    const l = new BuRateLimiter(c.now, { maxSources: 100, maxSpis: 10 });
    for (let i = 0; i < 10_000; i++) l.check(i % 50, `10.0.${i >> 8}.${i & 255}`);
    const s = l.size;
    expect(s.pairs).toBeLessThanOrEqual(100);
    expect(s.sources).toBeLessThanOrEqual(100);
    expect(s.spis).toBeLessThanOrEqual(10);
    for (let i = 0; i < 50; i++) l.trust(i, 'x');
    expect(l.size.trusted).toBe(10);
  });

  it('a clock that goes backwards refills nothing and wedges nothing', () => {
    const c = clock(10_000);
    const l = new BuRateLimiter(c.now, { perPairRate: 1, perPairBurst: 1 });
    expect(l.check(1, 'a')).toBe('pass');
    c.t = 0;
    expect(l.check(1, 'a')).toBe('rate-limited:source');
    c.t = 1000;
    expect(l.check(1, 'a')).toBe('pass');
  });

  it('defaults are documented values', () => {
    expect(RATE_LIMIT_DEFAULTS).toMatchObject({ perPairRate: 3, perPairBurst: 10, perSourceRate: 30, perSourceBurst: 60, perSpiRate: 10, perSpiBurst: 20 });
  });
});

describe('espSpiOf and admit', () => {
  const esp = (spi: number) => {
    const b = new Uint8Array(24);
    new DataView(b.buffer).setUint32(0, spi);
    return b;
  };
  const plain = encodeIpv6({ header: { src: '2001:db8:1::100', dst: '2001:db8:1::1' }, upperProtocol: IpProto.ESP, upper: esp(0xdeadbeef) });
  const withHao = encodeIpv6({ header: { src: '2001:db8:6::100', dst: '2001:db8:1::1' }, extensions: [haoDestOpts('2001:db8:1::100')], upperProtocol: IpProto.ESP, upper: esp(0x1001) });

  it('finds the SPI after a HAO, and none in what is not IPv6 + ESP', () => {
    expect(espSpiOf(plain)).toBe(0xdeadbeef);
    expect(espSpiOf(withHao)).toBe(0x1001);
    expect(espSpiOf(new Uint8Array(0))).toBeUndefined();
    expect(espSpiOf(plain.subarray(0, 42))).toBeUndefined(); // ESP header cut
    expect(espSpiOf(Uint8Array.from([0x45, ...new Uint8Array(60)]))).toBeUndefined(); // IPv4
    const udp = Uint8Array.from(plain);
    udp[6] = 17;
    expect(espSpiOf(udp)).toBeUndefined();
    // A chain of 9 Destination Options headers: the walk stops at 8.
    const chain = new Uint8Array(40 + 9 * 8 + 8);
    chain[0] = 0x60;
    chain[6] = 60;
    for (let i = 0; i < 9; i++) chain[40 + 8 * i] = i < 8 ? 60 : 50;
    expect(espSpiOf(chain)).toBeUndefined();
  });

  it('unknown SPIs are refused first; known non-BU SPIs pass unlimited; BU SPIs are limited by the outer source', () => {
    const c = clock();
    const l = new BuRateLimiter(c.now, { perPairRate: 1, perPairBurst: 1 });
    let asked = 0;
    const src = () => (asked++, '198.51.100.7');
    const view = { known: (s: number) => s === 0x1001 || s === 0xdeadbeef, isBindingSpi: (s: number) => s === 0x1001 };
    expect(admit(l, esp(5), src, view)).toEqual({}); // not IPv6: the tunnel's business
    expect(admit(l, encodeIpv6({ header: { src: '::1', dst: '::2' }, upperProtocol: IpProto.ESP, upper: esp(5) }), src, view)).toEqual({ drop: 'ipsec-in:unknown-spi' });
    expect(admit(l, plain, src, view)).toEqual({});
    expect(admit(l, plain, src, view)).toEqual({});
    expect(asked, 'the source is only asked for BU SAs').toBe(0);
    expect(admit(l, withHao, src, view)).toEqual({ from: '198.51.100.7' });
    expect(admit(l, withHao, src, view)).toEqual({ drop: 'rate-limited:source' });
  });

  it('memoBindingSpi asks once per SPI per TTL', () => {
    const c = clock();
    let calls = 0;
    const m = memoBindingSpi((s) => (calls++, s === 1), c.now, 1000);
    expect([m(1), m(1), m(2), m(2)]).toEqual([true, true, false, false]);
    expect(calls).toBe(2);
    c.t += 1000;
    m(1);
    expect(calls).toBe(3);
  });
});
