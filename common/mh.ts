// Mobility Header codec (RFC 6275 §6.1): the eight RFC 6275 messages, any other MH type kept as
// Unknown, the MH checksum, sequence-number comparison and lifetime units. Bytes in, values out:
// it must never throw anything but a DecodeError subclass while decoding (EncodeError while
// encoding), never touch a socket, and never judge protocol semantics (that is the HA's and MN's job).
import { ip6ToBytes, ip6ToString, writeIp6 } from './addr.js';
import { put16 } from './bytes.js';
import { finish, ipv6PseudoSum, sumWords } from './checksum.js';
import { BadChecksumError, BadLengthError, BadValueError, EncodeError, TruncatedError } from './errors.js';
import { IpProto, MhOptType, MhType } from './iana.js';
import {
  BA_FLAG_NAMES,
  BA_FLAGS_RESERVED_MASK,
  BU_FLAG_NAMES,
  BU_FLAGS_RESERVED_MASK,
  baFlagsFromOctet,
  baFlagsToOctet,
  buFlagsFromWord,
  buFlagsToWord,
  type BaFlags,
  type BuFlags,
} from './mhflags.js';
import {
  decodeMobilityOptions,
  encodeMobilityOptions,
  MH_MAX_LENGTH,
  type MobilityOption,
  type OptionDecodeOptions,
  type OptionEncodeOptions,
} from './mhopts.js';

// Every message may carry `mhReserved`, the Reserved octet at MH offset 3, and type-specific
// reserved fields; each is present only when non-zero, so hand-built messages need not mention
// them and a decoded message re-encodes to the bytes it came from.

interface MhCommon {
  /** MH offset 3. */
  mhReserved?: number;
}
/** Type 0: Reserved(16) at offset 6, options from 8. */
export interface BindingRefreshRequest extends MhCommon {
  kind: 'BRR';
  reserved?: number;
  options: MobilityOption[];
}
/** Types 1 and 2: Reserved(16) at 6, Init Cookie (8 octets) at 8, options from 16. */
export interface TestInit extends MhCommon {
  kind: 'HoTI' | 'CoTI';
  reserved?: number;
  cookie: Uint8Array;
  options: MobilityOption[];
}
/** Types 3 and 4: Nonce Index at 6, Init Cookie at 8, Keygen Token (8 octets) at 16, options from 24. */
export interface TestReply extends MhCommon {
  kind: 'HoT' | 'CoT';
  nonceIndex: number;
  cookie: Uint8Array;
  keygenToken: Uint8Array;
  options: MobilityOption[];
}
/** Type 5: Sequence at 6, flags at 8, Lifetime (4-s units) at 10, options from 12. */
export interface BindingUpdate extends MhCommon {
  kind: 'BU';
  sequence: number;
  flags: BuFlags;
  /** The 4 reserved low bits of the flag word. */
  flagsReserved?: number;
  lifetime: number;
  options: MobilityOption[];
}
/** Type 6: Status at 6, flags at 7, Sequence at 8, Lifetime (4-s units) at 10, options from 12. */
export interface BindingAck extends MhCommon {
  kind: 'BA';
  status: number;
  flags: BaFlags;
  /** The reserved lowest bit of the flag octet. */
  flagsReserved?: number;
  sequence: number;
  lifetime: number;
  options: MobilityOption[];
}
/** Type 7: Status at 6, Reserved at 7, Home Address at 8, options from 24. */
export interface BindingError extends MhCommon {
  kind: 'BE';
  status: number;
  reserved?: number;
  homeAddress: string;
  options: MobilityOption[];
}
/** Any other MH type: the octets from offset 6 to the end, kept so a caller can answer with BE status 2. */
export interface UnknownMessage extends MhCommon {
  kind: 'Unknown';
  mhType: number;
  data: Uint8Array;
}

export type MobilityMessage = BindingRefreshRequest | TestInit | TestReply | BindingUpdate | BindingAck | BindingError | UnknownMessage;
export type MobilityMessageKind = MobilityMessage['kind'];

