// The mobile node wired to its edges (design: "one process per node"): the HomeRegistration state
// machine (mn/registration.ts) and an IpsecEngine keyed from the MN config, between a Device that
// carries the home address(es) for applications and the care-of edges — a MipPacketIo for an IPv6
// CoA, a Bind (UDP 4191) per IPv4 CoA, and optionally a plain IPv6 path for when the MN is at home.
// This file only plumbs: the state machine decides, tunnel/mip6.ts rewrites, ipsec/ protects. It must
// never read the wall clock (Date.now) or arm a timer of its own (both injected), never throw or log
// on the data plane (drops are counted by reason), and never tell a BU from data by anything but the
// SPI ipsec/ would use for the packet (design Req #3: engine.outboundSpiFor).
//
// Req #3: a BU for a new CoA leaves from that CoA while data keeps the registered (old) CoA until the
// BA arrives. Every protected packet goes through one path, `emit`, which asks ipsec/ which SPI the
// packet maps to: the BU SA's SPI -> the CoA being registered, any other SPI -> the registered CoA.
import { canonicalIp } from '../common/addr.js';
import { IpProto } from '../common/iana.js';
import { decodeIpv6, encodeIpv6 } from '../common/ipv6.js';
import { decodeMobilityHeader, encodeMobilityHeader, type BindingUpdate } from '../common/mh.js';
import { applyKeying, insertPolicies, mnIpv4HoaPolicies, mnKeying } from '../config/keying.js';
import { toHomeRegistrationConfig } from '../config/load.js';
import type { MnConfig } from '../config/schema.js';
import { ALGORITHMS, IpsecEngine, type RandomFill, type TransformFactory } from '../ipsec/index.js';
import type { Bind, OutgoingDatagram } from '../tunnel/bind.js';
import type { Device } from '../tunnel/device.js';
import type { MipPacketIo } from '../tunnel/mipio.js';
import { fromMobile, toCareOf } from '../tunnel/mip6.js';
import { clampTcpMss, innerMtu, tcpSynOffset } from '../tunnel/mss.js';
import type { CareOfAddress } from './bul.js';
import { HomeRegistration, type NatInfo, type RegistrationAction } from './registration.js';

import type { TimerScheduler } from '../common/timer.js';
export type { TimerScheduler } from '../common/timer.js';

export interface MobileNodeOptions {
  config: MnConfig;
  /** Applications: carries the home address(es). */
  device: Device;
  /** IPv6 CoA traffic (HAO out, RH2 in). */
  mipIo?: MipPacketIo;
  /** Opens UDP 4191 traffic on an IPv4 CoA (bound to that address); called when the MN moves to one. */
  openBind?: (coa: string) => Bind;
  /** Plain ESP over IPv6 while at home (no HAO / RH2). */
  plainIpv6?: Device;
  now: () => number;
  scheduler: TimerScheduler;
  /** Told of each registration outcome (registered, deregistered, expired, failed), after the node acted on it. */
  onRegistration?: (event: Exclude<RegistrationAction, { kind: 'send-bu' | 'arm-timer' }>) => void;
  /** Told of a BA that answers the outstanding BU (its sequence), with the ms since that BU left; before the state machine acts on it (metrics, logs). */
  onBindingAck?: (ack: { sequence: number; status: number; rttMs: number }) => void;
  /** HomeRegistration's initial sequence number source (deterministic tests). */
  randomSeq?: () => number;
  randomFill?: RandomFill;
  /** ESP transforms for the IpsecEngine (the native ones, tunnel/native-esp.ts); node:crypto when absent. */
  espTransforms?: TransformFactory;
  /**
   * MTU of the path between the CoA and the HA. TCP SYNs through the tunnel get their MSS lowered so
   * that full-size segments, sealed and tunnelled, fit it (no IPv4 fragments on a UDP 4191 path).
   * Default 1500; 0 turns clamping off.
   */
  tunnelPathMtu?: number;
}

