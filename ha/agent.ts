// The home agent wired to its edges (design: "one process per node"): an IpsecEngine keyed from the
// HA config, the binding cache and IPv4 pool, the NatRecord of tunnel/, and the batch edges — a
// Device facing the home network and correspondents, a Bind on UDP 4191 over IPv4, a MipPacketIo
// for IPv6 packets with a HAO / RH2, and optionally a plain IPv6 path for ESP without either.
// This file only plumbs: registration rules live in ha/registration.ts, the HoA<->CoA rewrite in
// tunnel/mip6.ts, ESP in ipsec/, the gate in front of them (unknown SPIs, BU-SA rate limits) in
// ha/ratelimit.ts. It must never read the wall clock (Date.now) or arm a timer of its
// own (both are injected), never throw or log on the data plane (every drop is counted by reason),
// and never change a binding except through processHomeRegistration on a BU that ESP authenticated
// (restore() only puts back, after a restart, bindings such BUs made; ha/store.ts keeps them).
//
// Which edge carries what (HA side):
//  - MipPacketIo: ALL IPv6 traffic with an IPv6 CoA. tunnel/mip6 puts a HAO (MN->HA) / RH2 (HA->MN)
//    on every packet, data included, so no plain-ESP IPv6 path is needed while the MN is away.
//  - Bind (UDP 4191): all traffic with an IPv4 CoA, BU/BA and data alike. Protocol 41 has no edge
//    here, so an IPv4 CoA always gets UDP (which is also what the MN sends); drop 'no-ip6in4-edge'
//    would count a binding that had no UDP endpoint.
//  - plainIpv6 (optional): ESP packets with neither HAO nor RH2, i.e. an MN at home (its Lifetime-0
//    BU comes from the HoA itself, RFC 6275 §11.5.4, and the BA goes back the same way). A real
//    deployment backs it with a raw IPPROTO_ESP socket; tests use a fake Device pair.
import { canonicalIp, ip4ToString, ip6ToString } from '../common/addr.js';
import { IpProto } from '../common/iana.js';
import { decodeIpv6 } from '../common/ipv6.js';
import { decodeMobilityHeader, encodeMobilityHeader, mhChecksum, type BindingAck, type BindingUpdate } from '../common/mh.js';
import { formatAddress } from '../ipsec/addr.js';
import { IpsecEngine, type IpsecResult, type RandomFill, type TransformFactory } from '../ipsec/index.js';
import { applyKeying, haIpv4HoaPolicies, haKeying, insertPolicies } from '../config/keying.js';
import { toHaRegistrationConfig } from '../config/load.js';
import type { HaConfig, HaMobileNode } from '../config/schema.js';
import type { Bind, OutgoingDatagram, ReceivedDatagram } from '../tunnel/bind.js';
import type { Device } from '../tunnel/device.js';
import type { MipPacketIo } from '../tunnel/mipio.js';
import { fromCareOf, toMobile, type FromCareOfResult, type MobileBinding, type NatRecorder, type ToMobileResult } from '../tunnel/mip6.js';
import { NatRecord } from '../tunnel/natrecord.js';
import { BindingCache, type BindingEntry, type ReadonlyBindingEntry } from './bcache.js';
import { Ipv4Pool } from './ipv4pool.js';
import { admit, BuRateLimiter, memoBindingSpi, type RateLimitOptions, type SpiView } from './ratelimit.js';
import { expireBindings, processHomeRegistration, type HaRegistrationConfig, type HaState, type RegistrationResult } from './registration.js';

import type { TimerScheduler } from '../common/timer.js';
export type { TimerScheduler } from '../common/timer.js';

export interface HomeAgentOptions {
  config: HaConfig;
  /** Home network / correspondents: packets to a HoA come in here, packets from the MN go out here. */
  device: Device;
  /** UDP 4191 on the HA's IPv4 address (needed for IPv4 CoAs). */
  bind?: Bind;
  /** IPv6 packets with HAO / RH2 on the public side (needed for IPv6 CoAs). */
  mipIo?: MipPacketIo;
  /** Plain ESP over IPv6 (an MN at home). Whole IPv6 packets both ways. */
  plainIpv6?: Device;
  /** The clock (ms) for registration, expiry, the NatRecord and the IPsec lifetimes. */
  now: () => number;
  scheduler: TimerScheduler;
  /** Passed to the IpsecEngine (known-answer tests only). */
  randomFill?: RandomFill;
  /** ESP transforms for the IpsecEngine (the native ones, tunnel/native-esp.ts); node:crypto when absent. */
  espTransforms?: TransformFactory;
  /** Binding cache capacity (registration answers 130 beyond it). Default unbounded. */
  cacheCapacity?: number;
  /**
   * Told after the cache changed (a binding created, updated, deleted or expired), so the home link follows at once.
   * A returned promise holds that BU's BA until it settles (the binding on disk first); data already uses the new binding.
   */
  onBindingChange?: (hoa: string) => void | Promise<void>;
  /** Limits on packets that would reach ESP verification under a BU SA (ha/ratelimit.ts); defaults there. */
  rateLimit?: RateLimitOptions;
}