/** IPv6 pseudo-header addresses for the MH checksum. See mhChecksum for which addresses these are. */
export interface MhPseudoHeader {
  /** Address text, or its 16 octets (a caller with the packet at hand saves a parse per checksum). */
  src: string | Uint8Array;
  dst: string | Uint8Array;
}

export interface DecodedMobilityHeader {
  payloadProto: number;
  headerLen: number;
  /** 8 * (headerLen + 1): octets of `buf` that belong to the MH (anything after is not its business). */
  length: number;
  /** The Checksum field as received. */
  checksum: number;
  message: MobilityMessage;
}

export interface MhDecodeOptions extends OptionDecodeOptions {
  /** Accept a Payload Proto other than 59 (RFC 6275 leaves it for future piggybacking). Default false. */
  acceptAnyPayloadProto?: boolean;
}

const LAYER = 'MH';

const KIND_TYPE: Readonly<Record<Exclude<MobilityMessageKind, 'Unknown'>, number>> = Object.freeze({
  BRR: MhType.BRR,
  HoTI: MhType.HoTI,
  CoTI: MhType.CoTI,
  HoT: MhType.HoT,
  CoT: MhType.CoT,
  BU: MhType.BU,
  BA: MhType.BA,
  BE: MhType.BE,
});

/** Where the options start per RFC 6275 type (the fixed part ends there). */
const OPTIONS_OFFSET: readonly number[] = [8, 16, 16, 24, 24, 12, 12, 24];

/**
 * Smallest Header Len per RFC 6275 MH type (RFC 6275 §9.2 and the digest §0: BRR 0; HoTI, CoTI,
 * BU, BA 1; HoT, CoT, BE 2). A shorter header gets ICMP Parameter Problem code 0 at offset 1.
 */
export const MH_MIN_HEADER_LEN: Readonly<Record<number, number>> = Object.freeze({
  [MhType.BRR]: 0,
  [MhType.HoTI]: 1,
  [MhType.CoTI]: 1,
  [MhType.HoT]: 2,
  [MhType.CoT]: 2,
  [MhType.BU]: 1,
  [MhType.BA]: 1,
  [MhType.BE]: 2,
});

/**
 * Decodes the Mobility Header at buf[0]. Checks, in order: the 8*(Header Len+1) octets are there
 * (TruncatedError); the checksum, when `pseudo` is given (BadChecksumError, so a corrupted packet is
 * dropped silently before anything would be answered); Payload Proto = 59 (BadValueError at offset 0);
 * Header Len >= the type's minimum (BadLengthError at offset 1); then the fixed part and options.
 * Offsets in errors are MH offsets, ready for an ICMP Parameter Problem pointer once the caller adds
 * the MH's position in the packet. A bad address string in `pseudo` is the caller's bug (EncodeError).
 */
export function decodeMobilityHeader(
  buf: Uint8Array,
  pseudo?: MhPseudoHeader,
  opts: MhDecodeOptions = {},
): DecodedMobilityHeader {
  if (buf.length < 2) throw new TruncatedError(LAYER, 0, 8, buf.length);
  const headerLen = buf[1];
  const length = 8 * (headerLen + 1);
  if (buf.length < length) throw new TruncatedError(LAYER, 0, length, buf.length);
  const mh = buf.subarray(0, length);
  const payloadProto = mh[0];
  const mhType = mh[2];
  const checksum = (mh[4] << 8) | mh[5];
  if (pseudo) {
    const ps = pseudoSum(mh, pseudo.src, pseudo.dst);
    // Summing the received field too must give 0xFFFF; so 0x0000 and 0xFFFF (the same ones'
    // complement value) are both accepted.
    if (finish(ps + sumWords(mh, 0, length)) !== 0) {
      const expected = finish(ps + sumWords(mh, 0, 4) + sumWords(mh, 6, length - 6));
      throw new BadChecksumError(LAYER, 4, checksum, expected);
    }
  }
  if (payloadProto !== IpProto.NONE && !opts.acceptAnyPayloadProto) {
    throw new BadValueError(LAYER, 0, `Payload Proto is ${payloadProto}, must be 59 (No Next Header)`);
  }
  const min = MH_MIN_HEADER_LEN[mhType];
  if (min !== undefined && headerLen < min) {
    throw new BadLengthError(LAYER, 1, `Header Len ${headerLen} is below ${min}, the minimum for MH type ${mhType}`);
  }
  const message = decodeBody(mh, mhType, opts);
  if (mh[3] !== 0) message.mhReserved = mh[3];
  return { payloadProto, headerLen, length, checksum, message };
}

