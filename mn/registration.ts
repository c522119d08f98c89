// Sans-I/O home-registration state machine of the mobile node (RFC 6275 §11.7.1, §11.8, §11.5.5;
// RFC 5555 §4.1-4.4): `handle(event, now)` returns the actions to take (send this BU, arm a timer,
// report the binding). It must never open a socket, arm a timer of its own, read a clock
// (Date.now) or encode bytes: the edge sends, times and encodes. Every time is the `now` (ms) given.
import { randomInt } from 'node:crypto';
import { BaStatus, Dsmip } from '../common/iana.js';
import { lifetimeToSeconds, secondsToLifetime, type BindingAck, type BindingUpdate } from '../common/mh.js';
import { buFlags } from '../common/mhflags.js';
import type { MobilityOption } from '../common/mhopts.js';
import { createBulEntry, sameCoa, type BulEntry, type CareOfAddress } from './bul.js';

/** RFC 6275 §13 INITIAL_BINDACK_TIMEOUT (re-registration), ms. */
export const INITIAL_BINDACK_TIMEOUT_MS = 1000;
/** InitialBindackTimeoutFirstReg (RFC 6275 §13): longer, so the HA has time for DAD. */
export const INITIAL_BINDACK_TIMEOUT_FIRST_REG_MS = 1500;
/** RFC 6275 §13 MAX_BINDACK_TIMEOUT, ms: the backoff stops doubling here and goes on forever. */
export const MAX_BINDACK_TIMEOUT_MS = 32000;
/** Refresh at this fraction of the granted lifetime, so a refresh has time to be retransmitted. */
export const REFRESH_FRACTION = 0.8;

export interface HomeRegistrationConfig {
  hoa: string;
  ha: string;
  /** Requested binding lifetime, seconds (sent in 4-s units, rounded down). */
  lifetimeSeconds: number;
  /** Set F in every BU (RFC 5555: UDP encapsulation even with no NAT). */
  forceUdp?: boolean;
  /** Option 29: 'dynamic' asks for an address (0.0.0.0/32); a dotted quad asks for that one; absent: no IPv4 HoA. */
  ipv4Hoa?: 'dynamic' | string;
  /** Random initial sequence number source, integer 0..65535 (injected so tests are deterministic). */
  randomSeq?: () => number;
  firstRegTimeoutMs?: number;
  initialTimeoutMs?: number;
  maxTimeoutMs?: number;
}

export type RegistrationEvent =
  | { kind: 'start' }
  /** coa null: every CoA lost. home: back on the home link (coa is then ignored). */
  | { kind: 'coa-changed'; coa: CareOfAddress | null; home?: boolean }
  /** A BA that ESP authenticated; `options` defaults to ba.options. */
  | { kind: 'ba'; ba: BindingAck; options?: MobilityOption[] }
  | { kind: 'timer' };

export interface NatInfo {
  natDetected: boolean;
  refreshTimeSeconds?: number;
  forceUdp: boolean;
}

export type RegistrationAction =
  /** Send `bu` to the HA from `coa` (the HoA for a deregistration): 'udp4' = UDP 4191 over IPv4. */
  | { kind: 'send-bu'; bu: BindingUpdate; coa: CareOfAddress; transport: 'ipv6' | 'udp4' }
  | { kind: 'arm-timer'; at: number }
  | { kind: 'registered'; coa: CareOfAddress; lifetime: number; ipv4Hoa?: string; nat?: NatInfo }
  | { kind: 'deregistered' }
  /** The binding at the HA ran out with no accepted refresh: stop using the tunnel. */
  | { kind: 'expired' }
  | { kind: 'failed'; status: number };

/**
 * BU sequence numbers handed out in blocks (a restarted MN must continue past every number it
 * sent): reserve(upTo) runs before the first BU of each block is returned, so the edge can record
 * `upTo` durably before that BU leaves. It should not throw (a failure only risks a 135 BA after a
 * restart, which the MN already recovers from); if it does, the exception propagates from handle().
 */
export interface BuSeqReservation {
  /** Numbers per block, 1..32767 (the HA takes a BU as newer only within half the 16-bit space). */
  block: number;
  reserve(upTo: number): void;
  /**
   * Optional, to keep the write off a handover's path: records `upTo` after the BU being returned
   * has left, and before handle() runs again (mn/daemon.ts: a microtask after the send). With it the
   * next block is asked for halfway through the current one (block below 16384, so the mark stays
   * within half the 16-bit space of the last BU sent), and only the first BU and a 135 BA's jump
   * wait for reserve().
   */
  reserveAfterSend?(upTo: number): void;
}

