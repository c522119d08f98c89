// common/addr.ts (a hand-written parser and formatter for the common forms, ip6addr behind it for
// everything else) against ip6addr called directly, the parser and formatter of record: same answers
// for random addresses, IPv4-mapped ones, text in unusual or invalid spellings, asked repeatedly;
// invalid text throws every time, and a caller writing into a returned array changes no later answer.
import fc from 'fast-check';
import ip6addr from 'ip6addr';
import { describe, expect, it, vi } from 'vitest';
import { canonicalIp, ip6ToBytes, ip6ToString, writeIp6 } from '../common/addr.js';
import { EncodeError } from '../common/errors.js';

/** ip6ToString before the memo, verbatim. */
function refToString(buf: Uint8Array, off = 0): string {
  let mapped = buf[off + 10] === 0xff && buf[off + 11] === 0xff;
  for (let i = 0; i < 10; i++) if (buf[off + i] !== 0) mapped = false;
  if (mapped) return `::ffff:${buf[off + 12]}.${buf[off + 13]}.${buf[off + 14]}.${buf[off + 15]}`;
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(((buf[off + 2 * i] << 8) | buf[off + 2 * i + 1]).toString(16));
  return ip6addr.parse(groups.join(':')).toString({ format: 'auto' });
}
const refToBytes = (text: string) => Uint8Array.from(ip6addr.parse(text).toBuffer());
const refCanonical = (text: string) => ip6addr.parse(text).toString({ format: 'auto' });

const groups = fc.array(fc.constantFrom(0, 1, 0xff, 0x100, 0xffff, 0xdb8, 0x2001), { minLength: 8, maxLength: 8 });
const octets = fc.oneof(
  fc.uint8Array({ minLength: 16, maxLength: 16 }),
  groups.map((g) => Uint8Array.from(g.flatMap((v) => [v >> 8, v & 0xff]))),
  fc.uint8Array({ minLength: 4, maxLength: 4 }).map((v4) => Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...v4])),
  fc.uint8Array({ minLength: 4, maxLength: 4 }).map((v4) => Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ...v4])),
);

const WEIRD = [
  '2001:DB8::1',
  '2001:0db8:0000:0000:0000:0000:0000:0001',
  '2001:db8:0:0:1:0:0:1',
  '::ffff:192.0.2.1',
  '::ffff:c000:201',
  '::FFFF:192.0.2.1',
  '::192.0.2.1',
  '192.0.2.1',
  '0.0.0.0',
  '::',
  '::1',
  '1::',
  'fe80::1',
  'ff02::1:ff00:1',
  '64:ff9b::192.0.2.33',
  '1:2:3:4:5:6:7:8',
  '1:0:0:0:0:0:0:0',
  '0:0:0:0:0:0:0:1',
];
const INVALID = ['', 'x', ':::', '1:2:3:4:5:6:7:8:9', '2001:db8::g', '256.1.1.1', '1.2.3', 'fe80::1%eth0', ' ::1', '::1 ', '2001:db8:::1'];

/** What a call gives: the value, or that it threw (addr.ts wraps ip6addr's error in an EncodeError). */
function outcome(f: () => unknown): unknown {
  try {
    const v = f();
    return v instanceof Uint8Array ? { bytes: [...v] } : { value: v };
  } catch (e) {
    return { threw: e instanceof Error };
  }
}

