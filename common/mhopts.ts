// Mobility options codec (RFC 6275 §6.2, RFC 3963 §6.2, RFC 5555 §3.1-3.2, RFC 5648 §6.1):
// the TLV area after a Mobility Header's fixed part, with its xn+y alignment and padding rules.
// It must never throw anything but a DecodeError subclass while decoding (and never loop without
// advancing), and never emit bytes that its own decoder would reject or decode differently.
import { ip4ToBytes, ip4ToString, ip6ToBytes, ip6ToString } from './addr.js';
import { put16, put32 } from './bytes.js';
import { BadLengthError, BadValueError, EncodeError, MisalignedError, TruncatedError } from './errors.js';
import { MhOptType } from './iana.js';

// Decoded values are plain data: readable fields, canonical address text, copied byte arrays.
// Reserved bits are kept (as `reserved`, present only when non-zero) so that re-encoding a decoded
// option list gives back the received bytes, which a relay or a test of someone else's sender needs.

export interface Pad1Option {
  kind: 'Pad1';
}
/** `length` is the Length octet: the number of padding octets after Type and Length (total length + 2). */
export interface PadNOption {
  kind: 'PadN';
  length: number;
  /** The padding octets, present only when some are non-zero (receivers ignore them; kept for byte-exactness). */
  data?: Uint8Array;
}
/** Type 2, in a BA: when to refresh, in 4-s units. */
export interface BindingRefreshAdviceOption {
  kind: 'BindingRefreshAdvice';
  refreshInterval: number;
}
/** Type 3, in a BU: the CoA, overriding the IPv6 source. */
export interface AlternateCoaOption {
  kind: 'AlternateCoa';
  address: string;
}
/** Type 4, in a BU to a CN (return routability). */
export interface NonceIndicesOption {
  kind: 'NonceIndices';
  homeNonceIndex: number;
  careOfNonceIndex: number;
}
/** Type 5: the 96-bit authenticator; must be the last option. */
export interface BindingAuthDataOption {
  kind: 'BindingAuthData';
  authenticator: Uint8Array;
}
/** Type 6 (RFC 3963, NEMO): Reserved(8) Prefix Length(8) Prefix(128). */
export interface MobileNetworkPrefixOption {
  kind: 'MobileNetworkPrefix';
  prefixLength: number;
  prefix: string;
  reserved?: number;
}
/** Type 29 (RFC 5555), in a BU: 6-bit prefix length, P (request a mobile network prefix), 9 reserved bits. */
export interface Ipv4HomeAddressOption {
  kind: 'Ipv4HomeAddress';
  prefixLength: number;
  p: boolean;
  /** 0.0.0.0 asks the HA to assign one. */
  address: string;
  reserved?: number;
}
/** Type 30 (RFC 5555), in a BA: Status, 6-bit prefix length, 2 reserved bits. */
export interface Ipv4AddressAckOption {
  kind: 'Ipv4AddressAck';
  status: number;
  prefixLength: number;
  address: string;
  reserved?: number;
}
/** Type 31 (RFC 5555), in a BA: F (force UDP), 15 reserved bits, refresh time in seconds. */
export interface NatDetectionOption {
  kind: 'NatDetection';
  f: boolean;
  /** Seconds; 0 = ignore the field, 0xFFFFFFFF = keepalives not needed. */
  refreshTime: number;
  reserved?: number;
}
/** Type 32 (RFC 5555), in a BU: the IPv4 CoA, authenticated inside the ESP-protected BU. */
export interface Ipv4CoaOption {
  kind: 'Ipv4Coa';
  address: string;
  reserved?: number;
}
/** Type 35 (RFC 5648): Length 4 (no CoA), 8 (IPv4 CoA) or 20 (IPv6 CoA). */
export interface BindingIdOption {
  kind: 'BindingId';
  bid: number;
  status: number;
  /** Simultaneous home and foreign binding. */
  h: boolean;
  /** The 7 bits after H: Reserved in RFC 5648, BID-PRI in RFC 6089. Present only when non-zero. */
  priority?: number;
  /** A dotted-quad IPv4 CoA (Length 8) or IPv6 CoA text (Length 20); absent for Length 4. */
  coa?: string;
}
/** Any other type, kept verbatim (a receiver skips options it does not know, RFC 6275 §6.2.1). */
export interface UnknownOption {
  kind: 'Unknown';
  type: number;
  data: Uint8Array;
}

