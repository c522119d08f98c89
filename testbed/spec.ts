// The typed description of a test network (hosts, links, LANs, routes, NAT, impairment) and
// its validation. Pure data and checks: this file must never run a command or touch the system;
// the Testbed class turns a validated spec into namespaces.
import { familyOf, parseCidr, prefixContains, type Cidr, type Family } from './addr.js';

/** One end of a veth pair, inside one host's namespace. */
export interface LinkEndSpec {
  /** Host (namespace) the interface lives in. */
  host: string;
  /** Interface name in that namespace: 1-15 characters of [A-Za-z0-9_-] (IFNAMSIZ, and usable in sysctl paths). */
  ifname: string;
  /** Addresses with prefix length, IPv4 and/or IPv6: "10.1.0.1/24", "2001:db8:1::1/64". IPv6 ones are added with nodad. */
  addresses?: string[];
  /** MTU of this end (68..65535); the link's `mtu` when absent, else the kernel's 1500. */
  mtu?: number;
  /**
   * Fixed unicast MAC address of this end ("02:00:00:00:00:0a"), set before the link comes up (so
   * its IPv6 link-local address derives from it); the kernel picks a random one when absent.
   */
  mac?: string;
  /** false turns IPv6 off on this interface (disable_ipv6=1), for IPv4-only networks: not even a link-local address. */
  ipv6?: boolean;
  /** Percent (0..100) of the packets this end sends that are lost on the wire. */
  loss?: number;
  /** Rate limit of what this end sends (tbf). */
  rate?: RateSpec;
}

/** A token bucket (tc tbf) on an interface's egress. */
export interface RateSpec {
  /** Rate in kbit/s (1000 bit). */
  kbit: number;
  /** Bucket size in bytes; default: 10 ms worth at the rate, at least 3000. */
  burstBytes?: number;
  /** Longest a packet may wait in the queue, ms; default 50. */
  latencyMs?: number;
}

/** A veth pair between two hosts. */
export interface LinkSpec {
  a: LinkEndSpec;
  b: LinkEndSpec;
  /** MTU of both ends unless an end says otherwise. */
  mtu?: number;
}

/** A shared segment (several hosts on one link): a Linux bridge in a namespace of its own, one veth per member. */
export interface LanSpec {
  /** Names the bridge's namespace; must differ from every host name. */
  name: string;
  /** The members' ends; each is a veth to a port of the bridge. `loss` and `rate` act on what the member sends. */
  members: LinkEndSpec[];
  /** MTU of every member end and bridge port unless a member says otherwise. */
  mtu?: number;
}

/** A route in a host's routing table. */
export interface RouteSpec {
  /** "default" or a prefix "2001:db8:6::/64", "198.51.100.0/24". */
  to: string;
  /** Gateway address; the interface is then the one whose prefix holds it (or `dev`). */
  via?: string;
  /** Outgoing interface (required without `via`). */
  dev?: string;
  /** 4 or 6; needed only for "default" without `via`. */
  family?: Family;
  metric?: number;
  /** Routing table number (1..2^32-1, not 255 local); main when absent. */
  table?: number;
  /** Preferred source address. */
  src?: string;
}

/** A policy routing rule (`ip rule`): traffic matching from/to looks up `table`. */
export interface RuleSpec {
  from?: string;
  to?: string;
  /** Incoming interface. */
  iif?: string;
  table: number;
  /** Rule priority (lower first); the kernel picks one when absent. */
  priority?: number;
  /** 4 or 6; needed only when neither from nor to is given. */
  family?: Family;
}

/** IPv4 masquerading on a host (nftables, in its namespace). */
export interface NatSpec {
  /** The outside interface: packets leaving through it get its address and a random port ("masquerade fully-random"). */
  outside: string;
  /** nf_conntrack_udp_timeout in seconds (a UDP flow seen one way); default 5. */
  udpTimeoutS?: number;
  /** nf_conntrack_udp_timeout_stream in seconds (a UDP flow seen both ways); default 5. */
  udpStreamTimeoutS?: number;
}

