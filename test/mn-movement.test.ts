// Unit tests of the sans-I/O movement detection (mn/movement.ts): the CoA rules on synthetic
// snapshots, the preference order, and the debounce with a fake clock. Also the netlink message
// conversion of mn/netwatch.ts (pure functions, no socket).
import { describe, expect, it } from 'vitest';
import {
  chooseCoa,
  homeInterface,
  MovementDetector,
  type AddrInfo,
  type LinkInfo,
  type MovementAction,
  type MovementConfig,
  type NetSnapshot,
  type RouteInfo,
} from '../mn/movement.js';
import { addrFromNetlink, eventFromNetlink, linkFromNetlink, multipathOifs, routeFromNetlink } from '../mn/netwatch.js';

const CFG: MovementConfig = { homePrefixes: ['2001:db8:1::/64', '10.1.0.0/24'], hoa: '2001:db8:1::100', hoa4: '10.1.0.100', tunName: 'mip0' };

const link = (index: number, name: string, up = true, extra: Partial<LinkInfo> = {}): LinkInfo => ({ index, name, up, ...extra });
const addr = (index: number, address: string, prefixLen = address.includes(':') ? 64 : 24, extra: Partial<AddrInfo> = {}): AddrInfo => ({
  index,
  family: address.includes(':') ? 6 : 4,
  address,
  prefixLen,
  ...extra,
});
const dflt = (family: 4 | 6, oif: number, extra: Partial<RouteInfo> = {}): RouteInfo => ({ family, dstLen: 0, oifs: [oif], table: 254, type: 'unicast', ...extra });
const onlink = (dst: string, dstLen: number, oif: number): RouteInfo => ({ family: dst.includes(':') ? 6 : 4, dst, dstLen, oifs: [oif], table: 254, type: 'unicast' });

/** lo(1), v6net0(2, IPv6-only, default route), v4net0(3, IPv4-only, default route). */
function base(): NetSnapshot {
  return {
    links: [link(1, 'lo', true, { loopback: true }), link(2, 'v6net0'), link(3, 'v4net0')],
    addresses: [
      addr(1, '::1', 128),
      addr(1, '127.0.0.1', 8),
      addr(2, 'fe80::1'),
      addr(2, '2001:db8:6::100'),
      addr(3, '198.51.100.100'),
    ],
    routes: [onlink('2001:db8:6::', 64, 2), dflt(6, 2), onlink('198.51.100.0', 24, 3), dflt(4, 3)],
  };
}
const coa6 = { kind: 'coa', coa: { family: 6, address: '2001:db8:6::100' } };
const coa4 = { kind: 'coa', coa: { family: 4, address: '198.51.100.100' } };

function mod(f: (s: NetSnapshot) => void): NetSnapshot {
  const s = base();
  f(s);
  return s;
}

