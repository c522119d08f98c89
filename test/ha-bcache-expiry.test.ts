// The binding cache's expiry heap (ha/bcache.ts) against the plain answer from its own snapshot:
// through random sets (new entries and refreshes that move expiresAt either way), deletions and
// expire() calls, nextExpiry() is the smallest expiresAt held, and expire(now) removes exactly the
// entries with expiresAt <= now.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BindingCache, type BindingEntry } from '../ha/bcache.js';

function entry(i: number, expiresAt: number): BindingEntry {
  return {
    hoa: `2001:db8:1::${(i + 1).toString(16)}`,
    coa: '2001:db8:ff::1',
    udp: false,
    sequence: 1,
    lifetimeSeconds: 400,
    expiresAt,
    flags: { H: true, L: false, K: false, F: false, R: false },
    createdAt: 0,
    updatedAt: 0,
  };
}

const op = fc.oneof(
  { weight: 6, arbitrary: fc.record({ set: fc.integer({ min: 0, max: 40 }), at: fc.integer({ min: 0, max: 5000 }) }) },
  { weight: 2, arbitrary: fc.record({ del: fc.integer({ min: 0, max: 40 }) }) },
  { weight: 1, arbitrary: fc.record({ expire: fc.integer({ min: 0, max: 5000 }) }) },
);

describe('BindingCache expiry', () => {
  it('nextExpiry and expire agree with the snapshot through random changes', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 3000 }), (ops) => {
        const c = new BindingCache();
        for (const o of ops) {
          if ('set' in o) c.set(entry(o.set, o.at));
          else if ('del' in o) c.delete(entry(o.del, 0).hoa);
          else {
            const before = c.snapshot();
            const want = before.filter((e) => e.expiresAt <= o.expire).map((e) => e.hoa).sort();
            expect(c.expire(o.expire).map((e) => e.hoa).sort()).toEqual(want);
            expect(c.snapshot().map((e) => e.hoa)).toEqual(before.filter((e) => e.expiresAt > o.expire).map((e) => e.hoa));
          }
          const all = c.snapshot().map((e) => e.expiresAt);
          expect(c.nextExpiry()).toBe(all.length ? Math.min(...all) : undefined);
        }
      }),
      { numRuns: 60 },
    );
  });
});
