// The netlink edge of movement detection: dumps links, addresses and routes (rtnetlink, the
// `netlink` package), subscribes to RTNLGRP_LINK, RTNLGRP_IPV{4,6}_IFADDR and RTNLGRP_IPV{4,6}_ROUTE,
// and feeds a MovementDetector (mn/movement.ts), which decides. Each notification is applied to the
// detector's state as it comes (it says what changed), and once the batch already queued has been
// read the detector may decide at once (decideNow: a usable CoA other than the current one); that
// is the handover's critical path, so nothing else runs before it. Every notification also makes
// the edge dump again (coalesced): the kernel does not announce every route it drops with a link,
// so a fresh dump is the truth, the notifications that arrived while it ran are applied on top of
// it, and the detector's debounce confirms or corrects. Never logs; never sends anything.
// Netlink sockets act in the network namespace of the thread that creates them.
import netlink from 'netlink';
import { wallClockScheduler } from '../common/timer.js';
import type { rt, RtNetlinkSocket } from 'netlink';

type AddressMessage = rt.AddressMessage;
type LinkMessage = rt.LinkMessage;
type RouteMessage = rt.RouteMessage;
import { ip4ToString, ip6ToString } from '../common/addr.js';
import {
  MovementDetector,
  type AddrInfo,
  type LinkInfo,
  type MovementAction,
  type MovementConfig,
  type MovementDecision,
  type MovementEvent,
  type NetSnapshot,
  type RouteInfo,
} from './movement.js';
import type { CareOfAddress } from './bul.js';
import type { RegistrationEvent } from './registration.js';

const AF_INET = 2;
const AF_INET6 = 10;
const RTN_UNICAST = 1;

/** Timers of the edge, injectable for tests. */
export interface Scheduler {
  now(): number;
  setTimer(at: number, fn: () => void): { cancel(): void };
}

export const realScheduler: Scheduler = {
  now: () => Date.now(),
  setTimer: (at, fn) => wallClockScheduler.schedule(at, fn),
};

export interface NetWatchOptions extends MovementConfig {
  /** Each new decision, with the HomeRegistration event and the MobileNode.moveTo target. */
  onDecision(decision: MovementDecision, event: Extract<RegistrationEvent, { kind: 'coa-changed' }>, target: CareOfAddress | null | 'home', timing: DecisionTiming): void;
  onError?(err: unknown): void;
  scheduler?: Scheduler;
  /** Keep the event loop alive while watching (default false). */
  ref?: boolean;
}

function ipText(family: 4 | 6, b: Uint8Array | undefined): string | undefined {
  if (!b) return undefined;
  if (family === 4 && b.length >= 4) return ip4ToString(b);
  if (family === 6 && b.length >= 16) return ip6ToString(b);
  return undefined;
}

function familyOf(f: number | undefined): 4 | 6 | null {
  return f === AF_INET ? 4 : f === AF_INET6 ? 6 : null;
}

export function linkFromNetlink(m: LinkMessage): LinkInfo | null {
  if (m.data.index === undefined) return null;
  const f = m.data.flags ?? {};
  return {
    index: m.data.index,
    name: m.attrs.ifname ?? `if${m.data.index}`,
    // RUNNING, not LOWER_UP: the kernel sets LOWER_UP as soon as the carrier is there, but RUNNING
    // only once linkwatch has processed it (up to a second later) and given the device its qdisc;
    // until then every packet, a first Neighbor Solicitation included, is dropped, which cost the
    // first BU after a move (a second's retransmission) in the testbed.
    up: !!f.up && !!f.running,
    ...(f.up ? {} : { adminUp: false }),
    loopback: !!f.loopback,
  };
}

export function addrFromNetlink(m: AddressMessage): AddrInfo | null {
  const family = familyOf(m.data.family);
  if (family === null || m.data.index === undefined) return null;
  // For IPv4 IFA_LOCAL is the local address (IFA_ADDRESS is the peer on point-to-point links).
  const address = ipText(family, family === 4 ? (m.attrs.local ?? m.attrs.address) : (m.attrs.address ?? m.attrs.local));
  if (!address) return null;
  const flags = m.attrs.flags ?? m.data.flags ?? {};
  return {
    index: m.data.index,
    family,
    address,
    prefixLen: m.data.prefixlen ?? (family === 6 ? 128 : 32),
    ...(flags.deprecated ? { deprecated: true } : {}),
    ...(flags.tentative ? { tentative: true } : {}),
    ...(flags.dadfailed ? { dadfailed: true } : {}),
  };
}

