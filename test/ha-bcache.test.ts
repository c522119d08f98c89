// Binding cache (ha/bcache.ts): storage, canonical HoA keys, the IPv4 HoA reverse index, expiry
// under an injected `now`. Expected values follow from the inputs by hand, never from the code.
import { describe, expect, it } from 'vitest';
import { BindingCache, type BindingEntry } from '../ha/bcache.js';

function entry(hoa: string, over: Partial<BindingEntry> = {}): BindingEntry {
  return {
    hoa,
    coa: '2001:db8:ff::1',
    udp: false,
    sequence: 1,
    lifetimeSeconds: 400,
    expiresAt: 400_000,
    flags: { H: true, L: false, K: false, F: false, R: false },
    createdAt: 0,
    updatedAt: 0,
    ...over,
  };
}

describe('BindingCache', () => {
  it('stores, finds by any spelling of the HoA, and deletes', () => {
    const c = new BindingCache();
    c.set(entry('2001:DB8:1:0::100'));
    expect(c.size).toBe(1);
    expect(c.get('2001:db8:1::100')?.hoa).toBe('2001:db8:1::100');
    expect(c.has('2001:0db8:0001::0100')).toBe(true);
    expect(c.delete('2001:db8:1::100')?.coa).toBe('2001:db8:ff::1');
    expect(c.size).toBe(0);
    expect(c.get('2001:db8:1::100')).toBeUndefined();
    expect(c.delete('2001:db8:1::100')).toBeUndefined();
  });

  it('hands out copies: mutating a returned entry does not change the cache', () => {
    const c = new BindingCache();
    const e = entry('2001:db8:1::1');
    c.set(e);
    e.coa = '2001:db8:ff::2';
    const got = c.get('2001:db8:1::1')!;
    got.coa = '2001:db8:ff::3';
    got.flags.H = false;
    expect(c.get('2001:db8:1::1')!.coa).toBe('2001:db8:ff::1');
    expect(c.get('2001:db8:1::1')!.flags.H).toBe(true);
  });

  it('keeps the IPv4 HoA reverse index in step with set and delete', () => {
    const c = new BindingCache();
    c.set(entry('2001:db8:1::1', { ipv4Hoa: '192.0.2.10' }));
    expect(c.getByIpv4Hoa('192.0.2.10')?.hoa).toBe('2001:db8:1::1');
    c.set(entry('2001:db8:1::1', { ipv4Hoa: '192.0.2.11' }));
    expect(c.getByIpv4Hoa('192.0.2.10')).toBeUndefined();
    expect(c.getByIpv4Hoa('192.0.2.11')?.hoa).toBe('2001:db8:1::1');
    expect(() => c.set(entry('2001:db8:1::2', { ipv4Hoa: '192.0.2.11' }))).toThrow();
    c.delete('2001:db8:1::1');
    expect(c.getByIpv4Hoa('192.0.2.11')).toBeUndefined();
  });

  it('refuses a new entry beyond capacity but allows replacing an existing one', () => {
    const c = new BindingCache(1);
    c.set(entry('2001:db8:1::1'));
    expect(c.isFull()).toBe(true);
    expect(() => c.set(entry('2001:db8:1::2'))).toThrow(RangeError);
    c.set(entry('2001:db8:1::1', { sequence: 2 }));
    expect(c.get('2001:db8:1::1')!.sequence).toBe(2);
  });

  it('expires entries at expiresAt <= now and reports the next expiry', () => {
    const c = new BindingCache();
    expect(c.nextExpiry()).toBeUndefined();
    c.set(entry('2001:db8:1::1', { expiresAt: 1000 }));
    c.set(entry('2001:db8:1::2', { expiresAt: 500 }));
    c.set(entry('2001:db8:1::3', { expiresAt: 2000 }));
    expect(c.nextExpiry()).toBe(500);
    expect(c.expire(499)).toEqual([]);
    expect(c.expire(500).map((e) => e.hoa)).toEqual(['2001:db8:1::2']);
    expect(c.nextExpiry()).toBe(1000);
    expect(c.expire(5000).map((e) => e.hoa).sort()).toEqual(['2001:db8:1::1', '2001:db8:1::3']);
    expect(c.size).toBe(0);
  });

  it('snapshot is sorted deep copies', () => {
    const c = new BindingCache();
    c.set(entry('2001:db8:1::2'));
    c.set(entry('2001:db8:1::1'));
    const s = c.snapshot();
    expect(s.map((e) => e.hoa)).toEqual(['2001:db8:1::1', '2001:db8:1::2']);
    s[0].flags.K = true;
    expect(c.get('2001:db8:1::1')!.flags.K).toBe(false);
  });
});