describe('common/addr gives what ip6addr gives', () => {
  it('ip6ToString: random, zero-run, IPv4-mapped and IPv4-compatible octets, at offsets, asked twice', () => {
    fc.assert(
      fc.property(octets, fc.nat({ max: 7 }), (o, pad) => {
        const buf = new Uint8Array(pad + 16 + 3);
        buf.set(o, pad);
        const want = refToString(buf, pad);
        expect(ip6ToString(buf, pad)).toBe(want);
        expect(ip6ToString(Uint8Array.from(o))).toBe(want);
      }),
      { numRuns: 3000 },
    );
  });

  it('ip6ToString: 5000 distinct addresses in a row, then again (once churned a 1024-slot memo; must stay right)', () => {
    const seen: Uint8Array[] = [];
    for (let i = 0; i < 5000; i++) {
      const b = new Uint8Array(16);
      b[0] = 0x20;
      b[1] = 0x01;
      b[14] = i >> 8;
      b[15] = i & 0xff;
      seen.push(b);
      expect(ip6ToString(b)).toBe(refToString(b));
    }
    for (const b of seen) expect(ip6ToString(b)).toBe(refToString(b));
  });

  it('ip6ToBytes and canonicalIp: unusual forms, mixed case, IPv4 and IPv4-mapped text, random text, twice', () => {
    const texts = fc.oneof(fc.constantFrom(...WEIRD), octets.map((o) => refToString(o)), octets.map((o) => refToString(o).toUpperCase()));
    fc.assert(
      fc.property(texts, (t) => {
        for (let i = 0; i < 2; i++) {
          expect(outcome(() => ip6ToBytes(t))).toStrictEqual(outcome(() => refToBytes(t)));
          expect(outcome(() => canonicalIp(t))).toStrictEqual(outcome(() => refCanonical(t)));
        }
      }),
      { numRuns: 3000 },
    );
    for (const t of WEIRD) expect(outcome(() => canonicalIp(t))).toStrictEqual(outcome(() => refCanonical(t)));
  });

  it('invalid text throws every time as before (EncodeError naming the field; canonicalIp throws), nothing remembered', () => {
    for (const t of INVALID) {
      for (let i = 0; i < 2; i++) {
        expect(() => ip6ToBytes(t, 'header.dst')).toThrow(EncodeError);
        expect(() => ip6ToBytes(t, 'header.dst')).toThrow(/header\.dst/);
        expect(() => writeIp6(new Uint8Array(16), 0, t)).toThrow(EncodeError);
        expect(() => canonicalIp(t)).toThrow();
        expect(() => refCanonical(t)).toThrow();
      }
    }
  });

  it('a caller writing into an ip6ToBytes result does not change the next answer', () => {
    const a = ip6ToBytes('2001:db8::1');
    a.fill(0xee);
    expect([...ip6ToBytes('2001:db8::1')]).toStrictEqual([...refToBytes('2001:db8::1')]);
    const buf = new Uint8Array(20);
    writeIp6(buf, 2, '2001:db8::1');
    expect([...buf.subarray(2, 18)]).toStrictEqual([...refToBytes('2001:db8::1')]);
  });

  it('answers stay right over 10000 distinct texts (once filled and cleared the text memos)', () => {
    for (let i = 0; i < 10000; i++) {
      const t = `2001:db8::${i.toString(16)}`;
      expect(canonicalIp(t)).toBe(refCanonical(t));
      expect([...ip6ToBytes(t)]).toStrictEqual([...refToBytes(t)]);
    }
    for (const t of WEIRD) expect(outcome(() => canonicalIp(t))).toStrictEqual(outcome(() => refCanonical(t)));
  });
});

// ---- property tests: the fast parser / formatter against ip6addr -------------------------------

/** 16-bit groups biased to zero (and to runs of zeros), so that every '::' placement and tie shows up. */
const group16 = fc.oneof(
  { weight: 5, arbitrary: fc.constant(0) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 0xf }) },
  { weight: 1, arbitrary: fc.integer({ min: 0x10, max: 0xfff }) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
  { weight: 1, arbitrary: fc.constant(0xffff) },
);
const zeroRun = fc.record({ start: fc.nat({ max: 7 }), len: fc.nat({ max: 8 }) });
const groups8 = fc
  .tuple(fc.array(group16, { minLength: 8, maxLength: 8 }), fc.option(zeroRun), fc.option(zeroRun))
  .map(([g, r1, r2]) => {
    for (const r of [r1, r2]) if (r) for (let k = r.start; k < Math.min(8, r.start + r.len); k++) g[k] = 0;
    return g;
  });
const octetsOf = (g: number[]) => Uint8Array.from(g.flatMap((v) => [v >> 8, v & 0xff]));
const biasedOctets = fc.oneof(
  { weight: 6, arbitrary: groups8.map(octetsOf) },
  { weight: 1, arbitrary: octets },
  // IPv4-mapped with a near miss in group 4 or 5 (must print in hex, not dotted)
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(0, 1, 0xfffe, 0xffff), fc.constantFrom(0, 1, 0xffff), fc.uint8Array({ minLength: 4, maxLength: 4 })).map(([g4, g5, v4]) => octetsOf([0, 0, 0, 0, g4, g5, (v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]])) },
);

/** A hex group spelled 1-4 digits (leading zeros kept), sometimes 5 (valid only to ip6addr's own rules). */
const hexSpelling = (v: number) =>
  fc.tuple(fc.oneof({ weight: 30, arbitrary: fc.constantFrom(0, 0, 0, 1, 2, 3, 4) }, { weight: 1, arbitrary: fc.constant(5) }), fc.boolean()).map(([width, upper]) => {
    let h = v.toString(16).padStart(width, '0');
    if (upper) h = h.toUpperCase();
    return h;
  });
const decSpelling = (v: number) => fc.constantFrom(0, 0, 0, 0, 0, 0, 0, 0, 2, 3).map((w) => String(v).padStart(w, '0'));

