// The capture judge: runs tshark (the independent dissector) over pcaps recorded on the testbed's
// links, with the MN's ESP keys (config/wireshark.ts) and UDP 4191 decoded as IPv6, and turns each
// packet into plain facts (link, IP versions, UDP ports, MH type, which options, ESP ICV status,
// malformed/expert errors), plus checks that list every violation. It must never decide anything
// from our own decoders (tshark alone reads the bytes) and never modify the files it reads.
import { espSaUatRecord, tsharkEspArgs, type WiresharkEspSa } from '../../config/wireshark.js';
import { tsharkFieldsAsync, type Fields } from './tshark.js';

/** What tshark saw in one ESP header of a packet. */
export interface EspFact {
  spi: number;
  /** The ESP sequence number field (the low 32 bits with ESN), tshark's esp.sequence. */
  seq: number;
  /** good/bad: tshark checked the ICV with our key; unchecked: no SA matched (or no key given). */
  icv: 'good' | 'bad' | 'unchecked';
  decrypted: boolean;
}

export interface PacketFacts {
  link: string;
  file: string;
  frame: number;
  /** tshark's frame.protocols, split: ["eth","ethertype","ip","udp","ipv6","ipv6.dstopts","esp","mipv6"]. */
  protocols: string[];
  /** IP headers in order, outer first: [4, 6] for IPv6 in UDP 4191 over IPv4. */
  ipVersions: number[];
  outerSrc?: string;
  outerDst?: string;
  udp?: { src: number; dst: number };
  /** UDP 4191 (either port) carrying IPv6. */
  udp4191: boolean;
  /** Home Address option in a Destination Options header (before ESP, so visible without keys). */
  hao: boolean;
  /** Type 2 routing header. */
  rh2: boolean;
  esp: EspFact[];
  /** Mobility Header type (5 BU, 6 BA, ...), when tshark found an MH (inside ESP once decrypted). */
  mhType?: number;
  /** Mobility options present, tshark's names (ipv4coa = type 32, natd = type 31, ipv4ha, ipv4aa, padn, ...). */
  mhOptions: string[];
  ipv4CoaAddr?: string;
  /** NAT Detection option (type 31): its F flag and refresh time (0xffffffff: "no NAT detected", RFC 5555 §3.3.3). */
  natd?: { f: boolean; refresh: number };
  /** Protocols after the first ESP header (["ipv6","icmpv6"] for decrypted tunnel-mode data). */
  afterEsp: string[];
  /** Malformed markers and expert infos of error severity. */
  errors: string[];
  /** Expert infos of warning severity (reported, not judged). */
  warnings: string[];
}

// epan/proto.h severities.
const PI_WARN = 0x00600000;
const PI_ERROR = 0x00800000;

const first = (f: Fields, k: string): string | undefined => f.get(k)?.[0];