export interface HomeAgentCounters {
  /** BUs that reached registration processing (authenticated by ESP, decoded). */
  buReceived: number;
  buAccepted: number;
  /** Rejected BUs by BA status (128+). */
  buRejected: Record<number, number>;
  /** BAs handed to an edge. */
  baSent: number;
  /** Data packets from the Device tunnelled to an MN / from an MN written to the Device. */
  toMobile: number;
  fromMobile: number;
  /** Every drop, by reason ('ipsec-in:replay', 'coa-mismatch', 'no-binding', ...). */
  drops: Record<string, number>;
}

const IPV4_RE = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * How long data from a binding's previous CoA is still accepted after the binding moved: long
 * enough for packets in flight and for the BA to reach the MN (one round trip; a lost BA makes the
 * MN resend its BU after 1 s, INITIAL_BINDACK_TIMEOUT, and the grace starts again on that BU only
 * if the CoA changes, so this covers a few BA retransmissions).
 */
export const PREVIOUS_COA_GRACE_MS = 5000;

// A BU's pseudo-header pair (its HoA and the HA's address) and a BA's, as octets copied from the
// packet: the MH checksum then parses no address text (one BU at a time; never kept).
const buSrc = new Uint8Array(16);
const buDst = new Uint8Array(16);

/** out[0..16) := p[off..off+16), without a subarray view per call. */
function octets16(out: Uint8Array, p: Uint8Array, off: number): Uint8Array {
  for (let i = 0; i < 16; i++) out[i] = p[off + i];
  return out;
}

/**
 * The BA for the BU in `bu` (the plain IPv6 packet ESP released: HoA -> HA), octet for octet what
 * encodeIpv6({ header: { src: HA, dst: HoA }, upper: encodeMobilityHeader(ba, that pair) }) makes
 * (traffic class and flow label 0, hop limit 64), built from the BU's address octets instead of text.
 */
function baPacket(ba: BindingAck, bu: Uint8Array): Buffer {
  const mh = encodeMobilityHeader(ba);
  const out = Buffer.allocUnsafe(40 + mh.length);
  out[0] = 0x60;
  out[1] = 0;
  out[2] = 0;
  out[3] = 0;
  out[4] = mh.length >> 8;
  out[5] = mh.length & 0xff;
  out[6] = IpProto.MH;
  out[7] = 64;
  for (let i = 0; i < 16; i++) {
    out[8 + i] = bu[24 + i];
    out[24 + i] = bu[8 + i];
  }
  out.set(mh, 40);
  const c = mhChecksum(mh, octets16(buSrc, bu, 24), octets16(buDst, bu, 8));
  out[44] = c >> 8;
  out[45] = c & 0xff;
  return out;
}

/**
 * Where the Mobility Header starts in a plain IPv6 packet of the two shapes MNs send a BU in: IPv6 |
 * MH (at home), or IPv6 | the 24-octet Destination Options header tunnel/mip6.ts writes (PadN of
 * two zeros, then the HAO) | MH; 0 for anything else (decodeIpv6 then reads the chain). For those
 * shapes decodeIpv6 would find the same MH at the same place and throw nothing.
 */
function mhOffset(p: Uint8Array): number {
  if (p.length < 40 || p[0] >> 4 !== 6) return 0;
  const pl = (p[4] << 8) | p[5];
  if (40 + pl > p.length) return 0;
  if (p[6] === IpProto.MH) return 40;
  if (p[6] !== IpProto.DSTOPTS || pl < 24) return 0;
  return p[40] === IpProto.MH && p[41] === 2 && p[42] === 0x01 && p[43] === 2 && p[44] === 0 && p[45] === 0 && p[46] === 0xc9 && p[47] === 16 ? 64 : 0;
}

/** '::ffff:a.b.c.d' -> 'a.b.c.d'; IPv6 -> canonical; undefined stays undefined. */
function plainAddr(a: string | undefined): string | undefined {
  if (a === undefined) return undefined;
  if (a.startsWith('::ffff:') && IPV4_RE.test(a.slice(7))) return a.slice(7);
  if (IPV4_RE.test(a)) return a;
  try {
    return canonicalIp(a);
  } catch {
    return undefined;
  }
}

/**
 * plainAddr(fromPacket) === plainAddr(bound), without parsing in the common cases: `bound` is a
 * binding's CoA (canonical text, registration.ts), `fromPacket` the CoA text fromCareOf gave (canonical
 * IPv6, or ::ffff:a.b.c.d for an IPv4 CoA). The shortcuts only answer "equal" when plainAddr would.
 */
