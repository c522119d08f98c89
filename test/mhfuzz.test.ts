// Property tests for the MH and mobility-option codecs (fast-check): round trips both ways, and
// fuzzing that the decoders are total (a value or a DecodeError subclass, nothing else, no hang).
// FUZZ_RUNS (default 100 000) sets the cases per decoder; round trips run FUZZ_RUNS/20. It must never
// swallow an error that is not a DecodeError, and must stay well under ~20 s at the default count.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ip6ToString } from '../common/addr.js';
import { fromHex } from '../common/bytes.js';
import { DecodeError } from '../common/errors.js';
import { decodeMobilityHeader, encodeMobilityHeader, type MobilityMessage } from '../common/mh.js';
import { BA_FLAG_NAMES, BU_FLAG_NAMES, type BaFlags, type BuFlags } from '../common/mhflags.js';
import { decodeMobilityOptions, encodeMobilityOptions, KNOWN_OPTION_TYPES, type MobilityOption } from '../common/mhopts.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 100000);
const RT_RUNS = Math.max(200, Math.floor(RUNS / 20));
const PSEUDO = { src: '2001:db8::1', dst: '2001:db8::2' };

/** Drops undefined-valued keys: absent reserved fields are how the decoder spells zero. */
function clean<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
const isPad = (o: MobilityOption): boolean => o.kind === 'Pad1' || o.kind === 'PadN';

const uint = (bits: number): fc.Arbitrary<number> => fc.integer({ min: 0, max: 2 ** bits - 1 });
/** A reserved field: absent (= 0) or non-zero. */
const reserved = (bits: number): fc.Arbitrary<number | undefined> => fc.option(fc.integer({ min: 1, max: 2 ** bits - 1 }), { nil: undefined });
const octets = (n: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: n, maxLength: n });
const addr6 = fc.oneof(
  { weight: 3, arbitrary: octets(16).map((b) => ip6ToString(b)) },
  { weight: 1, arbitrary: fc.constantFrom('::', '::1', '2001:db8::cafe', 'fe80::1', '::ffff:192.0.2.1', '2001:db8:0:1::') },
);
const addr4 = fc.tuple(uint(8), uint(8), uint(8), uint(8)).map((a) => a.join('.'));

const optionArb: fc.Arbitrary<MobilityOption> = fc
  .oneof(
    fc.record({ kind: fc.constant('BindingRefreshAdvice' as const), refreshInterval: uint(16) }),
    fc.record({ kind: fc.constant('AlternateCoa' as const), address: addr6 }),
    fc.record({ kind: fc.constant('NonceIndices' as const), homeNonceIndex: uint(16), careOfNonceIndex: uint(16) }),
    fc.record({ kind: fc.constant('MobileNetworkPrefix' as const), prefixLength: uint(8), prefix: addr6, reserved: reserved(8) }),
    fc.record({ kind: fc.constant('Ipv4HomeAddress' as const), prefixLength: uint(6), p: fc.boolean(), address: addr4, reserved: reserved(9) }),
    fc.record({ kind: fc.constant('Ipv4AddressAck' as const), status: uint(8), prefixLength: uint(6), address: addr4, reserved: reserved(2) }),
    fc.record({ kind: fc.constant('NatDetection' as const), f: fc.boolean(), refreshTime: uint(32), reserved: reserved(15) }),
    fc.record({ kind: fc.constant('Ipv4Coa' as const), address: addr4, reserved: reserved(16) }),
    fc.record({
      kind: fc.constant('BindingId' as const),
      bid: uint(16),
      status: uint(8),
      h: fc.boolean(),
      priority: reserved(7),
      coa: fc.option(fc.oneof(addr4, addr6), { nil: undefined }),
    }),
    fc.record({
      kind: fc.constant('Unknown' as const),
      type: uint(8).filter((t) => !KNOWN_OPTION_TYPES.includes(t)),
      data: fc.uint8Array({ maxLength: 24 }),
    }),
  )
  .map((o) => clean(o as MobilityOption));
const badArb: fc.Arbitrary<MobilityOption> = octets(12).map((authenticator) => ({ kind: 'BindingAuthData', authenticator }));
const padArb: fc.Arbitrary<MobilityOption> = fc.oneof(
  fc.constant({ kind: 'Pad1' } as MobilityOption),
  fc
    .integer({ min: 0, max: 7 })
    .chain((n) => octets(n))
    .map((d): MobilityOption => (d.some((x) => x !== 0) ? { kind: 'PadN', length: d.length, data: d } : { kind: 'PadN', length: d.length })),
);

