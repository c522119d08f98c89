// ha/agent.ts keys its per-HoA maps (and registration's binding cache) by the HoA text that
// ip6ToString printed from the BU's octets, without passing it through canonicalIp again. That holds
// only if ip6ToString's text is already canonicalIp's (RFC 5952) form: checked here on random octets
// with the shapes that matter (zero runs of every length and place, IPv4-mapped, IPv4-compatible).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalIp, ip6ToString } from '../common/addr.js';

const group = fc.oneof(fc.constantFrom(0, 0, 0, 1, 0xff, 0x100, 0xffff), fc.integer({ min: 0, max: 0xffff }));
const octets = fc.oneof(
  fc.array(group, { minLength: 8, maxLength: 8 }).map((g) => Uint8Array.from(g.flatMap((v) => [v >> 8, v & 0xff]))),
  fc.uint8Array({ minLength: 4, maxLength: 4 }).map((v4) => Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...v4])),
  fc.uint8Array({ minLength: 4, maxLength: 4 }).map((v4) => Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ...v4])),
  fc.uint8Array({ minLength: 16, maxLength: 16 }),
);

describe('HoA keys', () => {
  it('canonicalIp leaves ip6ToString text unchanged', () => {
    fc.assert(
      fc.property(octets, (b) => {
        const t = ip6ToString(b);
        expect(canonicalIp(t)).toBe(t);
      }),
      { numRuns: 20000 },
    );
  });
});