export interface HostSpec {
  /** Host name: 1-20 characters of [a-z0-9-], starting with a letter; part of the namespace name. */
  name: string;
  /** IP forwarding: true for both families, or per family. Default: off. */
  forwarding?: boolean | { ipv4?: boolean; ipv6?: boolean };
  routes?: RouteSpec[];
  rules?: RuleSpec[];
  nat?: NatSpec;
  /** Extra sysctls for this namespace ("net.ipv4.conf.all.rp_filter": 0), applied after the testbed's own. */
  sysctls?: Record<string, string | number>;
}

export interface TopologySpec {
  /** A name for humans and state files ("project"). */
  name?: string;
  hosts: HostSpec[];
  links?: LinkSpec[];
  lans?: LanSpec[];
}

/** A spec that does not describe a network we can build; `problems` names each field and the fix. */
export class TopologyError extends Error {
  override readonly name = 'TopologyError';
  constructor(readonly problems: string[]) {
    super(`bad topology:\n  ${problems.join('\n  ')}`);
  }
}

/** Refers to one interface of the running testbed: `{ host: 'mn', ifname: 'natnet0' }`. */
export interface LinkEndRef {
  host: string;
  ifname: string;
}

/** One interface as placed by a spec, with where its other end is. */
export interface PlacedEnd {
  /** Where it was declared: "links[2].b" or "lans[0].members[1]". */
  path: string;
  end: LinkEndSpec;
  mtu?: number;
  /** The peer: another host's end, or a port of a LAN's bridge. */
  peer: { kind: 'host'; host: string; ifname: string } | { kind: 'lan'; lan: string; port: string };
}

export const HOST_NAME = /^[a-z][a-z0-9-]{0,19}$/;
export const IFNAME = /^[A-Za-z0-9_-]{1,15}$/;
export const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

/** Every interface the spec creates in a host, in declaration order. */
export function placedEnds(spec: TopologySpec): PlacedEnd[] {
  const out: PlacedEnd[] = [];
  (spec.links ?? []).forEach((l, i) => {
    out.push({ path: `links[${i}].a`, end: l.a, mtu: l.a.mtu ?? l.mtu, peer: { kind: 'host', host: l.b.host, ifname: l.b.ifname } });
    out.push({ path: `links[${i}].b`, end: l.b, mtu: l.b.mtu ?? l.mtu, peer: { kind: 'host', host: l.a.host, ifname: l.a.ifname } });
  });
  (spec.lans ?? []).forEach((lan, i) => {
    lan.members.forEach((m, j) => {
      out.push({ path: `lans[${i}].members[${j}]`, end: m, mtu: m.mtu ?? lan.mtu, peer: { kind: 'lan', lan: lan.name, port: lanPort(j) } });
    });
  });
  return out;
}

/** Name of the bridge port (in the LAN's namespace) facing member j. */
export function lanPort(j: number): string {
  return `port${j}`;
}

/** The family a route is for, or undefined when nothing says. */
export function routeFamily(r: RouteSpec): Family | undefined {
  if (r.to !== 'default') return parseCidr(r.to)?.family ?? familyOf(r.to);
  if (r.via) return familyOf(r.via);
  return r.family;
}

/** The family a rule is for, or undefined when nothing says. */
export function ruleFamily(r: RuleSpec): Family | undefined {
  const sel = r.from ?? r.to;
  if (sel) return parseCidr(sel)?.family ?? familyOf(sel);
  return r.family;
}

