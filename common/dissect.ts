// The layered packet dissector behind `dsmip6 decode`: turns one captured frame into a
// list of layers (IPv4, UDP 4191, IPv6 and its extension headers, ESP, MH, ...) with
// readable fields. Never throws on any input: a decoder's named error ends the list
// as `error`. ESP is opened only through the injected opener; this module holds no keys.
import { toHex } from './bytes.js';
import { DecodeError, BadChecksumError } from './errors.js';
import { IpProto, nameOf, BaStatus, BeStatus, Ipv4AckStatus, Dsmip } from './iana.js';
import { decodeIpv4 } from './ipv4.js';
import { decodeIpv6, pseudoHeaderAddresses, type Ipv6Extension } from './ipv6.js';
import { decodeUdp } from './udp.js';
import { decodeMobilityHeader, mhChecksum, lifetimeToSeconds } from './mh.js';
import type { MobilityOption } from './mhopts.js';
import { LinkType } from './pcap.js';

export type FieldValue = string | number | boolean | FieldValue[] | { [k: string]: FieldValue };

export interface Layer {
  layer: string;
  /** One line for a terminal. */
  summary: string;
  fields: Record<string, FieldValue>;
}

export interface Dissection {
  layers: Layer[];
  /** The decoder error that stopped the dissection, if any. */
  error?: { layer: string; kind: string; message: string };
}

/** What an ESP opener returns: the decrypted payload and its next header, or why it failed. */
export type EspOpenResult = { nextHeader: number; payload: Uint8Array; sa: string } | { error: string };

/** Opens one ESP packet (from its SPI to the end); undefined when no key is known for the SPI. */
export type EspOpener = (esp: Uint8Array) => EspOpenResult | undefined;

/** Nesting bound: tunnels inside tunnels stop here, so no input recurses without end. */
const MAX_DEPTH = 8;

interface Ctx {
  layers: Layer[];
  opener?: EspOpener;
}

class StopError extends Error {}

/** Dissects one frame of the given pcap link type. */
export function dissect(frame: Uint8Array, linkType: number = LinkType.RAW, opener?: EspOpener): Dissection {
  const ctx: Ctx = { layers: [], opener };
  try {
    const ip = linkPayload(frame, linkType, ctx);
    if (ip) dissectIp(ip, ctx, 0);
    return { layers: ctx.layers };
  } catch (e) {
    if (e instanceof DecodeError) {
      return { layers: ctx.layers, error: { layer: e.layer, kind: e.name, message: e.message } };
    }
    if (e instanceof StopError) return { layers: ctx.layers, error: { layer: 'frame', kind: 'Unsupported', message: e.message } };
    // A bug of ours, not bad input: still reported as data, never thrown to the caller.
    return { layers: ctx.layers, error: { layer: 'dissector', kind: 'InternalError', message: String(e) } };
  }
}

function linkPayload(frame: Uint8Array, linkType: number, ctx: Ctx): Uint8Array | undefined {
  const etherTypeAt = (off: number): number => (frame.length >= off + 2 ? (frame[off] << 8) | frame[off + 1] : -1);
  let etherType: number;
  let off: number;
  switch (linkType) {
    case LinkType.RAW:
    case LinkType.IPV4:
    case LinkType.IPV6:
      return frame;
    case LinkType.ETHERNET:
      etherType = etherTypeAt(12);
      off = 14;
      while (etherType === 0x8100 || etherType === 0x88a8) {
        etherType = etherTypeAt(off + 2);
        off += 4;
      }
      ctx.layers.push({ layer: 'Ethernet', summary: `Ethernet type 0x${etherType.toString(16)}`, fields: { etherType } });
      break;
    case LinkType.LINUX_SLL:
      etherType = etherTypeAt(14);
      off = 16;
      break;
    case LinkType.LINUX_SLL2:
      etherType = etherTypeAt(0);
      off = 20;
      break;
    default:
      throw new StopError(`link type ${linkType} is not decoded (raw IP, Ethernet and Linux cooked captures are)`);
  }
  if (etherType !== 0x0800 && etherType !== 0x86dd) throw new StopError(`EtherType 0x${etherType.toString(16)} is not IP`);
  return frame.subarray(off);
}

function dissectIp(buf: Uint8Array, ctx: Ctx, depth: number): void {
  if (depth > MAX_DEPTH) throw new StopError(`more than ${MAX_DEPTH} nested headers`);
  const version = buf.length > 0 ? buf[0] >> 4 : -1;
  if (version === 4) return dissectIpv4(buf, ctx, depth);
  if (version === 6) return dissectIpv6(buf, ctx, depth);
  throw new StopError(buf.length === 0 ? 'empty packet' : `IP version ${version} (neither 4 nor 6)`);
}

function protoName(p: number): string {
  return nameOf(IpProto, p) ?? String(p);
}

