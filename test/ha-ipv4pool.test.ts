// IPv4 home address pool (ha/ipv4pool.ts) against RFC 5555 option 30 status codes (digest §2.3):
// 0 success, 130 incorrect IPv4 HoA, 131 invalid address, 132 dynamic assignment unavailable,
// 133 prefix allocation unauthorized.
import { describe, expect, it } from 'vitest';
import { Ipv4Pool } from '../ha/ipv4pool.js';

const A = '2001:db8:1::a';
const B = '2001:db8:1::b';

describe('Ipv4Pool', () => {
  // 192.0.2.0/29 = .0-.7; .0 network, .7 broadcast, .1 the HA: .2-.6 usable (5 addresses).
  const mk = (): Ipv4Pool => new Ipv4Pool('192.0.2.5', 29, ['192.0.2.1']);

  it('reserves network, broadcast and the given addresses', () => {
    const p = mk();
    expect(p.capacity).toBe(5);
    expect(p.contains('192.0.2.0')).toBe(false);
    expect(p.contains('192.0.2.7')).toBe(false);
    expect(p.contains('192.0.2.1')).toBe(false);
    expect(p.contains('192.0.2.2')).toBe(true);
    expect(p.contains('192.0.2.8')).toBe(false);
  });

  it('assigns dynamically for 0.0.0.0, the same address again to the same owner, and 132 when exhausted', () => {
    const p = mk();
    expect(p.allocate(A, '0.0.0.0')).toEqual({ status: 0, address: '192.0.2.2', prefixLength: 32 });
    expect(p.allocate(A, '0.0.0.0')).toEqual({ status: 0, address: '192.0.2.2', prefixLength: 32 });
    for (let i = 3; i <= 6; i++) expect(p.allocate(`2001:db8:1::${i}`, '0.0.0.0').address).toBe(`192.0.2.${i}`);
    expect(p.allocatedCount).toBe(5);
    expect(p.allocate(B, '0.0.0.0')).toEqual({ status: 132, address: '0.0.0.0', prefixLength: 0 });
    expect(p.release(A)).toBe('192.0.2.2');
    expect(p.allocate(B, '0.0.0.0').address).toBe('192.0.2.2');
  });

  it('grants a specific free address, refuses outside/reserved/taken with 130', () => {
    const p = mk();
    expect(p.allocate(A, '192.0.2.4')).toEqual({ status: 0, address: '192.0.2.4', prefixLength: 32 });
    expect(p.ownerOf('192.0.2.4')).toBe(A);
    expect(p.addressOf(A)).toBe('192.0.2.4');
    expect(p.allocate(B, '192.0.2.4').status).toBe(130);
    expect(p.allocate(B, '198.51.100.1').status).toBe(130);
    expect(p.allocate(B, '192.0.2.1').status).toBe(130);
    expect(p.allocate(B, '192.0.2.7').status).toBe(130);
  });

  it('moving an owner to a new address frees the old one', () => {
    const p = mk();
    p.allocate(A, '192.0.2.4');
    p.allocate(A, '192.0.2.5');
    expect(p.ownerOf('192.0.2.4')).toBeUndefined();
    expect(p.addressOf(A)).toBe('192.0.2.5');
    expect(p.allocatedCount).toBe(1);
  });

  it('131 for invalid addresses or prefix length 0, 133 for prefix requests', () => {
    const p = mk();
    expect(p.allocate(A, '224.0.0.1').status).toBe(131);
    expect(p.allocate(A, '255.255.255.255').status).toBe(131);
    expect(p.allocate(A, '127.0.0.1').status).toBe(131);
    expect(p.allocate(A, 'not an address').status).toBe(131);
    expect(p.allocate(A, '0.0.0.0', 0).status).toBe(131);
    expect(p.allocate(A, '0.0.0.0', 24).status).toBe(133);
    expect(p.allocate(A, '0.0.0.0', 32, true).status).toBe(133);
    expect(p.allocatedCount).toBe(0);
  });

  it('check() answers like allocate() without allocating', () => {
    const p = mk();
    expect(p.check(A, '0.0.0.0')).toEqual({ status: 0, address: '192.0.2.2', prefixLength: 32 });
    expect(p.allocatedCount).toBe(0);
    expect(p.ownerOf('192.0.2.2')).toBeUndefined();
  });

  it('rejects bad construction', () => {
    expect(() => new Ipv4Pool('192.0.2.0', 0)).toThrow(RangeError);
    expect(() => new Ipv4Pool('192.0.2.0', 24, ['198.51.100.1'])).toThrow(RangeError);
    expect(new Ipv4Pool('192.0.2.9', 32).capacity).toBe(1);
  });
});