export interface MobileNodeCounters {
  buSent: number;
  baReceived: number;
  /** BA statuses >= 128 reported by the state machine. */
  failed: Record<number, number>;
  toHa: number;
  fromHa: number;
  /** TCP SYNs whose MSS was lowered to fit the tunnel (tunnelPathMtu). */
  mssClamped?: number;
  drops: Record<string, number>;
}

export type MoveTarget = CareOfAddress | string | null | 'home';

const IPV4_RE = /^\d{1,3}(\.\d{1,3}){3}$/;

export class MobileNode {
  readonly engine: IpsecEngine;
  readonly registration: HomeRegistration;
  readonly counters: MobileNodeCounters = { buSent: 0, baReceived: 0, failed: {}, toHa: 0, fromHa: 0, mssClamped: 0, drops: {} };
  /** The CoA the HA holds a binding for (from the last accepted BA), or null. */
  registeredCoa: CareOfAddress | null = null;
  /** The CoA the outstanding BU was sent for (the HoA for a deregistration), or null. */
  registeringCoa: CareOfAddress | null = null;
  /** The IPv4 home address the HA granted, if any. */
  ipv4Hoa: string | undefined;
  nat: NatInfo | undefined;
  atHome = false;

  private readonly cfg: MnConfig;
  private readonly hoa: string;
  private readonly ownHoas: string[];
  private readonly binds = new Map<string, Bind>();
  private readonly ipv4Policies = new Set<string>();
  private readonly buSpis: Set<number>;
  private timer: { cancel(): void } | null = null;
  private closed = false;
  /** One batch's outgoing packets per edge, handed over in one call at the batch end (sendmmsg / writev). */
  private toMipIo: Uint8Array[] = [];
  private toPlain: Uint8Array[] = [];
  private toBinds = new Map<Bind, OutgoingDatagram[]>();
  /** One wire batch's decrypted data packets for the Device. */
  private toDevice: Uint8Array[] = [];
  /**
   * The last inbound SPI of this wire batch and whether its SA is transport mode (signalling): one
   * SA snapshot per batch instead of per packet. Forgotten at each batch end; nothing a batch does
   * (a BA included) changes the SAD.
   */
  private batchSpi = -1;
  private batchSpiTransport = false;

  constructor(private readonly opts: MobileNodeOptions) {
    this.cfg = opts.config;
    this.hoa = canonicalIp(opts.config.hoa);
    this.ownHoas = [this.hoa];
    this.engine = new IpsecEngine({ clock: opts.now, ...(opts.randomFill ? { randomFill: opts.randomFill } : {}), ...(opts.espTransforms ? { transforms: opts.espTransforms } : {}) });
    const keying = mnKeying(opts.config);
    applyKeying(this.engine, keying);
    const static4 = opts.config.ipv4Hoa;
    if (static4 !== 'dynamic' && static4 !== 'none') this.ipv4Policies.add(static4);
    // The BU SA: outbound transport SAs that an SPD entry selecting Mobility Headers protects (SAD/SPD query API).
    this.buSpis = new Set(
      this.engine
        .listSAs()
        .filter((sa) => sa.direction === 'outbound' && sa.mode === 'transport')
        .map((sa) => sa.spi)
        .filter((spi) => this.engine.listPolicies().some((p) => typeof p.action === 'object' && 'spi' in p.action.protect && p.action.protect.spi === spi && p.selector.proto === IpProto.MH)),
    );
    this.registration = new HomeRegistration({ ...toHomeRegistrationConfig(opts.config), ...(opts.randomSeq ? { randomSeq: opts.randomSeq } : {}) });

    opts.device.onBatch((packets) => {
      for (const p of packets) this.fromDevice(p);
      this.flushToHa();
    });
    opts.mipIo?.onBatch((packets) => {
      for (const p of packets) this.fromWire(p);
      this.flushToDevice();
    });
    opts.plainIpv6?.onBatch((packets) => {
      for (const p of packets) this.fromWire(p);
      this.flushToDevice();
    });
  }

