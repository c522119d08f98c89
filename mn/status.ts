// What `dsmip6 status` shows of a running mobile node: its home registration (binding update list
// entry), NAT state, counters and IPsec SAs as a plain JSON-able object, plus the control-socket
// handler that serves it. Read-only: it must never drive the state machine, read the wall clock
// (the caller passes `now`), or expose key material (SAs go through ipsecStatus, named fields only).
import { ipsecStatus, type ControlHandler, type IpsecStatus } from '../common/control.js';
import type { BulState } from './bul.js';
import type { MobileNode, MobileNodeCounters } from './node.js';

export interface MnStatus {
  role: 'mn';
  hoa: string;
  ha: string;
  /** The IPv4 home address the HA granted (null: none yet, or none asked for). */
  ipv4Hoa: string | null;
  state: BulState;
  atHome: boolean;
  /** The CoA the MN has now (null: none, or at home). */
  coa: string | null;
  /** The CoA the HA holds a binding for, from the last accepted BA. */
  registeredCoa: string | null;
  /** How traffic to the HA leaves: HAO over IPv6, or UDP 4191 over IPv4; null when not registered. */
  transport: 'ipv6' | 'udp' | null;
  nat: { detected: boolean; forceUdp: boolean; refreshS?: number };
  /** Sequence number of the last BU sent (null before the first); outstanding: still awaiting its BA. */
  sequence: number | null;
  outstandingSequence: number | null;
  lifetimeGrantedS: number;
  /** Whole seconds until the binding at the HA runs out at `now` (0 when there is none). */
  lifetimeRemainingS: number;
  /** Whole seconds until the next refresh / keepalive BU, when one is scheduled. */
  refreshInS?: number;
  counters: MobileNodeCounters;
  ipsec: IpsecStatus;
}

const seconds = (at: number, now: number) => Math.max(0, Math.floor((at - now) / 1000));

export function mnStatus(node: MobileNode, now: number): MnStatus {
  const b = node.registration.bul;
  const reg = node.registeredCoa;
  const nat: MnStatus['nat'] = { detected: b.nat.natDetected, forceUdp: b.nat.forceUdp };
  if (b.nat.refreshTimeSeconds !== undefined) nat.refreshS = b.nat.refreshTimeSeconds;
  const c = node.counters;
  const out: MnStatus = {
    role: 'mn',
    hoa: b.hoa,
    ha: b.ha,
    ipv4Hoa: node.ipv4Hoa ?? null,
    state: b.state,
    atHome: node.atHome,
    coa: b.coa?.address ?? null,
    registeredCoa: reg?.address ?? null,
    transport: reg === null ? null : reg.family === 4 ? 'udp' : 'ipv6',
    nat,
    sequence: b.lastSentSeq,
    outstandingSequence: b.outstandingSeq,
    lifetimeGrantedS: b.lifetimeGrantedSeconds,
    lifetimeRemainingS: b.expiresAt === null ? 0 : seconds(b.expiresAt, now),
    // Copies: the response is serialised later and must not alias live state.
    counters: { ...c, failed: { ...c.failed }, drops: { ...c.drops } },
    ipsec: ipsecStatus(node.engine),
  };
  if (b.refreshAt !== null) out.refreshInS = seconds(b.refreshAt, now);
  return out;
}

/** The control-socket handler of the MN daemon: {"cmd":"status"} -> mnStatus. */
export function mnControlHandler(node: MobileNode, now: () => number): ControlHandler {
  return (req) => {
    if (req.cmd === 'status') return mnStatus(node, now());
    throw new Error(`unknown command '${req.cmd}' (known: status)`);
  };
}