describe('chooseCoa: the rules', () => {
  it('prefers a global IPv6 CoA over IPv4 when both networks are usable', () => {
    expect(chooseCoa(base(), CFG)).toEqual(coa6);
  });

  it('falls back to IPv4 when the IPv6 interface is down, has no default route, or only a link-local address', () => {
    expect(chooseCoa(mod((s) => (s.links[1].up = false)), CFG)).toEqual(coa4);
    expect(chooseCoa(mod((s) => (s.routes = s.routes.filter((r) => !(r.family === 6 && r.dstLen === 0)))), CFG)).toEqual(coa4);
    expect(chooseCoa(mod((s) => (s.addresses = s.addresses.filter((a) => a.address !== '2001:db8:6::100'))), CFG)).toEqual(coa4);
  });

  it('needs the default route through the address\'s own interface', () => {
    // IPv6 default route through v4net0 (which holds no IPv6 global address): no IPv6 CoA.
    expect(chooseCoa(mod((s) => (s.routes = s.routes.map((r) => (r.family === 6 && r.dstLen === 0 ? dflt(6, 3) : r)))), CFG)).toEqual(coa4);
    // A multipath default route naming the interface counts.
    expect(chooseCoa(mod((s) => (s.routes = s.routes.map((r) => (r.family === 6 && r.dstLen === 0 ? dflt(6, 3, { oifs: [3, 2] }) : r)))), CFG)).toEqual(coa6);
  });

  it('ignores unreachable/local default routes and the local table', () => {
    const s = mod((x) => (x.routes = x.routes.map((r) => (r.family === 6 && r.dstLen === 0 ? { ...r, type: 'other' as const } : r))));
    expect(chooseCoa(s, CFG)).toEqual(coa4);
    const t = mod((x) => (x.routes = x.routes.map((r) => (r.family === 6 && r.dstLen === 0 ? { ...r, table: 255 } : r))));
    expect(chooseCoa(t, CFG)).toEqual(coa4);
  });

  it('skips deprecated, tentative and DAD-failed IPv6 addresses', () => {
    for (const flag of ['deprecated', 'tentative', 'dadfailed'] as const) {
      const s = mod((x) => (x.addresses = x.addresses.map((a) => (a.address === '2001:db8:6::100' ? { ...a, [flag]: true } : a))));
      expect(chooseCoa(s, CFG), flag).toEqual(coa4);
    }
  });

  it('returns none when neither family has a usable address and default route', () => {
    expect(chooseCoa(mod((s) => ((s.links[1].up = false), (s.links[2].up = false))), CFG)).toEqual({ kind: 'none' });
    expect(chooseCoa(mod((s) => (s.routes = [])), CFG)).toEqual({ kind: 'none' });
    expect(chooseCoa({ links: [], addresses: [], routes: [] }, CFG)).toEqual({ kind: 'none' });
  });

  it('ignores loopback, the TUN and unusable IPv4 (169.254/16, 127/8)', () => {
    const s: NetSnapshot = {
      links: [link(1, 'lo', true, { loopback: true }), link(9, 'mip0'), link(3, 'v4net0')],
      addresses: [addr(1, '127.0.0.1', 8), addr(9, '2001:db8:1::100'), addr(9, '2001:db8:99::1'), addr(3, '169.254.1.1', 16)],
      routes: [dflt(6, 9), dflt(4, 1), dflt(4, 3), onlink('2001:db8:1::', 64, 9)],
    };
    expect(chooseCoa(s, CFG)).toEqual({ kind: 'none' });
    s.addresses.push(addr(3, '192.168.77.100'));
    expect(chooseCoa(s, CFG)).toEqual({ kind: 'coa', coa: { family: 4, address: '192.168.77.100' } });
  });

  it('is home when an up interface has a home-prefix address with a route to it', () => {
    const s = mod((x) => {
      x.links.push(link(4, 'home0'));
      x.addresses.push(addr(4, '2001:db8:1::55'));
      x.routes.push(onlink('2001:db8:1::', 64, 4));
    });
    expect(chooseCoa(s, CFG)).toEqual({ kind: 'home' });
    // No route through it: not home (and the address is no CoA either).
    const noRoute = { ...s, routes: s.routes.filter((r) => !r.oifs.includes(4)) };
    expect(chooseCoa(noRoute, CFG)).toEqual(coa6);
    // Interface down: not home.
    const down = { ...s, links: s.links.map((l) => (l.index === 4 ? { ...l, up: false } : l)) };
    expect(chooseCoa(down, CFG)).toEqual(coa6);
    // Tentative home address: not yet home.
    const tent = { ...s, addresses: s.addresses.map((a) => (a.index === 4 ? { ...a, tentative: true } : a)) };
    expect(chooseCoa(tent, CFG)).toEqual(coa6);
    // IPv4 home prefix works the same way.
    const v4 = mod((x) => {
      x.links.push(link(4, 'home0'));
      x.addresses.push(addr(4, '10.1.0.77'));
      x.routes.push(onlink('10.1.0.0', 24, 4));
    });
    expect(chooseCoa(v4, CFG)).toEqual({ kind: 'home' });
  });

  it('is home when the HoA is on an up interface other than the TUN, even without a route', () => {
    const s = mod((x) => {
      x.links.push(link(4, 'home0'), link(9, 'mip0'));
      x.addresses.push(addr(4, '2001:db8:1::100'));
    });
    expect(chooseCoa(s, CFG)).toEqual({ kind: 'home' });
    const onTun = mod((x) => {
      x.links.push(link(9, 'mip0'));
      x.addresses.push(addr(9, '2001:db8:1::100'));
      x.routes.push(onlink('2001:db8:1::', 64, 9));
    });
    expect(chooseCoa(onTun, CFG)).toEqual(coa6);
  });

  it('watches only the configured interfaces when `interfaces` is not empty', () => {
    expect(chooseCoa(base(), { ...CFG, interfaces: ['v4net0'] })).toEqual(coa4);
    expect(chooseCoa(base(), { ...CFG, interfaces: ['nothere'] })).toEqual({ kind: 'none' });
    expect(chooseCoa(base(), { ...CFG, interfaces: [] })).toEqual(coa6);
  });

  it('among several candidates: keeps the current CoA, else lowest metric, then ifindex, then address', () => {
    const s = mod((x) => {
      x.links.push(link(5, 'v6b0'));
      x.addresses.push(addr(5, '2001:db8:7::100'), addr(2, '2001:db8:6::50'));
      x.routes = x.routes.map((r) => (r.family === 6 && r.dstLen === 0 ? { ...r, metric: 200 } : r));
      x.routes.push(dflt(6, 5, { metric: 100 }));
    });
    expect(chooseCoa(s, CFG)).toEqual({ kind: 'coa', coa: { family: 6, address: '2001:db8:7::100' } });
    expect(chooseCoa(s, CFG, { family: 6, address: '2001:db8:6:0::100' })).toEqual(coa6);
    const same = { ...s, routes: s.routes.map((r) => (r.dstLen === 0 && r.family === 6 ? { ...r, metric: 100 } : r)) };
    expect(chooseCoa(same, CFG)).toEqual({ kind: 'coa', coa: { family: 6, address: '2001:db8:6::50' } });
    // A kept IPv4 CoA does not beat an IPv6 one.
    expect(chooseCoa(base(), CFG, coa4.coa as { family: 4; address: string })).toEqual(coa6);
  });
});