/** ifindexes of a RTA_MULTIPATH attribute (struct rtnexthop: u16 len, u8 flags, u8 hops, s32 ifindex, attrs). */
export function multipathOifs(buf: Uint8Array | undefined): number[] {
  const out: number[] = [];
  if (!buf) return out;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = 0;
  while (off + 8 <= buf.byteLength) {
    const len = dv.getUint16(off, true);
    out.push(dv.getInt32(off + 4, true));
    if (len < 8) break;
    off += (len + 3) & ~3;
  }
  return out;
}

export function routeFromNetlink(m: RouteMessage): RouteInfo | null {
  const family = familyOf(m.data.family);
  if (family === null) return null;
  const t = m.data.type;
  const unicast = t === undefined || t === RTN_UNICAST || t === 'UNICAST';
  const oifs = m.attrs.oif !== undefined ? [m.attrs.oif] : multipathOifs(m.attrs.multipath);
  const dst = ipText(family, m.attrs.dst);
  return {
    family,
    dstLen: m.data.dstLen ?? 0,
    ...(dst ? { dst } : {}),
    oifs,
    table: m.attrs.table ?? m.data.table,
    type: unicast ? 'unicast' : 'other',
    ...(m.attrs.priority !== undefined ? { metric: m.attrs.priority } : {}),
  };
}

/** One dump of links, addresses and routes (all families, all tables), as a snapshot. */
export async function dumpSnapshot(sock: RtNetlinkSocket): Promise<NetSnapshot> {
  const links = await sock.getLinks();
  const addrs = await sock.getAddresses();
  const routes = await sock.getRoutes();
  return {
    links: links.map(linkFromNetlink).filter((x): x is LinkInfo => x !== null),
    addresses: addrs.map(addrFromNetlink).filter((x): x is AddrInfo => x !== null),
    routes: routes.map(routeFromNetlink).filter((x): x is RouteInfo => x !== null),
  };
}

const GROUPS = ['LINK', 'IPV4_IFADDR', 'IPV6_IFADDR', 'IPV4_ROUTE', 'IPV6_ROUTE'] as const;

// rtnetlink message types (linux/rtnetlink.h).
const RTM_DELLINK = 17;
const RTM_DELADDR = 21;
const RTM_DELROUTE = 25;

/** A notification as a detector event (null: not one the rules use). */
export function eventFromNetlink(type: number, m: rt.Message): MovementEvent | null {
  if (m.kind === 'link') {
    const link = linkFromNetlink(m);
    return link ? { kind: 'link', op: type === RTM_DELLINK ? 'del' : 'new', link } : null;
  }
  if (m.kind === 'address') {
    const addr = addrFromNetlink(m);
    return addr ? { kind: 'addr', op: type === RTM_DELADDR ? 'del' : 'new', addr } : null;
  }
  if (m.kind === 'route') {
    const route = routeFromNetlink(m);
    return route ? { kind: 'route', op: type === RTM_DELROUTE ? 'del' : 'new', route } : null;
  }
  return null;
}

/** When the edge saw the batch that led to a decision, and how it decided. */
export interface DecisionTiming {
  /** Wall-clock ms (sub-ms) when the latest batch of notifications before the decision began to be read; undefined before any. */
  eventAt?: number;
  /** Wall-clock ms (sub-ms) of the decision. */
  decidedAt: number;
  /** 'event': at once from the notifications; 'debounce': after the debounce (and a dump). */
  via: 'event' | 'debounce';
}

/** Date.now() with the fraction of a millisecond (for timing logs). */
export const preciseNow = (): number => performance.timeOrigin + performance.now();