function dissectIpv4(buf: Uint8Array, ctx: Ctx, depth: number): void {
  const p = decodeIpv4(buf);
  const h = p.header;
  ctx.layers.push({
    layer: 'IPv4',
    summary: `IPv4 ${h.src} > ${h.dst} proto ${protoName(h.protocol)} ttl ${h.ttl} len ${h.totalLength}`,
    fields: { src: h.src, dst: h.dst, protocol: h.protocol, ttl: h.ttl, totalLength: h.totalLength, identification: h.identification, checksum: hex4(h.checksum) },
  });
  if (h.fragmentOffset !== 0) return;
  upper(h.protocol, p.payload, { version: 4, src: h.src, dst: h.dst }, ctx, depth);
}

function dissectIpv6(buf: Uint8Array, ctx: Ctx, depth: number): void {
  const p = decodeIpv6(buf);
  const h = p.header;
  ctx.layers.push({
    layer: 'IPv6',
    summary: `IPv6 ${h.src} > ${h.dst} next ${protoName(h.nextHeader)} hlim ${h.hopLimit} plen ${h.payloadLength}`,
    fields: { src: h.src, dst: h.dst, nextHeader: h.nextHeader, hopLimit: h.hopLimit, payloadLength: h.payloadLength, trafficClass: h.trafficClass, flowLabel: h.flowLabel },
  });
  for (const ext of p.extensions) ctx.layers.push(extensionLayer(ext));
  if (p.laterFragment) return;
  const ps = pseudoHeaderAddresses(p);
  upper(p.upperProtocol, p.upper, { version: 6, src: ps.src, dst: ps.dst }, ctx, depth);
}

function extensionLayer(ext: Ipv6Extension): Layer {
  switch (ext.kind) {
    case 'hopByHop':
    case 'destOpts': {
      const opts = ext.options.map((o) =>
        o.kind === 'homeAddress' ? `HAO ${o.homeAddress}` : o.kind === 'padN' ? `PadN(${o.data.length})` : o.kind === 'pad1' ? 'Pad1' : `opt ${o.type} (${o.data.length})`,
      );
      const name = ext.kind === 'hopByHop' ? 'HopByHop' : 'DestOpts';
      const hao = ext.options.find((o) => o.kind === 'homeAddress');
      const fields: Record<string, FieldValue> = { options: opts };
      if (hao && hao.kind === 'homeAddress') fields.homeAddress = hao.homeAddress;
      return { layer: name, summary: `${name} ${opts.join(', ')}`, fields };
    }
    case 'routing2':
      return {
        layer: 'RH2',
        summary: `Routing type 2 segleft ${ext.segmentsLeft} home ${ext.homeAddress}`,
        fields: { segmentsLeft: ext.segmentsLeft, homeAddress: ext.homeAddress },
      };
    case 'routing':
      return {
        layer: 'Routing',
        summary: `Routing type ${ext.routingType} segleft ${ext.segmentsLeft}`,
        fields: { routingType: ext.routingType, segmentsLeft: ext.segmentsLeft, data: toHex(ext.data) },
      };
    case 'fragment':
      return {
        layer: 'Fragment',
        summary: `Fragment id 0x${ext.identification.toString(16)} offset ${ext.offset * 8}${ext.more ? ' more' : ''}`,
        fields: { identification: ext.identification, offset: ext.offset * 8, more: ext.more },
      };
  }
}

interface Pseudo {
  version: 4 | 6;
  src: string;
  dst: string;
}

function upper(proto: number, payload: Uint8Array, ps: Pseudo, ctx: Ctx, depth: number): void {
  switch (proto) {
    case IpProto.IPV4:
    case IpProto.IPV6:
      return dissectIp(payload, ctx, depth + 1);
    case IpProto.UDP:
      return dissectUdp(payload, ps, ctx, depth);
    case IpProto.ESP:
      return dissectEsp(payload, ps, ctx, depth);
    case IpProto.MH:
      return dissectMh(payload, ps, ctx);
    case IpProto.TCP:
    case IpProto.ICMPV6:
    case IpProto.ICMP:
      return ctx.layers.push(transportLayer(proto, payload)), undefined;
    case IpProto.NONE:
      return;
    default:
      ctx.layers.push({ layer: 'Data', summary: `protocol ${proto}, ${payload.length} octets`, fields: { protocol: proto, length: payload.length } });
  }
}