describe('homeInterface: which link made it home', () => {
  it('names the up link holding a home-prefix address with a route, and nothing when away', () => {
    expect(homeInterface(base(), CFG)).toBeUndefined();
    const home = mod((s) => {
      s.links.push(link(4, 'home0'));
      s.addresses.push(addr(4, '2001:db8:1::100'));
      s.routes.push(onlink('2001:db8:1::', 64, 4));
    });
    expect(chooseCoa(home, CFG)).toEqual({ kind: 'home' });
    expect(homeInterface(home, CFG)).toBe('home0');
    // The same link down: not home, so no home interface.
    expect(homeInterface(mod((s) => (s.links.push(link(4, 'home0', false)), s.addresses.push(addr(4, '2001:db8:1::100')))), CFG)).toBeUndefined();
  });
});

describe('MovementDetector: debounce and change-only reporting (fake clock)', () => {
  const decisions = (a: MovementAction[]) => a.filter((x) => x.kind === 'decision');

  it('reports the first decision after the debounce, then only changes', () => {
    const d = new MovementDetector({ ...CFG, debounceMs: 50 });
    expect(d.handle({ kind: 'snapshot', snapshot: base() }, 1000)).toEqual([{ kind: 'arm-timer', at: 1050 }]);
    // A timer that fires early (setTimeout's monotonic clock against Date.now()) is armed again,
    // not dropped: dropping it lost a whole move in the testbed.
    expect(d.handle({ kind: 'timer' }, 1049)).toEqual([{ kind: 'arm-timer', at: 1050 }]);
    const a = d.handle({ kind: 'timer' }, 1050);
    expect(a).toEqual([
      {
        kind: 'decision',
        decision: coa6,
        event: { kind: 'coa-changed', coa: { family: 6, address: '2001:db8:6::100' } },
        target: { family: 6, address: '2001:db8:6::100' },
      },
    ]);
    expect(d.nextTimer()).toBeNull();
    // Same state again: no report.
    d.handle({ kind: 'snapshot', snapshot: base() }, 2000);
    expect(d.handle({ kind: 'timer' }, 2050)).toEqual([]);
  });

  it('turns a move that removes one address and adds another into one decision', () => {
    const d = new MovementDetector({ ...CFG, debounceMs: 50 });
    d.handle({ kind: 'snapshot', snapshot: base() }, 0);
    d.handle({ kind: 'timer' }, 50);
    // Move: the IPv6 address goes at t=100, the new one arrives at t=130 (timer pushed to 180).
    d.handle({ kind: 'addr', op: 'del', addr: addr(2, '2001:db8:6::100') }, 100);
    expect(d.nextTimer()).toBe(150);
    expect(d.handle({ kind: 'addr', op: 'new', addr: addr(2, '2001:db8:6::200') }, 130)).toEqual([{ kind: 'arm-timer', at: 180 }]);
    expect(d.handle({ kind: 'timer' }, 150)).toEqual([{ kind: 'arm-timer', at: 180 }]); // stale timer: no decision, the due one stands
    const out = decisions(d.handle({ kind: 'timer' }, 180));
    expect(out.map((x) => x.kind === 'decision' && x.decision)).toEqual([{ kind: 'coa', coa: { family: 6, address: '2001:db8:6::200' } }]);
  });

  it('a flap shorter than the debounce yields no decision at all', () => {
    const d = new MovementDetector({ ...CFG, debounceMs: 50 });
    d.handle({ kind: 'snapshot', snapshot: base() }, 0);
    d.handle({ kind: 'timer' }, 50);
    d.handle({ kind: 'link', op: 'new', link: link(2, 'v6net0', false) }, 100);
    d.handle({ kind: 'link', op: 'new', link: link(2, 'v6net0', true) }, 120);
    expect(d.handle({ kind: 'timer' }, 170)).toEqual([]);
  });

  it('goes v6 -> v4 -> none -> v6 -> home with events, one report each', () => {
    const d = new MovementDetector({ ...CFG, debounceMs: 50 });
    let t = 0;
    const step = (ev: Parameters<MovementDetector['handle']>[0]) => {
      d.handle(ev, (t += 10));
      return decisions(d.handle({ kind: 'timer' }, (t += 100))).map((x) => x.kind === 'decision' && x.target);
    };
    expect(step({ kind: 'snapshot', snapshot: base() })).toEqual([{ family: 6, address: '2001:db8:6::100' }]);
    expect(step({ kind: 'link', op: 'new', link: link(2, 'v6net0', false) })).toEqual([{ family: 4, address: '198.51.100.100' }]);
    expect(step({ kind: 'route', op: 'del', route: dflt(4, 3) })).toEqual([null]);
    expect(step({ kind: 'link', op: 'new', link: link(2, 'v6net0', true) })).toEqual([{ family: 6, address: '2001:db8:6::100' }]);
    d.handle({ kind: 'link', op: 'new', link: link(4, 'home0') }, (t += 10));
    d.handle({ kind: 'addr', op: 'new', addr: addr(4, '2001:db8:1::9') }, (t += 10));
    expect(step({ kind: 'route', op: 'new', route: onlink('2001:db8:1::', 64, 4) })).toEqual(['home']);
    const home = d.decision;
    expect(home).toEqual({ kind: 'home' });
    // Deleting the link drops its addresses and routes: back to the IPv6 CoA.
    expect(step({ kind: 'link', op: 'del', link: link(4, 'home0') })).toEqual([{ family: 6, address: '2001:db8:6::100' }]);
  });

  it('never delays a decision more than maxDelayMs under constant churn', () => {
    const d = new MovementDetector({ ...CFG, debounceMs: 50, maxDelayMs: 200 });
    d.handle({ kind: 'snapshot', snapshot: base() }, 0);
    for (let t = 10; t < 190; t += 30) d.handle({ kind: 'snapshot', snapshot: base() }, t);
    expect(d.nextTimer()).toBe(200);
    expect(decisions(d.handle({ kind: 'timer' }, 200))).toHaveLength(1);
  });

  it('gives the registration event for home and none', () => {
    const d = new MovementDetector({ ...CFG, debounceMs: 0 });
    d.handle({ kind: 'snapshot', snapshot: { links: [], addresses: [], routes: [] } }, 0);
    expect(d.handle({ kind: 'timer' }, 0)).toEqual([{ kind: 'decision', decision: { kind: 'none' }, event: { kind: 'coa-changed', coa: null }, target: null }]);
    d.handle({ kind: 'snapshot', snapshot: { links: [link(4, 'home0')], addresses: [addr(4, '2001:db8:1::100')], routes: [] } }, 1);
    expect(d.handle({ kind: 'timer' }, 1)).toEqual([
      { kind: 'decision', decision: { kind: 'home' }, event: { kind: 'coa-changed', coa: null, home: true }, target: 'home' },
    ]);
  });
});

