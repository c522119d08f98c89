// The IPsec engine: a bump-in-the-stack RFC 4301 IPsec over packets held as bytes.
// Control plane: the RFC 4301 SAD/SPD operations (add/remove/list SAs and policies,
// look an SA up by SPI, ask which SPI an outbound packet would use). Data plane:
// outbound() and inbound() take one IP packet and return the packet to pass on or
// a drop reason. The data plane never throws, never logs, and counts every drop by
// reason. Time comes only from the injected clock; randomness for CBC IVs only from
// the injected fill function.

import type { TransformFactory } from './algorithms.js';
import { defaultRandomFill, IvPool, RandomFill } from './ivpool.js';
import { readU32, writeU32 } from './bytes.js';
import { Counters, DROP_REASONS, DropReason, newCounters, snapshot } from './counters.js';
import { checkTrailer, ctLength, ctLengthOf, writeTrailer } from './esp.js';
import { setIpLength, trafficClass, writeOuterHeader } from './ipheader.js';
import { Slab } from './slab.js';
import { BECAME_DEAD, BECAME_DYING } from './lifetime.js';
import { PacketInfo, parsePacket, Proto } from './packet.js';
import { inferSeqHi, ReplayVerdict } from './replay.js';
import { Sa, Sad, SaInfo, SaSpec } from './sad.js';
import { Selector } from './selector.js';
import { ACTION_BYPASS, ACTION_DISCARD, Policy, PolicyInfo, PolicySpec, Spd } from './spd.js';

export interface IpsecOptions {
  /** Milliseconds, monotonic enough for lifetimes. Default Date.now. */
  clock?: () => number;
  /**
   * Fills a buffer with random octets; feeds the pool CBC IVs are drawn from.
   * Default crypto.randomFillSync. Replace only to reproduce known-answer vectors.
   */
  randomFill?: RandomFill;
  /**
   * Supplies the ESP transforms for the algorithms it supports (e.g. a native
   * implementation); the others, or all when absent, use node:crypto. Same wire
   * format and drop behaviour either way.
   */
  transforms?: TransformFactory;
}

/** The outcome of outbound()/inbound(): the packet to pass on (and the SPI that protected it), or why it was dropped. */
export type IpsecResult =
  | { readonly ok: true; readonly packet: Uint8Array; readonly spi?: number }
  | { readonly ok: false; readonly reason: DropReason };

export type IpsecEvent = 'soft-expire' | 'hard-expire';
export type SaListener = (sa: SaInfo) => void;

/** One frozen result per reason, so dropping allocates nothing. */
const DROPS: Readonly<Record<DropReason, IpsecResult>> = Object.freeze(
  Object.fromEntries(DROP_REASONS.map((r) => [r, Object.freeze({ ok: false as const, reason: r })])) as Record<DropReason, IpsecResult>,
);

export class IpsecEngine {
  private readonly clock: () => number;
  private readonly ivs: IvPool;
  private readonly transforms: TransformFactory | undefined;
  private readonly sad = new Sad();
  private readonly spd = new Spd();
  private readonly c: Counters = newCounters();
  private readonly slab = new Slab();
  /** Scratch for the packet being processed and for the packet it becomes. */
  private readonly info = new PacketInfo();
  private readonly info2 = new PacketInfo();
  private readonly listeners: Record<IpsecEvent, SaListener[]> = { 'soft-expire': [], 'hard-expire': [] };
  private serial = 0;
  private ipId = 0;
  /** Payload octets of the packet just encapsulated (for byte lifetimes). */
  private lastPayload = 0;

  constructor(options: IpsecOptions = {}) {
    this.clock = options.clock ?? Date.now;
    this.ivs = new IvPool(options.randomFill ?? defaultRandomFill);
    this.transforms = options.transforms;
  }

  // ---- control plane -------------------------------------------------------

