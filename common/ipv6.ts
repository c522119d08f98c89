// IPv6 fixed header and extension-header chain (RFC 8200) with the MIPv6 pieces (HAO, type 2
// routing header; RFC 6275 §6.3/§6.4). Never decodes the upper layer (MH, ESP payload, ...),
// never decrypts, never throws anything but DecodeError subclasses when decoding.
import { ip6ToString, writeIp6 } from './addr.js';
import { need, put16, put32, u16, u32 } from './bytes.js';
import { BadLengthError, BadValueError, EncodeError } from './errors.js';
import { IpProto } from './iana.js';
import { decodeOptions, encodeOptions, optionsLength, padOptions, type Ipv6Option } from './ipv6opts.js';

/** More extension headers than this is refused (bounds the work per packet; real chains have < 8). */
export const MAX_EXTENSION_HEADERS = 16;
export const IPV6_HEADER_LENGTH = 40;

export interface Ipv6Header {
  trafficClass: number;
  flowLabel: number;
  payloadLength: number;
  nextHeader: number;
  hopLimit: number;
  /** Canonical text (RFC 5952). */
  src: string;
  dst: string;
}

export interface HopByHopHeader {
  kind: 'hopByHop';
  options: Ipv6Option[];
}
export interface DestOptsHeader {
  kind: 'destOpts';
  options: Ipv6Option[];
}
/** Type 2 routing header: Hdr Ext Len 2, one address (the MN's home address). */
export interface Routing2Header {
  kind: 'routing2';
  segmentsLeft: number;
  reserved: number;
  homeAddress: string;
}
/** Any other routing type, kept raw: `data` is everything after Segments Left. */
export interface RoutingHeader {
  kind: 'routing';
  routingType: number;
  segmentsLeft: number;
  data: Uint8Array;
}
export interface FragmentHeader {
  kind: 'fragment';
  /** In 8-octet units. */
  offset: number;
  more: boolean;
  identification: number;
  /** The reserved octet after Next Header, and the 2 reserved bits before M: kept, not interpreted. */
  reserved: number;
  reservedBits: number;
}
export type Ipv6Extension = HopByHopHeader | DestOptsHeader | Routing2Header | RoutingHeader | FragmentHeader;

export interface Ipv6Packet {
  header: Ipv6Header;
  /** The readable chain in wire order (ESP is not in it: it ends the chain as the upper layer). */
  extensions: Ipv6Extension[];
  /** Next Header value after the chain: MH 135, UDP 17, ESP 50, 59, ... */
  upperProtocol: number;
  /** Offset of `upper` in the decoded buffer. */
  upperOffset: number;
  /** View (no copy) of the rest of the payload: the upper layer, the ESP packet, or a later fragment's data. */
  upper: Uint8Array;
  /** From a Home Address option. */
  homeAddress?: string;
  /** From a type 2 routing header with Segments Left > 0. */
  finalDestination?: string;
  /** Present when upperProtocol is ESP: its first 8 octets (RFC 4303 §2). */
  esp?: { spi: number; sequence: number };
  /** True when the chain stopped at a Fragment header with a non-zero offset: `upper` is not a header. */
  laterFragment?: true;
  /** Octets after 40 + payloadLength (link-layer padding), kept so re-encoding gives the same bytes. */
  trailing?: Uint8Array;
}

/**
 * What encodeIpv6 takes. A decoded Ipv6Packet fits as is. payloadLength and nextHeader are computed;
 * if given they must equal the computed values (EncodeError), so an edited decoded packet with a
 * stale length is refused instead of sent. Other header fields default to 0 (hop limit 64).
 */
export interface Ipv6PacketInput {
  header: {
    trafficClass?: number;
    flowLabel?: number;
    payloadLength?: number;
    nextHeader?: number;
    hopLimit?: number;
    src: string;
    dst: string;
  };
  extensions?: readonly Ipv6Extension[];
  upperProtocol: number;
  upper?: Uint8Array;
  trailing?: Uint8Array;
}