export type MobilityOption =
  | Pad1Option
  | PadNOption
  | BindingRefreshAdviceOption
  | AlternateCoaOption
  | NonceIndicesOption
  | BindingAuthDataOption
  | MobileNetworkPrefixOption
  | Ipv4HomeAddressOption
  | Ipv4AddressAckOption
  | NatDetectionOption
  | Ipv4CoaOption
  | BindingIdOption
  | UnknownOption;

export type MobilityOptionKind = MobilityOption['kind'];

/** Alignment `xn+y`: the option's Type octet must sit at an MH offset `off` with `off % x === y`. */
export interface Alignment {
  x: number;
  y: number;
}

/**
 * Alignment per option type (RFC 6275 §6.2.4-6.2.7, RFC 3963 §6.2, RFC 5555 §3.1-3.2 via the
 * digest's sources, RFC 5648 §6.1). Types not listed (padding, unknown options) have none.
 * BID 8n+2 is from the digest (UNCONFIRMED there): it puts an IPv6 CoA on an 8-octet boundary.
 */
export const OPTION_ALIGNMENT: Readonly<Record<number, Alignment>> = Object.freeze({
  [MhOptType.BINDING_REFRESH_ADVICE]: { x: 2, y: 0 },
  [MhOptType.ALTERNATE_COA]: { x: 8, y: 6 },
  [MhOptType.NONCE_INDICES]: { x: 2, y: 0 },
  [MhOptType.BINDING_AUTH_DATA]: { x: 8, y: 2 },
  [MhOptType.MOBILE_NETWORK_PREFIX]: { x: 8, y: 4 },
  [MhOptType.IPV4_HOME_ADDRESS]: { x: 4, y: 0 },
  [MhOptType.IPV4_ADDRESS_ACK]: { x: 4, y: 0 },
  [MhOptType.NAT_DETECTION]: { x: 4, y: 0 },
  [MhOptType.IPV4_COA]: { x: 4, y: 0 },
  [MhOptType.BINDING_ID]: { x: 8, y: 2 },
});

/** Allowed Length octet values per known option type. A known option with any other Length is malformed. */
const OPTION_LENGTHS: Readonly<Record<number, readonly number[]>> = Object.freeze({
  [MhOptType.BINDING_REFRESH_ADVICE]: [2],
  [MhOptType.ALTERNATE_COA]: [16],
  [MhOptType.NONCE_INDICES]: [4],
  [MhOptType.BINDING_AUTH_DATA]: [12],
  [MhOptType.MOBILE_NETWORK_PREFIX]: [18],
  [MhOptType.IPV4_HOME_ADDRESS]: [6],
  [MhOptType.IPV4_ADDRESS_ACK]: [6],
  [MhOptType.NAT_DETECTION]: [6],
  [MhOptType.IPV4_COA]: [6],
  [MhOptType.BINDING_ID]: [4, 8, 20],
});

/** Option types this module decodes into named fields (others decode as Unknown). */
export const KNOWN_OPTION_TYPES: readonly number[] = Object.freeze([
  MhOptType.PAD1,
  MhOptType.PADN,
  ...Object.keys(OPTION_LENGTHS).map(Number),
]);