export class HomeRegistration {
  readonly bul: BulEntry;
  /** Set by the edge before start() (mn/daemon.ts with a state file); absent: no reservation. */
  seqReservation: BuSeqReservation | undefined;
  private seqBudget = 0;
  private lastIssued: number | null = null;
  /** The highest number asked for (reserve or reserveAfterSend). */
  private seqMark = 0;
  private readonly cfg: Required<Omit<HomeRegistrationConfig, 'ipv4Hoa'>> & { ipv4Hoa?: string };
  private started = false;
  private armed: number | null = null;

  constructor(config: HomeRegistrationConfig) {
    this.cfg = {
      forceUdp: false,
      randomSeq: () => randomInt(0, 0x10000),
      firstRegTimeoutMs: INITIAL_BINDACK_TIMEOUT_FIRST_REG_MS,
      initialTimeoutMs: INITIAL_BINDACK_TIMEOUT_MS,
      maxTimeoutMs: MAX_BINDACK_TIMEOUT_MS,
      ...config,
    };
    this.bul = createBulEntry(config.hoa, config.ha, config.ipv4Hoa);
  }

  /** The earliest pending deadline (ms), or null when nothing is due. */
  nextTimer(): number | null {
    const b = this.bul;
    let t: number | null = null;
    for (const d of [b.retransmitAt, b.refreshAt, b.expiresAt]) if (d !== null && (t === null || d < t)) t = d;
    return t;
  }

  handle(event: RegistrationEvent, now: number): RegistrationAction[] {
    const out: RegistrationAction[] = [];
    switch (event.kind) {
      case 'start':
        this.onStart(now, out);
        break;
      case 'coa-changed':
        this.onCoaChanged(event.coa, event.home === true, now, out);
        break;
      case 'ba':
        this.onBa(event.ba, event.options ?? event.ba.options, now, out);
        break;
      case 'timer':
        this.armed = null; // the edge's timer is spent: whatever is next must be armed again
        this.onTimer(now, out);
        break;
    }
    // Re-arm only when the earliest deadline moved, so the edge keeps a single timer.
    const next = this.nextTimer();
    if (next !== null && next !== this.armed) out.push({ kind: 'arm-timer', at: next });
    this.armed = next;
    return out;
  }

  private onStart(now: number, out: RegistrationAction[]): void {
    if (this.started) return;
    this.started = true;
    const b = this.bul;
    if (b.state === 'at-home') return;
    if (b.coa !== null) this.beginRegistration(now, out);
  }

  private onCoaChanged(coa: CareOfAddress | null, home: boolean, now: number, out: RegistrationAction[]): void {
    const b = this.bul;
    if (home) {
      b.coa = null;
      if (b.state === 'at-home' || b.state === 'deregistering') return;
      b.refreshAt = null;
      // Only if the HA may hold a binding (we sent a BU for one) is there something to delete.
      if (this.started && (b.expiresAt !== null || b.outstandingSeq !== null || b.state === 'registering')) {
        b.state = 'deregistering';
        this.sendNew(now, this.cfg.initialTimeoutMs, out);
      } else {
        this.enterHome();
      }
      return;
    }
    if (coa === null) {
      // At home the MN has no CoA by definition; nothing to cancel there.
      if (b.state === 'at-home' || b.state === 'deregistering') return;
      // No address to send from: stop retransmitting and wait. A binding still counts down.
      b.coa = null;
      b.retransmitAt = null;
      b.refreshAt = null;
      b.outstandingSeq = null;
      b.state = 'idle';
      return;
    }
    if (sameCoa(coa, b.coa) && b.state !== 'at-home') return;
    b.coa = { family: coa.family, address: coa.address };
    if (!this.started) return;
    this.beginRegistration(now, out);
  }

  /** A BU for the current CoA with a fresh backoff: 1.5 s when the HA holds no binding of ours, else 1 s. */
  private beginRegistration(now: number, out: RegistrationAction[]): void {
    const b = this.bul;
    const first = b.expiresAt === null && b.state !== 'registering' && b.state !== 'registered';
    b.state = 'registering';
    b.refreshAt = null;
    this.sendNew(now, first ? this.cfg.firstRegTimeoutMs : this.cfg.initialTimeoutMs, out);
  }