  /** Adds an SA (InvalidSaError / InvalidSelectorError / DuplicateSpiError on a bad description). */
  addSA(spec: SaSpec): SaInfo {
    const sa = Sa.create(spec, this.clock(), this.ivs, this.serial++, this.transforms);
    this.sad.add(sa);
    return sa.info();
  }

  /** Removes the SA with this SPI (UnknownSpiError if none), whatever its state. */
  removeSA(spi: number): void {
    this.sad.remove(spi);
  }

  /** The SA with this SPI, or undefined. */
  getSA(spi: number): SaInfo | undefined {
    return this.sad.get(spi)?.info();
  }

  /** Grows on every SPD change: a caller that derives something from listPolicies() knows when to derive it again. */
  get policyGeneration(): number {
    return this.spd.generation;
  }

  /** Whether the SAD holds `spi` (no snapshot: cheap enough to ask per packet). */
  hasSA(spi: number): boolean {
    return this.sad.get(spi) !== undefined;
  }

  listSAs(): SaInfo[] {
    return [...this.sad.all()].map((sa) => sa.info());
  }

  /** Inserts a policy at `position` (0 = consulted first; default last). Returns its id. */
  addPolicy(spec: PolicySpec, position?: number): string {
    return this.spd.add(spec, position);
  }

  /** Removes a policy (UnknownPolicyError if none). */
  removePolicy(id: string): void {
    this.spd.remove(id);
  }

  listPolicies(): PolicyInfo[] {
    return this.spd.list();
  }

  /**
   * The SPI of the SA that outbound() would protect this packet with, or undefined
   * when it would be bypassed, discarded or dropped. Changes nothing (no sequence
   * number is used, no lifetime advanced, nothing counted).
   */
  outboundSpiFor(packet: Uint8Array): number | undefined {
    try {
      if (!(packet instanceof Uint8Array) || !parsePacket(packet, this.info)) return undefined;
      const pol = this.spd.lookup(packet, this.info, false);
      if (!pol || pol.action === ACTION_BYPASS || pol.action === ACTION_DISCARD) return undefined;
      const sa = this.resolve(pol);
      if (typeof sa === 'string' || sa.lifetime.peek(this.clock()) === 'dead') return undefined;
      return sa.spi;
    } catch {
      return undefined;
    }
  }

  /** A snapshot of the data-plane counters. */
  counters(): Counters {
    return snapshot(this.c);
  }

  /**
   * Applies time lifetimes for the clock's current value (raising events), and returns
   * the clock value at which the next one is due, or undefined if none is pending. The
   * owner arms its own timer for that; packets also apply lifetimes as they pass.
   */
  tick(): number | undefined {
    const now = this.clock();
    let next = Infinity;
    for (const sa of this.sad.all()) {
      if (sa.lifetime.deadline <= now) this.advance(sa);
      if (sa.lifetime.deadline < next) next = sa.lifetime.deadline;
    }
    return next === Infinity ? undefined : next;
  }

  /** 'soft-expire': an SA reached a soft limit (rekey now). 'hard-expire': it reached a hard limit and drops everything until removed. */
  on(event: IpsecEvent, listener: SaListener): this {
    this.listeners[event].push(listener);
    return this;
  }

  off(event: IpsecEvent, listener: SaListener): this {
    const list = this.listeners[event];
    const i = list.indexOf(listener);
    if (i >= 0) list.splice(i, 1);
    return this;
  }

  // ---- data plane ----------------------------------------------------------

  /** Applies the SPD to a packet leaving this host: protected (new buffer), bypassed (the same buffer) or dropped. */
  outbound(packet: Uint8Array): IpsecResult {
    try {
      return this.doOutbound(packet);
    } catch {
      return this.drop('internal-error');
    }
  }

  /** Processes a packet arriving at this host: ESP is verified and removed (new buffer); others are checked against the SPD. */
  inbound(packet: Uint8Array): IpsecResult {
    try {
      return this.doInbound(packet);
    } catch {
      return this.drop('internal-error');
    }
  }