/** Option lists without padding (the encoder inserts it); Binding Authorization Data only last. */
const autoOptions: fc.Arbitrary<MobilityOption[]> = fc
  .tuple(fc.array(optionArb, { maxLength: 6 }), fc.option(badArb, { nil: undefined }))
  .map(([l, bad]) => (bad ? [...l, bad] : l));

function wireSize(o: MobilityOption): number {
  switch (o.kind) {
    case 'Pad1':
      return 1;
    case 'PadN':
      return 2 + o.length;
    case 'BindingRefreshAdvice':
      return 4;
    case 'AlternateCoa':
      return 18;
    case 'NonceIndices':
      return 6;
    case 'BindingAuthData':
      return 14;
    case 'MobileNetworkPrefix':
      return 20;
    case 'BindingId':
      return o.coa === undefined ? 6 : /^[\d.]+$/.test(o.coa) ? 10 : 22;
    case 'Unknown':
      return 2 + o.data.length;
    default:
      return 8; // options 29-32
  }
}
const endPad = (n: number): MobilityOption[] => (n === 0 ? [] : n === 1 ? [{ kind: 'Pad1' }] : [{ kind: 'PadN', length: n - 2 }]);

/** Literal lists: options and random padding in any order (so often misaligned), closed to 8n from `start`. */
const literalOptions = (start: number): fc.Arbitrary<MobilityOption[]> =>
  fc.tuple(fc.array(fc.oneof(optionArb, padArb), { maxLength: 8 }), fc.option(badArb, { nil: undefined })).map(([l, bad]) => {
    const list = bad ? [...l, bad] : l;
    const end = start + list.reduce((n, o) => n + wireSize(o), 0);
    return [...list, ...endPad((8 - (end % 8)) % 8)];
  });

const flagsArb = <T>(names: readonly string[]): fc.Arbitrary<T> =>
  fc.array(fc.boolean(), { minLength: names.length, maxLength: names.length }).map((v) => Object.fromEntries(names.map((n, i) => [n, v[i]])) as T);
const buFlagsArb = flagsArb<BuFlags>(BU_FLAG_NAMES);
const baFlagsArb = flagsArb<BaFlags>(BA_FLAG_NAMES);

/** Messages of every type; `opts(start)` gives option lists for options starting at MH offset `start`. */
function messageArb(opts: (start: number) => fc.Arbitrary<MobilityOption[]>): fc.Arbitrary<MobilityMessage> {
  const mhReserved = reserved(8);
  return fc
    .oneof(
      fc.record({ kind: fc.constant('BRR' as const), mhReserved, reserved: reserved(16), options: opts(8) }),
      fc.record({
        kind: fc.constantFrom('HoTI' as const, 'CoTI' as const),
        mhReserved,
        reserved: reserved(16),
        cookie: octets(8),
        options: opts(16),
      }),
      fc.record({
        kind: fc.constantFrom('HoT' as const, 'CoT' as const),
        mhReserved,
        nonceIndex: uint(16),
        cookie: octets(8),
        keygenToken: octets(8),
        options: opts(24),
      }),
      fc.record({
        kind: fc.constant('BU' as const),
        mhReserved,
        sequence: uint(16),
        flags: buFlagsArb,
        flagsReserved: reserved(4),
        lifetime: uint(16),
        options: opts(12),
      }),
      fc.record({
        kind: fc.constant('BA' as const),
        mhReserved,
        status: uint(8),
        flags: baFlagsArb,
        flagsReserved: reserved(1),
        sequence: uint(16),
        lifetime: uint(16),
        options: opts(12),
      }),
      fc.record({ kind: fc.constant('BE' as const), mhReserved, status: uint(8), reserved: reserved(8), homeAddress: addr6, options: opts(24) }),
      fc.record({
        kind: fc.constant('Unknown' as const),
        mhReserved,
        mhType: fc.integer({ min: 8, max: 255 }),
        data: fc.integer({ min: 0, max: 20 }).chain((k) => octets(8 * k + 2)),
      }),
    )
    .map((m) => clean(m as MobilityMessage));
}

const withoutPads = (m: MobilityMessage): MobilityMessage => ('options' in m ? { ...m, options: m.options.filter((o) => !isPad(o)) } : m);