const KIND_TYPE: Readonly<Record<Exclude<MobilityOptionKind, 'Unknown'>, number>> = Object.freeze({
  Pad1: MhOptType.PAD1,
  PadN: MhOptType.PADN,
  BindingRefreshAdvice: MhOptType.BINDING_REFRESH_ADVICE,
  AlternateCoa: MhOptType.ALTERNATE_COA,
  NonceIndices: MhOptType.NONCE_INDICES,
  BindingAuthData: MhOptType.BINDING_AUTH_DATA,
  MobileNetworkPrefix: MhOptType.MOBILE_NETWORK_PREFIX,
  Ipv4HomeAddress: MhOptType.IPV4_HOME_ADDRESS,
  Ipv4AddressAck: MhOptType.IPV4_ADDRESS_ACK,
  NatDetection: MhOptType.NAT_DETECTION,
  Ipv4Coa: MhOptType.IPV4_COA,
  BindingId: MhOptType.BINDING_ID,
});

/** The largest Mobility Header (Header Len 255): options can never extend past it. */
export const MH_MAX_LENGTH = 8 * 256;

const LAYER = 'MH option';

/** The wire Type of an option value. */
export function optionType(opt: MobilityOption): number {
  return opt.kind === 'Unknown' ? opt.type : KIND_TYPE[opt.kind];
}

/** Octets of padding needed before an option of `type` starting at MH offset `cur` (0 if it has no alignment). */
export function paddingBefore(cur: number, type: number): number {
  const a = OPTION_ALIGNMENT[type];
  return a ? (((a.y - cur) % a.x) + a.x) % a.x : 0;
}

export interface OptionDecodeOptions {
  /** Reject a known option that is not at its xn+y offset (MisalignedError). Default true. */
  strictAlignment?: boolean;
}

/**
 * Decodes the options in mh[start, end). Offsets (alignment, error offsets) are measured from
 * mh[0], which must be the first octet of the Mobility Header.
 * Errors: TruncatedError (an option runs past `end`), BadLengthError (wrong Length for a fixed-size
 * option), MisalignedError (strict mode), BadValueError (anything after Binding Authorization Data).
 */
export function decodeMobilityOptions(
  mh: Uint8Array,
  start = 0,
  end = mh.length,
  opts: OptionDecodeOptions = {},
): MobilityOption[] {
  const strict = opts.strictAlignment !== false;
  if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start <= end && end <= mh.length)) {
    throw new TruncatedError(LAYER, start, Math.max(0, end - start), Math.max(0, mh.length - start));
  }
  const out: MobilityOption[] = [];
  let off = start;
  let afterBad = false;
  while (off < end) {
    const type = mh[off];
    // RFC 6275 §6.2.7: BAD is last. Relaxed mode tolerates trailing padding, which a misaligned BAD needs.
    if (afterBad && (strict || type > MhOptType.PADN)) {
      throw new BadValueError(LAYER, off, `option type ${type} follows Binding Authorization Data, which must be last`);
    }
    if (type === MhOptType.PAD1) {
      out.push({ kind: 'Pad1' });
      off += 1;
      continue;
    }
    if (off + 2 > end) throw new TruncatedError(LAYER, off, 2, end - off);
    const len = mh[off + 1];
    const lengths = OPTION_LENGTHS[type];
    if (lengths) {
      if (strict) {
        const pad = paddingBefore(off, type);
        if (pad !== 0) {
          const a = OPTION_ALIGNMENT[type];
          throw new MisalignedError(LAYER, off, `option type ${type} must start at ${a.x}n+${a.y}, found at offset ${off}`);
        }
      }
      if (!lengths.includes(len)) {
        throw new BadLengthError(LAYER, off + 1, `option type ${type} has Length ${len}, must be ${lengths.join(' or ')}`);
      }
    }
    if (off + 2 + len > end) throw new TruncatedError(LAYER, off, 2 + len, end - off);
    out.push(decodeOne(mh, off + 2, type, len));
    if (type === MhOptType.BINDING_AUTH_DATA) afterBad = true;
    off += 2 + len;
  }
  return out;
}