function transportLayer(proto: number, b: Uint8Array): Layer {
  if (proto === IpProto.TCP && b.length >= 4) {
    const sport = (b[0] << 8) | b[1];
    const dport = (b[2] << 8) | b[3];
    return { layer: 'TCP', summary: `TCP ${sport} > ${dport}, ${b.length} octets`, fields: { srcPort: sport, dstPort: dport, length: b.length } };
  }
  if (proto !== IpProto.TCP && b.length >= 2) {
    const name = proto === IpProto.ICMP ? 'ICMP' : 'ICMPv6';
    return { layer: name, summary: `${name} type ${b[0]} code ${b[1]}, ${b.length} octets`, fields: { type: b[0], code: b[1], length: b.length } };
  }
  return { layer: 'Data', summary: `protocol ${proto}, ${b.length} octets`, fields: { protocol: proto, length: b.length } };
}

function dissectUdp(buf: Uint8Array, ps: Pseudo, ctx: Ctx, depth: number): void {
  let payload: Uint8Array;
  let srcPort: number;
  let dstPort: number;
  let checksumNote = 'ok';
  try {
    const d = decodeUdp(buf, ps);
    ({ payload, srcPort, dstPort } = d);
    if (d.checksum === 0) checksumNote = 'none';
  } catch (e) {
    if (!(e instanceof BadChecksumError)) throw e;
    // Show what the datagram holds even when its checksum is wrong; the error is a field.
    const length = (buf[4] << 8) | buf[5];
    srcPort = (buf[0] << 8) | buf[1];
    dstPort = (buf[2] << 8) | buf[3];
    payload = buf.subarray(8, length);
    checksumNote = `BAD (0x${hex4(e.received)}, expected 0x${hex4(e.expected)})`;
  }
  const dsmip = srcPort === Dsmip.UDP_PORT || dstPort === Dsmip.UDP_PORT;
  ctx.layers.push({
    layer: 'UDP',
    summary: `UDP ${srcPort} > ${dstPort} len ${payload.length} checksum ${checksumNote}${dsmip ? ' (DSMIPv6 tunnel, RFC 5555)' : ''}`,
    fields: { srcPort, dstPort, length: payload.length, checksum: checksumNote },
  });
  // RFC 5555: UDP 4191 carries a bare IPv4 or IPv6 packet, told apart by its version nibble.
  if (dsmip && payload.length > 0) dissectIp(payload, ctx, depth + 1);
}

function dissectEsp(buf: Uint8Array, ps: Pseudo, ctx: Ctx, depth: number): void {
  const spi = buf.length >= 8 ? ((buf[0] << 24) >>> 0) + ((buf[1] << 16) | (buf[2] << 8) | buf[3]) : -1;
  const seq = buf.length >= 8 ? ((buf[4] << 24) >>> 0) + ((buf[5] << 16) | (buf[6] << 8) | buf[7]) : -1;
  if (spi < 0) {
    ctx.layers.push({ layer: 'ESP', summary: `ESP truncated (${buf.length} octets)`, fields: { length: buf.length } });
    return;
  }
  const fields: Record<string, FieldValue> = { spi: hex8(spi), sequence: seq, length: buf.length };
  const opened = ctx.opener?.(buf);
  if (!opened) {
    ctx.layers.push({ layer: 'ESP', summary: `ESP spi 0x${hex8(spi)} seq ${seq}, ${buf.length} octets (no key)`, fields });
    return;
  }
  if ('error' in opened) {
    fields.error = opened.error;
    ctx.layers.push({ layer: 'ESP', summary: `ESP spi 0x${hex8(spi)} seq ${seq}: ${opened.error}`, fields });
    return;
  }
  fields.nextHeader = opened.nextHeader;
  fields.sa = opened.sa;
  ctx.layers.push({
    layer: 'ESP',
    summary: `ESP spi 0x${hex8(spi)} seq ${seq} decrypted (${opened.sa}), next ${protoName(opened.nextHeader)}`,
    fields,
  });
  // Transport mode: the upper layer keeps the outer pseudo-header; tunnel mode: an inner IP packet.
  upper(opened.nextHeader, opened.payload, ps, ctx, depth + 1);
}