function decodeBody(mh: Uint8Array, mhType: number, opts: OptionDecodeOptions): MobilityMessage {
  const u16 = (o: number): number => (mh[o] << 8) | mh[o + 1];
  const copy = (o: number, n: number): Uint8Array => Uint8Array.from(mh.subarray(o, o + n));
  if (mhType >= OPTIONS_OFFSET.length) return { kind: 'Unknown', mhType, data: copy(6, mh.length - 6) };
  const options = decodeMobilityOptions(mh, OPTIONS_OFFSET[mhType], mh.length, opts);
  switch (mhType) {
    case MhType.BRR:
      return withField({ kind: 'BRR', options }, 'reserved', u16(6));
    case MhType.HoTI:
    case MhType.CoTI:
      return withField({ kind: mhType === MhType.HoTI ? 'HoTI' : 'CoTI', cookie: copy(8, 8), options }, 'reserved', u16(6));
    case MhType.HoT:
    case MhType.CoT:
      return {
        kind: mhType === MhType.HoT ? 'HoT' : 'CoT',
        nonceIndex: u16(6),
        cookie: copy(8, 8),
        keygenToken: copy(16, 8),
        options,
      };
    case MhType.BU: {
      const word = u16(8);
      return withField(
        { kind: 'BU', sequence: u16(6), flags: buFlagsFromWord(word), lifetime: u16(10), options },
        'flagsReserved',
        word & BU_FLAGS_RESERVED_MASK,
      );
    }
    case MhType.BA:
      return withField(
        { kind: 'BA', status: mh[6], flags: baFlagsFromOctet(mh[7]), sequence: u16(8), lifetime: u16(10), options },
        'flagsReserved',
        mh[7] & BA_FLAGS_RESERVED_MASK,
      );
    default: // MhType.BE
      return withField({ kind: 'BE', status: mh[6], homeAddress: ip6ToString(mh, 8), options }, 'reserved', mh[7]);
  }
}

function withField<T extends object>(o: T, key: string, value: number): T {
  if (value !== 0) (o as Record<string, unknown>)[key] = value;
  return o;
}

/**
 * Encodes `message` as a Mobility Header. With `pseudo` the Checksum is filled in, otherwise left 0.
 * Options follow OptionEncodeOptions: with no Pad1/PadN in the list, padding is inserted for each
 * option's alignment and to the 8-octet end; with any, the list is written literally.
 */