describe('MovementDetector.decideNow: deciding from the event itself', () => {
  const decided = (a: MovementAction[]) => a.map((x) => x.kind === 'decision' && x.target);
  /** A detector that has reported `snap`'s decision through the debounce. */
  function settled(snap: NetSnapshot): MovementDetector {
    const d = new MovementDetector({ ...CFG, debounceMs: 50 });
    d.handle({ kind: 'snapshot', snapshot: snap }, 0);
    d.handle({ kind: 'timer' }, 50);
    return d;
  }

  it('moves to the IPv4 CoA at once when the IPv6 one is deprecated, and the debounce then confirms without a second report', () => {
    const d = settled(base());
    expect(d.decision).toEqual(coa6);
    d.handle({ kind: 'addr', op: 'new', addr: addr(2, '2001:db8:6::100', 64, { deprecated: true }) }, 100);
    expect(decided(d.decideNow())).toEqual([{ family: 4, address: '198.51.100.100' }]);
    expect(d.decideNow()).toEqual([]); // reported once
    expect(d.handle({ kind: 'timer' }, 150)).toEqual([]);
    expect(d.decision).toEqual(coa4);
    // Preferred again: IPv6 wins at once.
    d.handle({ kind: 'addr', op: 'new', addr: addr(2, '2001:db8:6::100') }, 200);
    expect(decided(d.decideNow())).toEqual([{ family: 6, address: '2001:db8:6::100' }]);
  });

  it('with no CoA, waits for every part of one (RUNNING link, address past DAD, default route), then decides at once', () => {
    // Both access links down (administratively): no CoA.
    const d = settled(mod((s) => {
      s.links = [link(1, 'lo', true, { loopback: true }), link(2, 'v6net0', false, { adminUp: false }), link(3, 'v4net0', false, { adminUp: false })];
      s.routes = [];
    }));
    expect(d.decision).toEqual({ kind: 'none' });
    // v6net0 comes up but linkwatch has not made it RUNNING yet: nothing.
    d.handle({ kind: 'link', op: 'new', link: link(2, 'v6net0', false) }, 100);
    expect(d.decideNow()).toEqual([]);
    d.handle({ kind: 'link', op: 'new', link: link(2, 'v6net0', true) }, 101);
    d.handle({ kind: 'addr', op: 'new', addr: addr(2, '2001:db8:6::100', 64, { tentative: true }) }, 102);
    d.handle({ kind: 'route', op: 'new', route: dflt(6, 2) }, 103);
    expect(d.decideNow()).toEqual([]); // still tentative
    d.handle({ kind: 'addr', op: 'new', addr: addr(2, '2001:db8:6::100') }, 104);
    expect(decided(d.decideNow())).toEqual([{ family: 6, address: '2001:db8:6::100' }]);
  });

  it('forgets the routes of a link set down (the kernel flushes them silently), so its return needs a new default route', () => {
    const d = settled(base());
    d.handle({ kind: 'link', op: 'new', link: link(3, 'v4net0', false, { adminUp: false }) }, 100);
    d.handle({ kind: 'link', op: 'new', link: link(2, 'v6net0', false, { adminUp: false }) }, 100);
    expect(d.decideNow()).toEqual([]); // losing every CoA waits for the debounce
    expect(decided(d.handle({ kind: 'timer' }, 150))).toEqual([null]);
    d.handle({ kind: 'link', op: 'new', link: link(3, 'v4net0', true) }, 200);
    expect(d.decideNow()).toEqual([]); // up and RUNNING, but its default route went with the down
    d.handle({ kind: 'route', op: 'new', route: dflt(4, 3) }, 201);
    expect(decided(d.decideNow())).toEqual([{ family: 4, address: '198.51.100.100' }]);
  });

  it('never decides none, home, or away from home at once, nor before the first decision', () => {
    const fresh = new MovementDetector({ ...CFG, debounceMs: 50 });
    fresh.handle({ kind: 'snapshot', snapshot: base() }, 0);
    expect(fresh.decideNow()).toEqual([]);
    const d = settled(base());
    d.handle({ kind: 'link', op: 'new', link: link(4, 'home0') }, 100);
    d.handle({ kind: 'addr', op: 'new', addr: addr(4, '2001:db8:1::100') }, 100);
    expect(d.decideNow()).toEqual([]);
    expect(decided(d.handle({ kind: 'timer' }, 150))).toEqual(['home']);
    d.handle({ kind: 'link', op: 'del', link: link(4, 'home0') }, 200);
    expect(d.decideNow()).toEqual([]);
    expect(decided(d.handle({ kind: 'timer' }, 250))).toEqual([{ family: 6, address: '2001:db8:6::100' }]);
  });
});

