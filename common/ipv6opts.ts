// IPv6 Hop-by-Hop / Destination Options TLVs (RFC 8200 §4.2) and the Home Address option
// (RFC 6275 §6.3). Pure codec: never acts on option action bits, never throws anything but
// DecodeError subclasses (decoding) or EncodeError (encoding), never copies option data.
import { ip6ToString, writeIp6 } from './addr.js';
import { BadLengthError, EncodeError, MisalignedError } from './errors.js';
import { Ipv6OptType } from './iana.js';

/** One TLV of a Hop-by-Hop or Destination Options header, in wire order (padding included). */
export type Ipv6Option =
  | { kind: 'pad1' }
  /** PadN; `data` is kept (normally zeros) so a decoded header re-encodes byte for byte. */
  | { kind: 'padN'; data: Uint8Array }
  /** Home Address option 0xC9 (Destination Options only), 8n+6 aligned, length 16. */
  | { kind: 'homeAddress'; homeAddress: string }
  /** Any other option, action bits included in `type`; kept raw for a byte-exact round trip. */
  | { kind: 'unknown'; type: number; data: Uint8Array };

/** HAO alignment requirement 8n+6 (RFC 6275 §6.3), offsets counted from the extension header's first octet. */
export const HAO_ALIGN = Object.freeze({ x: 8, y: 6 });
/** HAO Option Length: exactly one IPv6 address. */
export const HAO_LENGTH = 16;

/** What a node that does not recognise `type` must do (RFC 8200 §4.2, the two high-order bits). */
export type OptionAction = 'skip' | 'discard' | 'discardIcmp' | 'discardIcmpUnlessMulticast';

export function optionAction(type: number): OptionAction {
  switch ((type >> 6) & 3) {
    case 0:
      return 'skip';
    case 1:
      return 'discard';
    case 2:
      return 'discardIcmp';
    default:
      return 'discardIcmpUnlessMulticast';
  }
}

/** The third high-order bit: the option data may change en route (so AH treats it as zeros). */
export function optionDataMayChange(type: number): boolean {
  return (type & 0x20) !== 0;
}

/**
 * Decodes the options of the TLV header occupying buf[hdrStart, hdrEnd) (hdrEnd already bounded by the
 * caller). `haoAllowed` is true only for Destination Options: in Hop-by-Hop, 0xC9 is not the HAO.
 */
export function decodeOptions(
  buf: Uint8Array,
  hdrStart: number,
  hdrEnd: number,
  haoAllowed: boolean,
  layer: string,
): Ipv6Option[] {
  const out: Ipv6Option[] = [];
  let off = hdrStart + 2;
  while (off < hdrEnd) {
    const type = buf[off];
    if (type === Ipv6OptType.PAD1) {
      out.push({ kind: 'pad1' });
      off += 1;
      continue;
    }
    // An option's length octet or data running past the header's end is a length fault of the option,
    // not a short input: the header's own length was already checked against the packet.
    if (off + 2 > hdrEnd) throw new BadLengthError(layer, off, `option 0x${hex(type)} has no length octet`);
    const len = buf[off + 1];
    if (off + 2 + len > hdrEnd) {
      throw new BadLengthError(layer, off, `option 0x${hex(type)} length ${len} runs past the header end`);
    }
    const data = buf.subarray(off + 2, off + 2 + len);
    if (type === Ipv6OptType.PADN) {
      out.push({ kind: 'padN', data });
    } else if (type === Ipv6OptType.HOME_ADDRESS && haoAllowed) {
      if (len !== HAO_LENGTH) throw new BadLengthError(layer, off, `Home Address option length ${len}, must be 16`);
      if ((off - hdrStart) % HAO_ALIGN.x !== HAO_ALIGN.y) {
        throw new MisalignedError(layer, off, `Home Address option at header offset ${off - hdrStart}, needs 8n+6`);
      }
      out.push({ kind: 'homeAddress', homeAddress: ip6ToString(buf, off + 2) });
    } else {
      out.push({ kind: 'unknown', type, data });
    }
    off += 2 + len;
  }
  return out;
}

