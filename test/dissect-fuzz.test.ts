// The decode tool's dissector over hostile input: random bytes and mutations of the sample
// packets must always give layers or a named decoder error, never an exception and never
// our own 'InternalError' (which would mean a codec threw something unnamed).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dissect } from '../common/dissect.js';
import { LinkType } from '../common/pcap.js';
import { buildSamplePackets, sampleOpener } from './support/sample.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 100_000);
const seeds = buildSamplePackets().map((p) => new Uint8Array(p.data));
const opener = sampleOpener();

const mutated = fc
  .tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.nat(), fc.boolean())
  .map(([seed, edits, cut, truncate]) => {
    const b = Uint8Array.from(seed);
    for (const [at, v] of edits) b[at % b.length] = v;
    return truncate ? b.subarray(0, cut % (b.length + 1)) : b;
  });

describe('dissect never throws', () => {
  it(`${RUNS} random and mutated frames of every link type`, () => {
    fc.assert(
      fc.property(
        fc.oneof(mutated, fc.uint8Array({ maxLength: 200 })),
        fc.constantFrom(LinkType.RAW, LinkType.ETHERNET, LinkType.LINUX_SLL, LinkType.LINUX_SLL2, 999),
        (frame, linkType) => {
          const d = dissect(frame, linkType, opener);
          expect(d.error?.kind).not.toBe('InternalError');
          JSON.stringify(d); // the --json output must always serialise
        },
      ),
      { numRuns: RUNS },
    );
  });
});