function sameCoa(fromPacket: string | undefined, bound: string): boolean {
  if (fromPacket === bound) return true;
  if (fromPacket !== undefined && fromPacket.length === bound.length + 7 && fromPacket.startsWith('::ffff:') && fromPacket.endsWith(bound) && IPV4_RE.test(bound)) return true;
  return plainAddr(fromPacket) === plainAddr(bound);
}

/**
 * True for the SPI of a transport-mode SA that some SPD entry selecting Mobility Header traffic
 * protects: a BU / BA SA. Built only from ipsec/'s control API (getSA, listPolicies), design Req #3/#4.
 */
export function mobilitySpiPredicate(engine: IpsecEngine): (spi: number) => boolean {
  // The SPIs that MH policies name, derived in one pass per SPD generation: asking listPolicies()
  // per SPI made the first BU of each MN cost O(all policies) (BENCHMARKS.md, HA capacity).
  let generation = -1;
  let named = new Set<number>();
  const name = (): void => {
    named = new Set();
    for (const p of engine.listPolicies()) {
      if (typeof p.action === 'object' && 'spi' in p.action.protect && p.selector.proto === IpProto.MH) named.add(p.action.protect.spi);
    }
    generation = engine.policyGeneration;
  };
  // Derived now, while the HA is built, not by the first BU: with thousands of MNs configured the
  // pass over every policy took as long as hundreds of BUs.
  name();
  return (spi) => {
    const sa = engine.getSA(spi);
    if (sa === undefined || sa.mode !== 'transport') return false;
    if ((sa.selectors ?? []).some((s) => s.proto === IpProto.MH)) return true;
    if (engine.policyGeneration !== generation) name();
    return named.has(spi);
  };
}

export class HomeAgent {
  readonly engine: IpsecEngine;
  readonly cache: BindingCache;
  readonly pool?: Ipv4Pool;
  readonly natRecord = new NatRecord();
  /** Cheap rejection before crypto of forged-BU floods (ha/ratelimit.ts); drops count as 'rate-limited:*'. */
  readonly limiter: BuRateLimiter;
  readonly counters: HomeAgentCounters = { buReceived: 0, buAccepted: 0, buRejected: {}, baSent: 0, toMobile: 0, fromMobile: 0, drops: {} };

  private readonly cfg: HaConfig;
  private readonly reg: HaRegistrationConfig;
  private readonly state: HaState;
  private readonly isBindingSpi: (spi: number) => boolean;
  private readonly spiView: SpiView;
  private readonly recorder: NatRecorder;
  /** Last outer UDP source of an accepted BU per HoA: where UDP goes for an IPv4 CoA without a NAT. */
  private readonly udpEndpoints = new Map<string, { addr: string; port: number }>();
  /** HoA -> the CoA its binding had before the last move, and until when it is still accepted. */
  private readonly previousCoa = new Map<string, { coa: string | undefined; until: number }>();
  /** IPv4 HoAs that already have SPD entries (static ones from the config, pool grants added later). */
  private readonly ipv4Policies = new Set<string>();
  private expiryTimer: { cancel(): void } | null = null;
  private expiryAt: number | null = null;
  private closed = false;
  /** A Device batch's tunnelled packets, handed to each edge in one call at the batch end (sendmmsg). */
  private toMipIo: Uint8Array[] = [];
  private toBind: OutgoingDatagram[] = [];
  /**
   * HoA -> what toMobile was last given for it and the cache entry it was made from, reused while the
   * cache holds that same entry object: entries are never changed in place (bcache.ts), and the UDP
   * endpoint of a HoA only changes together with its entry (an accepted BU, restore) or its removal.
   */
  private readonly mobileBindings = new Map<string, { entry: ReadonlyBindingEntry; binding: MobileBinding }>();