/** Watches the network of the current namespace and reports CoA decisions. */
export class NetWatch {
  readonly detector: MovementDetector;
  private readonly events: RtNetlinkSocket;
  private readonly dumps: RtNetlinkSocket;
  private readonly sched: Scheduler;
  private timer: { cancel(): void } | null = null;
  private dumping = false;
  private dirty = false;
  private closed = false;
  /** Notifications read while a dump runs: applied again on top of its snapshot (which may predate them). */
  private sinceDump: MovementEvent[] = [];
  /** A decideNow is queued (setImmediate) for the notifications read so far. */
  private quickQueued = false;
  /** When the latest batch of notifications began to be read (preciseNow). */
  private batchAt: number | undefined;

  private constructor(private readonly opts: NetWatchOptions) {
    this.sched = opts.scheduler ?? realScheduler;
    this.detector = new MovementDetector(opts);
    this.events = netlink.createRtNetlink({ ref: opts.ref ?? false, recvBufferSize: 1 << 20, sendBufferSize: 0 /* 0: kernel default */ });
    this.dumps = netlink.createRtNetlink();
    for (const g of GROUPS) this.events.addMembership(g);
    // The raw messages (the package's parsed 'message' drops the type, so NEW and DEL look alike).
    this.events.socket.on('message', (msgs) => this.onNotifications(msgs));
    this.events.on('invalid', () => this.resync());
  }

  /** Subscribes, then dumps once; the first decision follows after the debounce. */
  static async start(opts: NetWatchOptions): Promise<NetWatch> {
    const w = new NetWatch(opts);
    await w.sync();
    return w;
  }

  /** The last decision reported (null before the first). */
  get decision(): MovementDecision | null {
    return this.detector.decision;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.timer?.cancel();
    this.timer = null;
    this.events.socket.close();
    this.dumps.socket.close();
  }

  private resync(): void {
    if (this.closed) return;
    if (this.dumping) {
      this.dirty = true;
      return;
    }
    this.sync().catch((e) => this.opts.onError?.(e));
  }

  private onNotifications(msgs: { type: number; data: Buffer }[]): void {
    if (this.closed) return;
    if (!this.quickQueued) this.batchAt = preciseNow();
    const now = this.sched.now();
    for (const raw of msgs) {
      let ev: MovementEvent | null;
      try {
        ev = eventFromNetlink(raw.type, netlink.rt.parseMessage(raw.type, raw.data));
      } catch {
        ev = null; // not one we read: the dump below has it
      }
      if (!ev) continue;
      this.run(this.detector.handle(ev, now), 'debounce');
      if (this.dumping) this.sinceDump.push(ev);
    }
    // Decide after the notifications already queued have been read (setImmediate runs after this
    // poll phase), so one kernel change's messages are judged together; the confirming dump is
    // asked for only then, so its reply is not read and parsed ahead of the decision (and the BU).
    if (!this.quickQueued) {
      this.quickQueued = true;
      setImmediate(() => {
        this.quickQueued = false;
        if (this.closed) return;
        this.run(this.detector.decideNow(), 'event');
        this.resync();
      });
    }
  }

  private async sync(): Promise<void> {
    this.dumping = true;
    try {
      do {
        this.dirty = false;
        this.sinceDump = [];
        const snapshot = await dumpSnapshot(this.dumps);
        if (this.closed) return;
        const now = this.sched.now();
        this.run(this.detector.handle({ kind: 'snapshot', snapshot }, now), 'debounce');
        for (const ev of this.sinceDump) this.run(this.detector.handle(ev, now), 'debounce');
        this.sinceDump = [];
      } while (this.dirty && !this.closed);
    } finally {
      this.dumping = false;
    }
  }

  private run(actions: MovementAction[], via: DecisionTiming['via']): void {
    for (const a of actions) {
      if (a.kind === 'arm-timer') {
        this.timer?.cancel();
        this.timer = this.sched.setTimer(a.at, () => {
          this.timer = null;
          if (!this.closed) this.run(this.detector.handle({ kind: 'timer' }, this.sched.now()), 'debounce');
        });
      } else {
        const timing: DecisionTiming = { decidedAt: preciseNow(), via, ...(this.batchAt !== undefined ? { eventAt: this.batchAt } : {}) };
        this.opts.onDecision(a.decision, a.event, a.target, timing);
      }
    }
  }
}