describe('round trips', () => {
  it('auto padding: decode(encode(m)) = m up to the inserted padding; the decoded value is a fixed point', () => {
    fc.assert(
      fc.property(messageArb(() => autoOptions), (m) => {
        const b = encodeMobilityHeader(m, PSEUDO);
        const d = decodeMobilityHeader(b, PSEUDO);
        expect(d.length).toBe(b.length);
        expect(withoutPads(d.message)).toEqual(m);
        // encode(decode(b)) = b, and decoding that again gives the same value.
        const b2 = encodeMobilityHeader(d.message, PSEUDO);
        expect(b2.equals(b)).toBe(true);
        expect(decodeMobilityHeader(b2, PSEUDO).message).toEqual(d.message);
      }),
      { numRuns: RT_RUNS },
    );
  });

  it('literal lists with relaxed alignment: decode(encode(m)) = m exactly, and encode(decode(b)) = b', () => {
    fc.assert(
      fc.property(messageArb(literalOptions), (m) => {
        const b = encodeMobilityHeader(m, PSEUDO, 59, { padding: 'literal', strictAlignment: false });
        const d = decodeMobilityHeader(b, PSEUDO, { strictAlignment: false });
        expect(d.message).toEqual(m);
        expect(encodeMobilityHeader(d.message, PSEUDO, 59, { padding: 'literal', strictAlignment: false }).equals(b)).toBe(true);
      }),
      { numRuns: RT_RUNS },
    );
  });
});

// ---- fuzzing ----

interface Seed {
  bytes: Uint8Array;
  optStart: number;
}
const OPT_START: Record<number, number> = { 0: 8, 1: 16, 2: 16, 3: 24, 4: 24, 5: 12, 6: 12, 7: 24 };
/** Valid encodings to mutate: generated messages (both padding styles) plus the scapy/V11 vectors. */
const CORPUS: Seed[] = (() => {
  const ms = [
    ...fc.sample(messageArb(() => autoOptions), { numRuns: 200, seed: 1 }).map((m) => encodeMobilityHeader(m, PSEUDO)),
    ...fc
      .sample(messageArb(literalOptions), { numRuns: 200, seed: 2 })
      .map((m) => encodeMobilityHeader(m, PSEUDO, 59, { padding: 'literal', strictAlignment: false })),
    ...[
      '3b010500ee600000d000000301020000',
      '3b060500eaf20000d000002a0100031000000000000000000000000000000000010200000612004000000000000000000000000000000000',
      '3b010600bcb900800000002a01020000',
      '3b020700bb59020000010000000000000000000000000002',
      'ff0400eeec24aaaa0707020000000000000001020000031000000000000000000000000000000000',
      '3b030500ff911234d00001001d0680000000000020060000c000020a01020000',
      '3b03060085490080123401001e0600600a0100051f0680000000006e01020000',
    ].map((h) => fromHex(h)),
  ];
  return ms.map((b) => ({ bytes: Uint8Array.from(b), optStart: OPT_START[b[2]] ?? 6 }));
})();

/** Offsets of the Length octets in a TLV chain starting at `start` (walked by hand, not with the codec). */
function lengthOctets(b: Uint8Array, start: number): number[] {
  const out: number[] = [];
  for (let off = start; off + 1 < b.length; ) {
    if (b[off] === 0) {
      off++;
      continue;
    }
    out.push(off + 1);
    off += 2 + b[off + 1];
  }
  return out;
}

type Mutation =
  | { op: 'flip'; pos: number; bit: number }
  | { op: 'set'; pos: number; v: number }
  | { op: 'truncate'; len: number }
  | { op: 'extend'; extra: Uint8Array }
  | { op: 'headerLen'; v: number }
  | { op: 'optLen'; which: number; v: number };
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), pos: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('set' as const), pos: fc.nat(), v: uint(8) }),
  fc.record({ op: fc.constant('truncate' as const), len: fc.nat() }),
  fc.record({ op: fc.constant('extend' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ op: fc.constant('headerLen' as const), v: uint(8) }),
  fc.record({ op: fc.constant('optLen' as const), which: fc.nat(), v: uint(8) }),
);

function mutate(seed: Seed, muts: Mutation[]): Uint8Array {
  let b = Uint8Array.from(seed.bytes);
  for (const m of muts) {
    if (m.op === 'truncate') b = b.slice(0, m.len % (b.length + 1));
    else if (m.op === 'extend') b = Uint8Array.from([...b, ...m.extra]);
    else if (b.length === 0) continue;
    else if (m.op === 'flip') b[m.pos % b.length] ^= 1 << m.bit;
    else if (m.op === 'set') b[m.pos % b.length] = m.v;
    else if (m.op === 'headerLen') {
      if (b.length > 1) b[1] = m.v;
    } else {
      const ls = lengthOctets(b, seed.optStart);
      if (ls.length) b[ls[m.which % ls.length]] = m.v;
    }
  }
  return b;
}

