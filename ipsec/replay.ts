// ESP anti-replay (RFC 4303 §3.4.3) as the RFC 6479 ring bitmap: a ring of 32-bit words,
// no shifting; the window slides by zeroing the words it enters. Also the ESN high-half
// recovery of RFC 4303 Appendix A2.2. Pure bookkeeping: never touches crypto, clocks
// or packets, and never decides on its own when to update (the caller updates only
// after the ICV has verified).
//
// Sequence numbers are 64-bit values handled as (hi, lo) pairs of uint32 so the
// per-packet path needs no BigInt. Without ESN, hi is always 0.

export const MIN_REPLAY_WINDOW = 32;
export const DEFAULT_REPLAY_WINDOW = 1024;
/** Upper bound on the configurable window, to bound memory (128 KiB of bitmap). */
export const MAX_REPLAY_WINDOW = 1 << 20;

/** Outcome of a check: 0 = fresh, 1 = duplicate inside the window, 2 = left of the window (or invalid 0). */
export const ReplayVerdict = Object.freeze({ Fresh: 0, Replay: 1, TooOld: 2 } as const);
export type ReplayVerdict = (typeof ReplayVerdict)[keyof typeof ReplayVerdict];

const TWO32 = 0x1_0000_0000;

export class ReplayWindow {
  /** W: a number s is too old when s + W <= T. */
  readonly size: number;
  private readonly words: Uint32Array;
  private readonly mask: number;
  /** T, the highest authenticated sequence number, as (hi, lo). */
  private topHi = 0;
  private topLo = 0;

  /** `size` must be an integer in [MIN_REPLAY_WINDOW, MAX_REPLAY_WINDOW]; the caller validates. */
  constructor(size: number = DEFAULT_REPLAY_WINDOW) {
    this.size = size;
    // One more word than the window needs: the top word is only partly in the window.
    let n = 1;
    while (n * 32 - 32 < size) n <<= 1;
    this.words = new Uint32Array(n);
    this.mask = n - 1;
  }

  /** T as a bigint (control plane only). */
  get top(): bigint {
    return (BigInt(this.topHi) << 32n) | BigInt(this.topLo);
  }

  /** Restores T with an empty bitmap: everything in (T-W, T) counts as unseen, T itself as seen. */
  setTop(top: bigint): void {
    this.words.fill(0);
    this.topHi = Number((top >> 32n) & 0xffffffffn);
    this.topLo = Number(top & 0xffffffffn);
    if (top !== 0n) this.words[(this.topLo >>> 5) & this.mask] |= 1 << (this.topLo & 31);
  }

  get topHigh(): number {
    return this.topHi;
  }

  get topLow(): number {
    return this.topLo;
  }

  /** Would (hi, lo) be accepted? Does not change the window. */
  check(hi: number, lo: number): ReplayVerdict {
    if (hi === 0 && lo === 0) return ReplayVerdict.TooOld;
    if (hi > this.topHi || (hi === this.topHi && lo > this.topLo)) return ReplayVerdict.Fresh;
    const dHi = this.topHi - hi;
    if (dHi > 1) return ReplayVerdict.TooOld;
    const diff = dHi * TWO32 + this.topLo - lo;
    if (diff >= this.size) return ReplayVerdict.TooOld;
    return (this.words[(lo >>> 5) & this.mask] & (1 << (lo & 31))) !== 0 ? ReplayVerdict.Replay : ReplayVerdict.Fresh;
  }

  /** Marks (hi, lo) as seen, sliding the window if it is new. Call only after check() said Fresh and the ICV verified. */
  update(hi: number, lo: number): void {
    if (hi > this.topHi || (hi === this.topHi && lo > this.topLo)) {
      const words = this.words;
      const topBlock = this.topLo >>> 5;
      // Blocks between the old top and the new one; hi-differences of 2+ clear everything anyway.
      const blocks = (hi - this.topHi) * 0x800_0000 + (lo >>> 5) - topBlock;
      if (blocks > this.mask) words.fill(0);
      else for (let i = 1; i <= blocks; i++) words[(topBlock + i) & this.mask] = 0;
      this.topHi = hi;
      this.topLo = lo;
    }
    this.words[(lo >>> 5) & this.mask] |= 1 << (lo & 31);
  }
}

/**
 * RFC 4303 Appendix A2.2: the high 32 bits of an ESN sequence number from its low half
 * `lo`, the window size `w` and the top T = (th, tl). Returns -1 when the guess falls
 * outside 0..2^32-1 (before the first number, or past 2^64 - 1): such a packet is invalid.
 */
export function inferSeqHi(lo: number, th: number, tl: number, w: number): number {
  const bottom = tl - w + 1;
  if (bottom >= 0) {
    // The window lies within one 2^32 subspace.
    if (lo >= bottom) return th;
    return th === 0xffffffff ? -1 : th + 1;
  }
  // The window spans two subspaces: its bottom lies in the previous one.
  if (lo >= bottom + TWO32) return th === 0 ? -1 : th - 1;
  return th;
}