/** Next Header value announcing `ext`. */
export function extensionProtocol(ext: Ipv6Extension): number {
  switch (ext.kind) {
    case 'hopByHop':
      return IpProto.HOPOPTS;
    case 'destOpts':
      return IpProto.DSTOPTS;
    case 'routing2':
    case 'routing':
      return IpProto.ROUTING;
    case 'fragment':
      return IpProto.FRAGMENT;
  }
}

const EXT_PROTOCOLS: ReadonlySet<number> = new Set([IpProto.HOPOPTS, IpProto.DSTOPTS, IpProto.ROUTING, IpProto.FRAGMENT]);

export function decodeIpv6(buf: Uint8Array): Ipv6Packet {
  need(buf, 0, 1, 'IPv6');
  const version = buf[0] >> 4;
  if (version !== 6) throw new BadValueError('IPv6', 0, `version ${version}, expected 6`);
  need(buf, 0, IPV6_HEADER_LENGTH, 'IPv6');
  const w0 = u32(buf, 0, 'IPv6');
  const payloadLength = u16(buf, 4, 'IPv6');
  const header: Ipv6Header = {
    trafficClass: (w0 >>> 20) & 0xff,
    flowLabel: w0 & 0xfffff,
    payloadLength,
    nextHeader: buf[6],
    hopLimit: buf[7],
    src: ip6ToString(buf, 8),
    dst: ip6ToString(buf, 24),
  };
  need(buf, IPV6_HEADER_LENGTH, payloadLength, 'IPv6 payload');
  const end = IPV6_HEADER_LENGTH + payloadLength;
  // Every chain read goes through `pkt`, so a header running past Payload Length is a TruncatedError
  // even when link-layer padding follows in `buf`.
  const pkt = buf.subarray(0, end);

  const extensions: Ipv6Extension[] = [];
  const result: Ipv6Packet = { header, extensions, upperProtocol: 0, upperOffset: 0, upper: pkt.subarray(0, 0) };
  let off = IPV6_HEADER_LENGTH;
  let proto = header.nextHeader;

  chain: for (;;) {
    if (EXT_PROTOCOLS.has(proto) && extensions.length >= MAX_EXTENSION_HEADERS) {
      throw new BadValueError('IPv6', off, `more than ${MAX_EXTENSION_HEADERS} extension headers`);
    }
    switch (proto) {
      case IpProto.HOPOPTS:
      case IpProto.DSTOPTS: {
        const hbh = proto === IpProto.HOPOPTS;
        const layer = hbh ? 'IPv6 Hop-by-Hop' : 'IPv6 Destination Options';
        // RFC 8200 §4.3: Hop-by-Hop only directly after the IPv6 header.
        if (hbh && extensions.length > 0) throw new BadValueError(layer, off, 'Hop-by-Hop header not first in the chain');
        need(pkt, off, 2, layer);
        const len = 8 * (pkt[off + 1] + 1);
        need(pkt, off, len, layer);
        const options = decodeOptions(pkt, off, off + len, !hbh, layer);
        for (const o of options) {
          if (o.kind !== 'homeAddress') continue;
          // RFC 6275 §6.3: at most one HAO; two would make the pseudo-header source ambiguous.
          if (result.homeAddress !== undefined) throw new BadValueError(layer, off, 'second Home Address option');
          result.homeAddress = o.homeAddress;
        }
        extensions.push(hbh ? { kind: 'hopByHop', options } : { kind: 'destOpts', options });
        proto = pkt[off];
        off += len;
        break;
      }
      case IpProto.ROUTING: {
        const layer = 'IPv6 Routing';
        need(pkt, off, 4, layer);
        const hdrExtLen = pkt[off + 1];
        const routingType = pkt[off + 2];
        const segmentsLeft = pkt[off + 3];
        const len = 8 * (hdrExtLen + 1);
        if (routingType === 2) {
          if (hdrExtLen !== 2) throw new BadLengthError(layer, off + 1, `type 2 Hdr Ext Len ${hdrExtLen}, must be 2`);
          need(pkt, off, len, layer);
          if (segmentsLeft > 1) throw new BadValueError(layer, off + 3, `type 2 Segments Left ${segmentsLeft}, must be 0 or 1`);
          if (extensions.some((e) => e.kind === 'routing2')) throw new BadValueError(layer, off, 'second type 2 routing header');
          const homeAddress = ip6ToString(pkt, off + 8);
          extensions.push({ kind: 'routing2', segmentsLeft, reserved: u32(pkt, off + 4, layer), homeAddress });
          if (segmentsLeft > 0) result.finalDestination = homeAddress;
        } else {
          need(pkt, off, len, layer);
          extensions.push({ kind: 'routing', routingType, segmentsLeft, data: pkt.subarray(off + 4, off + len) });
        }
        proto = pkt[off];
        off += len;
        break;
      }
      case IpProto.FRAGMENT: {
        const layer = 'IPv6 Fragment';
        need(pkt, off, 8, layer);
        const w = u16(pkt, off + 2, layer);
        const frag: FragmentHeader = {
          kind: 'fragment',
          offset: w >>> 3,
          more: (w & 1) === 1,
          identification: u32(pkt, off + 4, layer),
          reserved: pkt[off + 1],
          reservedBits: (w >>> 1) & 3,
        };
        extensions.push(frag);
        proto = pkt[off];
        off += 8;
        // A non-first fragment carries a slice of the fragmentable part: nothing after it is a header.
        if (frag.offset !== 0) {
          result.laterFragment = true;
          break chain;
        }
        break;
      }
      case IpProto.ESP: {
        need(pkt, off, 8, 'ESP');
        result.esp = { spi: u32(pkt, off, 'ESP'), sequence: u32(pkt, off + 4, 'ESP') };
        break chain;
      }
      default:
        break chain;
    }
  }
  result.upperProtocol = proto;
  result.upperOffset = off;
  result.upper = pkt.subarray(off, end);
  if (buf.length > end) result.trailing = buf.subarray(end);
  return result;
}