  private drop(reason: DropReason): IpsecResult {
    this.c.drops[reason]++;
    return DROPS[reason];
  }

  private doOutbound(p: Uint8Array): IpsecResult {
    const info = this.info;
    if (!(p instanceof Uint8Array) || !parsePacket(p, info)) return this.drop('malformed');
    const pol = this.spd.lookup(p, info, false);
    if (!pol) return this.drop('no-policy');
    if (pol.action === ACTION_BYPASS) {
      this.c.outBypassed++;
      return { ok: true, packet: p };
    }
    if (pol.action === ACTION_DISCARD) return this.drop('discard-policy');
    const sa = this.resolve(pol);
    if (typeof sa === 'string') return this.drop(sa);
    const lt = sa.lifetime;
    if (lt.deadline !== Infinity && this.clock() >= lt.deadline) this.advance(sa);
    if (lt.dead) return this.drop('sa-expired');
    // Never wrap: the counter stops at 2^32-1 (2^64-1 with ESN).
    let hi = sa.seqHi;
    let lo = sa.seqLo;
    if (lo === 0xffffffff) {
      if (!sa.esn || hi === 0xffffffff) return this.drop('seq-exhausted');
      hi++;
      lo = 0;
    } else lo++;
    // The first number of a new block: the owner records the block's end before any of it is used
    // (a throw lands in outbound()'s catch: dropped, nothing sent, the next packet asks again).
    if (sa.seqBudget === 0) this.reserveBlock(sa, hi, lo);
    const out = sa.tunnel ? this.encapTunnel(p, info, sa, hi, lo) : this.encapTransport(p, info, sa, hi, lo);
    if (typeof out === 'string') return this.drop(out);
    sa.seqHi = hi;
    sa.seqLo = lo;
    sa.seqBudget--;
    sa.packets++;
    lt.bytes += this.lastPayload;
    if (lt.bytes >= lt.byteMark) this.advance(sa);
    this.c.outProtected++;
    return { ok: true, packet: out, spi: sa.spi };
  }

  /** Writes ESP header and trailer around payload p[from, to) placed at out[espOff + 8 + ivLen], then seals. */
  private seal(out: Uint8Array, espOff: number, p: Uint8Array, from: number, to: number, nh: number, sa: Sa, hi: number, lo: number, ctLen: number): void {
    writeU32(out, espOff, sa.spi);
    writeU32(out, espOff + 4, lo);
    const ctOff = espOff + 8 + sa.transform.info.ivLen;
    out.set(from === 0 && to === p.length ? p : p.subarray(from, to), ctOff);
    writeTrailer(out, ctOff + (to - from), ctOff + ctLen, nh);
    sa.transform.seal(out, espOff, ctLen, hi, lo);
    this.lastPayload = to - from;
  }

  /** ESP inserted right before the next-layer header (after every extension header that precedes it, which stays outside). */
  private encapTransport(p: Uint8Array, info: PacketInfo, sa: Sa, hi: number, lo: number): Uint8Array | DropReason {
    // A fragment cannot be protected in transport mode (RFC 4301 §7: IPsec applies before fragmentation).
    if (info.fragment) return 'malformed';
    const t = sa.transform.info;
    const espOff = info.ulOff;
    const ctLen = ctLength(t, info.end - espOff);
    const total = espOff + 8 + t.ivLen + ctLen + t.icvLen;
    if (total - (info.version === 6 ? 40 : 0) > 0xffff) return 'too-big';
    const out = this.slab.alloc(total);
    out.set(p.subarray(0, espOff), 0);
    out[info.nhOff] = Proto.ESP;
    setIpLength(out, info.version, total);
    this.seal(out, espOff, p, espOff, info.end, info.proto, sa, hi, lo, ctLen);
    return out;
  }