export function packetFacts(f: Fields, link: string, file: string): PacketFacts {
  const protocols = (first(f, 'frame.protocols') ?? '').split(':').filter(Boolean);
  const ipVersions = protocols.filter((p) => p === 'ip' || p === 'ipv6').map((p) => (p === 'ip' ? 4 : 6));
  const outer6 = ipVersions[0] === 6;
  const outerSrc = ipVersions.length ? first(f, outer6 ? 'ipv6.src' : 'ip.src') : undefined;
  const outerDst = ipVersions.length ? first(f, outer6 ? 'ipv6.dst' : 'ip.dst') : undefined;
  const sp = first(f, 'udp.srcport');
  const dp = first(f, 'udp.dstport');
  const udp = sp !== undefined && dp !== undefined ? { src: Number(sp), dst: Number(dp) } : undefined;
  const ui = protocols.indexOf('udp');
  const udp4191 = !!udp && (udp.src === 4191 || udp.dst === 4191) && ui >= 0 && protocols[ui + 1] === 'ipv6';

  const spis = f.get('esp.spi') ?? [];
  const seqs = f.get('esp.sequence') ?? [];
  const good = f.get('esp.icv_good') ?? [];
  const bad = f.get('esp.icv_bad') ?? [];
  const dec = f.get('esp.decrypted_data') ?? [];
  // With --no-duplicate-keys the n-th value of each esp.* key belongs to the n-th ESP header; a
  // header tshark had no key for contributes no icv/decrypted values, so this holds while such
  // headers come last (they do here: one ESP per packet).
  const esp: EspFact[] = spis.map((s, i) => ({
    spi: Number.parseInt(s, 16),
    seq: Number(seqs[i]),
    icv: good[i] === '1' ? 'good' : bad[i] === '1' ? 'bad' : 'unchecked',
    decrypted: dec[i] !== undefined && good[i] === '1',
  }));
  const ei = protocols.indexOf('esp');
  const mh = first(f, 'mip6.mhtype');
  const mhOptions = [...f.keys()].filter((k) => /^mip6\.options\.[a-z0-9_]+$/.test(k)).map((k) => k.slice('mip6.options.'.length));

  const errors: string[] = [];
  const warnings: string[] = [];
  for (const [k, v] of f) if (k.startsWith('_ws.malformed')) errors.push(`${k} ${v.join(' ')}`.trim());
  const sev = f.get('_ws.expert.severity') ?? [];
  const msg = f.get('_ws.expert.message') ?? [];
  sev.forEach((s, i) => {
    if (Number(s) >= PI_ERROR) errors.push(`expert error: ${msg[i] ?? ''}`);
    else if (Number(s) >= PI_WARN) warnings.push(`expert warning: ${msg[i] ?? ''}`);
  });

  return {
    link,
    file,
    frame: Number(first(f, 'frame.number')),
    protocols,
    ipVersions,
    outerSrc,
    outerDst,
    udp,
    udp4191,
    hao: f.has('ipv6.opt.mipv6.home_address'),
    rh2: (f.get('ipv6.routing.type') ?? []).includes('2'),
    esp,
    mhType: mh !== undefined ? Number(mh) : undefined,
    mhOptions,
    ipv4CoaAddr: first(f, 'mip6.ipv4coa.addr'),
    natd: f.has('mip6.natd.refresh_t') ? { f: ['1', 'True', 'true'].includes(first(f, 'mip6.natd.f_flag') ?? ''), refresh: Number(first(f, 'mip6.natd.refresh_t')) } : undefined,
    afterEsp: ei >= 0 ? protocols.slice(ei + 1) : [],
    errors,
    warnings,
  };
}

/** Runs tshark over each file (two at a time) with the SAs' keys; facts of every packet, file by file. */
export async function judgeCaptures(files: readonly { file: string; link: string }[], sas: readonly WiresharkEspSa[]): Promise<PacketFacts[]> {
  const args = tsharkEspArgs(sas);
  const out: PacketFacts[][] = new Array(files.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < files.length; i = next++) {
      const { file, link } = files[i];
      out[i] = (await tsharkFieldsAsync(file, args)).map((f) => packetFacts(f, link, file));
    }
  };
  await Promise.all([worker(), worker()]);
  return out.flat();
}

/** Short name of a packet in a violation message. */
export function where(p: PacketFacts): string {
  return `${p.link} #${p.frame} (${p.protocols.join(':')} ${p.outerSrc ?? '?'} > ${p.outerDst ?? '?'}${p.mhType !== undefined ? ` MH ${p.mhType}` : ''})`;
}

/** Nothing malformed, no expert info of error severity. */
export function checkNoErrors(facts: readonly PacketFacts[]): string[] {
  return facts.filter((p) => p.errors.length).map((p) => `${where(p)}: ${p.errors.join('; ')}`);
}

/**
 * True when `p` is an ICMP error quoting another packet (RFC 792, RFC 4443 §2.4): what tshark finds
 * after the ICMP header is a truncated copy of a packet sent earlier (its ESP cannot verify, and its
 * headers describe that packet, not this one), so the checks judge the original instead.
 */
export function quotesPacketInIcmpError(p: PacketFacts): boolean {
  const icmp = p.protocols.findIndex((x) => x === 'icmp' || x === 'icmpv6');
  return icmp >= 0 && p.protocols.slice(icmp + 1).some((x) => x === 'ip' || x === 'ipv6');
}

