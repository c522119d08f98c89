// The RFC 6479 anti-replay window and the RFC 4303 A2.2 ESN high-half recovery, as
// tables in the spirit of wireguard-go replay/replay_test.go (itself ported from the
// Linux kernel), plus a model check against a plain set.
//
// Porting note: wireguard-go counts from 0 and accepts T - s <= windowSize; ESP
// counts from 1 (0 is never valid) and a window of W accepts T - s < W. So every
// wireguard number n becomes n + 1 here and its windowSize becomes W - 1, which
// makes its T_LIM (= windowSize + 1) equal to W.

import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { inferSeqHi, ReplayVerdict, ReplayWindow } from '../ipsec/index.js';

/** check(); update() only when fresh (as after a verified ICV); true when accepted. */
function accept(w: ReplayWindow, s: bigint): boolean {
  const hi = Number(s >> 32n);
  const lo = Number(s & 0xffffffffn);
  if (w.check(hi, lo) !== ReplayVerdict.Fresh) return false;
  w.update(hi, lo);
  return true;
}

describe.each([32, 64, 100, 1024, 2048, 4000])('wireguard-go replay table, window %i', (W) => {
  const n = (x: number) => BigInt(x + 1);
  const T_LIM = W;

  test('main table (wireguard cases 1-24)', () => {
    const w = new ReplayWindow(W);
    const cases: [number, boolean][] = [
      [0, true], //  1
      [1, true], //  2
      [1, false], //  3
      [9, true], //  4
      [8, true], //  5
      [7, true], //  6
      [7, false], //  7
      [T_LIM, true], //  8
      [T_LIM - 1, true], //  9
      [T_LIM - 1, false], // 10
      [T_LIM - 2, true], // 11
      [2, true], // 12
      [2, false], // 13
      [T_LIM + 16, true], // 14
      [3, false], // 15
      [T_LIM + 16, false], // 16
      [T_LIM * 4, true], // 17
      [T_LIM * 4 - (T_LIM - 1), true], // 18
      [10, false], // 19
      [T_LIM * 4 - T_LIM, false], // 20
      [T_LIM * 4 - (T_LIM + 1), false], // 21
      [T_LIM * 4 - (T_LIM - 2), true], // 22
      [T_LIM * 4 + 1 - T_LIM, false], // 23
      [0, false], // 24
    ];
    cases.forEach(([x, want], i) => expect(accept(w, n(x)), `case ${i + 1}: ${x}`).toBe(want));
  });

  const ws = W - 1; // wireguard's windowSize
  test('bulk 1', () => {
    const w = new ReplayWindow(W);
    for (let i = 1; i <= ws; i++) expect(accept(w, n(i))).toBe(true);
    expect(accept(w, n(0))).toBe(true);
    expect(accept(w, n(0))).toBe(false);
  });
  test('bulk 2', () => {
    const w = new ReplayWindow(W);
    for (let i = 2; i <= ws + 1; i++) expect(accept(w, n(i))).toBe(true);
    expect(accept(w, n(1))).toBe(true);
    expect(accept(w, n(0))).toBe(false);
  });
  test('bulk 3', () => {
    const w = new ReplayWindow(W);
    for (let i = ws + 1; i > 0; i--) expect(accept(w, n(i))).toBe(true);
  });
  test('bulk 4', () => {
    const w = new ReplayWindow(W);
    for (let i = ws + 2; i > 1; i--) expect(accept(w, n(i))).toBe(true);
    expect(accept(w, n(0))).toBe(false);
  });
  test('bulk 5', () => {
    const w = new ReplayWindow(W);
    for (let i = ws; i > 0; i--) expect(accept(w, n(i))).toBe(true);
    expect(accept(w, n(ws + 1))).toBe(true);
    expect(accept(w, n(0))).toBe(false);
  });
  test('bulk 6', () => {
    const w = new ReplayWindow(W);
    for (let i = ws; i > 0; i--) expect(accept(w, n(i))).toBe(true);
    expect(accept(w, n(0))).toBe(true);
    expect(accept(w, n(ws + 1))).toBe(true);
  });

  test('verdicts tell a duplicate from a number left of the window', () => {
    const w = new ReplayWindow(W);
    w.update(0, 5);
    expect(w.check(0, 5)).toBe(ReplayVerdict.Replay);
    expect(w.check(0, 0)).toBe(ReplayVerdict.TooOld);
    w.update(0, 5 + W);
    expect(w.check(0, 5)).toBe(ReplayVerdict.TooOld);
    expect(w.check(0, 6)).toBe(ReplayVerdict.Fresh);
  });

  test('a jump past the whole ring clears every word', () => {
    const w = new ReplayWindow(W);
    for (let i = 1; i <= W; i++) w.update(0, i);
    const far = 1 + 1024 * 1024; // same word and bit as 1 for any ring size <= 2^20
    expect(w.check(0, far)).toBe(ReplayVerdict.Fresh);
    w.update(0, far);
    for (let i = far - W + 1; i < far; i++) expect(w.check(0, i)).toBe(ReplayVerdict.Fresh);
  });
});

