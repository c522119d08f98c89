// Sans-I/O movement detection of the mobile node (RFC 6275 §11.5): from what the kernel says about
// links, addresses and routes, decide whether the MN is at home, which care-of address it uses,
// or that it has none. `handle(event, now)` returns actions (arm a timer, report a decision); it
// never reads a clock, arms a timer of its own or touches netlink: mn/netwatch.ts is the edge.
//
// The rules (applied to the state after the debounce, see below):
//  0. Ignored interfaces: loopback, the MN's own TUN (`tunName`), and, when `interfaces` is not
//     empty, every interface whose name is not listed. "Up" means administratively up and running
//     (carrier): a down interface, or one whose peer is gone, offers nothing.
//  1. Home: an up interface holds a usable (not tentative, not DAD-failed) address inside one of the
//     `homePrefixes` and has a usable route in that family through it (a unicast route whose prefix
//     holds the address, or a default route); or the HoA (`hoa`, `hoa4`) is configured on an up
//     interface (other than the TUN). -> { kind: 'home' }.
//  2. Otherwise an IPv6 CoA: a global unicast address (not ::, ::1, link-local fe80::/10, multicast,
//     IPv4-mapped, not the HoA nor inside a home prefix, not deprecated/tentative/DAD-failed) on an
//     up interface that has an IPv6 default route (unicast, any table but local) through it.
//  3. Otherwise an IPv4 CoA: an address (not 0/8, 127/8, 169.254/16, multicast, not the IPv4 HoA
//     nor inside a home prefix) on an up interface that has an IPv4 default route through it.
//  4. Otherwise none (coa null).
//  Among several candidates of the same family: the current CoA if it still qualifies (no needless
//  handover), else the one whose default route has the lowest metric, then lowest ifindex, then
//  the numerically lowest address.
//
// Debounce: every state change (re)arms a timer `debounceMs` after it (but never later than
// `maxDelayMs` after the first unhandled change), so one move that removes an address and adds
// another gives one decision. At the timer the rules run; a decision is reported only when it
// differs from the last one reported (the first decision is always reported).
// At once (`decideNow`, which the edge calls after each batch of netlink events): when the state
// offers a usable CoA (every rule above met: link up and RUNNING, address not tentative, default
// route) other than the last decision, it is reported without waiting, because waiting only
// delays the handover; the debounce timer stays armed and confirms or corrects it. Losing every
// CoA (none), coming home, and leaving home keep the debounce: those are where a flap or a
// half-finished change would cost a needless deregistration or registration.
import { ip4ToBytes, ip6ToBytes, canonicalIp } from '../common/addr.js';
import type { CareOfAddress } from './bul.js';
import type { RegistrationEvent } from './registration.js';

// 2 ms: enough for the messages one kernel change sends (a link going down and the routes it
// takes with it arrive within microseconds, and the edge re-dumps the whole state anyway); 50 ms
// was most of the handover time the benchmark measured (BENCHMARKS.md, handover).
export const DEFAULT_DEBOUNCE_MS = 2;
export const DEFAULT_MAX_DELAY_MS = 1000;

export interface LinkInfo {
  index: number;
  name: string;
  /** Administratively up and running (has carrier). */
  up: boolean;
  /** False when administratively down: the kernel then flushes the link's routes without a message per route. */
  adminUp?: boolean;
  loopback?: boolean;
}

export interface AddrInfo {
  /** ifindex of the interface holding it. */
  index: number;
  family: 4 | 6;
  /** Address text (any form; compared canonically). */
  address: string;
  prefixLen: number;
  deprecated?: boolean;
  tentative?: boolean;
  dadfailed?: boolean;
}

export interface RouteInfo {
  family: 4 | 6;
  /** Destination prefix text; absent (or dstLen 0) for a default route. */
  dst?: string;
  dstLen: number;
  /** Outgoing interfaces (several for a multipath route). */
  oifs: number[];
  table?: number;
  /** Kernel route type; only 'unicast' (or absent) counts. */
  type?: 'unicast' | 'other';
  metric?: number;
}

export interface NetSnapshot {
  links: LinkInfo[];
  addresses: AddrInfo[];
  routes: RouteInfo[];
}