describe('netwatch: netlink message conversion', () => {
  it('tells new from deleted by the message type (RTM_NEWLINK 16 / DELLINK 17, NEWADDR 20 / DELADDR 21, NEWROUTE 24 / DELROUTE 25, linux/rtnetlink.h)', () => {
    const l = { kind: 'link', data: { index: 3, flags: { up: true, running: true } }, attrs: { ifname: 'v4net0' } } as const;
    expect(eventFromNetlink(16, l)).toEqual({ kind: 'link', op: 'new', link: link(3, 'v4net0', true, { loopback: false }) });
    expect(eventFromNetlink(17, l)?.kind === 'link' && eventFromNetlink(17, l)).toMatchObject({ op: 'del' });
    // Set down: not up, and marked administratively down (its routes are gone).
    expect(eventFromNetlink(16, { kind: 'link', data: { index: 3, flags: {} }, attrs: { ifname: 'v4net0' } })).toMatchObject({ link: { up: false, adminUp: false } });
    const a = { kind: 'address', data: { family: 2, prefixlen: 24, index: 3 }, attrs: { local: Buffer.from([198, 51, 100, 100]) } } as const;
    expect(eventFromNetlink(20, a)).toEqual({ kind: 'addr', op: 'new', addr: { index: 3, family: 4, address: '198.51.100.100', prefixLen: 24 } });
    expect(eventFromNetlink(21, a)).toMatchObject({ kind: 'addr', op: 'del' });
    const r = { kind: 'route', data: { family: 2, dstLen: 0, table: 254, type: 1 }, attrs: { oif: 3, table: 254 } } as const;
    expect(eventFromNetlink(24, r)).toMatchObject({ kind: 'route', op: 'new', route: { family: 4, dstLen: 0, oifs: [3] } });
    expect(eventFromNetlink(25, r)).toMatchObject({ kind: 'route', op: 'del' });
    expect(eventFromNetlink(28, { kind: 'neighbor', data: {}, attrs: {} })).toBeNull();
  });

  it('reads links, addresses and routes as the netlink package parses them', () => {
    expect(linkFromNetlink({ kind: 'link', data: { index: 3, flags: { up: true, running: true, lowerUp: true } }, attrs: { ifname: 'v4net0' } })).toEqual(
      link(3, 'v4net0', true, { loopback: false }),
    );
    expect(linkFromNetlink({ kind: 'link', data: { index: 3, flags: { up: true } }, attrs: { ifname: 'x' } })?.up).toBe(false); // no carrier
    // Carrier seen (LOWER_UP) but not yet RUNNING: linkwatch has not activated the device, packets would be dropped.
    expect(linkFromNetlink({ kind: 'link', data: { index: 3, flags: { up: true, lowerUp: true } }, attrs: { ifname: 'x' } })?.up).toBe(false);
    const a6 = addrFromNetlink({
      kind: 'address',
      data: { family: 10, prefixlen: 64, index: 2, flags: {} },
      attrs: { address: Buffer.from('20010db8000600000000000000000100', 'hex'), flags: { tentative: true } },
    });
    expect(a6).toEqual({ index: 2, family: 6, address: '2001:db8:6::100', prefixLen: 64, tentative: true });
    const a4 = addrFromNetlink({
      kind: 'address',
      data: { family: 2, prefixlen: 24, index: 3 },
      attrs: { address: Buffer.from([198, 51, 100, 1]), local: Buffer.from([198, 51, 100, 100]) },
    });
    expect(a4).toEqual({ index: 3, family: 4, address: '198.51.100.100', prefixLen: 24 });
    expect(routeFromNetlink({ kind: 'route', data: { family: 10, dstLen: 0, table: 254, type: 1 }, attrs: { oif: 2, priority: 200, table: 254 } })).toEqual({
      family: 6,
      dstLen: 0,
      oifs: [2],
      table: 254,
      type: 'unicast',
      metric: 200,
    });
    expect(routeFromNetlink({ kind: 'route', data: { family: 2, dstLen: 0, type: 7 }, attrs: {} })?.type).toBe('other');
    // Two rtnexthops: len 8 (no attrs) ifindex 4, then len 16 (8 bytes of attrs) ifindex 7.
    const mp = Buffer.alloc(24);
    mp.writeUInt16LE(8, 0);
    mp.writeInt32LE(4, 4);
    mp.writeUInt16LE(16, 8);
    mp.writeInt32LE(7, 12);
    expect(multipathOifs(mp)).toEqual([4, 7]);
  });
});
