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

/**
 * One outer source: its own bucket and its share of the first SPI it used, inline (an MN's move
 * makes a new source with one SPI, so a BU from a new CoA costs one map entry and one object, not
 * two entries, two objects and a "spi/source" key string). Further SPIs of the same source get
 * buckets in `more`. Objects are reused when the oldest source is forgotten.
 */
interface Source {
  tokens: number;
  at: number;
  /** The SPI of the inline pair bucket; -1 while none. */
  spi: number;
  pairTokens: number;
  pairAt: number;
  more: Map<number, Bucket> | undefined;
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

/**
 * Keys in insertion order, in a ring: the oldest is forgotten in O(1). (Map's keys().next() after
 * many deletions walks the deleted slots at the front of V8's table, which a cap reached under a
 * flood would pay per new key.) Keys leave only through evictOldest, so ring and map agree.
 */
class InsertionRing<K> {
  private readonly keys: K[] = [];
  private head = 0;
  private count = 0;
  constructor(private readonly cap: number) {}
  get size(): number {
    return this.count;
  }
  push(k: K): void {
    if (this.keys.length < this.cap) {
      this.keys.push(k);
    } else {
      this.keys[(this.head + this.count) % this.cap] = k;
    }
    this.count++;
  }
  /** The oldest key, removed from the ring; undefined when empty. */
  shift(): K | undefined {
    if (this.count === 0) return undefined;
    const k = this.keys[this.head];
    this.head = (this.head + 1) % this.cap;
    this.count--;
    return k;
  }
}

export class BuRateLimiter {
  private readonly o: Required<RateLimitOptions>;
  private readonly sources = new Map<string, Source>();
  private readonly sourceOrder: InsertionRing<string>;
  private readonly spis = new Map<number, Bucket>();
  private readonly spiOrder: InsertionRing<number>;
  private readonly trusted = new Map<number, string>();
  /** (SPI, source) buckets held: the inline ones plus every `more` map's; capped at maxSources. */
  private pairs = 0;

  constructor(
    private readonly now: () => number,
    opts: RateLimitOptions = {},
  ) {
    this.o = { ...RATE_LIMIT_DEFAULTS, ...opts };
    // A cap below 1 would hold nothing; the maps then keep one entry (the packet's own).
    this.sourceOrder = new InsertionRing(Math.max(1, this.o.maxSources));
    this.spiOrder = new InsertionRing(Math.max(1, this.o.maxSpis));
  }

  /** Decides for one packet under BU SA `spi` from outer address `source` (canonical text). */
  check(spi: number, source: string): RateLimitVerdict {
    if (this.trusted.get(spi) === source) return 'trusted';
    const t = this.now();
    const o = this.o;
    const s = this.source(source, t);
    // The (SPI, source) bucket counts as a source limit: it is this source's share of this SPI.
    if (s.spi === spi) {
      if (t > s.pairAt) s.pairTokens = Math.min(o.perPairBurst, s.pairTokens + ((t - s.pairAt) * o.perPairRate) / 1000);
      s.pairAt = t;
      if (s.pairTokens < 1) return 'rate-limited:source';
      s.pairTokens -= 1;
    } else if (s.spi === -1) {
      // A new pair starts full (perPairBurst) and this packet takes one token.
      this.pairs++;
      s.spi = spi;
      s.pairAt = t;
      s.pairTokens = o.perPairBurst - 1;
      if (s.pairTokens < 0) {
        s.pairTokens = o.perPairBurst;
        return 'rate-limited:source';
      }
    } else if (!take(this.morePair(s, source, spi, t), o.perPairRate, o.perPairBurst, t)) {
      return 'rate-limited:source';
    }
    if (!take(s, o.perSourceRate, o.perSourceBurst, t)) return 'rate-limited:source';
    let k = this.spis.get(spi);
    if (k === undefined) {
      if (this.spis.size >= o.maxSpis) this.spis.delete(this.spiOrder.shift()!);
      k = { tokens: o.perSpiBurst, at: t };
      this.spis.set(spi, k);
      this.spiOrder.push(spi);
    }
    if (!take(k, o.perSpiRate, o.perSpiBurst, t)) return 'rate-limited:spi';
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
    return { pairs: this.pairs, sources: this.sources.size, spis: this.spis.size, trusted: this.trusted.size };
  }