  /** Starts home registration (a BU goes out if there is a CoA). */
  start(): void {
    this.run(this.registration.handle({ kind: 'start' }, this.opts.now()));
  }

  /** Movement: a new CoA (IPv6 or IPv4 text, or a CareOfAddress), null when every CoA is lost, 'home' on the home link. */
  moveTo(target: MoveTarget): void {
    const now = this.opts.now();
    if (target === 'home') {
      this.atHome = true;
      this.run(this.registration.handle({ kind: 'coa-changed', coa: null, home: true }, now));
      return;
    }
    this.atHome = false;
    const coa: CareOfAddress | null =
      target === null ? null : typeof target === 'string' ? { family: IPV4_RE.test(target) ? 4 : 6, address: target } : target;
    if (coa?.family === 4) this.bindFor(coa.address);
    this.run(this.registration.handle({ kind: 'coa-changed', coa }, now));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.opts.device.onBatch(null);
    this.opts.mipIo?.onBatch(null);
    this.opts.plainIpv6?.onBatch(null);
    for (const b of this.binds.values()) b.close();
    this.binds.clear();
    this.timer?.cancel();
    this.timer = null;
  }

  private drop(reason: string): void {
    this.counters.drops[reason] = (this.counters.drops[reason] ?? 0) + 1;
  }

  private bindFor(coa4: string): Bind | undefined {
    let b = this.binds.get(coa4);
    if (b || !this.opts.openBind) return b;
    try {
      b = this.opts.openBind(coa4);
    } catch {
      this.drop('bind-open');
      return undefined;
    }
    b.onBatch((datagrams) => {
      for (const d of datagrams) this.fromWire(d.data);
      this.flushToDevice();
    });
    this.binds.set(coa4, b);
    return b;
  }

  /** Closes the Binds of IPv4 CoAs that are neither registered nor being registered. */
  private pruneBinds(): void {
    for (const [addr, b] of this.binds) {
      if (this.registeredCoa?.address === addr || this.registeringCoa?.address === addr) continue;
      if (this.registration.bul.coa?.address === addr) continue;
      b.close();
      this.binds.delete(addr);
    }
  }

  // ---- the state machine's actions ------------------------------------------------------------

  private run(actions: RegistrationAction[]): void {
    for (const a of actions) {
      switch (a.kind) {
        case 'send-bu':
          this.registeringCoa = a.coa;
          this.sendBu(a.bu);
          break;
        case 'arm-timer':
          this.timer?.cancel();
          this.timer = this.closed ? null : this.opts.scheduler.schedule(a.at, () => this.onTimer());
          break;
        case 'registered':
          this.registeredCoa = a.coa;
          this.registeringCoa = null;
          this.nat = a.nat;
          if (a.ipv4Hoa !== undefined) this.grantIpv4Hoa(a.ipv4Hoa);
          this.pruneBinds();
          break;
        case 'deregistered':
        case 'expired':
          this.registeredCoa = null;
          this.registeringCoa = null;
          this.pruneBinds();
          break;
        case 'failed':
          this.counters.failed[a.status] = (this.counters.failed[a.status] ?? 0) + 1;
          break;
      }
      if (a.kind !== 'send-bu' && a.kind !== 'arm-timer') this.opts.onRegistration?.(a);
    }
  }

  private onTimer(): void {
    this.timer = null;
    this.run(this.registration.handle({ kind: 'timer' }, this.opts.now()));
  }

  private grantIpv4Hoa(addr: string): void {
    this.ipv4Hoa = addr;
    if (this.ipv4Policies.has(addr)) return;
    insertPolicies(this.engine, mnIpv4HoaPolicies(this.cfg, addr));
    this.ipv4Policies.add(addr);
  }