export function encodeMobilityHeader(
  message: MobilityMessage,
  pseudo?: MhPseudoHeader,
  payloadProto: number = IpProto.NONE,
  opts: OptionEncodeOptions = {},
): Buffer {
  if (message === null || typeof message !== 'object') throw new EncodeError('message', 'must be a mobility message object');
  const proto = uint(payloadProto, 8, 'payloadProto');
  const mhReserved = uint(message.mhReserved ?? 0, 8, 'mhReserved');
  let mhType: number;
  let fixed: Uint8Array; // the octets from offset 6 to the options
  let tail: Uint8Array; // options (or Unknown data)
  if (message.kind === 'Unknown') {
    mhType = uint(message.mhType, 8, 'mhType');
    if (mhType < OPTIONS_OFFSET.length) {
      throw new EncodeError('mhType', `type ${mhType} is an RFC 6275 message; use its own kind`);
    }
    if (!(message.data instanceof Uint8Array)) throw new EncodeError('data', 'must be a Uint8Array');
    fixed = new Uint8Array(0);
    tail = message.data;
    if ((6 + tail.length) % 8 !== 0 || 6 + tail.length > MH_MAX_LENGTH) {
      throw new EncodeError('data', `6 + ${tail.length} octets is not a Mobility Header length (8n, at most ${MH_MAX_LENGTH})`);
    }
  } else {
    const t = (KIND_TYPE as Record<string, number | undefined>)[message.kind];
    if (t === undefined) throw new EncodeError('kind', `unknown message kind '${String(message.kind)}'`);
    mhType = t;
    fixed = new Uint8Array(OPTIONS_OFFSET[mhType] - 6);
    encodeFixed(message, fixed);
    if (!Array.isArray(message.options)) throw new EncodeError('options', 'must be an array');
    // No options (a BA per BU, mostly): only the padding to the 8-octet end, as encodeMobilityOptions
    // writes it (Pad1, or PadN of zeros), without its 2 KiB scratch buffer per call.
    tail = message.options.length === 0 && !opts.padding ? endPadding(OPTIONS_OFFSET[mhType]) : encodeMobilityOptions(message.options, OPTIONS_OFFSET[mhType], opts);
  }
  const length = 6 + fixed.length + tail.length;
  const out = Buffer.alloc(length);
  out[0] = proto;
  out[1] = length / 8 - 1;
  out[2] = mhType;
  out[3] = mhReserved;
  out.set(fixed, 6);
  out.set(tail, 6 + fixed.length);
  if (pseudo) put16(out, 4, mhChecksum(out, pseudo.src, pseudo.dst));
  return out;
}

/** The padding from MH offset `start` to the next multiple of 8: none, Pad1, or PadN (RFC 6275 §6.2.1, §6.2.2). */
function endPadding(start: number): Uint8Array {
  const n = (8 - (start % 8)) % 8;
  const pad = new Uint8Array(n);
  if (n >= 2) {
    pad[0] = MhOptType.PADN;
    pad[1] = n - 2;
  }
  return pad;
}

/** Writes the fixed part (from MH offset 6) of an RFC 6275 message into `f`. */
function encodeFixed(m: Exclude<MobilityMessage, UnknownMessage>, f: Uint8Array): void {
  switch (m.kind) {
    case 'BRR':
      put16(f, 0, uint(m.reserved ?? 0, 16, 'reserved'));
      break;
    case 'HoTI':
    case 'CoTI':
      put16(f, 0, uint(m.reserved ?? 0, 16, 'reserved'));
      f.set(bytes(m.cookie, 8, 'cookie'), 2);
      break;
    case 'HoT':
    case 'CoT':
      put16(f, 0, uint(m.nonceIndex, 16, 'nonceIndex'));
      f.set(bytes(m.cookie, 8, 'cookie'), 2);
      f.set(bytes(m.keygenToken, 8, 'keygenToken'), 10);
      break;
    case 'BU':
      put16(f, 0, uint(m.sequence, 16, 'sequence'));
      put16(f, 2, buFlagsToWord(flagsObject(m.flags, BU_FLAG_NAMES)) | uint(m.flagsReserved ?? 0, 4, 'flagsReserved'));
      put16(f, 4, uint(m.lifetime, 16, 'lifetime'));
      break;
    case 'BA':
      f[0] = uint(m.status, 8, 'status');
      f[1] = baFlagsToOctet(flagsObject(m.flags, BA_FLAG_NAMES)) | uint(m.flagsReserved ?? 0, 1, 'flagsReserved');
      put16(f, 2, uint(m.sequence, 16, 'sequence'));
      put16(f, 4, uint(m.lifetime, 16, 'lifetime'));
      break;
    case 'BE':
      f[0] = uint(m.status, 8, 'status');
      f[1] = uint(m.reserved ?? 0, 8, 'reserved');
      if (typeof m.homeAddress !== 'string') throw new EncodeError('homeAddress', 'must be IPv6 address text');
      f.set(ip6ToBytes(m.homeAddress, 'homeAddress'), 2);
      break;
  }
}

