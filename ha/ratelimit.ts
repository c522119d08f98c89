// Cheap rejection before crypto on the HA's receive path: unknown SPIs refused before any decoding,
// and token buckets per (SPI, source), per outer source address and per BU SA (SPI) for packets that
// would otherwise reach ESP verification under a BU SA. A flood
// of forged BUs (the SPI is visible on the wire, the keys are not) then costs a map lookup per packet
// instead of an ICV computation, and the HA keeps up with the legitimate MN's BU.
// It must never read the wall clock or arm a timer (the clock is injected), never throw, never grow
// without bound (every map is capped), and never decide anything from a packet's contents beyond
// the SPI and the outer source: authentication is ipsec/'s job, this only rations access to it.
//
// Why these keys, and how a spoofer is kept from starving the real MN:
//  - Per (SPI, source ADDRESS) first, at RFC 6275 §13 MAX_UPDATE_RATE (3 BUs/s, what one MN may send
//    from one address): one flooding address that knows the MN's SPI spends at most that much of the
//    SPI's bucket, which is larger, so it cannot drain it. A bucket that refuses a packet spends
//    nothing from the buckets after it.
//  - Per source ADDRESS (not address:port): a flooder must not multiply its budget by changing ports.
//    MNs behind one NAT share it, so it is generous.
//  - Per SPI: caps ESP verification per BU SA when the flood comes from many (spoofed) addresses.
//  - Trusted pairs bypass every bucket: (SPI, outer address) of the last packet that ESP authenticated under
//    that SPI, i.e. the MN's current CoA (or its NAT's public address). An attacker who floods the
//    MN's SPI from other addresses drains only the shared buckets; the MN's refreshes from where it is
//    registered still reach ESP. Before crypto nothing tells the MN from someone spoofing its exact
//    address with its SPI, so that case is not limited at all: it costs one ICV per packet (the
//    price of not letting the limiter starve the MN), and the forgeries still fail ICV or replay.
//  - What stays open (documented in RELIABILITY.md): an MN registering from a NEW address while an
//    attacker floods its SPI from many spoofed addresses competes for the SPI bucket, so its BU may be
//    refused and retransmitted on the RFC 6275 backoff until the flood stops.

export interface RateLimitOptions {
  /** Tokens per second per (BU SA, source address). Default 3 (RFC 6275 §13 MAX_UPDATE_RATE). */
  perPairRate?: number;
  /** Bucket depth per (BU SA, source address). Default 10: a quick move and its retransmissions, or BUs a busy event loop hands over in one batch. */
  perPairBurst?: number;
  /** Tokens per second per outer source address. Default 30 (ten MNs behind one NAT at MAX_UPDATE_RATE). */
  perSourceRate?: number;
  /** Bucket depth per source address. Default 60. */
  perSourceBurst?: number;
  /** Tokens per second per BU SA. Default 10 (three times MAX_UPDATE_RATE). */
  perSpiRate?: number;
  /** Bucket depth per BU SA. Default 20. */
  perSpiBurst?: number;
  /** Source and (SPI, source) buckets kept at most, each; the oldest is forgotten first (it comes back full). Default 65536. */
  maxSources?: number;
  /** SPI buckets (and trusted pairs) kept at most. Default 65536. */
  maxSpis?: number;
}

export type RateLimitVerdict = 'pass' | 'trusted' | 'rate-limited:source' | 'rate-limited:spi';

interface Bucket {
  tokens: number;
  at: number;
}

/** Defaults as documented on RateLimitOptions. */
export const RATE_LIMIT_DEFAULTS: Readonly<Required<RateLimitOptions>> = Object.freeze({
  perPairRate: 3,
  perPairBurst: 10,
  perSourceRate: 30,
  perSourceBurst: 60,
  perSpiRate: 10,
  perSpiBurst: 20,
  maxSources: 65536,
  maxSpis: 65536,
});

export class BuRateLimiter {
  private readonly o: Required<RateLimitOptions>;
  private readonly pairs = new Map<string, Bucket>();
  private readonly sources = new Map<string, Bucket>();
  private readonly spis = new Map<number, Bucket>();
  private readonly trusted = new Map<number, string>();

  constructor(
    private readonly now: () => number,
    opts: RateLimitOptions = {},
  ) {
    this.o = { ...RATE_LIMIT_DEFAULTS, ...opts };
  }

  /** Decides for one packet under BU SA `spi` from outer address `source` (canonical text). */
  check(spi: number, source: string): RateLimitVerdict {
    if (this.trusted.get(spi) === source) return 'trusted';
    const t = this.now();
    // The (SPI, source) bucket counts as a source limit: it is this source's share of this SPI.
    const p = this.bucket(this.pairs, `${spi}/${source}`, this.o.maxSources, this.o.perPairBurst, t);
    if (!this.take(p, this.o.perPairRate, this.o.perPairBurst, t)) return 'rate-limited:source';
    const s = this.bucket(this.sources, source, this.o.maxSources, this.o.perSourceBurst, t);
    if (!this.take(s, this.o.perSourceRate, this.o.perSourceBurst, t)) return 'rate-limited:source';
    const k = this.bucket(this.spis, spi, this.o.maxSpis, this.o.perSpiBurst, t);
    if (!this.take(k, this.o.perSpiRate, this.o.perSpiBurst, t)) return 'rate-limited:spi';
    return 'pass';
  }