  /** A new outer header, then ESP carrying the whole packet (next header 4 or 41). */
  private encapTunnel(p: Uint8Array, info: PacketInfo, sa: Sa, hi: number, lo: number): Uint8Array | DropReason {
    const src = sa.outerSrc!;
    const dst = sa.outerDst!;
    const t = sa.transform.info;
    const outerLen = src.length === 4 ? 20 : 40;
    const ctLen = ctLength(t, info.end);
    const total = outerLen + 8 + t.ivLen + ctLen + t.icvLen;
    if (total - (outerLen === 40 ? 40 : 0) > 0xffff) return 'too-big';
    const out = this.slab.alloc(total);
    // DF follows the inner IPv4 header (RFC 4301 §8.1 default: copy).
    const df = info.version === 4 && (p[6] & 0x40) !== 0;
    this.ipId = (this.ipId + 1) & 0xffff;
    writeOuterHeader(out, src, dst, total, trafficClass(p, info.version), df, this.ipId);
    this.seal(out, outerLen, p, 0, info.end, info.version === 4 ? Proto.IPV4 : Proto.IPV6, sa, hi, lo, ctLen);
    return out;
  }

  private doInbound(p: Uint8Array): IpsecResult {
    const info = this.info;
    if (!(p instanceof Uint8Array) || !parsePacket(p, info)) return this.drop('malformed');
    if (info.proto !== Proto.ESP) {
      const pol = this.spd.lookup(p, info, true);
      if (!pol) return this.drop('no-policy');
      if (pol.action === ACTION_BYPASS) {
        this.c.inBypassed++;
        return { ok: true, packet: p };
      }
      return this.drop(pol.action === ACTION_DISCARD ? 'discard-policy' : 'esp-required');
    }
    // ESP in a fragment: reassembly belongs below this layer.
    if (info.fragment) return this.drop('malformed');
    const espOff = info.ulOff;
    if (info.end - espOff < 8) return this.drop('malformed');
    const sa = this.sad.get(readU32(p, espOff));
    if (!sa || !sa.inbound) return this.drop('unknown-spi');
    const lt = sa.lifetime;
    if (lt.deadline !== Infinity && this.clock() >= lt.deadline) this.advance(sa);
    if (lt.dead) return this.drop('sa-expired');
    const ctLen = ctLengthOf(sa.transform.info, info.end - espOff);
    if (ctLen < 0) return this.drop('malformed');
    // Replay pre-check (cheap, before the ICV); ESN infers the high half first.
    const rw = sa.replay!;
    const lo = readU32(p, espOff + 4);
    let hi = 0;
    if (sa.esn) {
      hi = inferSeqHi(lo, rw.topHigh, rw.topLow, rw.size);
      if (hi < 0) return this.drop('outside-window');
    }
    const verdict = rw.check(hi, lo);
    if (verdict === ReplayVerdict.Replay) return this.drop('replay');
    if (verdict === ReplayVerdict.TooOld) return this.drop('outside-window');
    const pt = sa.transform.open(p, espOff, ctLen, hi);
    if (!pt) return this.drop('icv-mismatch');
    // Authenticated: only now may the window move.
    rw.update(hi, lo);
    const payLen = checkTrailer(pt, ctLen);
    if (payLen < 0) return this.drop('bad-padding');
    const nh = pt[ctLen - 1];
    if (nh === Proto.NONE) return this.drop('dummy-packet');
    const info2 = this.info2;
    let out: Uint8Array;
    if (sa.tunnel) {
      if (nh !== Proto.IPV4 && nh !== Proto.IPV6) return this.drop('malformed');
      const inner = pt.subarray(0, payLen);
      if (!parsePacket(inner, info2) || info2.version !== (nh === Proto.IPV4 ? 4 : 6)) return this.drop('malformed');
      // Octets after the inner packet's own length are TFC padding (RFC 4303 §2.7).
      out = info2.end === payLen ? inner : inner.subarray(0, info2.end);
    } else {
      const total = espOff + payLen;
      const b = this.slab.alloc(total);
      b.set(p.subarray(0, espOff), 0);
      b.set(pt.subarray(0, payLen), espOff);
      b[info.nhOff] = nh;
      setIpLength(b, info.version, total);
      if (!parsePacket(b, info2)) return this.drop('malformed');
      out = b;
    }
    // Inbound SPD check: the packet must lie within the SA's traffic selectors.
    const sels = this.inboundSelectors(sa);
    let match = false;
    for (let i = 0; i < sels.length && !match; i++) match = sels[i].matches(out, info2, true);
    if (!match) return this.drop('policy-mismatch');
    sa.packets++;
    lt.bytes += payLen;
    if (lt.bytes >= lt.byteMark) this.advance(sa);
    this.c.inProtected++;
    return { ok: true, packet: out, spi: sa.spi };
  }

