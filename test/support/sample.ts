// A set of (DS)MIPv6 packets built only with our own encoders and ipsec/ engine, with the
// keys that protect them: every MH type, each DSMIPv6 option, ESP-GCM and ESP-CBC in
// transport and tunnel mode, a HAO, an RH2, and a BU in UDP 4191 over IPv4. The tshark
// test judges them; scripts/make-sample.ts writes them as the README's sample capture.
// The HAO/RH2 insertion here stands in for tunnel/ (not written yet); nothing else does.
import { encodeMobilityHeader, type MobilityMessage } from '../../common/mh.js';
import { buFlags, baFlags } from '../../common/mhflags.js';
import { decodeIpv6, encodeIpv6, haoDestOpts, routing2 } from '../../common/ipv6.js';
import { encodeUdp, encodeUdp4Packet } from '../../common/udp.js';
import { IpProto } from '../../common/iana.js';
import { IpsecEngine, openEsp, type AlgorithmName } from '../../ipsec/index.js';
import type { EspOpener } from '../../common/dissect.js';

export const HOA = '2001:db8:1::100';
export const HA = '2001:db8:1::1';
export const COA6 = '2001:db8:6::100';
export const CN = '2001:db8:99::7';
export const HA4 = '203.0.113.1';
export const COA4 = '198.51.100.7';
export const HOA4 = '10.1.0.5';
export const CN4 = '192.0.2.99';

export interface SampleSa {
  spi: number;
  algorithm: AlgorithmName;
  /** Hex, as Wireshark's esp_sa table wants it. */
  encKey: string;
  authKey?: string;
}

/** Fixed keys so the capture is reproducible; never use them anywhere real. */
export const SAMPLE_SAS: readonly SampleSa[] = Object.freeze([
  { spi: 0x1001, algorithm: 'aes-gcm-16', encKey: '000102030405060708090a0b0c0d0e0f' + 'a0a1a2a3' },
  { spi: 0x1002, algorithm: 'aes-cbc-hmac-sha256-128', encKey: '101112131415161718191a1b1c1d1e1f', authKey: '20'.repeat(32) },
  { spi: 0x1003, algorithm: 'aes-gcm-16', encKey: '303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f' + 'b0b1b2b3' },
  { spi: 0x1004, algorithm: 'aes-cbc-hmac-sha256-128', encKey: '505152535455565758595a5b5c5d5e5f', authKey: '60'.repeat(32) },
]);

export interface SamplePacket {
  name: string;
  data: Buffer;
  /** tshark field → expected value(s), as tshark prints them. */
  expect: Record<string, string | string[]>;
}

function mh(src: string, dst: string, message: MobilityMessage): Buffer {
  return encodeMobilityHeader(message, { src, dst });
}

function ip6(src: string, dst: string, proto: number, upper: Uint8Array): Buffer {
  return encodeIpv6({ header: { src, dst, hopLimit: 64 }, upperProtocol: proto, upper });
}

/**
 * An engine holding `sa` as its one outbound SA. Cached per SPI so that packets under one SA
 * carry increasing sequence numbers, as on a real wire (tshark flags a repeated one).
 */
function sealer(cache: Map<number, IpsecEngine>, sa: SampleSa, mode: 'transport' | 'tunnel', tunnel?: { src: string; dst: string }): IpsecEngine {
  const cached = cache.get(sa.spi);
  if (cached) return cached;
  // A counter as the "random" source makes the sample byte-for-byte reproducible (it is a
  // fixture in the repository); real engines draw CBC IVs from the system's random source.
  let n = sa.spi;
  const e = new IpsecEngine({ clock: () => 0, randomFill: (b) => b.forEach((_, i) => (b[i] = (n++ * 151 + i) & 0xff)) });
  cache.set(sa.spi, e);
  e.addSA({
    spi: sa.spi,
    direction: 'outbound',
    mode,
    tunnel,
    algorithm: sa.algorithm,
    encKey: Buffer.from(sa.encKey, 'hex'),
    authKey: sa.authKey ? Buffer.from(sa.authKey, 'hex') : undefined,
  });
  e.addPolicy({ direction: 'outbound', action: { protect: { spi: sa.spi } } });
  return e;
}