/** Throws TopologyError listing every problem; returns the spec unchanged when it is buildable. */
export function validateSpec(spec: TopologySpec): TopologySpec {
  const p: string[] = [];
  if (typeof spec !== 'object' || spec === null || !Array.isArray(spec.hosts)) {
    throw new TopologyError(['the spec must be an object with a "hosts" list (and "links" and/or "lans")']);
  }
  const hosts = new Set<string>();
  spec.hosts.forEach((h, i) => {
    if (typeof h?.name !== 'string' || !HOST_NAME.test(h.name)) {
      p.push(`hosts[${i}].name: ${JSON.stringify(h?.name)} must be 1-20 characters of a-z, 0-9 and "-", starting with a letter`);
    } else if (hosts.has(h.name)) p.push(`hosts[${i}].name: "${h.name}" is used twice`);
    else hosts.add(h.name);
  });
  const lans = new Set<string>();
  (spec.lans ?? []).forEach((l, i) => {
    if (typeof l?.name !== 'string' || !HOST_NAME.test(l.name)) {
      p.push(`lans[${i}].name: ${JSON.stringify(l?.name)} must be 1-20 characters of a-z, 0-9 and "-", starting with a letter`);
    } else if (hosts.has(l.name) || lans.has(l.name)) {
      p.push(`lans[${i}].name: "${l.name}" is already a host or LAN name (each names a namespace)`);
    } else lans.add(l.name);
    if (!Array.isArray(l?.members) || l.members.length === 0) p.push(`lans[${i}].members: give at least one member end`);
    checkMtu(l?.mtu, `lans[${i}].mtu`, p);
  });
  (spec.links ?? []).forEach((l, i) => {
    if (!l?.a || !l?.b) p.push(`links[${i}]: a link needs both ends "a" and "b"`);
    checkMtu(l?.mtu, `links[${i}].mtu`, p);
  });
  if (p.length) throw new TopologyError(p);

  // Interfaces: unique per host, addresses well formed.
  const ifaces = new Map<string, Map<string, Cidr[]>>();
  for (const h of hosts) ifaces.set(h, new Map());
  for (const pe of placedEnds(spec)) {
    const e = pe.end;
    const at = pe.path;
    if (!hosts.has(e.host)) {
      p.push(`${at}.host: "${e.host}" is not in "hosts" (known: ${[...hosts].join(', ')})`);
      continue;
    }
    if (typeof e.ifname !== 'string' || !IFNAME.test(e.ifname) || e.ifname === 'lo') {
      p.push(`${at}.ifname: ${JSON.stringify(e.ifname)} must be 1-15 characters of A-Z, a-z, 0-9, "_" and "-" (not "lo")`);
      continue;
    }
    const mine = ifaces.get(e.host)!;
    if (mine.has(e.ifname)) {
      p.push(`${at}.ifname: host "${e.host}" already has an interface "${e.ifname}"`);
      continue;
    }
    const cidrs: Cidr[] = [];
    (e.addresses ?? []).forEach((a, k) => {
      const c = typeof a === 'string' ? parseCidr(a) : undefined;
      if (!c) {
        const bare = typeof a === 'string' ? familyOf(a) : undefined;
        const hint = bare ? `add the prefix length: "${a}/${bare === 4 ? 24 : 64}"` : 'write e.g. 10.1.0.1/24 or 2001:db8:1::1/64';
        p.push(`${at}.addresses[${k}]: ${JSON.stringify(a)} is not an address with a prefix length (${hint})`);
      }
      else if (c.family === 6 && e.ipv6 === false) p.push(`${at}.addresses[${k}]: "${a}" is IPv6 but the end says ipv6: false`);
      else cidrs.push(c);
    });
    mine.set(e.ifname, cidrs);
    checkMtu(pe.mtu, `${at}.mtu`, p);
    if (pe.mtu !== undefined && pe.mtu < 1280 && e.ipv6 !== false) p.push(`${at}.mtu: IPv6 needs an MTU of at least 1280 (or set ipv6: false)`);
    if (e.mac !== undefined) checkMac(e.mac, `${at}.mac`, p);
    if (e.loss !== undefined) checkLoss(e.loss, `${at}.loss`, p);
    if (e.rate !== undefined) checkRate(e.rate, `${at}.rate`, p);
  }

  spec.hosts.forEach((h, i) => {
    const mine = ifaces.get(h.name);
    if (!mine) return;
    const at = `hosts[${i}]`;
    (h.routes ?? []).forEach((r, k) => checkRoute(r, `${at}.routes[${k}]`, mine, p));
    (h.rules ?? []).forEach((r, k) => checkRule(r, `${at}.rules[${k}]`, mine, p));
    if (h.nat !== undefined) {
      if (!h.nat || typeof h.nat.outside !== 'string') p.push(`${at}.nat.outside: name the outside interface`);
      else if (!mine.has(h.nat.outside)) p.push(`${at}.nat.outside: host "${h.name}" has no interface "${h.nat.outside}"`);
      for (const k of ['udpTimeoutS', 'udpStreamTimeoutS'] as const) {
        const v = h.nat?.[k];
        if (v !== undefined && !(Number.isInteger(v) && v >= 1 && v <= 86400)) p.push(`${at}.nat.${k}: ${v} must be a whole number of seconds, 1..86400`);
      }
    }
    if (h.forwarding !== undefined && typeof h.forwarding !== 'boolean' && typeof h.forwarding !== 'object') {
      p.push(`${at}.forwarding: true, false or { ipv4, ipv6 }`);
    }
    for (const [k, v] of Object.entries(h.sysctls ?? {})) {
      if (!/^net\.[A-Za-z0-9_.-]+$/.test(k)) p.push(`${at}.sysctls: "${k}" must be a net.* key (the namespace only owns those)`);
      if (!/^[A-Za-z0-9_. -]+$/.test(String(v))) p.push(`${at}.sysctls["${k}"]: ${JSON.stringify(v)} is not a plain value`);
    }
  });
  if (p.length) throw new TopologyError(p);
  return spec;
}