/** Random MH-looking bytes: often with Payload Proto 59, a Header Len that fits, and a known type. */
const randomMh = fc
  .record({ bytes: fc.uint8Array({ maxLength: 96 }), shape: fc.boolean(), type: fc.integer({ min: 0, max: 9 }) })
  .map(({ bytes, shape, type }) => {
    if (shape && bytes.length >= 8) {
      bytes[0] = 59;
      bytes[1] = (bytes.length >> 3) - 1;
      bytes[2] = type;
    }
    return bytes;
  });
const mutatedMh = fc
  .record({ i: fc.nat(), muts: fc.array(mutationArb, { minLength: 1, maxLength: 4 }) })
  .map(({ i, muts }) => mutate(CORPUS[i % CORPUS.length], muts));

/** Rethrows anything that is not a DecodeError subclass (fast-check then reports the input). */
function onlyDecodeErrors<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch (e) {
    if (e instanceof DecodeError) return undefined;
    throw e;
  }
}

describe(`fuzz: decoders are total (${RUNS} cases each)`, () => {
  it('decodeMobilityHeader: random and mutated input gives a value or a DecodeError; accepted input re-encodes to itself', () => {
    let accepted = 0;
    fc.assert(
      fc.property(
        fc.oneof(randomMh, mutatedMh, mutatedMh),
        fc.integer({ min: 0, max: 3 }).map((n) => n === 0), // checksum checked a quarter of the time: it stops most mutants early
        fc.boolean(),
        fc.boolean(),
        (buf, withPseudo, strict, anyProto) => {
          const opts = { strictAlignment: strict, acceptAnyPayloadProto: anyProto };
          const d = onlyDecodeErrors(() => decodeMobilityHeader(buf, withPseudo ? PSEUDO : undefined, opts));
          if (!d) return;
          accepted++;
          if (d.length > buf.length || d.length % 8 !== 0) throw new Error(`bad length ${d.length}`);
          // encode(decode(b)) = b: the received checksum is carried over, padding written as decoded.
          const re = encodeMobilityHeader(d.message, undefined, d.payloadProto, { padding: 'literal', strictAlignment: strict });
          re.writeUInt16BE(d.checksum, 4);
          if (!re.equals(buf.subarray(0, d.length))) throw new Error('re-encoding differs');
        },
      ),
      { numRuns: RUNS },
    );
    expect(accepted).toBeGreaterThan(RUNS / 20); // the mutated half must reach deep into the decoder
  });

  it('decodeMobilityOptions: random and mutated areas give a value or a DecodeError; accepted areas re-encode to themselves', () => {
    const randomArea = fc
      .record({ bytes: fc.uint8Array({ maxLength: 80 }), a: fc.nat(), b: fc.nat() })
      .map(({ bytes, a, b }) => {
        const start = a % (bytes.length + 1);
        return { buf: bytes, start, end: start + (b % (bytes.length - start + 1)) };
      });
    const mutatedArea = fc
      .record({ i: fc.nat(), muts: fc.array(mutationArb, { minLength: 1, maxLength: 3 }) })
      .map(({ i, muts }) => {
        const seed = CORPUS[i % CORPUS.length];
        const buf = mutate(seed, muts);
        return { buf, start: Math.min(seed.optStart, buf.length), end: buf.length };
      });
    let accepted = 0;
    fc.assert(
      fc.property(fc.oneof(randomArea, mutatedArea, mutatedArea), fc.boolean(), ({ buf, start, end }, strict) => {
        const list = onlyDecodeErrors(() => decodeMobilityOptions(buf, start, end, { strictAlignment: strict }));
        if (!list) return;
        accepted++;
        if (end % 8 !== 0 || start >= 2048) return; // a literal re-encoding must end on 8n
        const re = encodeMobilityOptions(list, start, { padding: 'literal', strictAlignment: strict });
        if (!Buffer.from(re).equals(Buffer.from(buf.subarray(start, end)))) throw new Error('re-encoding differs');
      }),
      { numRuns: RUNS },
    );
    expect(accepted).toBeGreaterThan(RUNS / 20);
  });

  it('pathological inputs return promptly', () => {
    // A maximal MH of Pad1 options, and one of 1-octet unknown options.
    const big = new Uint8Array(2048);
    big[0] = 59;
    big[1] = 255;
    big[2] = 5;
    expect(decodeMobilityHeader(big).message).toMatchObject({ kind: 'BU' });
    for (let i = 12; i < 2048; i += 2) big[i] = 7;
    expect(() => decodeMobilityHeader(big)).not.toThrow();
  });
});