/** Wire length of one extension header; EncodeError when it cannot be put on the wire. */
function extensionLength(ext: Ipv6Extension, field: string): number {
  switch (ext.kind) {
    case 'hopByHop':
    case 'destOpts': {
      const len = 2 + optionsLength(ext.options);
      if (len % 8 !== 0 || len > 2048) {
        throw new EncodeError(`${field}.options`, `header would be ${len} octets; needs a multiple of 8 up to 2048 (use padOptions)`);
      }
      return len;
    }
    case 'routing2':
      return 24;
    case 'routing': {
      const len = 4 + ext.data.length;
      if (len % 8 !== 0 || len > 2048) {
        throw new EncodeError(`${field}.data`, `routing header would be ${len} octets; needs a multiple of 8 up to 2048`);
      }
      return len;
    }
    case 'fragment':
      return 8;
    default:
      throw new EncodeError(field, `unknown extension kind ${(ext as { kind: unknown }).kind}`);
  }
}

function checkUint(v: number, max: number, field: string): number {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new EncodeError(field, `${v} is not an integer in 0..${max}`);
  return v;
}

/**
 * Encodes a packet. Refuses (EncodeError) anything the decoder would not give back unchanged:
 * Hop-by-Hop not first, two HAOs or two RH2s, RH2 Segments Left > 1, more than 16 extension
 * headers, an upper protocol that is an extension header (unless after a later fragment), ESP under 8 octets.
 */