  constructor(private readonly opts: HomeAgentOptions) {
    this.cfg = opts.config;
    this.reg = toHaRegistrationConfig(opts.config);
    this.limiter = new BuRateLimiter(opts.now, opts.rateLimit);
    this.engine = new IpsecEngine({ clock: opts.now, ...(opts.randomFill ? { randomFill: opts.randomFill } : {}), ...(opts.espTransforms ? { transforms: opts.espTransforms } : {}) });
    applyKeying(this.engine, haKeying(opts.config));
    for (const mn of opts.config.mobileNodes) if (mn.ipv4Hoa !== undefined) this.ipv4Policies.add(mn.ipv4Hoa);
    this.cache = new BindingCache(opts.cacheCapacity);
    const p = opts.config.ipv4HomePool;
    if (p) this.pool = new Ipv4Pool(p.prefix, p.length, p.reserved);
    this.state = { cache: this.cache, ...(this.pool ? { pool: this.pool } : {}) };
    // Asked for every packet (NAT record, BA routing, the flood gate): the SPD walk behind it cost 71%
    // of a BU with 1,000 MNs configured (BENCHMARKS.md), so its answer is remembered per SPI. Only
    // SPIs the SAD holds are remembered: a flood of random SPIs must not grow the memo.
    const memo = memoBindingSpi(mobilitySpiPredicate(this.engine), opts.now);
    this.isBindingSpi = (spi) => this.engine.hasSA(spi) && memo(spi);
    this.spiView = { known: (spi) => this.engine.hasSA(spi), isBindingSpi: this.isBindingSpi };
    this.recorder = { isBindingSpi: this.isBindingSpi, table: this.natRecord, clock: opts.now };

    opts.device.onBatch((packets) => {
      for (const p of packets) this.fromDevice(p);
      this.flushToMobile();
    });
    // Every wire edge passes the gate of ha/ratelimit.ts first (before any decoding).
    // The data an MN sent in one batch goes to the Device in one write at the batch end (flushToDevice).
    const fromIpv6 = (packets: readonly Uint8Array[]) => {
      try {
        for (const p of packets) {
          const g = this.gate(p, this.outerSourceOf);
          if (g) this.fromWire(fromCareOf(p, undefined, this.recorder), g.from);
        }
      } finally {
        this.flushToDevice();
      }
    };
    opts.mipIo?.onBatch(fromIpv6);
    opts.plainIpv6?.onBatch(fromIpv6);
    opts.bind?.onBatch((datagrams: readonly ReceivedDatagram[]) => {
      this.holdBas = true;
      try {
        for (const d of datagrams) {
          const g = this.gate(d.data, d.srcAddr);
          if (g) this.fromWire(fromCareOf(d.data, { udp4: { srcAddr: d.srcAddr, srcPort: d.srcPort } }, this.recorder), g.from);
        }
      } finally {
        this.holdBas = false;
        this.flushBas();
        this.flushToDevice();
      }
    });
  }

  /** A copy of the binding for `hoa` (IPv6 HoA), or undefined. */
  binding(hoa: string): BindingEntry | undefined {
    return this.cache.get(hoa);
  }

  /** Where UDP goes for `hoa`'s IPv4 CoA without a NAT (the outer source of its last accepted BU), if known. */
  udpEndpoint(hoa: string): { addr: string; port: number } | undefined {
    const u = this.udpEndpoints.get(canonicalIp(hoa));
    return u && { ...u };
  }

  /**
   * Puts back bindings a previous run saved (ha/store.ts), before traffic flows: each one not
   * expired at now() returns to the cache with its UDP endpoint, its IPv4 HoA (pool and SPD
   * entries) and the expiry timer, exactly as the run that accepted its BU left it. Nothing is sent
   * and onBindingChange is not called (the caller follows the restored cache itself). These are
   * bindings ESP-authenticated BUs created before, so the "only an accepted BU changes a binding"
   * rule holds across the restart. A binding of a HoA the config no longer serves, or one the cache
   * cannot take (capacity, an IPv4 HoA held by another), is refused with the reason.
   */
  restore(saved: readonly { entry: BindingEntry; udpEndpoint?: { addr: string; port: number } }[]): {
    restored: BindingEntry[];
    expired: BindingEntry[];
    refused: { entry: BindingEntry; reason: string }[];
  } {
    const now = this.opts.now();
    const restored: BindingEntry[] = [];
    const expired: BindingEntry[] = [];
    const refused: { entry: BindingEntry; reason: string }[] = [];
    for (const { entry, udpEndpoint } of saved) {
      if (entry.expiresAt <= now) {
        expired.push(entry);
        continue;
      }
      let hoa: string;
      try {
        hoa = canonicalIp(entry.hoa);
      } catch {
        refused.push({ entry, reason: 'not an IPv6 address' });
        continue;
      }
      const mn = this.mobileNode(hoa);
      if (!mn) {
        refused.push({ entry, reason: 'no mobile node with this home address in the configuration' });
        continue;
      }
      const v4 = entry.ipv4Hoa;
      try {
        if (v4 !== undefined && this.pool?.contains(v4) && this.pool.allocate(hoa, v4).status !== 0) throw new Error(`IPv4 HoA ${v4} not available in the pool`);
        this.cache.set(entry);
      } catch (e) {
        if (v4 !== undefined && this.pool?.addressOf(hoa) === v4) this.pool.release(hoa);
        refused.push({ entry, reason: (e as Error).message });
        continue;
      }
      if (udpEndpoint) this.udpEndpoints.set(hoa, { ...udpEndpoint });
      if (v4 !== undefined && !this.ipv4Policies.has(v4)) {
        insertPolicies(this.engine, haIpv4HoaPolicies(mn, v4));
        this.ipv4Policies.add(v4);
      }
      restored.push(this.cache.get(hoa)!);
    }
    this.rearmExpiry();
    return { restored, expired, refused };
  }