  private onTimer(now: number, out: RegistrationAction[]): void {
    const b = this.bul;
    if (b.expiresAt !== null && now >= b.expiresAt) {
      b.expiresAt = null;
      b.lifetimeGrantedSeconds = 0;
      if (b.state === 'registered') b.state = 'registering';
      if (b.state !== 'deregistering') out.push({ kind: 'expired' });
      else this.enterHome(); // the binding we were deleting is gone anyway
      if (b.state === 'at-home') {
        out.push({ kind: 'deregistered' });
        return;
      }
    }
    if (b.retransmitAt !== null && now >= b.retransmitAt) {
      if (b.outstandingSeq === null) {
        // Retry after a failure status: start again at the ceiling.
        this.sendNew(now, this.cfg.maxTimeoutMs, out);
      } else {
        // RFC 6275 §11.8: double up to MAX_BINDACK_TIMEOUT; each retransmission takes a new sequence number.
        b.retransmissions++;
        this.send(now, Math.min(b.timeoutMs * 2, this.cfg.maxTimeoutMs), out);
      }
    }
    if (b.refreshAt !== null && now >= b.refreshAt && b.outstandingSeq === null && b.coa !== null) {
      b.state = 'registering';
      b.refreshAt = null;
      this.sendNew(now, this.cfg.initialTimeoutMs, out);
    }
  }

  private onBa(ba: BindingAck, options: MobilityOption[], now: number, out: RegistrationAction[]): void {
    const b = this.bul;
    const seq = b.outstandingSeq;
    if (seq === null) return;
    if (ba.status === BaStatus.SEQUENCE_OUT_OF_WINDOW) {
      // RFC 6275 §11.7.1: the BA carries the last sequence the HA accepted, not ours; go past it
      // and resend at once, keeping the current timeout (this is not a lost BU).
      b.lastSentSeq = ba.sequence;
      this.send(now, b.timeoutMs, out);
      return;
    }
    if (ba.sequence !== seq) return; // an answer to an older BU: ignore (RFC 6275 §11.7.3)
    const sentAt = b.outstandingSentAt ?? now;
    b.outstandingSeq = null;
    b.outstandingSentAt = null;
    b.retransmitAt = null;
    if (ba.status >= 128) {
      out.push({ kind: 'failed', status: ba.status });
      // Back off: the HA said no, so asking again soon would only be refused again.
      b.timeoutMs = this.cfg.maxTimeoutMs;
      b.retransmitAt = now + this.cfg.maxTimeoutMs;
      return;
    }
    if (b.state === 'deregistering') {
      this.enterHome();
      out.push({ kind: 'deregistered' });
      return;
    }
    const coa = b.registeringCoa!;
    const granted = lifetimeToSeconds(ba.lifetime);
    b.state = 'registered';
    b.lifetimeGrantedSeconds = granted;
    // The lifetime counts from when the accepted BU was sent (RFC 6275 §11.7.3).
    b.expiresAt = sentAt + granted * 1000;
    let refresh = sentAt + Math.floor(granted * 1000 * REFRESH_FRACTION);
    let nat: { natDetected: boolean; refreshTimeSeconds?: number; forceUdp: boolean } | undefined;
    for (const o of options) {
      if (o.kind === 'BindingRefreshAdvice') {
        refresh = Math.min(refresh, now + o.refreshInterval * 4000);
      } else if (o.kind === 'NatDetection') {
        const detected = o.refreshTime !== Dsmip.NO_REFRESH;
        nat = { natDetected: detected, forceUdp: o.f };
        // 0 means "ignore the field": keep the recommended NATKATIMEOUT (RFC 5555 §4.3).
        if (detected) nat.refreshTimeSeconds = o.refreshTime === 0 ? Dsmip.NAT_KEEPALIVE_TIMEOUT : o.refreshTime;
      } else if (o.kind === 'Ipv4AddressAck' && b.ipv4Hoa) {
        b.ipv4Hoa.lastStatus = o.status;
        if (o.status < 128) {
          b.ipv4Hoa.assigned = o.address;
          b.ipv4Hoa.prefixLength = o.prefixLength;
        }
      }
    }
    // No option 31 on an IPv4 CoA BA means no NAT; on IPv6 the question does not arise.
    b.nat = nat ?? { natDetected: false, forceUdp: false };
    if (b.nat.natDetected && b.nat.refreshTimeSeconds !== undefined) {
      // RFC 5555 §4.3: a BU every refresh time keeps the NAT mapping alive.
      refresh = Math.min(refresh, now + b.nat.refreshTimeSeconds * 1000);
    }
    b.refreshAt = granted > 0 ? refresh : null;
    const action: RegistrationAction = { kind: 'registered', coa: { ...coa }, lifetime: granted };
    if (b.ipv4Hoa?.assigned !== undefined) action.ipv4Hoa = b.ipv4Hoa.assigned;
    // Over IPv4 the NAT state is always news (no option 31 = no NAT); over IPv6 only when the HA said something.
    if (nat || coa.family === 4) action.nat = { ...b.nat };
    out.push(action);
  }