export interface MovementConfig {
  /** Home prefixes ("2001:db8:1::/64", "10.1.0.0/24"). */
  homePrefixes?: string[];
  /** The IPv6 home address. */
  hoa?: string;
  /** The IPv4 home address, if any. */
  hoa4?: string;
  /** Name of the MN's own TUN device (ignored). */
  tunName?: string;
  /** Interfaces to watch by name; empty or absent = all. */
  interfaces?: string[];
  debounceMs?: number;
  maxDelayMs?: number;
}

export type MovementDecision = { kind: 'home' } | { kind: 'coa'; coa: CareOfAddress } | { kind: 'none' };

export type MovementEvent =
  /** The whole state (from a dump): replaces everything known. */
  | { kind: 'snapshot'; snapshot: NetSnapshot }
  | { kind: 'link'; op: 'new' | 'del'; link: LinkInfo }
  | { kind: 'addr'; op: 'new' | 'del'; addr: AddrInfo }
  | { kind: 'route'; op: 'new' | 'del'; route: RouteInfo }
  | { kind: 'timer' };

export type MovementAction =
  | { kind: 'arm-timer'; at: number }
  /** A new decision, with the event to give HomeRegistration (or MobileNode.moveTo(target)). */
  | {
      kind: 'decision';
      decision: MovementDecision;
      event: Extract<RegistrationEvent, { kind: 'coa-changed' }>;
      target: CareOfAddress | null | 'home';
    };

interface Prefix {
  family: 4 | 6;
  bytes: Uint8Array;
  len: number;
}

function toBytes(family: 4 | 6, text: string): Uint8Array | null {
  try {
    return family === 6 ? ip6ToBytes(text) : ip4ToBytes(text);
  } catch {
    return null;
  }
}

function familyOfText(text: string): 4 | 6 {
  return text.includes(':') ? 6 : 4;
}

function parsePrefix(text: string): Prefix | null {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const family = familyOfText(addr);
  const len = slash < 0 ? (family === 6 ? 128 : 32) : Number(text.slice(slash + 1));
  const bytes = toBytes(family, addr);
  if (!bytes || !Number.isInteger(len) || len < 0 || len > bytes.length * 8) return null;
  return { family, bytes, len };
}

function inPrefix(p: Prefix, family: 4 | 6, addr: Uint8Array): boolean {
  if (p.family !== family) return false;
  const full = p.len >> 3;
  for (let i = 0; i < full; i++) if (p.bytes[i] !== addr[i]) return false;
  const rest = p.len & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (p.bytes[full] & mask) === (addr[full] & mask);
}