  /** Stops reading from the edges and cancels the expiry timer (the edges themselves belong to the caller). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.opts.device.onBatch(null);
    this.opts.mipIo?.onBatch(null);
    this.opts.plainIpv6?.onBatch(null);
    this.opts.bind?.onBatch(null);
    this.expiryTimer?.cancel();
    this.expiryTimer = null;
  }

  private drop(reason: string): void {
    this.counters.drops[reason] = (this.counters.drops[reason] ?? 0) + 1;
  }

  // ---- receive path: wire -> tunnel -> ipsec -> BU processing or the Device ------------------

  /** ha/ratelimit.ts's admit, its drop counted; undefined when dropped. Never throws. */
  private gate(p: Uint8Array, source: string | ((p: Uint8Array) => string | undefined)): { from?: string } | undefined {
    try {
      const g = admit(this.limiter, p, source, this.spiView);
      if (g.drop === undefined) return g;
      this.drop(g.drop);
    } catch {
      this.drop('internal-error');
    }
    return undefined;
  }

  /** `from`: the outer source the gate rate-limited this packet under (a BU SA's), trusted once ESP authenticates it. */
  private fromWire(fc: FromCareOfResult, from?: string): void {
    try {
      if (!fc.ok) return this.drop(`tunnel:${fc.reason}`);
      const r = this.engine.inbound(fc.packet);
      if (!r.ok) return this.drop(`ipsec-in:${r.reason}`);
      // Anything the SPD let through in the clear (ND, ...) has no business on the MN's tunnel edges.
      if (r.spi === undefined) return this.drop('not-protected');
      if (this.isBindingSpi(r.spi)) {
        if (from !== undefined) this.limiter.trust(r.spi, from);
        return this.onSignalling(fc, r.packet, r.spi);
      }
      this.onData(fc, r.packet);
    } catch {
      this.drop('internal-error');
    }
  }

  /** True while `coa` is the CoA the binding had before its last change (see PREVIOUS_COA_GRACE_MS). */
  private isPreviousCoa(hoa: string, coa: string | undefined): boolean {
    const p = this.previousCoa.get(canonicalIp(hoa));
    if (!p || coa === undefined) return false;
    if (this.opts.now() >= p.until) {
      this.previousCoa.delete(canonicalIp(hoa));
      return false;
    }
    return p.coa === plainAddr(coa);
  }

  private onData(fc: Extract<FromCareOfResult, { ok: true }>, inner: Uint8Array): void {
    // The HoA is the outer source ipsec/ verified (HAO swapped in by fromCareOf); the CoA must be the bound one.
    const hoa = fc.homeAddress;
    if (hoa === undefined) {
      // No HAO: only an MN at home (no binding) talks to its HA without one.
      const src = this.outerSource(fc.packet);
      if (src === undefined || this.cache.has(src)) return this.drop('coa-mismatch');
    } else {
      const b = this.cache.peek(hoa);
      if (!b) return this.drop('no-binding');
      if (!sameCoa(fc.coa, b.coa) && !this.isPreviousCoa(hoa, fc.coa)) return this.drop('coa-mismatch');
    }
    this.toDevice.push(inner);
  }

  /** The data of a wire batch, written to the Device in one call at the batch end. */
  private toDevice: Uint8Array[] = [];

  /** Writes the queued packets to the Device in one call; a Device that takes k of n counts n-k 'device-write' drops. */
  private flushToDevice(): void {
    const n = this.toDevice.length;
    if (n === 0) return;
    // Swapped out before writing: a write that re-enters a batch handler (fake edges) queues afresh.
    const out = this.toDevice;
    this.toDevice = [];
    let k: number;
    try {
      k = this.opts.device.write(out);
    } catch {
      this.counters.drops['internal-error'] = (this.counters.drops['internal-error'] ?? 0) + n;
      return;
    }
    k = Number.isInteger(k) ? Math.min(Math.max(k, 0), n) : 0;
    this.counters.fromMobile += k;
    if (k < n) this.counters.drops['device-write'] = (this.counters.drops['device-write'] ?? 0) + (n - k);
  }

  private outerSource(packet: Uint8Array): string | undefined {
    return packet.length >= 40 ? formatAddress(packet.subarray(8, 24)) : undefined;
  }

  /** outerSource as one function made once, for the gate (no closure per packet). */
  private readonly outerSourceOf = (packet: Uint8Array): string | undefined => this.outerSource(packet);

  /** Canonical HoA -> its configured MN, built on first use (the config never changes under a running HA). */
  private mnByHoa: Map<string, HaMobileNode> | undefined;

