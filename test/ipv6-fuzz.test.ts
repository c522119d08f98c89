// Robustness of decodeIpv6: random and mutated bytes yield a value or a DecodeError subclass,
// never another exception and never a hang; whatever decodes re-encodes to the same bytes.
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { fromHex, put16 } from '../common/bytes.js';
import { DecodeError } from '../common/errors.js';
import { IpProto } from '../common/iana.js';
import { decodeIpv6, encodeIpv6, haoDestOpts, routing2 } from '../common/ipv6.js';
import { padOptions } from '../common/ipv6opts.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 100000);

// Seeds: scapy inet6.uts V1 (BU with HAO), V7 (RH2 + ICMPv6), the SRH/UDP vector, plus constructed chains
// covering Hop-by-Hop, fragments (first and later), ESP and unknown options.
const base = { src: '2001:db8::1', dst: '2001:db8::2' };
const SEEDS: Uint8Array[] = [
  fromHex(`6000000000283c40 00000000000000000000000000000001 00000000000000000000000000000001
    870201020000c910 00000000000000000000000000000000 3b010500ee600000d000000301020000`),
  fromHex(`6000000000202b40 20010db8000000000000000000000002 20010db8000000000000000000000001
    3a02020100000000 20010db8000000000000000000000003 80002446 00000000`),
  fromHex(`6000000000362b40 fc000000000000000000000000000001 fd000000000000000000000000000042
    1104040101000000 fc130000000000000000000000001337 fd000000000000000000000000000042
    2af81092000e81b7 666f6f626172`),
  encodeIpv6({
    header: base,
    extensions: [
      { kind: 'hopByHop', options: padOptions([{ kind: 'unknown', type: 5, data: new Uint8Array(2) }]) },
      { kind: 'fragment', offset: 0, more: true, identification: 1, reserved: 0, reservedBits: 0 },
      haoDestOpts('2001:db8::9'),
    ],
    upperProtocol: IpProto.ESP,
    upper: fromHex('0000022200000001aabbccddeeff0011'),
  }),
  encodeIpv6({
    header: base,
    extensions: [routing2('2001:db8::3'), { kind: 'fragment', offset: 9, more: false, identification: 2, reserved: 0, reservedBits: 0 }],
    upperProtocol: IpProto.UDP,
    upper: new Uint8Array(24).fill(0x3c),
  }),
  encodeIpv6({
    header: base,
    extensions: [{ kind: 'destOpts', options: padOptions([{ kind: 'unknown', type: 0x1e, data: new Uint8Array(3) }, { kind: 'pad1' }]) }],
    upperProtocol: IpProto.NONE,
  }),
].map((b) => new Uint8Array(b));

/** Random bytes, half of them given an IPv6 version nibble and a Payload Length that fits. */
const randomArb = fc
  .tuple(fc.uint8Array({ maxLength: 160 }), fc.boolean(), fc.boolean())
  .map(([orig, v6, fit]) => {
    const b = Uint8Array.from(orig); // never mutate a generated value (shrinking replays it)
    if (v6 && b.length > 0) b[0] = 0x60 | (b[0] & 0x0f);
    if (fit && b.length >= 40) put16(b, 4, b.length - 40);
    return b;
  });

/** A seed with a few octets overwritten, maybe cut or extended, Payload Length maybe made to fit. */
const mutatedArb = fc
  .tuple(
    fc.constantFrom(...SEEDS),
    fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 }), fc.nat({ max: 9 })), { minLength: 1, maxLength: 4 }),
    fc.oneof({ arbitrary: fc.constant(undefined), weight: 4 }, { arbitrary: fc.nat(), weight: 1 }),
    fc.uint8Array({ maxLength: 16 }),
    fc.nat({ max: 3 }),
  )
  .map(([seed, edits, cut, extra, fitDice]) => {
    let b = Uint8Array.from(seed);
    // Most edits land in the extension chain, where the interesting parsing is.
    for (const [i, v, where] of edits) b[where < 8 ? 40 + (i % (b.length - 40)) : i % b.length] = v;
    const fit = fitDice > 0;
    if (cut !== undefined) b = b.subarray(0, cut % (b.length + 1));
    if (extra.length) b = Uint8Array.from([...b, ...extra]);
    if (fit && b.length >= 40) put16(b, 4, b.length - 40);
    return b;
  });

function check(b: Uint8Array): void {
  let p;
  try {
    p = decodeIpv6(b);
  } catch (e) {
    if (e instanceof DecodeError) return;
    throw e;
  }
  const again = encodeIpv6(p);
  if (!again.equals(b)) throw new Error(`re-encoding differs: ${Buffer.from(b).toString('hex')}`);
}

describe('decodeIpv6 fuzz', () => {
  it(`${RUNS} random and mutated inputs: only DecodeError subclasses, and byte-exact re-encoding`, () => {
    fc.assert(fc.property(fc.oneof({ arbitrary: randomArb, weight: 1 }, { arbitrary: mutatedArb, weight: 3 }), check), { numRuns: RUNS });
  });
});
