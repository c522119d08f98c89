// tunnel/mip6.ts resolves an IPv4 CoA given as a dotted quad by scanning it (every BU names a new one,
// more than its memo holds). What it must give, from RFC 4291 §2.5.5.2 (IPv4-mapped: 80 zero bits,
// 16 one bits, the four octets) and the module's own rules (0.0.0.0/8 and 224.0.0.0/3 are no CoA):
// checked through toMobile and toCareOf on random quads, including quads seen a second time (memo).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toCareOf, toMobile } from '../tunnel/mip6.js';

/** IPv6 | ESP (SPI 0x1234, 8 octets), HA 2001:db8::1 <-> HoA 2001:db8::2: what ipsec/ hands tunnel/. */
function espPacket(): Uint8Array {
  const p = new Uint8Array(56);
  p[0] = 0x60;
  p[5] = 16;
  p[6] = 50;
  p[7] = 64;
  p.set([0x20, 0x01, 0x0d, 0xb8], 8);
  p[23] = 1;
  p.set([0x20, 0x01, 0x0d, 0xb8], 24);
  p[39] = 2;
  p.set([0, 0, 0x12, 0x34], 40);
  return p;
}

const mapped = (q: number[]): number[] => [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...q];
const quad = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }));

describe('tunnel/mip6 IPv4 CoA text', () => {
  it('a dotted quad is the IPv4-mapped address, or refused for 0/8 and 224/3, the same on every call', () => {
    fc.assert(
      fc.property(quad, (q) => {
        const text = q.join('.');
        const refused = q[0] === 0 || q[0] >= 224;
        for (let round = 0; round < 2; round++) {
          const t = toMobile(espPacket(), { coa: text, udp: { addr: '192.0.2.9', port: 4191 }, useUdp: true });
          const c = toCareOf(espPacket(), text);
          if (refused) {
            expect(t).toEqual({ ok: false, reason: 'bad-address' });
            expect(c).toEqual({ ok: false, reason: 'bad-address' });
            continue;
          }
          if (!t.ok || t.via !== 'udp4') throw new Error(`toMobile ${text}: ${JSON.stringify(t)}`);
          expect([...t.payload.subarray(24, 40)]).toEqual(mapped(q));
          if (!c.ok || c.via !== 'udp4') throw new Error(`toCareOf ${text}: ${JSON.stringify(c)}`);
          expect([...c.payload.subarray(8, 24)]).toEqual(mapped(q));
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('text that is not a plain dotted quad is not taken for one', () => {
    for (const text of ['1.2.3', '1.2.3.4.5', '1.2.3.256', '1..2.3', '1.2.3.4 ', 'a.b.c.d', '']) {
      expect(toMobile(espPacket(), { coa: text, udp: { addr: '192.0.2.9', port: 4191 }, useUdp: true })).toEqual({ ok: false, reason: 'bad-address' });
    }
  });
});
