// IPv4 header codec (RFC 791): options kept raw, header checksum computed on encode and verified
// on decode. Never interprets options, never reassembles fragments, never throws anything but
// DecodeError subclasses when decoding.
import { ip4ToString, writeIp4 } from './addr.js';
import { need, put16, u16 } from './bytes.js';
import { finish, sumWords } from './checksum.js';
import { BadChecksumError, BadLengthError, BadValueError, EncodeError } from './errors.js';

export const IPV4_MIN_HEADER_LENGTH = 20;

/** The 3-bit flags field: bit 0 reserved (must be zero, kept as received), DF, MF. */
export const Ipv4Flag = Object.freeze({ RESERVED: 4, DF: 2, MF: 1 });

export interface Ipv4Header {
  /** The whole second octet (DSCP and ECN). */
  tos: number;
  totalLength: number;
  identification: number;
  /** 3 bits, see Ipv4Flag. */
  flags: number;
  /** In 8-octet units. */
  fragmentOffset: number;
  ttl: number;
  protocol: number;
  /** As received (verified). */
  checksum: number;
  /** Dotted quad. */
  src: string;
  dst: string;
  /** IHL*4 - 20 octets, raw (a view). */
  options: Uint8Array;
}

export interface Ipv4Packet {
  header: Ipv4Header;
  /** Offset of `payload` in the decoded buffer (= IHL*4). */
  payloadOffset: number;
  /** View of the octets up to Total Length. */
  payload: Uint8Array;
  /** Octets after Total Length (link-layer padding), kept so re-encoding gives the same bytes. */
  trailing?: Uint8Array;
}

/**
 * What encodeIpv4 takes; a decoded Ipv4Packet fits as is. totalLength and checksum are computed;
 * if given they must equal the computed values (EncodeError), so a stale field after an edit is
 * refused. Defaults: tos 0, identification 0, flags 0, offset 0, ttl 64, no options.
 */
export interface Ipv4PacketInput {
  header: {
    tos?: number;
    totalLength?: number;
    identification?: number;
    flags?: number;
    fragmentOffset?: number;
    ttl?: number;
    protocol: number;
    checksum?: number;
    src: string;
    dst: string;
    options?: Uint8Array;
  };
  payload?: Uint8Array;
  trailing?: Uint8Array;
}

/** Header checksum value for the header at buf[off, off+headerLength), the checksum field taken as zero. */
export function ipv4HeaderChecksum(buf: Uint8Array, off: number, headerLength: number): number {
  return finish(sumWords(buf, off + 12, headerLength - 12, sumWords(buf, off, 10)));
}

/**
 * Both 0x0000 and 0xFFFF are zero in ones' complement; the computation gives 0x0000, but an
 * incremental updater (RFC 1624) may leave 0xFFFF, which receivers such as Linux accept.
 */
function checksumMatches(received: number, expected: number): boolean {
  return received === expected || (expected === 0 && received === 0xffff);
}

export function decodeIpv4(buf: Uint8Array): Ipv4Packet {
  const layer = 'IPv4';
  need(buf, 0, 1, layer);
  const version = buf[0] >> 4;
  if (version !== 4) throw new BadValueError(layer, 0, `version ${version}, expected 4`);
  need(buf, 0, IPV4_MIN_HEADER_LENGTH, layer);
  const ihl = buf[0] & 0x0f;
  if (ihl < 5) throw new BadLengthError(layer, 0, `IHL ${ihl}, at least 5`);
  const hl = ihl * 4;
  need(buf, 0, hl, layer);
  const totalLength = u16(buf, 2, layer);
  if (totalLength < hl) throw new BadLengthError(layer, 2, `Total Length ${totalLength} shorter than the ${hl}-octet header`);
  need(buf, 0, totalLength, layer);
  const checksum = u16(buf, 10, layer);
  const expected = ipv4HeaderChecksum(buf, 0, hl);
  if (!checksumMatches(checksum, expected)) throw new BadChecksumError(layer, 10, checksum, expected);
  const w = u16(buf, 6, layer);
  const header: Ipv4Header = {
    tos: buf[1],
    totalLength,
    identification: u16(buf, 4, layer),
    flags: w >>> 13,
    fragmentOffset: w & 0x1fff,
    ttl: buf[8],
    protocol: buf[9],
    checksum,
    src: ip4ToString(buf, 12),
    dst: ip4ToString(buf, 16),
    options: buf.subarray(IPV4_MIN_HEADER_LENGTH, hl),
  };
  const out: Ipv4Packet = { header, payloadOffset: hl, payload: buf.subarray(hl, totalLength) };
  if (buf.length > totalLength) out.trailing = buf.subarray(totalLength);
  return out;
}

function checkUint(v: number, max: number, field: string): number {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new EncodeError(field, `${v} is not an integer in 0..${max}`);
  return v;
}

export function encodeIpv4(p: Ipv4PacketInput): Buffer {
  const h = p.header;
  const options = h.options ?? new Uint8Array(0);
  const payload = p.payload ?? new Uint8Array(0);
  const trailing = p.trailing ?? new Uint8Array(0);
  if (options.length % 4 !== 0 || options.length > 40) {
    throw new EncodeError('header.options', `${options.length} octets; needs a multiple of 4 up to 40 (pad with EOL/NOP)`);
  }
  const hl = IPV4_MIN_HEADER_LENGTH + options.length;
  const totalLength = hl + payload.length;
  if (totalLength > 0xffff) throw new EncodeError('payload', `total length ${totalLength} exceeds 65535`);
  if (h.totalLength !== undefined && h.totalLength !== totalLength) {
    throw new EncodeError('header.totalLength', `given ${h.totalLength}, the packet has ${totalLength}`);
  }
  const out = Buffer.alloc(totalLength + trailing.length);
  out[0] = 0x40 | (hl / 4);
  out[1] = checkUint(h.tos ?? 0, 0xff, 'header.tos');
  put16(out, 2, totalLength);
  put16(out, 4, checkUint(h.identification ?? 0, 0xffff, 'header.identification'));
  put16(out, 6, (checkUint(h.flags ?? 0, 7, 'header.flags') << 13) | checkUint(h.fragmentOffset ?? 0, 0x1fff, 'header.fragmentOffset'));
  out[8] = checkUint(h.ttl ?? 64, 0xff, 'header.ttl');
  out[9] = checkUint(h.protocol, 0xff, 'header.protocol');
  writeIp4(out, 12, h.src, 'header.src');
  writeIp4(out, 16, h.dst, 'header.dst');
  out.set(options, IPV4_MIN_HEADER_LENGTH);
  const computed = ipv4HeaderChecksum(out, 0, hl);
  let checksum = computed;
  if (h.checksum !== undefined) {
    if (!checksumMatches(h.checksum, computed)) {
      throw new EncodeError('header.checksum', `given 0x${h.checksum.toString(16)}, the header sums to 0x${computed.toString(16)}`);
    }
    checksum = h.checksum; // keeps a received 0xFFFF form byte for byte
  }
  put16(out, 10, checksum);
  out.set(payload, hl);
  out.set(trailing, totalLength);
  return out;
}