/** Texts of an address: full, '::' over any zero run (or over no group), embedded IPv4 in any form. */
const spelled = fc
  .tuple(groups8, fc.nat({ max: 8 }), fc.nat({ max: 8 }), fc.nat({ max: 3 }), fc.boolean())
  .chain(([g, a, b, v4mode, mapped]) => {
    if (mapped) {
      // 0:0:0:0:0:ffff or 0:0:0:0:0:0 before the IPv4 part (the latter ip6addr refuses)
      g.fill(0, 0, 5);
      g[5] = v4mode === 3 ? 0 : 0xffff;
    }
    const dotted = mapped || v4mode === 1; // v4mode 1 without mapped: dotted after arbitrary groups
    const hexCount = dotted ? 6 : 8;
    // '::' over groups [lo, hi): usually a real zero run, sometimes any range (then it is invalid or odd)
    let lo = Math.min(a, b, hexCount);
    let hi = Math.min(Math.max(a, b), hexCount);
    if (v4mode !== 2) {
      while (lo < hi && g[lo] !== 0) lo++;
      let k = lo;
      while (k < hi && g[k] === 0) k++;
      hi = k;
    }
    const useGap = v4mode === 0 || lo < hi || a === b;
    const hexParts = g.slice(0, hexCount).map((v) => hexSpelling(v));
    const v4Parts = dotted ? [g[6] >> 8, g[6] & 0xff, g[7] >> 8, g[7] & 0xff].map((v) => decSpelling(v)) : [];
    return fc.tuple(fc.tuple(...hexParts), fc.tuple(...(v4Parts as [fc.Arbitrary<string>])), fc.boolean()).map(([hs, ds, bare]) => {
      const v4 = (ds as string[]).join('.');
      if (dotted && bare && mapped) return v4; // a.b.c.d on its own
      const head = useGap ? `${hs.slice(0, lo).join(':')}::${hs.slice(hi).join(':')}` : hs.join(':');
      if (!dotted) return head;
      return head.endsWith(':') ? head + v4 : `${head}:${v4}`;
    });
  });

/** Ways to break a text (or make it odd): each must give what ip6addr gives, usually a throw. */
const broken = fc
  .tuple(spelled, fc.nat({ max: 40 }), fc.constantFrom(':::', '::', ':', '.', '%eth0', 'g', ' ', '/64', '0', '12345', ':1', '1.2.3.4', '-', 'x', '\u0661', ''))
  .chain(([t, at, ins]) =>
    fc.constantFrom(
      t.slice(0, at % (t.length + 1)) + ins + t.slice(at % (t.length + 1)), // insert
      t + ins, // append (zone ids, prefixes, extra groups)
      ins + t, // prepend
      t.slice(0, at % (t.length + 1)), // truncate
      t.replace('::', ':::'),
      `${t}:${t}`, // too many groups, two '::'
      t.replace(/[0-9a-f]+/i, '12345'), // a 5-digit group
    ),
  );
const anyText = fc.oneof(
  { weight: 4, arbitrary: spelled },
  { weight: 3, arbitrary: broken },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF:.%xg'), maxLength: 46 }) },
  { weight: 1, arbitrary: fc.constantFrom(...WEIRD, ...INVALID, '1:2:3:4::5:6:7:8', '::ffff:01.2.3.4', '0000:0000:0000:0000:0000:ffff:255.255.255.255', '00001::', '1:2:3:4:5:6:7::') },
);

describe('common/addr fast parser and formatter agree with ip6addr (property tests)', () => {
  it('ip6ToString: random octets with biased zero runs format as ip6addr formats them', () => {
    fc.assert(
      fc.property(biasedOctets, fc.nat({ max: 5 }), (o, pad) => {
        const buf = new Uint8Array(pad + 16);
        buf.set(o, pad);
        const want = refToString(o);
        expect(ip6ToString(buf, pad)).toBe(want);
        // and the full-length hex text of the same octets canonicalizes as ip6addr does
        const full = Array.from({ length: 8 }, (_, k) => ((o[2 * k] << 8) | o[2 * k + 1]).toString(16).padStart(4, '0')).join(':');
        expect(canonicalIp(full)).toBe(refCanonical(full));
        expect([...ip6ToBytes(full)]).toStrictEqual([...o]);
      }),
      { numRuns: 20000 },
    );
  });

  it('texts in many spellings (valid and not) parse to the same octets and canonical text, or both throw', () => {
    let valid = 0;
    let invalid = 0;
    let fast = 0; // valid texts addr.ts answered without asking ip6addr
    const parse = vi.spyOn(ip6addr, 'parse');
    fc.assert(
      fc.property(anyText, (t) => {
        const want = outcome(() => refToBytes(t));
        const before = parse.mock.calls.length;
        const got = outcome(() => ip6ToBytes(t));
        if ('threw' in (want as object)) invalid++;
        else {
          valid++;
          if (parse.mock.calls.length === before) fast++;
        }
        expect(got).toStrictEqual(want);
        expect(outcome(() => canonicalIp(t))).toStrictEqual(outcome(() => refCanonical(t)));
        const buf = new Uint8Array(18).fill(0xaa);
        const w = outcome(() => writeIp6(buf, 1, t));
        if ('threw' in (want as object)) {
          expect(w).toStrictEqual({ threw: true });
          expect(buf.every((x) => x === 0xaa)).toBe(true); // nothing written on failure
        } else {
          expect({ bytes: [...buf.subarray(1, 17)] }).toStrictEqual(want);
        }
      }),
      { numRuns: 30000 },
    );
    // the generators must exercise both sides, or the comparison says little
    parse.mockRestore();
    expect(valid).toBeGreaterThan(5000);
    expect(invalid).toBeGreaterThan(5000);
    expect(fast).toBeGreaterThan(valid / 2);
    console.log(`texts: ${valid} valid (${fast} on the fast path), ${invalid} invalid`);
  });
});
