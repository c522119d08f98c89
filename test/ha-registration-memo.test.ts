// ha/registration.ts inHomePrefixes behind its per-prefix-list memo: answers by hand from the
// prefixes, the same answer asked twice, and a prefix list changed in place (the memo must notice).
import { describe, expect, it } from 'vitest';
import { inHomePrefixes, type HomePrefix } from '../ha/registration.js';

describe('inHomePrefixes', () => {
  it('answers from the prefixes, again from the memo, and follows a prefix list changed in place', () => {
    const prefixes: HomePrefix[] = [{ prefix: '2001:db8:1::', length: 64 }];
    expect(inHomePrefixes('2001:db8:1::5', prefixes)).toBe(true);
    expect(inHomePrefixes('2001:db8:1::5', prefixes)).toBe(true);
    expect(inHomePrefixes('2001:db8:2::5', prefixes)).toBe(false);
    // /63 boundary: 2001:db8:0:1:: is inside 2001:db8::/63, 2001:db8:0:2:: is not.
    prefixes[0] = { prefix: '2001:db8::', length: 63 };
    expect(inHomePrefixes('2001:db8:1::5', prefixes)).toBe(false);
    expect(inHomePrefixes('2001:db8:0:1::5', prefixes)).toBe(true);
    expect(inHomePrefixes('2001:db8:0:2::5', prefixes)).toBe(false);
    prefixes.push({ prefix: '2001:db8:2::', length: 48 });
    expect(inHomePrefixes('2001:db8:2::5', prefixes)).toBe(true);
  });

  it('still throws on text that is not an IPv6 address, and remembers nothing for it', () => {
    const prefixes: HomePrefix[] = [{ prefix: '2001:db8:1::', length: 64 }];
    expect(() => inHomePrefixes('not-an-address', prefixes)).toThrow();
    expect(() => inHomePrefixes('not-an-address', prefixes)).toThrow();
  });
});