function seal(e: IpsecEngine, packet: Uint8Array): Buffer {
  const r = e.outbound(packet);
  if (!r.ok) throw new Error(`sample: ESP seal dropped the packet: ${r.reason}`);
  return Buffer.from(r.packet);
}

/** After ESP: move the HoA into a HAO and put the CoA in the source (RFC 6275 §6.3, RFC 3776 §4). */
function addHao(packet: Uint8Array, coa: string): Buffer {
  const p = decodeIpv6(packet);
  return encodeIpv6({
    header: { src: coa, dst: p.header.dst, hopLimit: p.header.hopLimit },
    extensions: [haoDestOpts(p.header.src), ...p.extensions],
    upperProtocol: p.upperProtocol,
    upper: p.upper,
  });
}

/** After ESP: put the HoA in an RH2 and the CoA in the destination (RFC 6275 §6.4). */
function addRh2(packet: Uint8Array, coa: string): Buffer {
  const p = decodeIpv6(packet);
  return encodeIpv6({
    header: { src: p.header.src, dst: coa, hopLimit: p.header.hopLimit },
    extensions: [routing2(p.header.dst), ...p.extensions],
    upperProtocol: p.upperProtocol,
    upper: p.upper,
  });
}

export function buildSamplePackets(): SamplePacket[] {
  const [gcm, cbc, gcm256, cbc2] = SAMPLE_SAS;
  const cookie = Buffer.from('0102030405060708', 'hex');
  const token = Buffer.from('1112131415161718', 'hex');
  const out: SamplePacket[] = [];
  const engines = new Map<number, IpsecEngine>();
  const plain = (name: string, src: string, dst: string, m: MobilityMessage, expect: SamplePacket['expect']) =>
    out.push({ name, data: ip6(src, dst, IpProto.MH, mh(src, dst, m)), expect });

  plain('BRR', HA, HOA, { kind: 'BRR', options: [] }, { 'mip6.mhtype': '0' });
  plain('HoTI', HOA, CN, { kind: 'HoTI', cookie, options: [] }, { 'mip6.mhtype': '1', 'mip6.hoti.cookie': '0x0102030405060708' });
  plain('CoTI', COA6, CN, { kind: 'CoTI', cookie, options: [] }, { 'mip6.mhtype': '2', 'mip6.coti.cookie': '0x0102030405060708' });
  plain('HoT', CN, HOA, { kind: 'HoT', nonceIndex: 7, cookie, keygenToken: token, options: [] }, {
    'mip6.mhtype': '3',
    'mip6.hot.nindex': '7',
    'mip6.hot.token': '0x1112131415161718',
  });
  plain('CoT', CN, COA6, { kind: 'CoT', nonceIndex: 9, cookie, keygenToken: token, options: [] }, {
    'mip6.mhtype': '4',
    'mip6.cot.nindex': '9',
  });
  plain('BE', HA, COA6, { kind: 'BE', status: 2, homeAddress: HOA, options: [] }, {
    'mip6.mhtype': '7',
    'mip6.be.status': '2',
    'mip6.be.haddr': HOA,
  });
  plain(
    'BU with Alternate CoA, Binding ID, IPv4 HoA',
    HOA,
    HA,
    {
      kind: 'BU',
      sequence: 0x1234,
      flags: buFlags({ A: true, H: true, F: true }),
      lifetime: 256,
      options: [
        { kind: 'Ipv4HomeAddress', prefixLength: 32, p: false, address: '0.0.0.0' },
        { kind: 'AlternateCoa', address: COA6 },
        { kind: 'BindingId', bid: 5, status: 0, h: true, coa: COA4 },
      ],
    },
    {
      'mip6.mhtype': '5',
      'mip6.bu.seqnr': '4660',
      'mip6.bu.a_flag': '1',
      'mip6.bu.h_flag': '1',
      'mip6.bu.k_flag': '0',
      'mip6.bu.f_flag': '1',
      'mip6.bu.lifetime': '256',
      'mip6.ipv4ha.preflen': '32',
      'mip6.ipv4ha.ha': '0.0.0.0',
      'mip6.acoa.acoa': COA6,
      'mip6.bi.bid': '5',
      'mip6.bi.h_flag': '1',
      'mip6.bi.coa_ipv4': COA4,
    },
  );
  plain(
    'BA with IPv4 Address Ack, NAT Detection, Refresh Advice',
    HA,
    HOA,
    {
      kind: 'BA',
      status: 0,
      flags: baFlags({}),
      sequence: 0x1234,
      lifetime: 256,
      options: [
        { kind: 'Ipv4AddressAck', status: 0, prefixLength: 24, address: HOA4 },
        { kind: 'NatDetection', f: true, refreshTime: 110 },
        { kind: 'BindingRefreshAdvice', refreshInterval: 200 },
      ],
    },
    {
      'mip6.mhtype': '6',
      'mip6.ba.status': '0',
      'mip6.ba.seqnr': '4660',
      'mip6.ba.lifetime': '256',
      'mip6.ipv4aa.sts': '0',
      'mip6.ipv4ha.ha': HOA4,
      'mip6.natd.f_flag': '1',
      'mip6.natd.refresh_t': '110',
    },
  );

  // BU from an IPv6 CoA: HoA -> HA, ESP-GCM transport, then the HAO (RFC 3776 §4.1 layout).
  const bu = mh(HOA, HA, {
    kind: 'BU',
    sequence: 100,
    flags: buFlags({ A: true, H: true }),
    lifetime: 64,
    options: [{ kind: 'Ipv4HomeAddress', prefixLength: 32, p: false, address: '0.0.0.0' }],
  });
  out.push({
    name: 'BU with HAO, ESP-GCM-128 transport',
    data: addHao(seal(sealer(engines, gcm, 'transport'), ip6(HOA, HA, IpProto.MH, bu)), COA6),
    expect: {
      'ipv6.src': COA6,
      'ipv6.opt.mipv6.home_address': HOA,
      'esp.spi': '0x00001001',
      'esp.sequence': '1',
      'esp.protocol': '0x87',
      'mip6.mhtype': '5',
      'mip6.bu.seqnr': '100',
      'mip6.ipv4ha.ha': '0.0.0.0',
    },
  });

  // BA to an IPv6 CoA: HA -> HoA, ESP-CBC transport, then the RH2.
  const ba = mh(HA, HOA, {
    kind: 'BA',
    status: 0,
    flags: baFlags({}),
    sequence: 100,
    lifetime: 64,
    options: [{ kind: 'Ipv4AddressAck', status: 0, prefixLength: 24, address: HOA4 }],
  });
  out.push({
    name: 'BA with RH2, ESP-CBC transport',
    data: addRh2(seal(sealer(engines, cbc, 'transport'), ip6(HA, HOA, IpProto.MH, ba)), COA6),
    expect: {
      'ipv6.dst': COA6,
      'ipv6.routing.type': '2',
      'ipv6.routing.segleft': '1',
      'ipv6.routing.mipv6.home_address': HOA,
      'esp.spi': '0x00001002',
      'esp.protocol': '0x87',
      'mip6.mhtype': '6',
      'mip6.ba.seqnr': '100',
      'mip6.ipv4ha.ha': HOA4,
    },
  });

  // Payload, IPv6 in IPv6, ESP-GCM-256 tunnel mode (HA -> CoA outer).
  const udp6 = encodeUdp({ srcPort: 5001, dstPort: 7, payload: Buffer.from('dsmip6 payload over IPv6') }, { version: 6, src: CN, dst: HOA });
  out.push({
    name: 'IPv6 payload, ESP-GCM-256 tunnel',
    data: seal(sealer(engines, gcm256, 'tunnel', { src: HA, dst: COA6 }), ip6(CN, HOA, IpProto.UDP, udp6)),
    expect: { 'esp.spi': '0x00001003', 'esp.protocol': '0x29', 'ipv6.src': [HA, CN], 'ipv6.dst': [COA6, HOA], 'udp.dstport': '7' },
  });

  // Payload, IPv4 in IPv6, ESP-CBC tunnel mode.
  const udp4 = encodeUdp4Packet({ src: CN4, dst: HOA4, srcPort: 5002, dstPort: 9, payload: Buffer.from('dsmip6 payload over IPv4') });
  out.push({
    name: 'IPv4 payload, ESP-CBC tunnel',
    data: seal(sealer(engines, cbc2, 'tunnel', { src: HA, dst: COA6 }), udp4),
    expect: { 'esp.spi': '0x00001004', 'esp.protocol': '0x04', 'ip.src': CN4, 'ip.dst': HOA4, 'udp.dstport': '9' },
  });

  // BU from an IPv4 CoA: the whole IPv6 packet (v4-mapped CoA as source, HAO, ESP) in UDP 4191 (RFC 5555 §4.1).
  const bu4 = mh(HOA, HA, {
    kind: 'BU',
    sequence: 101,
    flags: buFlags({ A: true, H: true }),
    lifetime: 64,
    options: [{ kind: 'Ipv4Coa', address: COA4 }],
  });
  const inner = addHao(seal(sealer(engines, gcm, 'transport'), ip6(HOA, HA, IpProto.MH, bu4)), `::ffff:${COA4}`);
  out.push({
    name: 'BU in UDP 4191 over IPv4, IPv4 CoA option',
    data: encodeUdp4Packet({ src: COA4, dst: HA4, srcPort: 40000, dstPort: 4191, payload: inner }),
    expect: {
      'ip.src': COA4,
      'udp.dstport': '4191',
      'ipv6.opt.mipv6.home_address': HOA,
      'esp.spi': '0x00001001',
      'esp.sequence': '2',
      'mip6.mhtype': '5',
      'mip6.bu.seqnr': '101',
      'mip6.ipv4coa.addr': COA4,
    },
  });
  return out;
}