  /** The configured MN of a canonical HoA, without walking the config per BU. */
  private mobileNode(hoa: string): HaMobileNode | undefined {
    if (this.mnByHoa === undefined) {
      const m = new Map<string, HaMobileNode>();
      // The first entry wins, as a walk of the list would find it.
      for (const mn of this.cfg.mobileNodes) if (!m.has(canonicalIp(mn.hoa))) m.set(canonicalIp(mn.hoa), mn);
      this.mnByHoa = m;
    }
    return this.mnByHoa.get(hoa);
  }

  private onSignalling(fc: Extract<FromCareOfResult, { ok: true }>, plain: Uint8Array, spi: number): void {
    let bu: BindingUpdate;
    let src: string;
    try {
      let upper: Uint8Array;
      const at = mhOffset(plain);
      if (at > 0) {
        // The shapes our MNs send: no decoding of the chain (what decodeIpv6 would give for them).
        src = ip6ToString(plain, 8);
        upper = plain.subarray(at, 40 + ((plain[4] << 8) | plain[5]));
      } else {
        const p = decodeIpv6(plain);
        if (p.upperProtocol !== IpProto.MH) return this.drop('bu-not-mh');
        src = p.header.src;
        upper = p.upper;
      }
      // After fromCareOf the source is the HoA (the HAO holds the CoA): the pseudo-header pair.
      // The pair as octets (what decodeIpv6 printed as src and dst): no text parsed back for the checksum.
      const m = decodeMobilityHeader(upper, { src: octets16(buSrc, plain, 8), dst: octets16(buDst, plain, 24) }).message;
      if (m.kind !== 'BU') return this.drop('mh-not-bu');
      bu = m;
    } catch {
      return this.drop('bu-malformed');
    }
    const now = this.opts.now();
    const hoa = src;
    // The key of the HA's per-HoA maps: `src` is ip6ToString's text of the packet's octets, which is
    // already canonicalIp's form (test/ha-hoa-key.test.ts), so no parse and print per BU.
    const key = hoa;
    // Registration input: Alternate CoA, else the IPv4 CoA option, else the packet's source.
    // The first of each kind, as find() would give (a loop: no closure per BU).
    let altCoa: string | undefined;
    let v4Coa: string | undefined;
    for (const o of bu.options) {
      if (o.kind === 'AlternateCoa') altCoa ??= o.address;
      else if (o.kind === 'Ipv4Coa') v4Coa ??= o.address;
    }
    const sourceCoa = plainAddr(fc.coa) ?? hoa;
    const coa = altCoa ?? v4Coa ?? sourceCoa;
    let outer: { address: string; port: number } | undefined;
    if (fc.outer.via === 'udp4') {
      // Req #4: the observation tunnel/ recorded for this BU SA before IPsec, now that ESP authenticated it.
      const seen = this.natRecord.take(spi);
      outer = seen ? { address: seen.addr, port: seen.port } : { address: fc.outer.addr, port: fc.outer.port };
    }
    this.counters.buReceived++;
    let res: RegistrationResult;
    try {
      // `key` is canonicalIp(hoa): registration takes it as is instead of parsing the HoA again.
      res = processHomeRegistration(outer ? { hoa: key, canonicalHoa: true, coa, bu, outer } : { hoa: key, canonicalHoa: true, coa, bu }, this.state, this.reg, now);
    } catch {
      return this.drop('bu-processing-error');
    }
    if (res.status < 128) this.counters.buAccepted++;
    else this.counters.buRejected[res.status] = (this.counters.buRejected[res.status] ?? 0) + 1;

    if (res.change === 'created' || res.change === 'updated') {
      // Req #3: the MN keeps sending data from its old CoA until this BA reaches it, so packets
      // from the previous CoA stay acceptable for a short while. ESP has already authenticated
      // them as this HoA's; the CoA check only keeps the path consistent with the binding.
      const previous = res.previous ? plainAddr(res.previous.coa) : undefined;
      if (res.previous && previous !== plainAddr(coa)) {
        // Updated in place when the HoA has one (a move per BU): the record is this map's own.
        const p = this.previousCoa.get(key);
        if (p !== undefined) {
          p.coa = previous;
          p.until = now + PREVIOUS_COA_GRACE_MS;
        } else {
          this.previousCoa.set(key, { coa: previous, until: now + PREVIOUS_COA_GRACE_MS });
        }
      }
      if (outer) {
        // In place too: udpEndpoint() hands out copies, and mobileBinding() copies the values it uses.
        const u = this.udpEndpoints.get(key);
        if (u !== undefined) {
          u.addr = outer.address;
          u.port = outer.port;
        } else {
          this.udpEndpoints.set(key, { addr: outer.address, port: outer.port });
        }
      } else {
        this.udpEndpoints.delete(key);
      }
      const v4hoa = res.entry?.ipv4Hoa;
      if (v4hoa !== undefined && !this.ipv4Policies.has(v4hoa)) {
        const mn = this.mobileNode(key);
        if (mn) {
          insertPolicies(this.engine, haIpv4HoaPolicies(mn, v4hoa));
          this.ipv4Policies.add(v4hoa);
        }
      }
    } else if (res.change === 'deleted') {
      this.udpEndpoints.delete(key);
      this.previousCoa.delete(key);
    }
    this.rearmExpiry();
    const durable = res.change === 'created' || res.change === 'updated' || res.change === 'deleted' ? this.opts.onBindingChange?.(hoa) : undefined;

    if (!res.send) return;
    if (durable) {
      void durable.then(
        () => this.closed || this.answerBu(res, plain, fc, sourceCoa),
        () => this.closed || this.answerBu(res, plain, fc, sourceCoa),
      );
      return;
    }
    this.answerBu(res, plain, fc, sourceCoa);
  }