/** Decodes one option's data at mh[d, d+len); the length was already checked. */
function decodeOne(mh: Uint8Array, d: number, type: number, len: number): MobilityOption {
  switch (type) {
    case MhOptType.PADN: {
      const data = mh.subarray(d, d + len);
      return data.some((b) => b !== 0) ? { kind: 'PadN', length: len, data: Uint8Array.from(data) } : { kind: 'PadN', length: len };
    }
    case MhOptType.BINDING_REFRESH_ADVICE:
      return { kind: 'BindingRefreshAdvice', refreshInterval: (mh[d] << 8) | mh[d + 1] };
    case MhOptType.ALTERNATE_COA:
      return { kind: 'AlternateCoa', address: ip6ToString(mh, d) };
    case MhOptType.NONCE_INDICES:
      return { kind: 'NonceIndices', homeNonceIndex: (mh[d] << 8) | mh[d + 1], careOfNonceIndex: (mh[d + 2] << 8) | mh[d + 3] };
    case MhOptType.BINDING_AUTH_DATA:
      return { kind: 'BindingAuthData', authenticator: Uint8Array.from(mh.subarray(d, d + 12)) };
    case MhOptType.MOBILE_NETWORK_PREFIX:
      return withReserved({ kind: 'MobileNetworkPrefix', prefixLength: mh[d + 1], prefix: ip6ToString(mh, d + 2) }, mh[d]);
    case MhOptType.IPV4_HOME_ADDRESS:
      return withReserved(
        { kind: 'Ipv4HomeAddress', prefixLength: mh[d] >> 2, p: (mh[d] & 0x02) !== 0, address: ip4ToString(mh, d + 2) },
        ((mh[d] & 0x01) << 8) | mh[d + 1],
      );
    case MhOptType.IPV4_ADDRESS_ACK:
      return withReserved(
        { kind: 'Ipv4AddressAck', status: mh[d], prefixLength: mh[d + 1] >> 2, address: ip4ToString(mh, d + 2) },
        mh[d + 1] & 0x03,
      );
    case MhOptType.NAT_DETECTION:
      return withReserved(
        {
          kind: 'NatDetection',
          f: (mh[d] & 0x80) !== 0,
          refreshTime: ((mh[d + 2] << 24) >>> 0) + ((mh[d + 3] << 16) | (mh[d + 4] << 8) | mh[d + 5]),
        },
        ((mh[d] & 0x7f) << 8) | mh[d + 1],
      );
    case MhOptType.IPV4_COA:
      return withReserved({ kind: 'Ipv4Coa', address: ip4ToString(mh, d + 2) }, (mh[d] << 8) | mh[d + 1]);
    case MhOptType.BINDING_ID: {
      const o: BindingIdOption = { kind: 'BindingId', bid: (mh[d] << 8) | mh[d + 1], status: mh[d + 2], h: (mh[d + 3] & 0x80) !== 0 };
      if ((mh[d + 3] & 0x7f) !== 0) o.priority = mh[d + 3] & 0x7f;
      if (len === 8) o.coa = ip4ToString(mh, d + 4);
      else if (len === 20) o.coa = ip6ToString(mh, d + 4);
      return o;
    }
    default:
      return { kind: 'Unknown', type, data: Uint8Array.from(mh.subarray(d, d + len)) };
  }
}

function withReserved<T extends MobilityOption & { reserved?: number }>(o: T, reserved: number): T {
  if (reserved !== 0) o.reserved = reserved;
  return o;
}

export interface OptionEncodeOptions {
  /** Refuse (EncodeError) a literal list that puts a known option off its alignment. Default true. */
  strictAlignment?: boolean;
  /**
   * 'auto': insert the padding each option needs and pad the end to 8n. 'literal': write the list as
   * given. Default: literal if the list holds any Pad1/PadN (it was decoded, or the caller chose), else auto.
   */
  padding?: 'auto' | 'literal';
}

/**
 * Encodes an option list that starts at MH offset `start`; the result ends on an 8-octet boundary
 * of the MH (start + length is a multiple of 8). Throws EncodeError naming the offending field.
 */