  private enterHome(): void {
    const b = this.bul;
    b.state = 'at-home';
    b.outstandingSeq = null;
    b.outstandingSentAt = null;
    b.retransmitAt = null;
    b.refreshAt = null;
    b.expiresAt = null;
    b.lifetimeGrantedSeconds = 0;
    b.registeringCoa = null;
    b.nat = { natDetected: false, forceUdp: false };
    if (b.ipv4Hoa) b.ipv4Hoa = { requested: b.ipv4Hoa.requested }; // released with the binding
  }

  /** A new registration attempt: reset the retransmission count and use `timeoutMs` first. */
  private sendNew(now: number, timeoutMs: number, out: RegistrationAction[]): void {
    this.bul.retransmissions = 0;
    this.send(now, timeoutMs, out);
  }

  /** Sends a BU with the next sequence number and arms its retransmission `timeoutMs` later. */
  private send(now: number, timeoutMs: number, out: RegistrationAction[]): void {
    const b = this.bul;
    const dereg = b.state === 'deregistering';
    const seq = b.lastSentSeq === null ? this.cfg.randomSeq() & 0xffff : (b.lastSentSeq + 1) & 0xffff;
    const res = this.seqReservation;
    if (res) {
      // A 135 BA moves the sequence to the HA's number, off the block: start a new block there.
      if (this.seqBudget === 0 || this.lastIssued === null || seq !== ((this.lastIssued + 1) & 0xffff)) {
        this.seqMark = (seq + res.block - 1) & 0xffff;
        res.reserve(this.seqMark);
        this.seqBudget = res.block;
      }
      this.seqBudget--;
      this.lastIssued = seq;
      if (res.reserveAfterSend && res.block < 0x4000 && this.seqBudget <= res.block >> 1) {
        // The next block now, written after this BU leaves: the BU that starts it will not wait.
        this.seqMark = (this.seqMark + res.block) & 0xffff;
        res.reserveAfterSend(this.seqMark);
        this.seqBudget += res.block;
      }
    }
    const coa: CareOfAddress = dereg ? { family: 6, address: b.hoa } : b.coa!;
    const lifetime = dereg ? 0 : secondsToLifetime(this.cfg.lifetimeSeconds);
    const options: MobilityOption[] = [];
    if (!dereg && b.ipv4Hoa) {
      const addr = b.ipv4Hoa.assigned ?? (b.ipv4Hoa.requested === 'dynamic' ? '0.0.0.0' : b.ipv4Hoa.requested);
      options.push({ kind: 'Ipv4HomeAddress', prefixLength: b.ipv4Hoa.prefixLength ?? 32, p: false, address: addr });
    }
    if (!dereg && coa.family === 4) options.push({ kind: 'Ipv4Coa', address: coa.address });
    // Manual keying: K stays clear (no IKE SA to move); F only when configured.
    const bu: BindingUpdate = {
      kind: 'BU',
      sequence: seq,
      flags: buFlags({ A: true, H: true, F: this.cfg.forceUdp }),
      lifetime,
      options,
    };
    b.lastSentSeq = seq;
    b.outstandingSeq = seq;
    b.outstandingSentAt = now;
    b.outstandingLifetime = lifetime;
    b.registeringCoa = { ...coa };
    b.timeoutMs = timeoutMs;
    b.retransmitAt = now + timeoutMs;
    out.push({ kind: 'send-bu', bu, coa: { ...coa }, transport: coa.family === 4 ? 'udp4' : 'ipv6' });
  }
}