/** Every ESP header decrypted by tshark with a good ICV (ESP quoted in an ICMP error is a truncated copy: not judged). */
export function checkEspGood(facts: readonly PacketFacts[]): string[] {
  const out: string[] = [];
  for (const p of facts) {
    if (quotesPacketInIcmpError(p)) continue;
    for (const e of p.esp) {
      if (e.icv !== 'good' || !e.decrypted) out.push(`${where(p)}: ESP spi 0x${e.spi.toString(16)} icv ${e.icv}${e.decrypted ? '' : ', not decrypted'}`);
    }
  }
  return out;
}

export const MH_BU = 5;
export const MH_BA = 6;

/** BUs sent from an IPv6 care-of address carry a HAO; BAs sent to one carry an RH2 (RFC 6275 §6.3/§6.4). */
export function checkIpv6CoaSignalling(facts: readonly PacketFacts[], coa6: string): string[] {
  const out: string[] = [];
  for (const p of facts) {
    if (p.ipVersions[0] !== 6) continue;
    if (p.mhType === MH_BU && p.outerSrc === coa6 && !p.hao) out.push(`${where(p)}: BU from the IPv6 CoA without a Home Address option`);
    if (p.mhType === MH_BA && p.outerDst === coa6 && !p.rh2) out.push(`${where(p)}: BA to the IPv6 CoA without a type 2 routing header`);
  }
  return out;
}

/** BUs over IPv4 ride UDP to port 4191 and carry the IPv4 CoA option (RFC 5555 §4.1). */
export function checkIpv4CoaBus(facts: readonly PacketFacts[]): string[] {
  const out: string[] = [];
  for (const p of facts) {
    if (p.mhType !== MH_BU || p.ipVersions[0] !== 4) continue;
    if (!p.udp4191 || p.udp?.dst !== 4191) out.push(`${where(p)}: BU over IPv4 not in UDP to port 4191`);
    if (!p.mhOptions.includes('ipv4coa')) out.push(`${where(p)}: BU over IPv4 without the IPv4 Care-of Address option`);
  }
  return out;
}

/** RFC 5555 §3.3.3: a refresh time of all ones says keepalives are not needed, i.e. no NAT was detected. */
export const NATD_NO_NAT = 0xffffffff;

/**
 * BAs to the NAT (its public address, or the MN's private one behind it) carry NAT Detection saying
 * a NAT was detected (a refresh time other than all ones). Elsewhere a BA carries no NAT Detection
 * option (issue 5: "BAs with the NAT Detection option behind the NAT and without it elsewhere"; our
 * HA sends one without a NAT only when its configuration forces UDP, which the tests do not set).
 */
export function checkNatDetection(facts: readonly PacketFacts[], natAddrs: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of facts) {
    if (p.mhType !== MH_BA) continue;
    const natted = p.ipVersions[0] === 4 && natAddrs.includes(p.outerDst ?? '');
    const natd = p.mhOptions.includes('natd');
    if (natted && !natd) out.push(`${where(p)}: BA behind the NAT without the NAT Detection option`);
    else if (natted && p.natd?.refresh === NATD_NO_NAT) out.push(`${where(p)}: BA behind the NAT whose NAT Detection option says no NAT was detected`);
    else if (!natted && natd) out.push(`${where(p)}: BA not behind a NAT with the NAT Detection option (refresh ${p.natd?.refresh})`);
  }
  return out;
}

/** The ESP records as tshark takes them, for a failure message ("rerun tshark with ..."). */
export function tsharkCommandHint(file: string, sas: readonly WiresharkEspSa[]): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return ['tshark', '-r', file, '-d', 'udp.port==4191,ipv6', '-o', 'esp.enable_encryption_decode:TRUE', '-o', 'esp.enable_authentication_check:TRUE', ...sas.flatMap((s) => ['-o', q(`uat:esp_sa:${espSaUatRecord(s)}`)])].join(' ');
}

/** Throws one error listing every violation (with a hint), or returns. */
export function assertNoViolations(what: string, violations: readonly string[], hint = ''): void {
  if (violations.length === 0) return;
  const shown = violations.slice(0, 40);
  throw new Error(`${what}: ${violations.length} violation(s)\n  ${shown.join('\n  ')}${violations.length > shown.length ? `\n  ... ${violations.length - shown.length} more` : ''}${hint ? `\n${hint}` : ''}`);
}
