// Robustness of decodeIpv4: random and mutated bytes yield a value or a DecodeError subclass,
// never another exception; whatever decodes re-encodes to the same bytes.
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { fromHex, put16 } from '../common/bytes.js';
import { DecodeError } from '../common/errors.js';
import { decodeIpv4, encodeIpv4, ipv4HeaderChecksum } from '../common/ipv4.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 100000);

// Seeds: scapy inet.uts IP()/UDP(), the two option packets, and the captured ICMP time exceeded.
const SEEDS = [
  '4500001c000100004011 7cce 7f0000017f00000100350035 00080172',
  '48000034000100004006a271090a0b0c0d0e0f10950a01020304050607080000001400500000000000000000500220005f4b0000',
  '4b000040000100004006f383090a0b0c0d0e0f1001830b040102030405060708820b00000000000058595a00001400500000000000000000500220006f5b0000',
  '4500003800000000f80164b6682ce6b70ad504560b004f410000000045000028400e00000106fdae0ad50456681204d7f73100507d4430f8',
].map((h) => new Uint8Array(fromHex(h)));

/** Makes Total Length and the header checksum agree with the bytes, so decoding gets past them. */
function fixUp(b: Uint8Array, len: boolean, sum: boolean): void {
  if (b.length < 20) return;
  if (len) put16(b, 2, b.length);
  const hl = (b[0] & 0x0f) * 4;
  if (sum && hl >= 20 && hl <= b.length) put16(b, 10, ipv4HeaderChecksum(b, 0, hl));
}

const randomArb = fc
  .tuple(fc.uint8Array({ maxLength: 100 }), fc.boolean(), fc.boolean(), fc.boolean())
  .map(([orig, v4, len, sum]) => {
    const b = Uint8Array.from(orig); // never mutate a generated value (shrinking replays it)
    if (v4 && b.length > 0) b[0] = 0x40 | (b[0] & 0x0f);
    fixUp(b, len, sum);
    return b;
  });

const mutatedArb = fc
  .tuple(
    fc.constantFrom(...SEEDS),
    fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { minLength: 1, maxLength: 4 }),
    fc.oneof({ arbitrary: fc.constant(undefined), weight: 4 }, { arbitrary: fc.nat(), weight: 1 }),
    fc.uint8Array({ maxLength: 8 }),
    fc.nat({ max: 3 }),
  )
  .map(([seed, edits, cut, extra, dice]) => {
    let b = Uint8Array.from(seed);
    for (const [i, v] of edits) b[i % b.length] = v;
    if (cut !== undefined) b = b.subarray(0, cut % (b.length + 1));
    if (extra.length) b = Uint8Array.from([...b, ...extra]);
    fixUp(b, dice > 1, dice > 0);
    return b;
  });

function check(b: Uint8Array): void {
  let p;
  try {
    p = decodeIpv4(b);
  } catch (e) {
    if (e instanceof DecodeError) return;
    throw e;
  }
  if (!encodeIpv4(p).equals(b)) throw new Error(`re-encoding differs: ${Buffer.from(b).toString('hex')}`);
}

describe('decodeIpv4 fuzz', () => {
  it(`${RUNS} random and mutated inputs: only DecodeError subclasses, and byte-exact re-encoding`, () => {
    fc.assert(fc.property(fc.oneof({ arbitrary: randomArb, weight: 1 }, { arbitrary: mutatedArb, weight: 3 }), check), {
      numRuns: RUNS,
    });
  });
});