describe('64-bit (ESN) numbers in the window', () => {
  test('crossing a 2^32 boundary keeps the window', () => {
    const w = new ReplayWindow(1024);
    const base = (7n << 32n) - 10n;
    for (let i = 0n; i < 20n; i++) expect(accept(w, base + i)).toBe(true);
    for (let i = 0n; i < 20n; i++) expect(accept(w, base + i)).toBe(false);
    expect(w.top).toBe(base + 19n);
    // T - 1023 is the last number inside a window of 1024; it lies in the previous 2^32 subspace.
    const at = (s: bigint) => w.check(Number(s >> 32n), Number(s & 0xffffffffn));
    expect((w.top - 1023n) >> 32n).toBe(6n);
    expect(at(w.top - 1023n)).toBe(ReplayVerdict.Fresh);
    expect(at(w.top - 1024n)).toBe(ReplayVerdict.TooOld);
    expect(at(5n << 32n)).toBe(ReplayVerdict.TooOld);
  });

  test('the top of the 64-bit space', () => {
    const w = new ReplayWindow(64);
    const max = (1n << 64n) - 1n;
    expect(accept(w, max - 1n)).toBe(true);
    expect(accept(w, max)).toBe(true);
    expect(accept(w, max)).toBe(false);
    expect(accept(w, max - 63n)).toBe(true);
    expect(accept(w, max - 64n)).toBe(false);
  });

  test('setTop restores a window: the top counts as seen, below it as unseen', () => {
    const w = new ReplayWindow(1024);
    w.setTop(68n << 32n);
    expect(w.check(68, 0)).toBe(ReplayVerdict.Replay);
    expect(w.check(67, 0xffffffff)).toBe(ReplayVerdict.Fresh);
    expect(w.check(68, 1)).toBe(ReplayVerdict.Fresh);
  });
});

describe('window model check', () => {
  test.each([32, 1024])('matches a set-based model, window %i', (W) => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 3 * W }), { maxLength: 3 * W }), (seqs) => {
        const w = new ReplayWindow(W);
        const seen = new Set<number>();
        let top = 0;
        for (const s of seqs) {
          const want = s === 0 || s + W <= top ? ReplayVerdict.TooOld : seen.has(s) ? ReplayVerdict.Replay : ReplayVerdict.Fresh;
          expect(w.check(0, s)).toBe(want);
          if (want === ReplayVerdict.Fresh) {
            w.update(0, s);
            seen.add(s);
            top = Math.max(top, s);
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('RFC 4303 Appendix A2.2 seq_hi recovery', () => {
  const W = 1024;
  const M = 0x1_0000_0000;
  // [seq_lo, Th, Tl, expected seq_hi]
  const table: [number, number, number, number][] = [
    // Window within one subspace (Tl >= W - 1): bottom = Tl - W + 1.
    [4000, 5, 5000, 5], // inside the window
    [3977, 5, 5000, 5], // the bottom itself
    [3976, 5, 5000, 6], // below the bottom: taken as ahead, in the next subspace
    [0, 5, 5000, 6],
    [M - 1, 5, 5000, 5], // ahead in the same subspace
    [1, 5, W - 1, 5], // Tl = W - 1: bottom 0, still one subspace
    // Window spans two subspaces (Tl < W - 1): bottom lies in Th - 1.
    [50, 5, 100, 5],
    [M - 10, 5, 100, 4], // inside the window, previous subspace
    [M - 923, 5, 100, 4], // the bottom itself
    [M - 924, 5, 100, 5], // below the bottom: ahead
    [1, 1, 0, 1], // V9: T = 2^32 -> seq_hi 1
    [1, 68, 0, 68], // V10
    // Impossible guesses.
    [M - 1, 0, 0, -1], // before the first number
    [10, 0xffffffff, 5000, -1], // past 2^64 - 1
    [1, 0, 0, 0], // a fresh SA
  ];
  test.each(table)('seq_lo %i with T = (%i, %i) -> %i', (lo, th, tl, want) => {
    expect(inferSeqHi(lo, th, tl, W)).toBe(want);
  });

  test('agrees with "the candidate nearest to T" on random inputs', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: (1n << 64n) - 1n }), fc.integer({ min: -2000, max: 2000 }), fc.constantFrom(32, 64, 1024, 4096), (top, delta, w) => {
        // A sequence number within [T - W + 1, T + 2^32 - W] has a unique recovery.
        let s = top + BigInt(delta);
        if (s < top - BigInt(w) + 1n || s < 1n || s > (1n << 64n) - 1n) s = top;
        const hi = inferSeqHi(Number(s & 0xffffffffn), Number(top >> 32n), Number(top & 0xffffffffn), w);
        expect(hi).toBe(Number(s >> 32n));
      }),
      { numRuns: 2000 },
    );
  });
});