  /** The state of `address`, made full (and without a pair) if new; the oldest source goes first at the cap. */
  private source(address: string, t: number): Source {
    let s = this.sources.get(address);
    if (s !== undefined) return s;
    const o = this.o;
    if (this.sources.size >= o.maxSources) s = this.forgetOldest();
    if (s === undefined) {
      s = { tokens: o.perSourceBurst, at: t, spi: -1, pairTokens: 0, pairAt: t, more: undefined };
    } else {
      // The forgotten source's object, reused: the same shape, reset to a full bucket with no pair.
      s.tokens = o.perSourceBurst;
      s.at = t;
      s.spi = -1;
      s.pairTokens = 0;
      s.pairAt = t;
      s.more = undefined;
    }
    this.sources.set(address, s);
    this.sourceOrder.push(address);
    return s;
  }

  /** Forgets the oldest source and its pairs (they come back full); returns its object for reuse. */
  private forgetOldest(): Source | undefined {
    const oldest = this.sourceOrder.shift();
    if (oldest === undefined) return undefined;
    const s = this.sources.get(oldest)!;
    this.sources.delete(oldest);
    this.pairs -= (s.spi === -1 ? 0 : 1) + (s.more?.size ?? 0);
    return s;
  }

  /** A pair bucket of a source's second or later SPI. The pair cap is kept by forgetting the oldest sources. */
  private morePair(s: Source, address: string, spi: number, t: number): Bucket {
    let b = s.more?.get(spi);
    if (b !== undefined) return b;
    const cap = Math.max(1, this.o.maxSources);
    // Bounded: each turn forgets another source, or (once) empties this one's extra pairs.
    for (let turns = this.sources.size + 1; this.pairs >= cap && turns > 0; turns--) {
      const oldest = this.sourceOrder.shift()!;
      const o = this.sources.get(oldest)!;
      if (o !== s) {
        this.sources.delete(oldest);
        this.pairs -= (o.spi === -1 ? 0 : 1) + (o.more?.size ?? 0);
        continue;
      }
      // This source is the oldest: its extra pairs go (they come back full) and it becomes the newest.
      this.pairs -= s.more?.size ?? 0;
      s.more = undefined;
      this.sourceOrder.push(address);
    }
    if (this.pairs >= cap && s.spi !== -1) {
      // Only this source's inline pair is left under a cap of one: it goes too.
      s.spi = -1;
      this.pairs--;
    }
    s.more ??= new Map();
    b = { tokens: this.o.perPairBurst, at: t };
    s.more.set(spi, b);
    this.pairs++;
    return b;
  }
}

function take(b: Bucket, rate: number, burst: number, t: number): boolean {
  // A clock that went backwards refills nothing (and does not wedge the bucket either).
  if (t > b.at) b.tokens = Math.min(burst, b.tokens + ((t - b.at) * rate) / 1000);
  b.at = t;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
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
    // Renewed in place once known (asked per packet; a record per renewal was garbage per BU).
    if (m !== undefined) {
      m.v = v;
      m.until = t + ttlMs;
    } else memo.set(spi, { v, until: t + ttlMs });
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
 * limiter. `source` (the outer source address, or how to read it from the packet) is only asked
 * for then; a function of the packet lets the caller pass one function for every packet instead of
 * a closure per packet. Anything else goes on.
 */
export function admit(limiter: BuRateLimiter, packet: Uint8Array, source: string | ((packet: Uint8Array) => string | undefined), spis: SpiView): AdmitResult {
  const spi = espSpiOf(packet);
  if (spi === undefined) return GO_ON;
  if (!spis.known(spi)) return UNKNOWN_SPI;
  if (!spis.isBindingSpi(spi)) return GO_ON;
  const from = typeof source === 'string' ? source : source(packet);
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