export function encodeIpv6(p: Ipv6PacketInput): Buffer {
  const exts = p.extensions ?? [];
  const upper = p.upper ?? new Uint8Array(0);
  const trailing = p.trailing ?? new Uint8Array(0);
  const upperProtocol = checkUint(p.upperProtocol, 255, 'upperProtocol');
  if (exts.length > MAX_EXTENSION_HEADERS) throw new EncodeError('extensions', `${exts.length} headers, at most ${MAX_EXTENSION_HEADERS}`);

  let hao = 0;
  let rh2 = 0;
  let laterFragment = false;
  let payloadLength = upper.length;
  exts.forEach((e, i) => {
    const f = `extensions[${i}]`;
    if (laterFragment) throw new EncodeError(f, 'nothing can follow a fragment header with a non-zero offset');
    if (e.kind === 'hopByHop' && i !== 0) throw new EncodeError(f, 'Hop-by-Hop must be the first extension header');
    if (e.kind === 'destOpts') hao += e.options.filter((o) => o.kind === 'homeAddress').length;
    if (e.kind === 'routing2') {
      rh2++;
      checkUint(e.segmentsLeft, 1, `${f}.segmentsLeft`);
    }
    if (e.kind === 'fragment' && e.offset !== 0) laterFragment = true;
    payloadLength += extensionLength(e, f);
  });
  if (hao > 1) throw new EncodeError('extensions', 'more than one Home Address option');
  if (rh2 > 1) throw new EncodeError('extensions', 'more than one type 2 routing header');
  if (!laterFragment && EXT_PROTOCOLS.has(upperProtocol)) {
    throw new EncodeError('upperProtocol', `${upperProtocol} is an extension header; put it in extensions`);
  }
  if (!laterFragment && upperProtocol === IpProto.ESP && upper.length < 8) {
    throw new EncodeError('upper', `ESP needs at least 8 octets (SPI, sequence), got ${upper.length}`);
  }
  if (payloadLength > 0xffff) throw new EncodeError('header.payloadLength', `${payloadLength} octets; jumbograms are not supported`);
  const nextHeader = exts.length > 0 ? extensionProtocol(exts[0]) : upperProtocol;
  const h = p.header;
  if (h.payloadLength !== undefined && h.payloadLength !== payloadLength) {
    throw new EncodeError('header.payloadLength', `given ${h.payloadLength}, the packet has ${payloadLength}`);
  }
  if (h.nextHeader !== undefined && h.nextHeader !== nextHeader) {
    throw new EncodeError('header.nextHeader', `given ${h.nextHeader}, the chain starts with ${nextHeader}`);
  }

  const out = Buffer.alloc(IPV6_HEADER_LENGTH + payloadLength + trailing.length);
  const tc = checkUint(h.trafficClass ?? 0, 0xff, 'header.trafficClass');
  const fl = checkUint(h.flowLabel ?? 0, 0xfffff, 'header.flowLabel');
  put32(out, 0, ((6 << 28) | (tc << 20) | fl) >>> 0);
  put16(out, 4, payloadLength);
  out[6] = nextHeader;
  out[7] = checkUint(h.hopLimit ?? 64, 0xff, 'header.hopLimit');
  writeIp6(out, 8, h.src, 'header.src');
  writeIp6(out, 24, h.dst, 'header.dst');

  let off = IPV6_HEADER_LENGTH;
  exts.forEach((e, i) => {
    const f = `extensions[${i}]`;
    const len = extensionLength(e, f);
    out[off] = i + 1 < exts.length ? extensionProtocol(exts[i + 1]) : upperProtocol;
    switch (e.kind) {
      case 'hopByHop':
      case 'destOpts':
        out[off + 1] = len / 8 - 1;
        encodeOptions(out, off, off + 2, e.options, e.kind === 'destOpts', f);
        break;
      case 'routing2':
        out[off + 1] = 2;
        out[off + 2] = 2;
        out[off + 3] = e.segmentsLeft;
        put32(out, off + 4, checkUint(e.reserved, 0xffffffff, `${f}.reserved`));
        writeIp6(out, off + 8, e.homeAddress, `${f}.homeAddress`);
        break;
      case 'routing':
        // Type 2 has its own kind so its rules (length 2, Segments Left <= 1) always apply.
        if (checkUint(e.routingType, 255, `${f}.routingType`) === 2) {
          throw new EncodeError(`${f}.routingType`, "type 2 is encoded with kind 'routing2'");
        }
        out[off + 1] = len / 8 - 1;
        out[off + 2] = e.routingType;
        out[off + 3] = checkUint(e.segmentsLeft, 255, `${f}.segmentsLeft`);
        out.set(e.data, off + 4);
        break;
      case 'fragment': {
        out[off + 1] = checkUint(e.reserved, 0xff, `${f}.reserved`);
        const w =
          (checkUint(e.offset, 0x1fff, `${f}.offset`) << 3) |
          (checkUint(e.reservedBits, 3, `${f}.reservedBits`) << 1) |
          (e.more ? 1 : 0);
        put16(out, off + 2, w);
        put32(out, off + 4, checkUint(e.identification, 0xffffffff, `${f}.identification`));
        break;
      }
    }
    off += len;
  });
  out.set(upper, off);
  out.set(trailing, off + upper.length);
  return out;
}