function dissectMh(buf: Uint8Array, ps: Pseudo, ctx: Ctx): void {
  const mh = decodeMobilityHeader(buf, undefined, { acceptAnyPayloadProto: true });
  const fields: Record<string, FieldValue> = { payloadProto: mh.payloadProto, headerLen: mh.headerLen };
  let checksumNote = '';
  if (ps.version === 6) {
    const expected = mhChecksum(buf.subarray(0, mh.length), ps.src, ps.dst);
    const ok = expected === mh.checksum || (expected === 0xffff && mh.checksum === 0) || (expected === 0 && mh.checksum === 0xffff);
    checksumNote = ok ? 'ok' : `BAD (0x${hex4(mh.checksum)}, expected 0x${hex4(expected)})`;
    fields.checksum = checksumNote;
  }
  const m = mh.message;
  const parts: string[] = [];
  fields.type = m.kind;
  switch (m.kind) {
    case 'BU': {
      const flags = Object.entries(m.flags).filter(([, v]) => v).map(([k]) => k).join('');
      Object.assign(fields, { sequence: m.sequence, flags, lifetime: m.lifetime, lifetimeSeconds: lifetimeToSeconds(m.lifetime) });
      parts.push(`seq ${m.sequence}`, `flags ${flags || '-'}`, `lifetime ${m.lifetime} (${lifetimeToSeconds(m.lifetime)} s)`);
      break;
    }
    case 'BA': {
      const flags = Object.entries(m.flags).filter(([, v]) => v).map(([k]) => k).join('');
      const status = `${m.status} ${nameOf(BaStatus, m.status) ?? (m.status < 128 ? 'accepted' : 'rejected')}`;
      Object.assign(fields, { status: m.status, statusName: status, sequence: m.sequence, flags, lifetime: m.lifetime, lifetimeSeconds: lifetimeToSeconds(m.lifetime) });
      parts.push(`status ${status}`, `seq ${m.sequence}`, `flags ${flags || '-'}`, `lifetime ${m.lifetime} (${lifetimeToSeconds(m.lifetime)} s)`);
      break;
    }
    case 'BE':
      Object.assign(fields, { status: m.status, statusName: nameOf(BeStatus, m.status) ?? String(m.status), homeAddress: m.homeAddress });
      parts.push(`status ${m.status} ${nameOf(BeStatus, m.status) ?? ''}`.trim(), `home ${m.homeAddress}`);
      break;
    case 'HoTI':
    case 'CoTI':
      fields.cookie = toHex(m.cookie);
      parts.push(`cookie ${toHex(m.cookie)}`);
      break;
    case 'HoT':
    case 'CoT':
      Object.assign(fields, { nonceIndex: m.nonceIndex, cookie: toHex(m.cookie), keygenToken: toHex(m.keygenToken) });
      parts.push(`nonce ${m.nonceIndex}`, `cookie ${toHex(m.cookie)}`, `token ${toHex(m.keygenToken)}`);
      break;
    case 'Unknown':
      fields.mhType = m.mhType;
      parts.push(`type ${m.mhType}`, `${m.data.length} octets`);
      break;
    case 'BRR':
      break;
  }
  if (m.kind !== 'Unknown') {
    const opts = m.options.filter((o) => o.kind !== 'Pad1' && o.kind !== 'PadN').map(optionText);
    fields.options = opts;
    if (opts.length) parts.push(...opts);
  }
  const typeName = m.kind === 'Unknown' ? `MH type ${m.mhType}` : `MH ${m.kind} (${MH_NAMES[m.kind]})`;
  ctx.layers.push({ layer: 'MH', summary: `${typeName} ${parts.join(', ')}${checksumNote ? `, checksum ${checksumNote}` : ''}`, fields });
}

const MH_NAMES = Object.freeze({
  BRR: 'Binding Refresh Request',
  HoTI: 'Home Test Init',
  CoTI: 'Care-of Test Init',
  HoT: 'Home Test',
  CoT: 'Care-of Test',
  BU: 'Binding Update',
  BA: 'Binding Acknowledgement',
  BE: 'Binding Error',
});

function optionText(o: MobilityOption): string {
  switch (o.kind) {
    case 'BindingRefreshAdvice':
      return `Refresh Advice ${o.refreshInterval} (${o.refreshInterval * 4} s)`;
    case 'AlternateCoa':
      return `Alternate CoA ${o.address}`;
    case 'NonceIndices':
      return `Nonce Indices home ${o.homeNonceIndex} care-of ${o.careOfNonceIndex}`;
    case 'BindingAuthData':
      return `Auth Data ${toHex(o.authenticator)}`;
    case 'MobileNetworkPrefix':
      return `Mobile Network Prefix ${o.prefix}/${o.prefixLength}`;
    case 'Ipv4HomeAddress':
      return `IPv4 Home Address ${o.address}/${o.prefixLength}${o.p ? ' P' : ''}${o.address === '0.0.0.0' ? ' (requests assignment)' : ''}`;
    case 'Ipv4AddressAck':
      return `IPv4 Address Ack status ${o.status} ${nameOf(Ipv4AckStatus, o.status) ?? ''} ${o.address}/${o.prefixLength}`.replace('  ', ' ');
    case 'NatDetection':
      return `NAT Detection${o.f ? ' F' : ''} refresh ${o.refreshTime === Dsmip.NO_REFRESH ? 'none (no NAT)' : `${o.refreshTime} s`}`;
    case 'Ipv4Coa':
      return `IPv4 CoA ${o.address}`;
    case 'BindingId':
      return `Binding ID ${o.bid} status ${o.status}${o.h ? ' H' : ''}${o.coa ? ` CoA ${o.coa}` : ''}`;
    case 'Unknown':
      return `option ${o.type} (${o.data.length} octets)`;
    case 'Pad1':
    case 'PadN':
      return o.kind;
  }
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}