function checkMtu(mtu: number | undefined, at: string, p: string[]): void {
  if (mtu !== undefined && !(Number.isInteger(mtu) && mtu >= 68 && mtu <= 65535)) p.push(`${at}: ${mtu} must be a whole number 68..65535`);
}

function checkMac(mac: string, at: string, p: string[]): void {
  if (typeof mac !== 'string' || !MAC.test(mac)) p.push(`${at}: ${JSON.stringify(mac)} must be six hex octets separated by ":" (e.g. "02:00:00:00:00:0a")`);
  else if (parseInt(mac.slice(0, 2), 16) & 1) p.push(`${at}: ${mac} is a multicast address (lowest bit of the first octet set); use a unicast one such as 02:...`);
  else if (/^(00:){5}00$/.test(mac)) p.push(`${at}: 00:00:00:00:00:00 is not a usable address`);
}

export function checkLoss(loss: number, at: string, p: string[]): void {
  if (!(typeof loss === 'number' && loss >= 0 && loss <= 100 && Number.isInteger(loss))) p.push(`${at}: ${loss} must be a whole percentage 0..100`);
}

export function checkRate(rate: RateSpec, at: string, p: string[]): void {
  if (!rate || !(Number.isInteger(rate.kbit) && rate.kbit >= 8 && rate.kbit <= 100_000_000)) p.push(`${at}.kbit: must be a whole number of kbit/s, 8..100000000`);
  if (rate?.burstBytes !== undefined && !(Number.isInteger(rate.burstBytes) && rate.burstBytes >= 1500)) p.push(`${at}.burstBytes: at least 1500 (one full packet)`);
  if (rate?.latencyMs !== undefined && !(Number.isInteger(rate.latencyMs) && rate.latencyMs >= 1)) p.push(`${at}.latencyMs: a whole number of ms, at least 1`);
}