  /** Sends the BA of an accepted or rejected BU the way the BU came. */
  private answerBu(res: RegistrationResult, bu: Uint8Array, fc: Extract<FromCareOfResult, { ok: true }>, sourceCoa: string): void {
    // The BA goes back the way the BU came: to its source CoA (through the NAT for UDP), or plain.
    let ba: Uint8Array;
    try {
      ba = baPacket(res.ba, bu);
    } catch {
      return this.drop('ba-encode');
    }
    const sealed = this.engine.outbound(ba);
    if (!sealed.ok) return this.drop(`ipsec-out:${sealed.reason}`);
    if (sealed.spi === undefined) return this.drop('ba-not-protected');
    if (fc.coa === undefined) {
      if (!this.opts.plainIpv6 || this.opts.plainIpv6.write([sealed.packet]) !== 1) return this.drop('no-plain-ipv6-edge');
      this.counters.baSent++;
      return;
    }
    const back: MobileBinding =
      fc.outer.via === 'udp4'
        ? { coa: sourceCoa, udp: { addr: fc.outer.addr, port: fc.outer.port }, useUdp: true }
        : { coa: sourceCoa };
    const t = toMobile(sealed.packet, back, this.isBindingSpi);
    // Within a Bind batch, the BAs over UDP leave together at its end (one sendmmsg, not one per BA).
    if (this.holdBas && t.ok && t.via === 'udp4' && this.opts.bind) {
      this.heldBas.push({ data: t.payload, dstAddr: t.dstAddr, dstPort: t.dstPort });
      return;
    }
    if (this.send(t)) this.counters.baSent++;
  }

  /** True while a Bind batch is being processed: onSignalling queues its UDP BAs in heldBas. */
  private holdBas = false;
  private heldBas: OutgoingDatagram[] = [];

  /** Sends the BAs held during a Bind batch in one call; those the edge did not take count as 'edge-send' drops. */
  private flushBas(): void {
    if (this.heldBas.length === 0) return;
    const out = this.heldBas;
    // Swapped out first: a send that re-enters a batch handler (fake edges) holds afresh.
    this.heldBas = [];
    let k = 0;
    try {
      k = this.opts.bind!.send(out);
    } catch {
      k = 0;
    }
    k = Number.isInteger(k) ? Math.min(Math.max(k, 0), out.length) : 0;
    this.counters.baSent += k;
    if (k < out.length) this.counters.drops['edge-send'] = (this.counters.drops['edge-send'] ?? 0) + (out.length - k);
  }

  // ---- send path: Device -> ipsec (tunnel SA) -> tunnel toMobile -> edge ---------------------

  private fromDevice(packet: Uint8Array): void {
    try {
      const dst = this.destinationOf(packet);
      if (dst === undefined) return this.drop('device-malformed');
      const b = dst.includes(':') ? this.cache.peek(dst) : this.cache.peekByIpv4Hoa(dst);
      if (!b || b.expiresAt <= this.opts.now()) return this.drop('no-binding');
      const r: IpsecResult = this.engine.outbound(packet);
      if (!r.ok) return this.drop(`ipsec-out:${r.reason}`);
      if (r.spi === undefined) return this.drop('not-protected');
      this.queueToMobile(toMobile(r.packet, this.mobileBinding(b), this.isBindingSpi));
    } catch {
      this.drop('internal-error');
    }
  }

  /** Where a Device packet goes: its destination (memoized text, common/addr.ts), or undefined. */
  private destinationOf(p: Uint8Array): string | undefined {
    if (p.length >= 40 && p[0] >> 4 === 6) return ip6ToString(p, 24);
    if (p.length >= 20 && p[0] >> 4 === 4) return ip4ToString(p, 16);
    return undefined;
  }

