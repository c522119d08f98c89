// The (DS)MIPv6 tunnel rewrite below IPsec (draft-laganier-mext-dsmipv6-ipsec; RFC 6275 §6.3/§6.4,
// RFC 3776 §4, RFC 5555 §4.1): pure byte transforms between the HoA<->HA packets ipsec/ produces and
// consumes and the CoA<->HA packets on the wire (Home Address option, type 2 routing header, IPv4-
// mapped CoA inside UDP 4191 or protocol 41). Bytes in, bytes out or a drop reason: these functions
// never throw on any input bytes, never touch a socket, never decrypt, never look above ESP, and
// import nothing from mn/ or ha/. The only IPsec knowledge is an injected SPI predicate built by
// the caller from the SAD/SPD query API (design Req #3/#4), never from per-packet metadata.
//
// DESIGN CHOICE — data packets carry the HAO / RH2 too, exactly like BU / BA.
// The tunnel-mode SAs run HoA<->HA (the draft: no SA change on movement), so the packet ipsec/
// produces for data is "outer HoA->HA | ESP | inner". On the wire it must come from the CoA. We move
// the HoA into a HAO (MN->HA) or an RH2 (HA->MN) for every packet, BU/BA and data alike, because:
//  - the receiver maps back statelessly: fromCareOf/fromMobile rebuild the exact HoA<->HA packet the
//    sender's ipsec/ made, with no CoA->HoA lookup table in tunnel/ and no race with a binding that
//    is changing (a BU leaves from the new CoA while data still uses the old one: Req #3);
//  - ipsec/ on both sides sees the same addresses for BU/BA and data (its SAs and SPD stay on HoAs);
//  - it is one code path, so the BU/data distinction lives only where the design puts it: the
//    caller's choice of CoA per SPI (MN) and the NatRecord (HA);
//  - it is valid RFC 6275 wire: an MN may send any packet to its HA with a HAO once a binding exists
//    (the HA accepts it when the source equals the bound CoA — ha/'s check, against `coa` returned
//    here), and an RH2 for one of its own HoAs is what any MN accepts.
// Cost: 24 octets per data packet. Both directions are symmetric: toCareOf <-> fromCareOf (HAO),
// toMobile <-> fromMobile (RH2).
//
// FAST PATHS. Every function first tries the shape our own peers send (IPv6 header straight
// followed by ESP, or by exactly the 24-octet HAO / RH2 header this module writes, then ESP) with
// byte moves only: no address text per packet (it cost over a third of the HA's time, BENCHMARKS.md).
// Anything else takes the general decode / re-encode path. Both give the same bytes and results
// (test/tunnel-mip6-fast.test.ts checks them against each other); `generalPath` keeps the general
// one callable for that test only.
import { canonicalIp, ip6ToBytes, ip6ToString } from '../common/addr.js';
import { EncodeError } from '../common/errors.js';
import { IpProto } from '../common/iana.js';
import { decodeIpv4 } from '../common/ipv4.js';
import { decodeIpv6, encodeIpv6, haoDestOpts, routing2, type Ipv6Extension, type Ipv6Packet } from '../common/ipv6.js';
import { decodeUdp4Packet } from '../common/udp.js';
import { DSMIP_UDP_PORT } from './bind.js';
import type { NatRecord } from './natrecord.js';

/** Why a packet was dropped; every data-plane function returns one instead of throwing. */
export const MIP6_DROP_REASONS = Object.freeze([
  'malformed', // not a decodable IPv6 (or IPv4 wrap) packet
  'not-esp', // outbound rewrite of a packet that ipsec/ did not protect
  'fragment', // a later fragment: no header chain to rewrite
  'hao-present', // toCareOf: the packet already has a Home Address option
  'rh2-present', // toMobile: the packet already has a type 2 routing header
  'unsupported-extensions', // a Destination Options header where the HAO goes, or a second routing header
  'bad-address', // the CoA (or binding) given by the caller is not an address
  'too-big', // the rewritten packet would exceed 65535 octets of payload
  'rh2-not-own-hoa', // fromMobile: an RH2 for an address that is not one of this MN's HoAs (never forwarded)
  'not-tunnelled', // an IPv4 packet that is neither protocol 41 nor UDP to/from 4191
  'no-udp-endpoint', // toMobile: IPv4 CoA needs UDP but the binding has no address/port for it
  'internal-error',
] as const);
export type Mip6DropReason = (typeof MIP6_DROP_REASONS)[number];
export interface Mip6Drop {
  readonly ok: false;
  readonly reason: Mip6DropReason;
}