/** Checks one route against a host's interfaces; pushes problems. Also used by Testbed.addRoute. */
export function checkRoute(r: RouteSpec, at: string, ifaces: Map<string, Cidr[]>, p: string[]): void {
  if (!r || typeof r.to !== 'string') {
    p.push(`${at}.to: "default" or a prefix like 2001:db8:6::/64`);
    return;
  }
  if (r.to !== 'default' && !parseCidr(r.to)) p.push(`${at}.to: ${JSON.stringify(r.to)} is neither "default" nor a prefix with length`);
  const fam = routeFamily(r);
  if (!fam) p.push(`${at}: say the family (family: 4 or 6) of a default route without "via"`);
  if (r.via !== undefined && familyOf(r.via) === undefined) p.push(`${at}.via: ${JSON.stringify(r.via)} is not an address`);
  if (r.via !== undefined && fam && familyOf(r.via) !== fam) p.push(`${at}.via: ${r.via} is not of the route's family (IPv${fam})`);
  if (r.via === undefined && r.dev === undefined) p.push(`${at}: give "via" (a gateway) or "dev" (an interface), or both`);
  if (r.dev !== undefined && !ifaces.has(r.dev)) p.push(`${at}.dev: the host has no interface "${r.dev}"`);
  if (r.via !== undefined && r.dev === undefined && familyOf(r.via) && !routeDevice(r, ifaces)) {
    p.push(`${at}.via: no interface of the host has a prefix holding ${r.via}; add "dev" or an address on that network`);
  }
  if (r.src !== undefined && familyOf(r.src) !== fam) p.push(`${at}.src: ${JSON.stringify(r.src)} is not an IPv${fam ?? '?'} address`);
  if (r.metric !== undefined && !(Number.isInteger(r.metric) && r.metric >= 0 && r.metric <= 0xffffffff)) p.push(`${at}.metric: a whole number 0..4294967295`);
  if (r.table !== undefined && !(Number.isInteger(r.table) && r.table >= 1 && r.table <= 0xffffffff && r.table !== 255)) {
    p.push(`${at}.table: a whole number 1..4294967295, not 255 (the local table)`);
  }
}

function checkRule(r: RuleSpec, at: string, ifaces: Map<string, Cidr[]>, p: string[]): void {
  for (const k of ['from', 'to'] as const) {
    const v = r?.[k];
    if (v !== undefined && !parseCidr(v) && !familyOf(v)) p.push(`${at}.${k}: ${JSON.stringify(v)} is not an address or prefix`);
  }
  if (r?.from && r?.to && ruleFamily({ ...r, to: undefined }) !== ruleFamily({ ...r, from: undefined })) p.push(`${at}: from and to are of different families`);
  if (!ruleFamily(r)) p.push(`${at}: give from, to or family`);
  if (!(Number.isInteger(r?.table) && r.table >= 1 && r.table <= 0xffffffff)) p.push(`${at}.table: a whole number 1..4294967295`);
  if (r?.priority !== undefined && !(Number.isInteger(r.priority) && r.priority >= 1 && r.priority < 32766)) p.push(`${at}.priority: 1..32765 (before the main table's rule)`);
  if (r?.iif !== undefined && !ifaces.has(r.iif)) p.push(`${at}.iif: the host has no interface "${r.iif}"`);
}

/** The interface a route leaves through: its `dev`, or the interface whose prefix holds the gateway. */
export function routeDevice(r: RouteSpec, ifaces: Map<string, Cidr[]>): string | undefined {
  if (r.dev) return r.dev;
  if (!r.via) return undefined;
  for (const [name, cidrs] of ifaces) if (cidrs.some((c) => prefixContains(c, r.via!))) return name;
  return undefined;
}

/** Interfaces and their addresses per host, as the spec declares them. */
export function interfacesByHost(spec: TopologySpec): Map<string, Map<string, Cidr[]>> {
  const out = new Map<string, Map<string, Cidr[]>>();
  for (const h of spec.hosts) out.set(h.name, new Map());
  for (const pe of placedEnds(spec)) {
    out.get(pe.end.host)?.set(pe.end.ifname, (pe.end.addresses ?? []).map((a) => parseCidr(a)).filter((c): c is Cidr => !!c));
  }
  return out;
}