  /** Call after ESP authenticated a packet under BU SA `spi` from `source`: that pair is the MN's. */
  trust(spi: number, source: string): void {
    if (this.trusted.get(spi) === source) return;
    this.trusted.delete(spi);
    if (this.trusted.size >= this.o.maxSpis) this.trusted.delete(this.trusted.keys().next().value as number);
    this.trusted.set(spi, source);
  }

  /** Buckets currently held (tests check the caps). */
  get size(): { pairs: number; sources: number; spis: number; trusted: number } {
    return { pairs: this.pairs.size, sources: this.sources.size, spis: this.spis.size, trusted: this.trusted.size };
  }

  private bucket<K>(m: Map<K, Bucket>, key: K, cap: number, burst: number, t: number): Bucket {
    let b = m.get(key);
    if (b === undefined) {
      if (m.size >= cap) m.delete(m.keys().next().value as K);
      b = { tokens: burst, at: t };
      m.set(key, b);
    }
    return b;
  }

  private take(b: Bucket, rate: number, burst: number, t: number): boolean {
    // A clock that went backwards refills nothing (and does not wedge the bucket either).
    if (t > b.at) b.tokens = Math.min(burst, b.tokens + ((t - b.at) * rate) / 1000);
    b.at = t;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}

/** What the gate needs to know about an SPI: ipsec/'s SAD (known) and ha/'s BU-SA predicate. */
export interface SpiView {
  known(spi: number): boolean;
  isBindingSpi(spi: number): boolean;
}

/**
 * `isBindingSpi` remembered per SPI for `ttlMs` (injected clock): the HA's predicate walks the SPD
 * (about 5 µs), which a flood would pay per packet. Whether an SA protects Mobility Header traffic
 * changes only when keying changes; the HA's runtime SPD additions (IPv4 home-address data
 * policies) never change it, so a stale answer for at most ttlMs is harmless. Only SPIs the SAD
 * holds are asked, so the map is as large as the SAD at most.
 */
export function memoBindingSpi(isBindingSpi: (spi: number) => boolean, now: () => number, ttlMs = 1000): (spi: number) => boolean {
  const memo = new Map<number, { v: boolean; until: number }>();
  return (spi) => {
    const t = now();
    const m = memo.get(spi);
    if (m !== undefined && t < m.until && t >= m.until - ttlMs) return m.v;
    const v = isBindingSpi(spi);
    memo.set(spi, { v, until: t + ttlMs });
    return v;
  };
}

/** A drop reason, or go on (with the source to trust once ESP authenticated, for a BU SA). */
export type AdmitResult = { readonly drop: 'ipsec-in:unknown-spi' | 'rate-limited:source' | 'rate-limited:spi' } | { readonly drop?: undefined; readonly from?: string };

const GO_ON: AdmitResult = Object.freeze({});
const UNKNOWN_SPI: AdmitResult = Object.freeze({ drop: 'ipsec-in:unknown-spi' as const });
const LIMITED_SOURCE: AdmitResult = Object.freeze({ drop: 'rate-limited:source' as const });
const LIMITED_SPI: AdmitResult = Object.freeze({ drop: 'rate-limited:spi' as const });

/**
 * The gate in front of the HA's whole receive path, before any decoding (tunnel/'s fromCareOf is the
 * costliest step of a forged packet's life, tens of µs): ESP under an SPI the SAD does not hold is
 * refused at once under the reason ipsec/ would have given it; ESP under a BU SA goes through the
 * limiter. `source` (the outer source address) is only asked for then. Anything else goes on.
 */
export function admit(limiter: BuRateLimiter, packet: Uint8Array, source: () => string | undefined, spis: SpiView): AdmitResult {
  const spi = espSpiOf(packet);
  if (spi === undefined) return GO_ON;
  if (!spis.known(spi)) return UNKNOWN_SPI;
  if (!spis.isBindingSpi(spi)) return GO_ON;
  const from = source();
  if (from === undefined) return GO_ON;
  const v = limiter.check(spi, from);
  return v === 'rate-limited:source' ? LIMITED_SOURCE : v === 'rate-limited:spi' ? LIMITED_SPI : { from };
}

/**
 * The SPI of the ESP header of an IPv6 packet (after Hop-by-Hop, Routing and Destination Options
 * headers), or undefined: a bounded walk that reads at most 8 headers and never throws.
 */
export function espSpiOf(p: Uint8Array): number | undefined {
  if (p.length < 40 || p[0] >> 4 !== 6) return undefined;
  let next = p[6];
  let off = 40;
  for (let i = 0; i < 8; i++) {
    if (next === 50) {
      if (off + 4 > p.length) return undefined;
      return ((p[off] << 24) | (p[off + 1] << 16) | (p[off + 2] << 8) | p[off + 3]) >>> 0;
    }
    if (next !== 0 && next !== 43 && next !== 60) return undefined;
    if (off + 2 > p.length) return undefined;
    next = p[off];
    off += 8 * (p[off + 1] + 1);
  }
  return undefined;
}
