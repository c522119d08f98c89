// Binding Update List entry of the mobile node's home registration (RFC 6275 §11.1, RFC 5555 §4):
// plain data describing what the MN last told its home agent and what the HA answered. Pure data
// and tiny helpers: it must never do I/O, read a clock (Date.now) or arm timers; times in it are
// the `now` values (ms) the caller passed to the state machine in mn/registration.ts.

/** A care-of address as the MN sees it: an IPv6 address, or an IPv4 address on an IPv4-only network. */
export interface CareOfAddress {
  family: 6 | 4;
  address: string;
}

/**
 * idle: no CoA (not started, or all CoAs lost) and not at home; registering: a BU is outstanding
 * (first registration, re-registration after movement, refresh or keepalive); registered: the last
 * BU was accepted and nothing is outstanding; deregistering: a Lifetime-0 BU from home is
 * outstanding; at-home: on the home link with no binding at the HA.
 */
export type BulState = 'idle' | 'registering' | 'registered' | 'deregistering' | 'at-home';

export interface NatState {
  /** The HA's NAT Detection option (31) carried a refresh time other than 0xFFFFFFFF. */
  natDetected: boolean;
  /** Seconds between keepalive BUs (the option's Refresh time), when a NAT was detected. */
  refreshTimeSeconds?: number;
  /** The option's F flag: the HA wants UDP encapsulation even with no NAT. */
  forceUdp: boolean;
}

export interface Ipv4HoaState {
  /** What option 29 asks for: 'dynamic' sends 0.0.0.0, otherwise the configured dotted quad. */
  requested: 'dynamic' | string;
  /** From a BA's option 30 with status 0. */
  assigned?: string;
  prefixLength?: number;
  /** Status of the last option 30 seen (0 success, >= 128 failure). */
  lastStatus?: number;
}

export interface BulEntry {
  hoa: string;
  ha: string;
  state: BulState;
  /** The CoA the MN currently has (null: none, or at home). */
  coa: CareOfAddress | null;
  /** The CoA carried by the outstanding BU (or by the last accepted one when nothing is outstanding). */
  registeringCoa: CareOfAddress | null;
  /** Sequence number of the last BU sent (null before the first). */
  lastSentSeq: number | null;
  /** Sequence number of the BU waiting for its BA; null when nothing is outstanding. */
  outstandingSeq: number | null;
  /** When the outstanding BU (with that sequence) was sent; the granted lifetime counts from there (RFC 6275 §11.7.3). */
  outstandingSentAt: number | null;
  /** Lifetime requested in the outstanding BU, in 4-s units (0 for deregistration). */
  outstandingLifetime: number;
  /** Seconds granted by the last accepted BA. */
  lifetimeGrantedSeconds: number;
  /** When the binding at the HA runs out (ms); null when the MN believes it has none. */
  expiresAt: number | null;
  /** When the next refresh / keepalive BU is due (ms); null when none is scheduled. */
  refreshAt: number | null;
  /** When the outstanding BU is retransmitted, or a failed registration retried (ms). */
  retransmitAt: number | null;
  /** Retransmissions of the current registration attempt (0 for its first BU). */
  retransmissions: number;
  /** The current BA timeout (ms), doubled per retransmission up to MAX_BINDACK_TIMEOUT. */
  timeoutMs: number;
  nat: NatState;
  ipv4Hoa?: Ipv4HoaState;
}

export function createBulEntry(hoa: string, ha: string, ipv4Hoa?: 'dynamic' | string): BulEntry {
  return {
    hoa,
    ha,
    state: 'idle',
    coa: null,
    registeringCoa: null,
    lastSentSeq: null,
    outstandingSeq: null,
    outstandingSentAt: null,
    outstandingLifetime: 0,
    lifetimeGrantedSeconds: 0,
    expiresAt: null,
    refreshAt: null,
    retransmitAt: null,
    retransmissions: 0,
    timeoutMs: 0,
    nat: { natDetected: false, forceUdp: false },
    ipv4Hoa: ipv4Hoa === undefined ? undefined : { requested: ipv4Hoa },
  };
}

export function sameCoa(a: CareOfAddress | null, b: CareOfAddress | null): boolean {
  if (a === null || b === null) return a === b;
  return a.family === b.family && a.address === b.address;
}