  private sendBu(bu: BindingUpdate): void {
    let packet: Uint8Array;
    try {
      const pseudo = { src: this.hoa, dst: this.cfg.haAddress };
      packet = encodeIpv6({ header: pseudo, upperProtocol: IpProto.MH, upper: encodeMobilityHeader(bu, pseudo) });
    } catch {
      return this.drop('bu-encode');
    }
    if (this.emit(packet)) this.counters.buSent++;
  }

  // ---- outbound: ipsec -> CoA chosen by SPI -> tunnel toCareOf -> edge -------------------------

  private fromDevice(packet: Uint8Array): void {
    try {
      // Queued: counted in toHa (or as 'edge-send') by flushToHa when the edge has taken it.
      this.emit(packet, true);
    } catch {
      this.drop('internal-error');
    }
  }

  /** Hands the queued packets to each edge in one call; an edge that takes k of n counts n-k 'edge-send' drops. */
  private flushToHa(): void {
    // Swapped out before sending: a send that re-enters a batch handler (fake edges) queues afresh.
    if (this.toMipIo.length > 0) {
      const out = this.toMipIo;
      this.toMipIo = [];
      this.sent(out.length, () => this.opts.mipIo!.send(out));
    }
    if (this.toPlain.length > 0) {
      const out = this.toPlain;
      this.toPlain = [];
      this.sent(out.length, () => this.opts.plainIpv6!.write(out));
    }
    if (this.toBinds.size > 0) {
      const binds = this.toBinds;
      this.toBinds = new Map();
      for (const [b, out] of binds) this.sent(out.length, () => b.send(out));
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
    this.counters.toHa += k;
    if (k < n) this.counters.drops['edge-send'] = (this.counters.drops['edge-send'] ?? 0) + (n - k);
  }

  /**
   * Protects `packet` and sends it from the CoA its SPI calls for (Req #3). True when an edge took it,
   * or with `queue` (a Device batch) when it was queued for flushToHa.
   */
  private emit(packet: Uint8Array, queue = false): boolean {
    const spi = this.engine.outboundSpiFor(packet);
    if (spi === undefined) return this.dropFalse('not-protected');
    const isBu = this.buSpis.has(spi);
    const coa = isBu ? this.registeringCoa : this.registeredCoa ?? (this.atHome ? { family: 6 as const, address: this.hoa } : null);
    if (coa === null) return this.dropFalse(isBu ? 'no-coa' : 'not-registered');
    if (!isBu) this.clampSyn(packet, spi, coa.family);
    const r = this.engine.outbound(packet);
    if (!r.ok) return this.dropFalse(`ipsec-out:${r.reason}`);
    if (coa.family === 6 && canonicalIp(coa.address) === this.hoa) {
      // At home: the packet leaves from the HoA itself, no HAO (RFC 6275 §11.5.4).
      if (!this.opts.plainIpv6) return this.dropFalse('no-plain-ipv6-edge');
      if (queue) return this.toPlain.push(r.packet) > 0;
      return this.opts.plainIpv6.write([r.packet]) === 1 || this.dropFalse('edge-send');
    }
    const t = toCareOf(r.packet, coa.address);
    if (!t.ok) return this.dropFalse(`tunnel:${t.reason}`);
    if (t.via === 'ipv6') {
      if (!this.opts.mipIo) return this.dropFalse('no-ipv6-edge');
      if (queue) return this.toMipIo.push(t.packet) > 0;
      return this.opts.mipIo.send([t.packet]) === 1 || this.dropFalse('edge-send');
    }
    const ha4 = this.cfg.haIpv4Address;
    if (ha4 === undefined) return this.dropFalse('no-ha-ipv4-address');
    const b = this.bindFor(coa.address);
    if (!b) return this.dropFalse('no-udp-edge');
    const d: OutgoingDatagram = { data: t.payload, dstAddr: ha4, dstPort: t.dstPort };
    if (queue) {
      const q = this.toBinds.get(b);
      if (q) q.push(d);
      else this.toBinds.set(b, [d]);
      return true;
    }
    return b.send([d]) === 1 || this.dropFalse('edge-send');
  }

  /**
   * Lowers a TCP SYN's MSS so that full-size segments fit the tunnel to the HA once sealed with the
   * SA `spi` (its IV, ICV and padding) and sent from a CoA of `family` (UDP 4191 adds 28 octets).
   * Anything but a SYN costs a few byte reads; a SYN one SA lookup.
   */
  private clampSyn(packet: Uint8Array, spi: number, family: 4 | 6): void {
    const mtu = this.opts.tunnelPathMtu ?? 1500;
    if (mtu <= 0 || tcpSynOffset(packet) < 0) return;
    const sa = this.engine.getSA(spi);
    const info = sa ? ALGORITHMS[sa.algorithm] : undefined;
    if (info && clampTcpMss(packet, innerMtu(mtu, family, info)) > 0) this.counters.mssClamped = (this.counters.mssClamped ?? 0) + 1;
  }

  private dropFalse(reason: string): false {
    this.drop(reason);
    return false;
  }

  // ---- inbound: edge -> tunnel fromMobile -> ipsec -> BA to the state machine, data to the Device -

  private fromWire(packet: Uint8Array): void {
    try {
      const fm = fromMobile(packet, this.ownHoas);
      if (!fm.ok) return this.drop(`tunnel:${fm.reason}`);
      const r = this.engine.inbound(fm.packet);
      if (!r.ok) return this.drop(`ipsec-in:${r.reason}`);
      if (r.spi === undefined) return this.drop('not-protected');
      if (r.spi !== this.batchSpi) {
        const sa = this.engine.getSA(r.spi);
        this.batchSpi = sa ? r.spi : -1;
        this.batchSpiTransport = sa?.mode === 'transport';
      }
      if (this.batchSpiTransport) return this.onSignalling(r.packet);
      // A SYN from the correspondent: our own TCP then sends segments that fit the tunnel too.
      if (this.registeredCoa) this.clampSyn(r.packet, r.spi, this.registeredCoa.family);
      // Written by flushToDevice at the end of this wire batch.
      this.toDevice.push(r.packet);
    } catch {
      this.drop('internal-error');
    }
  }

  /** Writes a wire batch's data to the Device in one call; k of n written counts n-k 'device-write' drops. */
  private flushToDevice(): void {
    this.batchSpi = -1;
    if (this.toDevice.length === 0) return;
    const out = this.toDevice;
    this.toDevice = [];
    let k: number;
    try {
      k = this.opts.device.write(out);
    } catch {
      this.counters.drops['internal-error'] = (this.counters.drops['internal-error'] ?? 0) + out.length;
      return;
    }
    k = Number.isInteger(k) ? Math.min(Math.max(k, 0), out.length) : 0;
    this.counters.fromHa += k;
    if (k < out.length) this.counters.drops['device-write'] = (this.counters.drops['device-write'] ?? 0) + (out.length - k);
  }

  private onSignalling(plain: Uint8Array): void {
    let ba;
    try {
      const p = decodeIpv6(plain);
      if (p.upperProtocol !== IpProto.MH) return this.drop('ba-not-mh');
      const m = decodeMobilityHeader(p.upper, { src: p.header.src, dst: p.header.dst }).message;
      if (m.kind !== 'BA') return this.drop('mh-not-ba');
      ba = m;
    } catch {
      return this.drop('ba-malformed');
    }
    this.counters.baReceived++;
    const now = this.opts.now();
    const b = this.registration.bul;
    if (this.opts.onBindingAck && b.outstandingSeq === ba.sequence && b.outstandingSentAt !== null) {
      this.opts.onBindingAck({ sequence: ba.sequence, status: ba.status, rttMs: now - b.outstandingSentAt });
    }
    this.run(this.registration.handle({ kind: 'ba', ba }, now));
  }
}