/** Wireshark's esp_sa UAT records for SAMPLE_SAS (ESP over IPv6, any addresses), for `-o uat:esp_sa:...`. */
export function wiresharkEspSa(sas: readonly SampleSa[] = SAMPLE_SAS): string[] {
  return sas.map((sa) => {
    const spi = `0x${sa.spi.toString(16).padStart(8, '0')}`;
    const enc = sa.algorithm === 'aes-gcm-16' ? 'AES-GCM with 16 octet ICV [RFC4106]' : sa.algorithm === 'aes-cbc-hmac-sha256-128' ? 'AES-CBC [RFC3602]' : 'NULL';
    const auth = sa.algorithm === 'aes-gcm-16' ? 'NULL' : 'HMAC-SHA-256-128 [RFC4868]';
    return [`"IPv6"`, `"*"`, `"*"`, `"${spi}"`, `"${enc}"`, `"0x${sa.encKey}"`, `"${auth}"`, `"${sa.authKey ? `0x${sa.authKey}` : ''}"`].join(',');
  });
}

/** An ESP opener for common/dissect.ts that knows SAMPLE_SAS. */
export function sampleOpener(): EspOpener {
  const keys = new Map(SAMPLE_SAS.map((sa) => [sa.spi, sa]));
  return (esp) => {
    const sa = esp.length >= 4 ? keys.get(Buffer.from(esp).readUInt32BE(0)) : undefined;
    if (!sa) return undefined;
    const key = { spi: sa.spi, algorithm: sa.algorithm, encKey: Buffer.from(sa.encKey, 'hex'), authKey: sa.authKey ? Buffer.from(sa.authKey, 'hex') : undefined };
    const r = openEsp(key, esp);
    return 'error' in r ? r : { ...r, sa: sa.algorithm };
  };
}