const DROPS: Readonly<Record<Mip6DropReason, Mip6Drop>> = Object.freeze(
  Object.fromEntries(MIP6_DROP_REASONS.map((r) => [r, Object.freeze({ ok: false as const, reason: r })])) as Record<Mip6DropReason, Mip6Drop>,
);
function drop(reason: Mip6DropReason): Mip6Drop {
  return DROPS[reason];
}

/** Where an inbound packet came from: native IPv6, UDP 4191 over IPv4, or IPv6-in-IPv4 (protocol 41). */
export type Mip6Outer = { via: 'ipv6' } | { via: 'udp4'; addr: string; port: number } | { via: 'ip6in4'; addr: string };

// ---- helpers ---------------------------------------------------------------------------------

/** a.b.c.d, each 1-3 ASCII digits worth at most 255 (leading zeros allowed). Scans; no allocation per call. */
function isIpv4(text: string): boolean {
  return scanIpv4(text, undefined, false);
}

/**
 * Scans a dotted quad: four parts of 1-3 ASCII digits, each at most 255, and nothing else; with
 * `strict`, no part has a leading zero. Writes the parts to octets[12..16) when `octets` is given.
 */
function scanIpv4(text: string, octets: Uint8Array | undefined, strict: boolean): boolean {
  const len = text.length;
  let i = 0;
  for (let part = 0; part < 4; part++) {
    if (part > 0) {
      if (i >= len || text.charCodeAt(i) !== 46) return false; // '.'
      i++;
    }
    const start = i;
    let v = 0;
    while (i < len && i - start < 3) {
      const c = text.charCodeAt(i);
      if (c < 48 || c > 57) break;
      v = v * 10 + (c - 48);
      i++;
    }
    if (i === start || v > 255 || (strict && i - start > 1 && text.charCodeAt(start) === 48)) return false;
    if (octets) octets[12 + part] = v;
  }
  return i === len;
}

/**
 * Canonical IPv6 text of a unicast address the caller gives (IPv4 -> IPv4-mapped), or undefined for
 * anything else: not an address (common/addr.ts takes embedded IPv4 only in the ::ffff: form), the
 * unspecified address, multicast (IPv6 ff00::/8, IPv4 224.0.0.0/3 incl. broadcast), IPv4 0.0.0.0/8.
 */
function canonical6(text: unknown): string | undefined {
  return careOf6(text)?.text;
}

/** A caller-given address, resolved once: canonical IPv6 text, its 16 octets, and whether it was IPv4 text. */
interface Address6 {
  readonly text: string;
  readonly octets: Uint8Array;
  readonly ipv4: boolean;
}
/** Entries kept; cleared when full (bindings and HoAs are few, a flood of new text only costs the miss). */
const ADDRESS_MEMO_CAP = 4096;
const addressMemo = new Map<string, Address6 | null>();

/** canonical6 with the octets, remembered per input text (asked per packet with the binding's CoA). */
function careOf6(text: unknown): Address6 | undefined {
  if (typeof text !== 'string') return undefined;
  let a = addressMemo.get(text);
  if (a === undefined) {
    // A dotted quad without leading zeros (every IPv4 CoA a BU names, and new ones per move) is
    // resolved by scanning: canonical6Text would make it ::ffff:<same text>, whose octets these are.
    a = ipv4Address6(text);
    if (a === undefined) {
      a = null;
      const c = canonical6Text(text);
      if (c !== undefined) {
        try {
          a = { text: c, octets: ip6ToBytes(c), ipv4: isIpv4(text) };
        } catch {
          a = null;
        }
      }
    }
    if (addressMemo.size >= ADDRESS_MEMO_CAP) addressMemo.clear();
    addressMemo.set(text, a);
  }
  return a ?? undefined;
}

/**
 * careOf6's answer for a dotted quad whose parts have no leading zeros (null for a multicast,
 * broadcast or 0.0.0.0/8 one, as canonical6Text refuses them), or undefined for any other text.
 */
