// What `dsmip6 status` shows of a running home agent: its bindings, counters and IPsec SAs as a
// plain JSON-able object, plus the control-socket handler that serves it. Read-only: it must never
// change a binding or the engine, read the wall clock (the caller passes `now`), or expose key
// material (SAs go through ipsecStatus, which copies named non-secret fields only).
import { ipsecStatus, type ControlHandler, type IpsecStatus } from '../common/control.js';
import type { HomeAgent, HomeAgentCounters } from './agent.js';
import type { BindingEntry } from './bcache.js';

const IPV4_RE = /^\d{1,3}(\.\d{1,3}){3}$/;

export interface HaBindingStatus {
  hoa: string;
  coa: string;
  coaFamily: 4 | 6;
  /** How the HA reaches the MN: HAO / RH2 over IPv6, or UDP 4191 over IPv4 (always so for an IPv4 CoA). */
  transport: 'ipv6' | 'udp';
  natDetected: boolean;
  natAddress?: string;
  natPort?: number;
  ipv4Hoa?: string;
  sequence: number;
  lifetimeSeconds: number;
  /** Whole seconds until expiry at `now`, never negative. */
  lifetimeRemainingS: number;
  /** The BU flags the binding remembers, as the set letters (e.g. "H", "HF"). */
  flags: string;
}

export interface HaStatus {
  role: 'ha';
  bindings: HaBindingStatus[];
  counters: HomeAgentCounters;
  ipsec: IpsecStatus;
}

function bindingStatus(b: BindingEntry, now: number): HaBindingStatus {
  const v4 = IPV4_RE.test(b.coa);
  const out: HaBindingStatus = {
    hoa: b.hoa,
    coa: b.coa,
    coaFamily: v4 ? 4 : 6,
    // ha/agent.ts has no protocol-41 edge, so an IPv4 CoA is reached over UDP even when b.udp is false.
    transport: b.udp || v4 ? 'udp' : 'ipv6',
    natDetected: b.natAddress !== undefined,
    sequence: b.sequence,
    lifetimeSeconds: b.lifetimeSeconds,
    lifetimeRemainingS: Math.max(0, Math.floor((b.expiresAt - now) / 1000)),
    flags: (['H', 'L', 'K', 'F', 'R'] as const).filter((f) => b.flags[f]).join(''),
  };
  if (b.natAddress !== undefined) out.natAddress = b.natAddress;
  if (b.natPort !== undefined) out.natPort = b.natPort;
  if (b.ipv4Hoa !== undefined) out.ipv4Hoa = b.ipv4Hoa;
  return out;
}

export function haStatus(agent: HomeAgent, now: number): HaStatus {
  // Copies throughout: the response is serialised later and must not alias live state.
  const c = agent.counters;
  return {
    role: 'ha',
    bindings: agent.cache.snapshot().map((b) => bindingStatus(b, now)),
    counters: { ...c, buRejected: { ...c.buRejected }, drops: { ...c.drops } },
    ipsec: ipsecStatus(agent.engine),
  };
}

/** The control-socket handler of the HA daemon: {"cmd":"status"} -> haStatus. */
export function haControlHandler(agent: HomeAgent, now: () => number): ControlHandler {
  return (req) => {
    if (req.cmd === 'status') return haStatus(agent, now());
    throw new Error(`unknown command '${req.cmd}' (known: status)`);
  };
}