export function encodeMobilityOptions(
  options: readonly MobilityOption[],
  start: number,
  opts: OptionEncodeOptions = {},
): Uint8Array {
  if (!Number.isInteger(start) || start < 0 || start >= MH_MAX_LENGTH) {
    throw new EncodeError('start', `must be an MH offset in 0..${MH_MAX_LENGTH - 1}, got ${String(start)}`);
  }
  if (!Array.isArray(options)) throw new EncodeError('options', 'must be an array');
  const strict = opts.strictAlignment !== false;
  const literal = opts.padding ? opts.padding === 'literal' : options.some((o) => o?.kind === 'Pad1' || o?.kind === 'PadN');
  const buf = new Uint8Array(MH_MAX_LENGTH);
  let cur = start;
  const room = (n: number, field: string): void => {
    if (cur + n > MH_MAX_LENGTH) throw new EncodeError(field, `the Mobility Header would exceed ${MH_MAX_LENGTH} octets`);
  };
  const pad = (n: number): void => {
    room(n, 'options');
    if (n === 1) buf[cur] = MhOptType.PAD1;
    else if (n >= 2) {
      buf[cur] = MhOptType.PADN;
      buf[cur + 1] = n - 2;
    }
    cur += n;
  };
  let afterBad = false;
  options.forEach((opt, i) => {
    const field = `options[${i}]`;
    if (opt === null || typeof opt !== 'object') throw new EncodeError(field, 'must be a mobility option object');
    const type = typeOf(opt, field);
    if (afterBad && (strict || type > MhOptType.PADN)) {
      throw new EncodeError(field, 'nothing may follow Binding Authorization Data (RFC 6275 §6.2.7)');
    }
    if (!literal) pad(paddingBefore(cur, type));
    else if (strict && paddingBefore(cur, type) !== 0) {
      const a = OPTION_ALIGNMENT[type];
      throw new EncodeError(field, `option type ${type} would start at MH offset ${cur}, not at ${a.x}n+${a.y}`);
    }
    cur = writeOne(buf, cur, opt, type, field, room);
    if (type === MhOptType.BINDING_AUTH_DATA) afterBad = true;
  });
  if (!literal) pad((8 - (cur % 8)) % 8);
  else if (cur % 8 !== 0) {
    throw new EncodeError('options', `literal option list ends at MH offset ${cur}, not a multiple of 8 (add padding)`);
  }
  return buf.slice(start, cur);
}

function typeOf(opt: MobilityOption, field: string): number {
  if (opt.kind === 'Unknown') {
    const t = uint(opt.type, 8, `${field}.type`);
    if (KNOWN_OPTION_TYPES.includes(t)) {
      throw new EncodeError(`${field}.type`, `type ${t} has its own kind; an Unknown option would not decode back to itself`);
    }
    return t;
  }
  const t = (KIND_TYPE as Record<string, number | undefined>)[opt.kind];
  if (t === undefined) throw new EncodeError(`${field}.kind`, `unknown option kind '${String(opt.kind)}'`);
  return t;
}