function ipv4Address6(text: string): Address6 | null | undefined {
  const len = text.length;
  if (len < 7 || len > 15) return undefined;
  const octets = new Uint8Array(16);
  if (!scanIpv4(text, octets, true)) return undefined;
  if (octets[12] === 0 || octets[12] >= 224) return null;
  octets[10] = 0xff;
  octets[11] = 0xff;
  return { text: `::ffff:${text}`, octets, ipv4: true };
}

function canonical6Text(text: string): string | undefined {
  if (isIpv4(text)) {
    const first = Number(text.split('.')[0]);
    return first === 0 || first >= 224 ? undefined : `::ffff:${text}`;
  }
  if (!text.includes(':')) return undefined;
  let c: string;
  try {
    c = canonicalIp(text);
  } catch {
    return undefined;
  }
  if (c === '::' || /^ff[0-9a-f]{2}:/.test(c)) return undefined;
  // canonicalIp keeps ip6addr's hex form for mapped addresses; decodeIpv6 prints dotted.
  if (/^::ffff:[0-9a-f]{1,4}:[0-9a-f]{1,4}$/.test(c)) return canonical6Text(mappedDotted(c));
  if (c.startsWith('::ffff:')) return canonical6Text(c.slice(7));
  return c;
}

function mappedDotted(c: string): string {
  const [hi, lo] = c.slice(7).split(':').map((h) => parseInt(h, 16));
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

function decode6(buf: Uint8Array): Ipv6Packet | undefined {
  try {
    return decodeIpv6(buf);
  } catch {
    return undefined;
  }
}

/** Re-encodes a decoded packet with new addresses/extensions; length fields are recomputed, trailing padding dropped. */
function reencode(p: Ipv6Packet, src: string, dst: string, extensions: readonly Ipv6Extension[]): Uint8Array | Mip6Drop {
  try {
    return encodeIpv6({
      header: { trafficClass: p.header.trafficClass, flowLabel: p.header.flowLabel, hopLimit: p.header.hopLimit, src, dst },
      extensions,
      upperProtocol: p.upperProtocol,
      upper: p.upper,
    });
  } catch (e) {
    return drop(e instanceof EncodeError && e.field === 'header.payloadLength' ? 'too-big' : 'malformed');
  }
}

/** Checks the shape shared by both outbound rewrites: IPv6, ESP at the end of a readable chain. */
function protectedPacket(packet: Uint8Array): Ipv6Packet | Mip6Drop {
  if (!(packet instanceof Uint8Array)) return drop('malformed');
  const p = decode6(packet);
  if (!p) return drop('malformed');
  if (p.laterFragment) return drop('fragment');
  if (p.upperProtocol !== IpProto.ESP || !p.esp) return drop('not-esp');
  return p;
}

function isDrop(x: unknown): x is Mip6Drop {
  return typeof x === 'object' && x !== null && (x as { ok?: unknown }).ok === false;
}

const OUTER_IPV6: Mip6Outer = Object.freeze({ via: 'ipv6' as const });

/**
 * Payload Length of an IPv6 header directly followed by Next Header `nh` whose payload holds at
 * least `min` octets, or -1 for any other shape (then the general path decides). The packet may be
 * longer than 40 + Payload Length (link-layer padding): like the general path, the copy drops it.
 */
function fastShape(b: Uint8Array, nh: number, min: number): number {
  if (b.length < 40 + min || b[0] >> 4 !== 6 || b[6] !== nh) return -1;
  const pl = (b[4] << 8) | b[5];
  return pl >= min && 40 + pl <= b.length ? pl : -1;
}

function spiAt(b: Uint8Array, off: number): number {
  return ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0;
}

/** The 40-octet header, 24 octets inserted after it (`fill` writes them), then the payload: Payload Length + 24. */
function withInserted24(b: Uint8Array, pl: number, nh: number): Buffer {
  const out = Buffer.allocUnsafe(64 + pl);
  out.set(b.subarray(0, 40), 0);
  const n = pl + 24;
  out[4] = n >> 8;
  out[5] = n & 0xff;
  out[6] = nh;
  out.set(b.subarray(40, 40 + pl), 64);
  return out;
}

/** The packet without link-layer padding, copied, for an in-place address swap. */
function copied(b: Uint8Array, pl: number): Buffer {
  const out = Buffer.allocUnsafe(40 + pl);
  out.set(b.subarray(0, 40 + pl), 0);
  return out;
}

// ---- MN outbound (after ESP) -----------------------------------------------------------------

export type ToCareOfResult =
  | { readonly ok: true; readonly via: 'ipv6'; readonly packet: Uint8Array; readonly homeAddress: string }
  /** IPv4 CoA: `payload` is the whole IPv6 packet, to be sent in UDP to the HA's IPv4 address, port `dstPort` (4191). */
  | { readonly ok: true; readonly via: 'udp4'; readonly payload: Uint8Array; readonly dstPort: number; readonly homeAddress: string }
  | Mip6Drop;

/**
 * MN, after ipsec/ outbound: the packet is HoA->HA with ESP (transport-mode BU, or the outer header
 * of tunnel-mode data). Inserts the 24-octet HAO Destination Options header carrying the source
 * (the HoA) after any routing header and before ESP (RFC 6275 §6.3), and writes the CoA into the
 * source. `coa` is an IPv6 address, or an IPv4 address (DSMIPv6): then the source is `::ffff:a.b.c.d`
 * and the result is the UDP 4191 payload (RFC 5555 §4.1 cases B/C). Which CoA to use for which packet
 * (a BU from the new one, data from the old one until the BA: Req #3) is the caller's choice by SPI.
 */
export function toCareOf(packet: Uint8Array, coa: string): ToCareOfResult {
  return toCareOfWith(packet, coa, true);
}

function toCareOfWith(packet: Uint8Array, coa: string, fast: boolean): ToCareOfResult {
  try {
    const c = careOf6(coa);
    if (c === undefined) return drop('bad-address');
    const src = c.text;
    const pl = fast && packet instanceof Uint8Array ? fastShape(packet, IpProto.ESP, 8) : -1;
    if (pl >= 0 && pl + 24 <= 0xffff) {
      // IPv6 | ESP -> IPv6 (source := CoA) | Dest Opts (PadN 2, HAO := HoA) | ESP.
      const out = withInserted24(packet, pl, IpProto.DSTOPTS);
      out.set(c.octets, 8);
      out[40] = IpProto.ESP;
      out[41] = 2;
      out[42] = 0x01; // PadN, 2 octets of zeros: the HAO lands on 8n+6
      out[43] = 2;
      out[44] = 0;
      out[45] = 0;
      out[46] = 0xc9; // Home Address option, 16 octets
      out[47] = 16;
      out.set(packet.subarray(8, 24), 48);
      const homeAddress = ip6ToString(packet, 8);
      return c.ipv4
        ? { ok: true, via: 'udp4', payload: out, dstPort: DSMIP_UDP_PORT, homeAddress }
        : { ok: true, via: 'ipv6', packet: out, homeAddress };
    }
    const p = protectedPacket(packet);
    if (isDrop(p)) return p;
    if (p.homeAddress !== undefined) return drop('hao-present');
    const exts = p.extensions.slice();
    // After any routing header, else after Hop-by-Hop (RFC 8200 §4.1 order; Linux mip6_destopt_offset).
    let at = 0;
    exts.forEach((e, i) => {
      if (e.kind === 'hopByHop' || e.kind === 'routing' || e.kind === 'routing2') at = i + 1;
      else if (e.kind === 'destOpts' && exts.slice(i + 1).some((x) => x.kind === 'routing' || x.kind === 'routing2')) at = i + 1;
    });
    // A Destination Options header already in that place would make two in a row; we do not merge.
    if (exts[at]?.kind === 'destOpts') return drop('unsupported-extensions');
    const homeAddress = p.header.src;
    exts.splice(at, 0, haoDestOpts(homeAddress));
    const out = reencode(p, src, p.header.dst, exts);
    if (isDrop(out)) return out;
    return c.ipv4
      ? { ok: true, via: 'udp4', payload: out, dstPort: DSMIP_UDP_PORT, homeAddress }
      : { ok: true, via: 'ipv6', packet: out, homeAddress };
  } catch {
    return drop('internal-error');
  }
}

// ---- HA inbound (before IPsec) ---------------------------------------------------------------

/** What the Bind (or raw socket) reports with a received packet. */
export interface CareOfMeta {
  /** Present when `packet` is a UDP 4191 payload: the outer IPv4 source and port as seen (after NAT). */
  udp4?: { srcAddr: string; srcPort: number };
}

/** The NAT-detection hook of the HA (design Req #4). */
export interface NatRecorder {
  /** True for an SPI of a BU (binding) SA. Built by the caller from ipsec/'s SAD/SPD query API. */
  isBindingSpi(spi: number): boolean;
  table: NatRecord;
  /** The injected clock (ms). */
  clock(): number;
}

export type FromCareOfResult =
  | {
      readonly ok: true;
      /** The packet for ipsec/ inbound: HoA->HA when it carried a HAO (the HAO now holds the CoA). */
      readonly packet: Uint8Array;
      /** The CoA the packet came from (IPv6, or `::ffff:a.b.c.d` for an IPv4 CoA); undefined without a HAO. */
      readonly coa?: string;
      /** The HoA from the HAO (now the source); undefined without a HAO. */
      readonly homeAddress?: string;
      readonly outer: Mip6Outer;
      /** Set when this packet's outer IPv4 address/port was written to the NatRecord under this SPI. */
      readonly recordedSpi?: number;
    }
  | Mip6Drop;

/**
 * HA, before ipsec/ inbound. Accepts native IPv6, a UDP 4191 payload (`meta.udp4` given), or a
 * whole IPv4 packet (protocol 41, or UDP to port 4191). A HAO is processed as RFC 3776 §4 wants:
 * source := HoA, HAO := CoA, so ipsec/ checks its selectors against the HoA; ha/ must still check
 * that the returned CoA is the bound one (or that the packet is a BU). A packet without a HAO passes
 * unchanged. For UDP 4191 with ESP whose SPI `nat.isBindingSpi` accepts, the outer IPv4 source and
 * port are recorded in `nat.table` (ha/ compares them with the IPv4 CoA option after IPsec); data
 * SPIs are not recorded.
 */
export function fromCareOf(packet: Uint8Array, meta?: CareOfMeta, nat?: NatRecorder): FromCareOfResult {
  return fromCareOfWith(packet, meta, nat, true);
}

/** Our own HAO header after the Next Header octet: Hdr Ext Len 2, PadN(2) 00 00, HAO type and length. */
const HAO_HEADER = [2, 0x01, 2, 0, 0, 0xc9, 16] as const;

function fromCareOfWith(packet: Uint8Array, meta: CareOfMeta | undefined, nat: NatRecorder | undefined, fast: boolean): FromCareOfResult {
  try {
    if (!(packet instanceof Uint8Array)) return drop('malformed');
    let ip6: Uint8Array = packet;
    let outer: Mip6Outer = OUTER_IPV6;
    const udp4 = meta?.udp4;
    if (udp4) {
      if (typeof udp4.srcAddr !== 'string' || !Number.isInteger(udp4.srcPort)) return drop('bad-address');
      outer = { via: 'udp4', addr: udp4.srcAddr, port: udp4.srcPort };
      // RFC 5555: a bare IPv4 packet may also ride UDP 4191 (unprotected IPv4 data): not ours to judge.
      if (packet.length > 0 && packet[0] >> 4 === 4) return { ok: true, packet, outer };
    } else if (packet.length > 0 && packet[0] >> 4 === 4) {
      const w = unwrapIpv4(packet, 'to');
      if (isDrop(w)) return w;
      ip6 = w.inner;
      outer = w.outer;
    }
    if (fast) {
      // IPv6 | ESP (an MN at home), or IPv6 | our HAO header | ESP: no decoding.
      let pl = fastShape(ip6, IpProto.DSTOPTS, 32);
      let espAt = 64;
      if (pl >= 0) {
        for (let i = 0; i < 7; i++) if (ip6[41 + i] !== HAO_HEADER[i]) pl = -1;
        if (ip6[40] !== IpProto.ESP) pl = -1;
      } else {
        pl = fastShape(ip6, IpProto.ESP, 8);
        espAt = 40;
      }
      if (pl >= 0) {
        const recordedSpi = outer.via === 'udp4' && nat ? recordNat(nat, spiAt(ip6, espAt), outer) : undefined;
        if (espAt === 40) return { ok: true, packet: ip6, outer, recordedSpi };
        // Source (CoA) and HAO (HoA) change places.
        const out = copied(ip6, pl);
        out.set(ip6.subarray(48, 64), 8);
        out.set(ip6.subarray(8, 24), 48);
        return { ok: true, packet: out, coa: ip6ToString(ip6, 8), homeAddress: ip6ToString(ip6, 48), outer, recordedSpi };
      }
    }
    const p = decode6(ip6);
    if (!p) return drop('malformed');
    let recordedSpi: number | undefined;
    if (outer.via === 'udp4' && p.esp && !p.laterFragment && nat) recordedSpi = recordNat(nat, p.esp.spi, outer);
    if (p.homeAddress === undefined) return { ok: true, packet: ip6, outer, recordedSpi };
    const coa = p.header.src;
    const homeAddress = p.homeAddress;
    const exts = p.extensions.map((e) =>
      e.kind === 'destOpts'
        ? { ...e, options: e.options.map((o) => (o.kind === 'homeAddress' ? { ...o, homeAddress: coa } : o)) }
        : e,
    );
    const out = reencode(p, homeAddress, p.header.dst, exts);
    if (isDrop(out)) return out;
    return { ok: true, packet: out, coa, homeAddress, outer, recordedSpi };
  } catch {
    return drop('internal-error');
  }
}

/** Records the outer UDP source under a BU SA's SPI (Req #4); the SPI when recorded. */
function recordNat(nat: NatRecorder, spi: number, outer: Extract<Mip6Outer, { via: 'udp4' }>): number | undefined {
  let binding = false;
  try {
    binding = nat.isBindingSpi(spi) === true;
  } catch {
    binding = false;
  }
  if (!binding) return undefined;
  nat.table.record(spi, outer.addr, outer.port, nat.clock());
  return spi;
}

/** An IPv4 packet carrying IPv6: protocol 41, or UDP with 4191 as destination ('to', HA) or source ('from', MN) port. */
function unwrapIpv4(packet: Uint8Array, side: 'to' | 'from'): { inner: Uint8Array; outer: Mip6Outer } | Mip6Drop {
  let v4;
  try {
    v4 = decodeIpv4(packet);
  } catch {
    return drop('malformed');
  }
  const h = v4.header;
  if (h.protocol === IpProto.IPV6) {
    if ((h.flags & 1) !== 0 || h.fragmentOffset !== 0) return drop('fragment');
    return { inner: v4.payload, outer: { via: 'ip6in4', addr: h.src } };
  }
  if (h.protocol === IpProto.UDP) {
    let u;
    try {
      u = decodeUdp4Packet(packet);
    } catch {
      return drop('malformed');
    }
    const port = side === 'to' ? u.udp.dstPort : u.udp.srcPort;
    if (port !== DSMIP_UDP_PORT) return drop('not-tunnelled');
    return { inner: u.udp.payload, outer: { via: 'udp4', addr: h.src, port: u.udp.srcPort } };
  }
  return drop('not-tunnelled');
}

// ---- HA outbound (after ESP) -----------------------------------------------------------------

/** What toMobile needs from the binding cache entry of the packet's HoA. */
export interface MobileBinding {
  /** The CoA: an IPv6 address, or an IPv4 address (dotted quad) for a DSMIPv6 IPv4 CoA. */
  coa: string;
  /** IPv4 CoA: where UDP 4191 datagrams go — the NAT's public address and port (or the CoA and the MN's port). */
  udp?: { addr: string; port: number };
  /** IPv4 CoA: send data in UDP too (NAT detected, F flag in the BU, or local policy). Default false. */
  useUdp?: boolean;
}

export type ToMobileResult =
  | { readonly ok: true; readonly via: 'ipv6'; readonly packet: Uint8Array }
  /** Send `payload` in UDP from port 4191 to dstAddr:dstPort. */
  | { readonly ok: true; readonly via: 'udp4'; readonly dstAddr: string; readonly dstPort: number; readonly payload: Uint8Array }
  /** Send `payload` as IPv6-in-IPv4 (protocol 41) to dstAddr (a raw IPPROTO_IPV6 socket adds the IPv4 header). */
  | { readonly ok: true; readonly via: 'ip6in4'; readonly dstAddr: string; readonly payload: Uint8Array }
  | Mip6Drop;

/**
 * HA, after ipsec/ outbound: the packet is HA->HoA with ESP (transport-mode BA, or tunnel-mode data's
 * outer header). Adds a type 2 routing header carrying the HoA (Segments Left 1) before ESP and sets
 * the destination to the CoA (RFC 6275 §6.4). For an IPv4 CoA the destination is `::ffff:a.b.c.d`
 * and the result is wrapped: UDP 4191 when the binding says so or when `isBindingSpi(spi)` says this
 * is signalling (RFC 5555: BU/BA always ride UDP over IPv4), else protocol 41.
 */
export function toMobile(packet: Uint8Array, binding: MobileBinding, isBindingSpi?: (spi: number) => boolean): ToMobileResult {
  return toMobileWith(packet, binding, isBindingSpi, true);
}

function toMobileWith(packet: Uint8Array, binding: MobileBinding, isBindingSpi: ((spi: number) => boolean) | undefined, fast: boolean): ToMobileResult {
  try {
    if (binding === null || typeof binding !== 'object') return drop('bad-address');
    const c = careOf6(binding.coa);
    if (c === undefined) return drop('bad-address');
    const dst = c.text;
    const pl = fast && packet instanceof Uint8Array ? fastShape(packet, IpProto.ESP, 8) : -1;
    if (pl >= 0 && pl + 24 <= 0xffff) {
      // IPv6 | ESP -> IPv6 (destination := CoA) | RH2 (Segments Left 1, HoA) | ESP.
      const out = withInserted24(packet, pl, IpProto.ROUTING);
      out.set(c.octets, 24);
      out[40] = IpProto.ESP;
      out[41] = 2;
      out[42] = 2;
      out[43] = 1;
      out[44] = 0;
      out[45] = 0;
      out[46] = 0;
      out[47] = 0;
      out.set(packet.subarray(24, 40), 48);
      return wrapForMobile(out, spiAt(packet, 40), binding, c.ipv4, isBindingSpi);
    }
    const p = protectedPacket(packet);
    if (isDrop(p)) return p;
    const exts = p.extensions.slice();
    if (exts.some((e) => e.kind === 'routing2')) return drop('rh2-present');
    if (exts.some((e) => e.kind === 'routing')) return drop('unsupported-extensions');
    // Before any Fragment header, after Hop-by-Hop and Destination Options (RFC 8200 §4.1 order).
    const frag = exts.findIndex((e) => e.kind === 'fragment');
    exts.splice(frag < 0 ? exts.length : frag, 0, routing2(p.header.dst, 1));
    const out = reencode(p, p.header.src, dst, exts);
    if (isDrop(out)) return out;
    return wrapForMobile(out, p.esp!.spi, binding, c.ipv4, isBindingSpi);
  } catch {
    return drop('internal-error');
  }
}

/** The edge for a rewritten packet: IPv6, or for an IPv4 CoA UDP 4191 (binding's choice or signalling) or protocol 41. */
function wrapForMobile(out: Uint8Array, spi: number, binding: MobileBinding, ipv4Coa: boolean, isBindingSpi: ((spi: number) => boolean) | undefined): ToMobileResult {
  try {
    if (!ipv4Coa) return { ok: true, via: 'ipv6', packet: out };
    let signalling = false;
    try {
      signalling = isBindingSpi?.(spi) === true;
    } catch {
      signalling = false;
    }
    if (binding.useUdp === true || signalling) {
      const u = binding.udp;
      if (!u || typeof u.addr !== 'string' || !isIpv4(u.addr) || !Number.isInteger(u.port) || u.port < 1 || u.port > 0xffff) {
        return drop('no-udp-endpoint');
      }
      return { ok: true, via: 'udp4', dstAddr: u.addr, dstPort: u.port, payload: out };
    }
    return { ok: true, via: 'ip6in4', dstAddr: binding.coa, payload: out };
  } catch {
    return drop('internal-error');
  }
}

// ---- MN inbound (before IPsec) ---------------------------------------------------------------

export type FromMobileResult =
  | {
      readonly ok: true;
      /** The packet for ipsec/ inbound: HA->HoA when it carried an RH2 (the RH2 now holds the CoA, Segments Left 0). */
      readonly packet: Uint8Array;
      /** The address it was sent to (the CoA, `::ffff:a.b.c.d` for an IPv4 CoA) when it carried an RH2. */
      readonly coa?: string;
      readonly homeAddress?: string;
      readonly outer: Mip6Outer;
    }
  | Mip6Drop;

/**
 * MN, before ipsec/ inbound. Accepts native IPv6 or a UDP 4191 payload (both start with an IPv6
 * header), or a whole IPv4 packet (protocol 41, or UDP from port 4191). An RH2 with Segments Left 1
 * whose address is one of `ownHoas` is processed: destination := HoA, RH2 := the CoA, Segments
 * Left 0. An RH2 for any other address is dropped ('rh2-not-own-hoa'): an MN never forwards.
 */
export function fromMobile(packet: Uint8Array, ownHoas: Iterable<string>): FromMobileResult {
  return fromMobileWith(packet, ownHoas, true);
}

function fromMobileWith(packet: Uint8Array, ownHoas: Iterable<string>, fast: boolean): FromMobileResult {
  try {
    if (!(packet instanceof Uint8Array)) return drop('malformed');
    let ip6: Uint8Array = packet;
    let outer: Mip6Outer = OUTER_IPV6;
    if (packet.length > 0 && packet[0] >> 4 === 4) {
      const w = unwrapIpv4(packet, 'from');
      if (isDrop(w)) return w;
      ip6 = w.inner;
      outer = w.outer;
    }
    // IPv6 | RH2 (Segments Left 1) | ESP, as toMobile makes it: no decoding.
    const pl = fast ? fastShape(ip6, IpProto.ROUTING, 32) : -1;
    if (pl >= 0 && ip6[40] === IpProto.ESP && ip6[41] === 2 && ip6[42] === 2 && ip6[43] === 1) {
      const homeAddress = ip6ToString(ip6, 48);
      let own = false;
      for (const h of ownHoas ?? []) if (canonical6(h) === homeAddress) own = true;
      if (!own) return drop('rh2-not-own-hoa');
      // Destination (CoA) and RH2 address (HoA) change places; Segments Left 0; Reserved kept.
      const out = copied(ip6, pl);
      out.set(ip6.subarray(48, 64), 24);
      out[43] = 0;
      out.set(ip6.subarray(24, 40), 48);
      return { ok: true, packet: out, coa: ip6ToString(ip6, 24), homeAddress, outer };
    }
    const p = decode6(ip6);
    if (!p) return drop('malformed');
    const i = p.extensions.findIndex((e) => e.kind === 'routing2');
    if (i < 0) return { ok: true, packet: ip6, outer };
    const rh2 = p.extensions[i];
    if (rh2.kind !== 'routing2') return drop('internal-error');
    const own = new Set<string>();
    for (const h of ownHoas ?? []) {
      const c = canonical6(h);
      if (c !== undefined) own.add(c);
    }
    if (rh2.segmentsLeft === 0) {
      // Already processed (or sent so): the destination itself must be ours.
      return own.has(p.header.dst) ? { ok: true, packet: ip6, homeAddress: p.header.dst, outer } : drop('rh2-not-own-hoa');
    }
    const homeAddress = rh2.homeAddress;
    if (!own.has(homeAddress)) return drop('rh2-not-own-hoa');
    const coa = p.header.dst;
    const exts = p.extensions.slice();
    exts[i] = { kind: 'routing2', segmentsLeft: 0, reserved: rh2.reserved, homeAddress: coa };
    const out = reencode(p, p.header.src, homeAddress, exts);
    if (isDrop(out)) return out;
    return { ok: true, packet: out, coa, homeAddress, outer };
  } catch {
    return drop('internal-error');
  }
}

/** The general decode / re-encode path alone, for tests that check the fast paths against it. Not for production callers. */
export const generalPath = Object.freeze({
  toCareOf: (packet: Uint8Array, coa: string): ToCareOfResult => toCareOfWith(packet, coa, false),
  fromCareOf: (packet: Uint8Array, meta?: CareOfMeta, nat?: NatRecorder): FromCareOfResult => fromCareOfWith(packet, meta, nat, false),
  toMobile: (packet: Uint8Array, binding: MobileBinding, isBindingSpi?: (spi: number) => boolean): ToMobileResult =>
    toMobileWith(packet, binding, isBindingSpi, false),
  fromMobile: (packet: Uint8Array, ownHoas: Iterable<string>): FromMobileResult => fromMobileWith(packet, ownHoas, false),
});