/** Octets the options occupy on the wire (without the 2-octet Next Header / Hdr Ext Len). */
export function optionsLength(options: readonly Ipv6Option[]): number {
  let n = 0;
  for (const o of options) n += o.kind === 'pad1' ? 1 : o.kind === 'homeAddress' ? 2 + HAO_LENGTH : 2 + o.data.length;
  return n;
}

/**
 * Writes `options` at buf[off...] of a TLV header starting at hdrStart; returns the end offset.
 * Refuses what the decoder would not give back (misaligned HAO, HAO in Hop-by-Hop, an "unknown"
 * that is really a pad or an HAO, oversized data) with EncodeError naming `field`.
 */
export function encodeOptions(
  buf: Uint8Array,
  hdrStart: number,
  off: number,
  options: readonly Ipv6Option[],
  haoAllowed: boolean,
  field: string,
): number {
  options.forEach((o, i) => {
    const f = `${field}.options[${i}]`;
    switch (o.kind) {
      case 'pad1':
        buf[off++] = Ipv6OptType.PAD1;
        break;
      case 'padN':
        off = writeTlv(buf, off, Ipv6OptType.PADN, o.data, f);
        break;
      case 'homeAddress':
        if (!haoAllowed) throw new EncodeError(f, 'the Home Address option belongs in a Destination Options header');
        if ((off - hdrStart) % HAO_ALIGN.x !== HAO_ALIGN.y) {
          throw new EncodeError(f, `Home Address option at header offset ${off - hdrStart}, needs 8n+6 (use padOptions)`);
        }
        buf[off] = Ipv6OptType.HOME_ADDRESS;
        buf[off + 1] = HAO_LENGTH;
        writeIp6(buf, off + 2, o.homeAddress, `${f}.homeAddress`);
        off += 2 + HAO_LENGTH;
        break;
      case 'unknown': {
        const t = o.type;
        if (!Number.isInteger(t) || t < 0 || t > 255) throw new EncodeError(`${f}.type`, `${t} is not an octet`);
        if (t === Ipv6OptType.PAD1 || t === Ipv6OptType.PADN || (haoAllowed && t === Ipv6OptType.HOME_ADDRESS)) {
          throw new EncodeError(`${f}.type`, `0x${hex(t)} is a known option; use its own kind`);
        }
        off = writeTlv(buf, off, t, o.data, f);
        break;
      }
      default:
        throw new EncodeError(f, `unknown option kind ${(o as { kind: unknown }).kind}`);
    }
  });
  return off;
}

function writeTlv(buf: Uint8Array, off: number, type: number, data: Uint8Array, field: string): number {
  if (data.length > 255) throw new EncodeError(`${field}.data`, `${data.length} octets, at most 255`);
  buf[off] = type;
  buf[off + 1] = data.length;
  buf.set(data, off + 2);
  return off + 2 + data.length;
}

/** The padding option covering `n` octets: Pad1 for one, else PadN with n-2 zero octets. */
export function padding(n: number): Ipv6Option[] {
  if (n <= 0) return [];
  return n === 1 ? [{ kind: 'pad1' }] : [{ kind: 'padN', data: new Uint8Array(n - 2) }];
}

/**
 * Inserts the padding a TLV header needs: before each HAO to reach 8n+6, and at the end so the
 * header (2 + options) is a multiple of 8. Options are taken to have no alignment need otherwise.
 */
export function padOptions(options: readonly Ipv6Option[]): Ipv6Option[] {
  const out: Ipv6Option[] = [];
  let cur = 2;
  for (const o of options) {
    if (o.kind === 'homeAddress') {
      const gap = (HAO_ALIGN.y - (cur % HAO_ALIGN.x) + HAO_ALIGN.x) % HAO_ALIGN.x;
      out.push(...padding(gap));
      cur += gap;
    }
    out.push(o);
    cur += optionsLength([o]);
  }
  out.push(...padding((8 - (cur % 8)) % 8));
  return out;
}

function hex(n: number): string {
  return n.toString(16).padStart(2, '0');
}