/** Writes Type, Length and data at `at`; returns the offset after the option. */
function writeOne(
  buf: Uint8Array,
  at: number,
  opt: MobilityOption,
  type: number,
  field: string,
  room: (n: number, field: string) => void,
): number {
  const f = (name: string): string => `${field}.${name}`;
  if (opt.kind === 'Pad1') {
    room(1, field);
    buf[at] = MhOptType.PAD1;
    return at + 1;
  }
  let data: Uint8Array;
  switch (opt.kind) {
    case 'PadN': {
      const len = uint(opt.length, 8, f('length'));
      data = new Uint8Array(len);
      if (opt.data !== undefined) data.set(bytes(opt.data, len, f('data')));
      break;
    }
    case 'BindingRefreshAdvice':
      data = new Uint8Array(2);
      put16(data, 0, uint(opt.refreshInterval, 16, f('refreshInterval')));
      break;
    case 'AlternateCoa':
      data = ip6(opt.address, f('address'));
      break;
    case 'NonceIndices':
      data = new Uint8Array(4);
      put16(data, 0, uint(opt.homeNonceIndex, 16, f('homeNonceIndex')));
      put16(data, 2, uint(opt.careOfNonceIndex, 16, f('careOfNonceIndex')));
      break;
    case 'BindingAuthData':
      data = Uint8Array.from(bytes(opt.authenticator, 12, f('authenticator')));
      break;
    case 'MobileNetworkPrefix':
      data = new Uint8Array(18);
      data[0] = uint(opt.reserved ?? 0, 8, f('reserved'));
      data[1] = uint(opt.prefixLength, 8, f('prefixLength'));
      data.set(ip6(opt.prefix, f('prefix')), 2);
      break;
    case 'Ipv4HomeAddress': {
      data = new Uint8Array(6);
      const res = uint(opt.reserved ?? 0, 9, f('reserved'));
      data[0] = (uint(opt.prefixLength, 6, f('prefixLength')) << 2) | (bool(opt.p, f('p')) ? 0x02 : 0) | (res >> 8);
      data[1] = res & 0xff;
      data.set(ip4ToBytes(opt.address, f('address')), 2);
      break;
    }
    case 'Ipv4AddressAck':
      data = new Uint8Array(6);
      data[0] = uint(opt.status, 8, f('status'));
      data[1] = (uint(opt.prefixLength, 6, f('prefixLength')) << 2) | uint(opt.reserved ?? 0, 2, f('reserved'));
      data.set(ip4ToBytes(opt.address, f('address')), 2);
      break;
    case 'NatDetection':
      data = new Uint8Array(6);
      put16(data, 0, (bool(opt.f, f('f')) ? 0x8000 : 0) | uint(opt.reserved ?? 0, 15, f('reserved')));
      put32(data, 2, uint(opt.refreshTime, 32, f('refreshTime')));
      break;
    case 'Ipv4Coa':
      data = new Uint8Array(6);
      put16(data, 0, uint(opt.reserved ?? 0, 16, f('reserved')));
      data.set(ip4ToBytes(opt.address, f('address')), 2);
      break;
    case 'BindingId': {
      // A dotted quad is an IPv4 CoA (Length 8); any other text is IPv6 (Length 20), so
      // '::ffff:192.0.2.1' stays an IPv6 CoA and decodes back to the same text.
      const coa =
        opt.coa === undefined
          ? new Uint8Array(0)
          : typeof opt.coa === 'string' && DOTTED_QUAD.test(opt.coa)
            ? ip4ToBytes(opt.coa, f('coa'))
            : ip6(opt.coa, f('coa'));
      data = new Uint8Array(4 + coa.length);
      put16(data, 0, uint(opt.bid, 16, f('bid')));
      data[2] = uint(opt.status, 8, f('status'));
      data[3] = (bool(opt.h, f('h')) ? 0x80 : 0) | uint(opt.priority ?? 0, 7, f('priority'));
      data.set(coa, 4);
      break;
    }
    case 'Unknown':
      data = bytes(opt.data, undefined, f('data'));
      if (data.length > 255) throw new EncodeError(f('data'), `at most 255 octets, got ${data.length}`);
      break;
  }
  room(2 + data.length, field);
  buf[at] = type;
  buf[at + 1] = data.length;
  buf.set(data, at + 2);
  return at + 2 + data.length;
}

const DOTTED_QUAD = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

function uint(v: unknown, bits: number, field: string): number {
  const max = 2 ** bits - 1;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    throw new EncodeError(field, `must be an integer in 0..${max}, got ${String(v)}`);
  }
  return v;
}

function bool(v: unknown, field: string): boolean {
  if (typeof v !== 'boolean') throw new EncodeError(field, `must be a boolean, got ${String(v)}`);
  return v;
}

function bytes(v: unknown, len: number | undefined, field: string): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new EncodeError(field, 'must be a Uint8Array');
  if (len !== undefined && v.length !== len) throw new EncodeError(field, `must be ${len} octets, got ${v.length}`);
  return v;
}

function ip6(text: unknown, field: string): Uint8Array {
  if (typeof text !== 'string') throw new EncodeError(field, 'must be IPv6 address text');
  return ip6ToBytes(text, field);
}