  private mobileBinding(b: ReadonlyBindingEntry): MobileBinding {
    const known = this.mobileBindings.get(b.hoa);
    // The common case, per packet: the same entry as last time, so no regex and no endpoint lookup.
    if (known !== undefined && known.entry === b) return known.binding;
    const v4 = IPV4_RE.test(b.coa);
    const nat = v4 && b.natAddress !== undefined && b.natPort !== undefined;
    const ep = v4 && !nat ? this.udpEndpoints.get(b.hoa) : undefined;
    const addr = nat ? b.natAddress : ep?.addr;
    const port = nat ? b.natPort : ep?.port;
    const m = known?.binding;
    if (m !== undefined && m.coa === b.coa && m.udp?.addr === addr && m.udp?.port === port) {
      this.mobileBindings.set(b.hoa, { entry: b, binding: m });
      return m;
    }
    // No protocol-41 edge: an IPv4 CoA always gets UDP 4191 (the MN sends UDP too).
    const made: MobileBinding = !v4
      ? Object.freeze({ coa: b.coa })
      : Object.freeze({ coa: b.coa, useUdp: true, ...(addr !== undefined && port !== undefined ? { udp: Object.freeze({ addr, port }) } : {}) });
    // One per HoA with a binding; forgotten wholesale if HoAs come and go beyond the cache's size.
    if (this.mobileBindings.size > this.cache.size + 1024) this.mobileBindings.clear();
    this.mobileBindings.set(b.hoa, { entry: b, binding: made });
    return made;
  }

  /** Queues a Device packet's toMobile result for its edge (sent by flushToMobile), or counts its drop. */
  private queueToMobile(t: ToMobileResult): void {
    if (!t.ok) return this.drop(`tunnel:${t.reason}`);
    if (t.via === 'ipv6') {
      if (!this.opts.mipIo) return this.drop('no-ipv6-edge');
      this.toMipIo.push(t.packet);
      return;
    }
    if (t.via === 'udp4') {
      if (!this.opts.bind) return this.drop('no-udp-edge');
      this.toBind.push({ data: t.payload, dstAddr: t.dstAddr, dstPort: t.dstPort });
      return;
    }
    this.drop('no-ip6in4-edge');
  }

  /** Hands the queued packets to each edge in one call; an edge that takes k of n counts n-k 'edge-send' drops. */
  private flushToMobile(): void {
    // Swapped out before sending: a send that re-enters a batch handler (fake edges) queues afresh.
    if (this.toMipIo.length > 0) {
      const out = this.toMipIo;
      this.toMipIo = [];
      this.sent(out.length, () => this.opts.mipIo!.send(out));
    }
    if (this.toBind.length > 0) {
      const out = this.toBind;
      this.toBind = [];
      this.sent(out.length, () => this.opts.bind!.send(out));
    }
  }

  private sent(n: number, send: () => number): void {
    let k: number;
    try {
      k = send();
    } catch {
      this.counters.drops['internal-error'] = (this.counters.drops['internal-error'] ?? 0) + n;
      return;
    }
    k = Number.isInteger(k) ? Math.min(Math.max(k, 0), n) : 0;
    this.counters.toMobile += k;
    if (k < n) this.counters.drops['edge-send'] = (this.counters.drops['edge-send'] ?? 0) + (n - k);
  }

  /** Hands a toMobile result to its edge; true when the edge accepted it. */
  private send(t: ToMobileResult): boolean {
    if (!t.ok) {
      this.drop(`tunnel:${t.reason}`);
      return false;
    }
    if (t.via === 'ipv6') {
      if (!this.opts.mipIo) return this.dropFalse('no-ipv6-edge');
      return this.opts.mipIo.send([t.packet]) === 1 || this.dropFalse('edge-send');
    }
    if (t.via === 'udp4') {
      if (!this.opts.bind) return this.dropFalse('no-udp-edge');
      return this.opts.bind.send([{ data: t.payload, dstAddr: t.dstAddr, dstPort: t.dstPort }]) === 1 || this.dropFalse('edge-send');
    }
    return this.dropFalse('no-ip6in4-edge');
  }

  private dropFalse(reason: string): false {
    this.drop(reason);
    return false;
  }

  // ---- expiry ---------------------------------------------------------------------------------

  private rearmExpiry(): void {
    if (this.closed) return;
    const next = this.cache.nextExpiry() ?? null;
    if (next === this.expiryAt) return;
    // A timer armed for earlier than the next expiry stays: it fires early, expires nothing and
    // re-arms. Refreshing the earliest binding (every BU of a round of moves) then costs no
    // cancel and schedule of a timer.
    if (next !== null && this.expiryTimer !== null && this.expiryAt !== null && this.expiryAt < next) return;
    this.expiryTimer?.cancel();
    this.expiryTimer = null;
    this.expiryAt = next;
    if (next !== null) this.expiryTimer = this.opts.scheduler.schedule(next, () => this.onExpiry());
  }

  private onExpiry(): void {
    this.expiryTimer = null;
    this.expiryAt = null;
    for (const e of expireBindings(this.state, this.opts.now())) {
      this.udpEndpoints.delete(e.hoa);
      this.opts.onBindingChange?.(e.hoa);
    }
    this.rearmExpiry();
  }
}
