// ha/ratelimit.ts's BuRateLimiter (pair buckets inline in the source's state, FIFO rings for the caps)
// cross-checked against the straightforward model it replaced: one Map of token buckets per key,
// (SPI, source) keyed by "spi/source". Below the caps both must give the same verdict for every
// packet of a seeded random mix of SPIs, sources, trust changes and clock steps (backwards too).
// At the caps the eviction order differs by design (whole sources go), so there only the bounds
// and the "comes back full" rule are checked.
import { describe, expect, it } from 'vitest';
import { BuRateLimiter, RATE_LIMIT_DEFAULTS, type RateLimitOptions, type RateLimitVerdict } from '../ha/ratelimit.js';

/** The previous implementation (maps of buckets, no caps reached here), as the reference. */
class ModelLimiter {
  private readonly o: Required<RateLimitOptions>;
  private readonly pairs = new Map<string, { tokens: number; at: number }>();
  private readonly sources = new Map<string, { tokens: number; at: number }>();
  private readonly spis = new Map<number, { tokens: number; at: number }>();
  private readonly trusted = new Map<number, string>();
  constructor(private readonly now: () => number, opts: RateLimitOptions) {
    this.o = { ...RATE_LIMIT_DEFAULTS, ...opts };
  }
  check(spi: number, source: string): RateLimitVerdict {
    if (this.trusted.get(spi) === source) return 'trusted';
    const t = this.now();
    const get = <K>(m: Map<K, { tokens: number; at: number }>, k: K, burst: number) => {
      let b = m.get(k);
      if (!b) m.set(k, (b = { tokens: burst, at: t }));
      return b;
    };
    const take = (b: { tokens: number; at: number }, rate: number, burst: number) => {
      if (t > b.at) b.tokens = Math.min(burst, b.tokens + ((t - b.at) * rate) / 1000);
      b.at = t;
      if (b.tokens < 1) return false;
      b.tokens -= 1;
      return true;
    };
    if (!take(get(this.pairs, `${spi}/${source}`, this.o.perPairBurst), this.o.perPairRate, this.o.perPairBurst)) return 'rate-limited:source';
    if (!take(get(this.sources, source, this.o.perSourceBurst), this.o.perSourceRate, this.o.perSourceBurst)) return 'rate-limited:source';
    if (!take(get(this.spis, spi, this.o.perSpiBurst), this.o.perSpiRate, this.o.perSpiBurst)) return 'rate-limited:spi';
    return 'pass';
  }
  trust(spi: number, source: string): void {
    this.trusted.set(spi, source);
  }
}

/** mulberry32: a small seeded PRNG, so a failure replays. */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

describe('BuRateLimiter against the map-of-buckets model', () => {
  for (const [name, opts] of [
    ['defaults', {}],
    ['small buckets', { perPairRate: 1, perPairBurst: 2, perSourceRate: 2, perSourceBurst: 3, perSpiRate: 3, perSpiBurst: 5 }],
    ['fractional bursts and rates', { perPairRate: 0.5, perPairBurst: 1.5, perSourceRate: 7, perSourceBurst: 2.5, perSpiRate: 2.5, perSpiBurst: 1.7 }],
  ] as [string, RateLimitOptions][]) {
    it(`same verdict for every packet of a random mix (${name})`, () => {
      const r = rng(0x5eed + name.length);
      const c = { t: 1_000_000 };
      const now = () => c.t;
      const a = new BuRateLimiter(now, opts);
      const m = new ModelLimiter(now, opts);
      const verdicts: Record<string, number> = {};
      for (let i = 0; i < 20_000; i++) {
        const x = r();
        if (x < 0.1) c.t += Math.floor(r() * 100);
        else if (x < 0.11) c.t -= Math.floor(r() * 200); // a clock that steps back
        const spi = 1 + Math.floor(r() * 6);
        const source = `198.51.100.${Math.floor(r() * 12)}`;
        if (r() < 0.02) {
          a.trust(spi, source);
          m.trust(spi, source);
        }
        const v = a.check(spi, source);
        expect(v, `packet ${i}: spi ${spi} from ${source} at ${c.t}`).toBe(m.check(spi, source));
        verdicts[v] = (verdicts[v] ?? 0) + 1;
      }
      // The mix exercised every verdict (else the comparison proved little).
      expect(Object.keys(verdicts).sort()).toEqual(['pass', 'rate-limited:source', 'rate-limited:spi', 'trusted']);
    });
  }
});

describe('BuRateLimiter caps', () => {
  it('one source cycling through many SPIs keeps the pair count within maxSources, and its pairs stay separate', () => {
    const c = { t: 0 };
    const l = new BuRateLimiter(() => c.t, { maxSources: 8, perSourceBurst: 1e9, perSpiBurst: 1e9, perPairBurst: 2, perPairRate: 0.001 });
    for (let spi = 1; spi <= 1000; spi++) l.check(spi, '203.0.113.66');
    expect(l.size.pairs).toBeLessThanOrEqual(8);
    expect(l.size.sources).toBe(1);
    // Two SPIs of the source have a bucket each: draining one leaves the other.
    expect([l.check(5000, 'a'), l.check(5000, 'a'), l.check(5000, 'a')]).toEqual(['pass', 'pass', 'rate-limited:source']);
    expect(l.check(5001, 'a')).toBe('pass');
  });

  it('at the source cap the oldest source goes first and comes back with full buckets', () => {
    const c = { t: 0 };
    const l = new BuRateLimiter(() => c.t, { maxSources: 3, perPairBurst: 1, perPairRate: 0.001, perSpiBurst: 1e9 });
    expect(l.check(1, 'a')).toBe('pass');
    expect(l.check(1, 'a')).toBe('rate-limited:source');
    for (const s of ['b', 'c', 'd']) l.check(1, s); // 'a' is the oldest: forgotten when 'd' arrives
    expect(l.size.sources).toBe(3);
    expect(l.size.pairs).toBe(3);
    expect(l.check(1, 'a')).toBe('pass'); // back full; 'b' goes
    expect(l.check(1, 'c')).toBe('rate-limited:source'); // still remembered
    expect(l.check(1, 'b')).toBe('pass');
  });
});