/**
 * Addresses for an upper-layer checksum pseudo-header (RFC 6275 §6.3/§6.4, RFC 8200 §8.1): the
 * source is the HAO's home address when there is one (the receiver swaps it in before the upper
 * layer), the destination the RH2 address when Segments Left > 0 (its final destination). Works on
 * decoded packets and on encoder input alike.
 */
export function pseudoHeaderAddresses(p: {
  header: { src: string; dst: string };
  extensions?: readonly Ipv6Extension[];
}): { version: 6; src: string; dst: string } {
  let src = p.header.src;
  let dst = p.header.dst;
  for (const e of p.extensions ?? []) {
    if (e.kind === 'destOpts') {
      for (const o of e.options) if (o.kind === 'homeAddress') src = o.homeAddress;
    } else if (e.kind === 'routing2' && e.segmentsLeft > 0) {
      dst = e.homeAddress;
    }
  }
  return { version: 6, src, dst };
}

/** The standard Destination Options header carrying an HAO: PadN(2) then the HAO, 24 octets on the wire. */
export function haoDestOpts(homeAddress: string): DestOptsHeader {
  return { kind: 'destOpts', options: padOptions([{ kind: 'homeAddress', homeAddress }]) };
}

/** The 24 octets `nh, 2, 01 02 00 00, c9 10, HoA` (RFC 6275 §6.3; what Linux's mip6 expects). */
export function encodeHaoDestOpts(nextHeader: number, homeAddress: string): Buffer {
  const out = Buffer.alloc(24);
  out[0] = checkUint(nextHeader, 255, 'nextHeader');
  out[1] = 2;
  encodeOptions(out, 0, 2, haoDestOpts(homeAddress).options, true, 'destOpts');
  return out;
}

/** A type 2 routing header value (Segments Left 1 as sent by the HA or a CN). */
export function routing2(homeAddress: string, segmentsLeft = 1): Routing2Header {
  return { kind: 'routing2', segmentsLeft, reserved: 0, homeAddress };
}

/** The 24 octets of a type 2 routing header: `nh, 2, 2, segleft, 0000 0000, HoA`. */
export function encodeRouting2(nextHeader: number, homeAddress: string, segmentsLeft = 1): Buffer {
  const out = Buffer.alloc(24);
  out[0] = checkUint(nextHeader, 255, 'nextHeader');
  out[1] = 2;
  out[2] = 2;
  out[3] = checkUint(segmentsLeft, 1, 'segmentsLeft');
  writeIp6(out, 8, homeAddress, 'homeAddress');
  return out;
}

// Re-exported so callers of the IPv6 codec need one import for option work.
export { padOptions, type Ipv6Option } from './ipv6opts.js';