/**
 * The MH checksum (RFC 6275 §6.1.1) of `mh` (the whole MH, its Checksum field taken as 0) over the
 * IPv6 pseudo-header src | dst | length | 0 | 135. Which addresses: `src` is the home address from
 * the Home Address destination option if the packet has one (not the CoA in the IPv6 source), and
 * `dst` is the final destination, i.e. the address in a type 2 routing header if there is one (not
 * the CoA in the IPv6 destination). Otherwise the IPv6 header's own source and destination. The
 * caller picks the pair; this function cannot see the other headers.
 */
export function mhChecksum(mh: Uint8Array, src: string | Uint8Array, dst: string | Uint8Array): number {
  const sum = pseudoSum(mh, src, dst) + sumWords(mh, 0, 4) + sumWords(mh, 6, mh.length - 6);
  return finish(sum);
}

// Pseudo-header addresses given as text are parsed into these (no allocation per checksum).
const pseudoSrc = new Uint8Array(16);
const pseudoDst = new Uint8Array(16);

function pseudoSum(mh: Uint8Array, src: string | Uint8Array, dst: string | Uint8Array): number {
  let s: Uint8Array;
  let d: Uint8Array;
  if (typeof src === 'string') writeIp6((s = pseudoSrc), 0, src, 'pseudo.src');
  else s = src;
  if (typeof dst === 'string') writeIp6((d = pseudoDst), 0, dst, 'pseudo.dst');
  else d = dst;
  if (s.length !== 16 || d.length !== 16) throw new EncodeError('pseudo', 'addresses must be 16 octets');
  return ipv6PseudoSum(s, d, mh.length, IpProto.MH);
}

/**
 * True when 16-bit sequence number `a` is newer than `b`: (int16)(a - b) > 0 (RFC 6275 §9.5.1).
 * A difference of exactly 32768 is not newer, matching "the preceding 32768 values" being stale.
 */
export function seqNewer(a: number, b: number): boolean {
  const d = (a - b) & 0xffff;
  return d !== 0 && d < 0x8000;
}

/** BU/BA Lifetime and Binding Refresh Advice count units of 4 seconds. */
export const LIFETIME_UNIT_SECONDS = 4;
export const MAX_LIFETIME_UNITS = 0xffff;
/** 0xFFFF units = 262 140 s. */
export const MAX_LIFETIME_SECONDS = MAX_LIFETIME_UNITS * LIFETIME_UNIT_SECONDS;

export function lifetimeToSeconds(units: number): number {
  return uint(units, 16, 'lifetime') * LIFETIME_UNIT_SECONDS;
}

/**
 * Seconds -> 4-s units, rounded down (never grant or request more than asked) and capped at 0xFFFF.
 * Throws EncodeError for a negative or non-finite value.
 */
export function secondsToLifetime(seconds: number): number {
  if (typeof seconds !== 'number' || !(seconds >= 0) || !Number.isFinite(seconds)) {
    throw new EncodeError('lifetime', `must be a finite number of seconds >= 0, got ${String(seconds)}`);
  }
  return Math.min(MAX_LIFETIME_UNITS, Math.floor(seconds / LIFETIME_UNIT_SECONDS));
}

function uint(v: unknown, bits: number, field: string): number {
  const max = 2 ** bits - 1;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    throw new EncodeError(field, `must be an integer in 0..${max}, got ${String(v)}`);
  }
  return v;
}

function bytes(v: unknown, len: number, field: string): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length !== len) throw new EncodeError(field, `must be a Uint8Array of ${len} octets`);
  return v;
}

/** Every assigned flag must be a boolean, so that decoding gives back exactly what was encoded. */
function flagsObject<T extends object>(v: T, names: readonly string[]): T {
  if (v === null || typeof v !== 'object') throw new EncodeError('flags', 'must be a flags object (see buFlags/baFlags)');
  for (const n of names) {
    if (typeof (v as Record<string, unknown>)[n] !== 'boolean') throw new EncodeError(`flags.${n}`, 'must be a boolean');
  }
  return v;
}