function canon(text: string): string {
  try {
    return canonicalIp(text);
  } catch {
    return text;
  }
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

/** True for an IPv6 global unicast address in the sense of rule 2. */
export function isGlobalUnicast6(b: Uint8Array): boolean {
  if (b.every((x) => x === 0)) return false; // ::
  if (b.slice(0, 15).every((x) => x === 0) && b[15] === 1) return false; // ::1
  if (b[0] === 0xfe && (b[1] & 0xc0) === 0x80) return false; // fe80::/10
  if (b[0] === 0xff) return false; // multicast
  if (b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return false; // ::ffff:0:0/96
  return true;
}

/** True for an IPv4 address usable as a CoA in the sense of rule 3. */
export function isUsable4(b: Uint8Array): boolean {
  if (b[0] === 0 || b[0] === 127 || b[0] >= 224) return false;
  if (b[0] === 169 && b[1] === 254) return false;
  return true;
}

export function decisionEquals(a: MovementDecision | null, b: MovementDecision | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.kind !== b.kind) return false;
  if (a.kind === 'coa' && b.kind === 'coa') return a.coa.family === b.coa.family && canon(a.coa.address) === canon(b.coa.address);
  return true;
}

/** The rules above, on one snapshot (pure). `current` is the CoA in use, kept when it still qualifies. */
export function chooseCoa(s: NetSnapshot, cfg: MovementConfig, current?: CareOfAddress | null): MovementDecision {
  const homePrefixes = (cfg.homePrefixes ?? []).map(parsePrefix).filter((p): p is Prefix => p !== null);
  const hoas = [cfg.hoa, cfg.hoa4].filter((x): x is string => !!x).map(canon);
  const only = cfg.interfaces && cfg.interfaces.length > 0 ? new Set(cfg.interfaces) : null;
  const upLinks = new Map<number, LinkInfo>();
  for (const l of s.links) {
    if (!l.up || l.loopback || l.name === 'lo') continue;
    if (cfg.tunName && l.name === cfg.tunName) continue;
    if (only && !only.has(l.name)) continue;
    upLinks.set(l.index, l);
  }
  const usableRoutes = s.routes.filter((r) => (r.type === undefined || r.type === 'unicast') && r.table !== 255);
  const defaultMetric = (family: 4 | 6, index: number): number | null => {
    let best: number | null = null;
    for (const r of usableRoutes) {
      if (r.family !== family || r.dstLen !== 0 || !r.oifs.includes(index)) continue;
      const m = r.metric ?? 0;
      if (best === null || m < best) best = m;
    }
    return best;
  };

  // Rule 1: home.
  for (const a of s.addresses) {
    if (!upLinks.has(a.index) || a.tentative || a.dadfailed) continue;
    const bytes = toBytes(a.family, a.address);
    if (!bytes) continue;
    if (hoas.includes(canon(a.address))) return { kind: 'home' };
    if (!homePrefixes.some((p) => inPrefix(p, a.family, bytes))) continue;
    const routed = usableRoutes.some((r) => {
      if (r.family !== a.family || !r.oifs.includes(a.index)) return false;
      if (r.dstLen === 0) return true;
      const p = r.dst ? parsePrefix(`${r.dst}/${r.dstLen}`) : null;
      return p !== null && inPrefix(p, a.family, bytes);
    });
    if (routed) return { kind: 'home' };
  }

  // Rules 2 and 3: a CoA, IPv6 first.
  for (const family of [6, 4] as const) {
    const cands: { address: string; metric: number; index: number; bytes: Uint8Array }[] = [];
    for (const a of s.addresses) {
      if (a.family !== family || !upLinks.has(a.index)) continue;
      if (a.tentative || a.dadfailed || a.deprecated) continue;
      const bytes = toBytes(family, a.address);
      if (!bytes) continue;
      if (family === 6 ? !isGlobalUnicast6(bytes) : !isUsable4(bytes)) continue;
      const address = canon(a.address);
      if (hoas.includes(address) || homePrefixes.some((p) => inPrefix(p, family, bytes))) continue;
      const metric = defaultMetric(family, a.index);
      if (metric === null) continue;
      cands.push({ address, metric, index: a.index, bytes });
    }
    if (cands.length === 0) continue;
    const keep = current && current.family === family ? cands.find((c) => c.address === canon(current.address)) : undefined;
    cands.sort((x, y) => x.metric - y.metric || x.index - y.index || compareBytes(x.bytes, y.bytes));
    const pick = keep ?? cands[0];
    return { kind: 'coa', coa: { family, address: pick.address } };
  }
  return { kind: 'none' };
}

/** The up interface that makes `s` "home" by rule 1 (its name), or undefined. */
export function homeInterface(s: NetSnapshot, cfg: MovementConfig): string | undefined {
  if (chooseCoa(s, cfg).kind !== 'home') return undefined;
  // Rule 1 again, per interface: the first up link whose addresses alone make it home.
  for (const l of s.links) {
    const one = { links: [l], addresses: s.addresses.filter((a) => a.index === l.index), routes: s.routes };
    if (chooseCoa(one, cfg).kind === 'home') return l.name;
  }
  return undefined;
}

/** The HomeRegistration event (and MobileNode.moveTo target) for a decision. */
export function toRegistrationEvent(d: MovementDecision): Extract<RegistrationEvent, { kind: 'coa-changed' }> {
  if (d.kind === 'home') return { kind: 'coa-changed', coa: null, home: true };
  return { kind: 'coa-changed', coa: d.kind === 'coa' ? { ...d.coa } : null };
}

export function toMoveTarget(d: MovementDecision): CareOfAddress | null | 'home' {
  return d.kind === 'home' ? 'home' : d.kind === 'coa' ? { ...d.coa } : null;
}

const addrKey = (a: AddrInfo): string => `${a.index}/${a.family}/${canon(a.address)}/${a.prefixLen}`;
const routeKey = (r: RouteInfo): string =>
  `${r.family}/${r.dst ? canon(r.dst) : ''}/${r.dstLen}/${r.table ?? 254}/${r.metric ?? 0}/${[...r.oifs].sort().join(',')}`;

/** The debounced detector: state kept from events, decisions reported on change. */
export class MovementDetector {
  private readonly cfg: MovementConfig & { debounceMs: number; maxDelayMs: number };
  private links = new Map<number, LinkInfo>();
  private addrs = new Map<string, AddrInfo>();
  private routes = new Map<string, RouteInfo>();
  private last: MovementDecision | null = null;
  private due: number | null = null;
  private firstPending: number | null = null;

  constructor(config: MovementConfig = {}) {
    this.cfg = { debounceMs: DEFAULT_DEBOUNCE_MS, maxDelayMs: DEFAULT_MAX_DELAY_MS, ...config };
  }

  /** The last decision reported (null before the first). */
  get decision(): MovementDecision | null {
    return this.last;
  }

  /** When the pending decision is due (ms), or null. */
  nextTimer(): number | null {
    return this.due;
  }

  snapshot(): NetSnapshot {
    return { links: [...this.links.values()], addresses: [...this.addrs.values()], routes: [...this.routes.values()] };
  }

  /** What the rules say about the current state, now (no debounce, no reporting). */
  evaluate(): MovementDecision {
    const cur = this.last?.kind === 'coa' ? this.last.coa : null;
    return chooseCoa(this.snapshot(), this.cfg, cur);
  }

  handle(ev: MovementEvent, now: number): MovementAction[] {
    switch (ev.kind) {
      case 'timer':
        if (this.due === null) return [];
        // setTimeout runs on a monotonic clock and may fire a millisecond before `due` by the
        // wall clock: arm again rather than lose the decision.
        return now >= this.due ? this.fire() : [{ kind: 'arm-timer', at: this.due }];
      case 'snapshot':
        this.links = new Map(ev.snapshot.links.map((l) => [l.index, { ...l }]));
        this.addrs = new Map(ev.snapshot.addresses.map((a) => [addrKey(a), { ...a }]));
        this.routes = new Map(ev.snapshot.routes.map((r) => [routeKey(r), { ...r, oifs: [...r.oifs] }]));
        break;
      case 'link':
        if (ev.op === 'new') {
          this.links.set(ev.link.index, { ...ev.link });
          // Set down, the kernel drops the link's routes (IPv4 without a RTM_DELROUTE each): mirror
          // it, or the link coming back up would look routed before its default route is back.
          if (ev.link.adminUp === false) for (const [k, r] of this.routes) if (r.oifs.includes(ev.link.index)) this.routes.delete(k);
        } else {
          this.links.delete(ev.link.index);
          for (const [k, a] of this.addrs) if (a.index === ev.link.index) this.addrs.delete(k);
          for (const [k, r] of this.routes) if (r.oifs.includes(ev.link.index)) this.routes.delete(k);
        }
        break;
      case 'addr':
        if (ev.op === 'new') this.addrs.set(addrKey(ev.addr), { ...ev.addr });
        else this.addrs.delete(addrKey(ev.addr));
        break;
      case 'route':
        if (ev.op === 'new') this.routes.set(routeKey(ev.route), { ...ev.route, oifs: [...ev.route.oifs] });
        else this.routes.delete(routeKey(ev.route));
        break;
    }
    // A change: (re)arm the debounce timer, bounded by maxDelayMs after the first pending change.
    this.firstPending ??= now;
    this.due = Math.min(now + this.cfg.debounceMs, this.firstPending + this.cfg.maxDelayMs);
    return [{ kind: 'arm-timer', at: this.due }];
  }

  /**
   * The fast path, after a batch of events: a usable CoA other than the last decision is reported
   * now (not from home, and never none or home: those wait for the debounce). The pending timer,
   * if any, stays armed and reports only if the state by then says something else.
   */
  decideNow(): MovementAction[] {
    if (this.last === null || this.last.kind === 'home') return [];
    const d = this.evaluate();
    if (d.kind !== 'coa' || decisionEquals(this.last, d)) return [];
    this.last = d;
    return [{ kind: 'decision', decision: d, event: toRegistrationEvent(d), target: toMoveTarget(d) }];
  }

  private fire(): MovementAction[] {
    this.due = null;
    this.firstPending = null;
    const d = this.evaluate();
    if (this.last !== null && decisionEquals(this.last, d)) return [];
    this.last = d;
    return [{ kind: 'decision', decision: d, event: toRegistrationEvent(d), target: toMoveTarget(d) }];
  }
}