  // ---- helpers -------------------------------------------------------------

  /** The outbound SA a PROTECT policy names, or the drop reason. Reads state only. */
  private resolve(pol: Policy): Sa | DropReason {
    if (pol.spi >= 0) {
      const sa = this.sad.get(pol.spi);
      return sa && !sa.inbound ? sa : 'no-sa';
    }
    const list = this.sad.bundle(pol.bundle!);
    if (!list) return 'no-sa';
    // Newest first; a mature SA beats a dying one (after a rekey the new SA takes over).
    let dying: Sa | undefined;
    let sawDead = false;
    // Read the clock only if some candidate has a time limit.
    let now = 0;
    let haveNow = false;
    for (let i = list.length - 1; i >= 0; i--) {
      const sa = list[i];
      if (sa.inbound) continue;
      const lt = sa.lifetime;
      if (!haveNow && lt.deadline !== Infinity) {
        now = this.clock();
        haveNow = true;
      }
      const state = lt.peek(haveNow ? now : -Infinity);
      if (state === 'mature') return sa;
      if (state === 'dying') dying ??= sa;
      else sawDead = true;
    }
    return dying ?? (sawDead ? 'sa-expired' : 'no-sa');
  }

  /** Asks the SA's owner to record the block that starts at (hi, lo), capped at the largest number the SA may send. */
  private reserveBlock(sa: Sa, hi: number, lo: number): void {
    const res = sa.seqReservation!;
    const first = (BigInt(hi) << 32n) | BigInt(lo);
    const max = sa.esn ? 0xffffffffffffffffn : 0xffffffffn;
    let upTo = first + BigInt(res.block) - 1n;
    if (upTo > max) upTo = max;
    res.reserve(sa.spi, upTo);
    sa.seqBudget = Number(upTo - first) + 1;
  }

  /** The SA's own selectors, else those of the inbound PROTECT policies naming it (cached per SPD generation). */
  private inboundSelectors(sa: Sa): readonly Selector[] {
    if (sa.selectors) return sa.selectors;
    if (sa.derivedGen !== this.spd.generation) {
      // Indexed by the SPD: a scan here made each SA's first packet after any SPD change cost O(all policies).
      sa.derived = this.spd.inboundProtecting(sa.spi, sa.bundle);
      sa.derivedGen = this.spd.generation;
    }
    return sa.derived;
  }

  /** Applies the SA's lifetime at the current clock and raises the events for the transitions made. */
  private advance(sa: Sa): void {
    const bits = sa.lifetime.advance(this.clock());
    if (bits & BECAME_DYING) this.emit('soft-expire', sa);
    if (bits & BECAME_DEAD) this.emit('hard-expire', sa);
  }

  private emit(event: IpsecEvent, sa: Sa): void {
    const list = this.listeners[event];
    if (list.length === 0) return;
    const info = sa.info();
    for (const fn of [...list]) {
      try {
        fn(info);
      } catch {
        // A listener's failure must not turn into a data-plane exception.
        this.c.listenerErrors++;
      }
    }
  }
}
