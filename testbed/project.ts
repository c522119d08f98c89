// PROJECT_TOPOLOGY: the network dsmip6 is tested, demonstrated and measured on, and its address
// plan as constants, so other modules name addresses through PROJECT instead of repeating
// literals. Data only: this file must never run anything. Only documentation and private ranges
// (2001:db8::/32, 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 10/8, 192.168/16), and they
// exist only inside the testbed's namespaces.
//
//                               cn  (2001:db8:cc::10, 192.0.2.10)
//                                |
//        ha ---------------- inet (router) --------------- ar6 ---- mn v6net0   IPv6-only
//        |  \                  |        \
//   homelan  (HA address)      |         ar4 ---- mn v4net0                     IPv4-only, public
//   bridge                     |
//   |     \                   nat (masquerade fully-random) ---- mn natnet0     private IPv4
//  homehost  mn home0
//
// | network              | IPv6                  | IPv4              | who (interface: address)                                   |
// |----------------------|-----------------------|-------------------|------------------------------------------------------------|
// | home link (homelan)  | 2001:db8:1::/64       | 10.1.0.0/24       | ha home0 ::1 .1 · homehost home0 ::10 .10 · mn home0 ::100 .100 (the MN's home addresses) |
// | v6net (IPv6-only)    | 2001:db8:6::/64       | -                 | ar6 lan0 ::1 · mn v6net0 ::100                             |
// | v4net (IPv4-only)    | -                     | 198.51.100.0/24   | ar4 lan0 .1 · mn v4net0 .100                               |
// | natnet (behind NAT)  | -                     | 192.168.77.0/24   | nat lan0 .1 · mn natnet0 .100                              |
// | inet-ha              | 2001:db8:ff00:1::/64  | 203.0.113.0/28    | inet toha ::1 .1 · ha up0 ::2 .2                           |
// | inet-ar6             | 2001:db8:ff00:6::/64  | -                 | inet toar6 ::1 · ar6 up0 ::2                               |
// | inet-ar4             | -                     | 203.0.113.16/28   | inet toar4 .17 · ar4 up0 .18                               |
// | inet-nat             | -                     | 203.0.113.32/28   | inet tonat .33 · nat up0 .34 (the NAT's public address)    |
// | inet-cn              | 2001:db8:cc::/64      | 192.0.2.0/24      | inet tocn ::1 .1 · cn up0 ::10 .10                         |
//
// Routing: inet knows every public network (the home prefixes via ha, v6net via ar6, v4net via
// ar4); 192.168.77.0/24 is known only to nat and mn. Routers forward; ha forwards both families.
// IPv4-only and IPv6-only links have the other family switched off (no link-local address
// either), so the MN really sees an IPv4-only or IPv6-only network there.
// The MN has a default route per family on each of its networks (home first by metric) and,
// per interface, a policy table (rule "from <its address>") with a default route through that
// interface, so a reply leaves through the network its address belongs to. The MN daemon adds
// its own rules before these (priority < 1000) and may remove the home addresses when away.
import type { HostSpec, LinkEndRef, LinkSpec, TopologySpec } from './spec.js';

const HOME6 = '2001:db8:1::';
const HOME4 = '10.1.0.';

/** The address plan; every address and prefix of PROJECT_TOPOLOGY, by role. */
export const PROJECT = Object.freeze({
  networks: Object.freeze({
    home: Object.freeze({ prefix6: `${HOME6}/64`, prefix4: `${HOME4}0/24` }),
    v6net: Object.freeze({ prefix6: '2001:db8:6::/64' }),
    v4net: Object.freeze({ prefix4: '198.51.100.0/24' }),
    natnet: Object.freeze({ prefix4: '192.168.77.0/24' }),
    inetHa: Object.freeze({ prefix6: '2001:db8:ff00:1::/64', prefix4: '203.0.113.0/28' }),
    inetAr6: Object.freeze({ prefix6: '2001:db8:ff00:6::/64' }),
    inetAr4: Object.freeze({ prefix4: '203.0.113.16/28' }),
    inetNat: Object.freeze({ prefix4: '203.0.113.32/28' }),
    cnNet: Object.freeze({ prefix6: '2001:db8:cc::/64', prefix4: '192.0.2.0/24' }),
  }),
  /** The home agent: on the home link (its HA address) and on the internet. */
  ha: Object.freeze({
    host: 'ha',
    homeIf: 'home0',
    upIf: 'up0',
    /** The HA address on the home link, where the MN sends binding updates over IPv6. */
    home6: `${HOME6}1`,
    home4: `${HOME4}1`,
    /** The HA's IPv4 address on the internet, where the MN sends UDP 4191 from IPv4 networks. */
    public4: '203.0.113.2',
    public6: '2001:db8:ff00:1::2',
  }),
  homehost: Object.freeze({ host: 'homehost', ifname: 'home0', addr6: `${HOME6}10`, addr4: `${HOME4}10` }),
  cn: Object.freeze({ host: 'cn', ifname: 'up0', addr6: '2001:db8:cc::10', addr4: '192.0.2.10' }),
  mn: Object.freeze({
    host: 'mn',
    /** Home addresses (on home0 at start). */
    hoa6: `${HOME6}100`,
    hoa4: `${HOME4}100`,
    /** Care-of addresses on each foreign network. */
    coa6: '2001:db8:6::100',
    coa4: '198.51.100.100',
    /** The MN's private address behind the NAT. */
    natPrivate4: '192.168.77.100',
    ifaces: Object.freeze({ home: 'home0', v6net: 'v6net0', v4net: 'v4net0', natnet: 'natnet0' }),
    /** Policy routing tables, one per interface (rules "from <address>" at priority 1000..1004). */
    tables: Object.freeze({ home: 101, v6net: 106, v4net: 104, natnet: 177 }),
  }),
  ar6: Object.freeze({ host: 'ar6', lanIf: 'lan0', upIf: 'up0', lan6: '2001:db8:6::1', up6: '2001:db8:ff00:6::2' }),
  ar4: Object.freeze({ host: 'ar4', lanIf: 'lan0', upIf: 'up0', lan4: '198.51.100.1', up4: '203.0.113.18' }),
  nat: Object.freeze({
    host: 'nat',
    lanIf: 'lan0',
    /** The outside interface, masqueraded. */
    upIf: 'up0',
    lan4: '192.168.77.1',
    /** The NAT's public address: what the HA and CN see as the MN's source behind the NAT. */
    public4: '203.0.113.34',
  }),
  inet: Object.freeze({
    host: 'inet',
    toHa6: '2001:db8:ff00:1::1',
    toHa4: '203.0.113.1',
    toAr6: '2001:db8:ff00:6::1',
    toAr4: '203.0.113.17',
    toNat: '203.0.113.33',
    toCn6: '2001:db8:cc::1',
    toCn4: '192.0.2.1',
  }),
  /** The home link's bridge (a namespace of its own). */
  homeLan: 'homelan',
});

const P = PROJECT;
const len = (prefix: string): string => prefix.slice(prefix.indexOf('/'));

/** Link ends tests impair or switch: `tb.setLoss(PROJECT_ENDS.mnNat, 100)`, `tb.linkDown(PROJECT_ENDS.mnV4.host, ...)`. */
export const PROJECT_ENDS = Object.freeze({
  mnHome: { host: 'mn', ifname: P.mn.ifaces.home },
  mnV6: { host: 'mn', ifname: P.mn.ifaces.v6net },
  mnV4: { host: 'mn', ifname: P.mn.ifaces.v4net },
  mnNat: { host: 'mn', ifname: P.mn.ifaces.natnet },
  haHome: { host: 'ha', ifname: P.ha.homeIf },
  haUp: { host: 'ha', ifname: P.ha.upIf },
  natUp: { host: 'nat', ifname: P.nat.upIf },
  cnUp: { host: 'cn', ifname: P.cn.ifname },
} satisfies Record<string, LinkEndRef>);

/** Default NAT conntrack timeouts of the project topology (seconds). */
export const PROJECT_NAT_UDP_TIMEOUT_S = 5;

function p2p(a: LinkSpec['a'], b: LinkSpec['b']): LinkSpec {
  return { a, b };
}

const links: LinkSpec[] = [
  p2p(
    { host: 'inet', ifname: 'toha', addresses: [`${P.inet.toHa6}${len(P.networks.inetHa.prefix6)}`, `${P.inet.toHa4}${len(P.networks.inetHa.prefix4)}`] },
    { host: 'ha', ifname: P.ha.upIf, addresses: [`${P.ha.public6}${len(P.networks.inetHa.prefix6)}`, `${P.ha.public4}${len(P.networks.inetHa.prefix4)}`] },
  ),
  p2p(
    { host: 'inet', ifname: 'toar6', addresses: [`${P.inet.toAr6}${len(P.networks.inetAr6.prefix6)}`] },
    { host: 'ar6', ifname: P.ar6.upIf, addresses: [`${P.ar6.up6}${len(P.networks.inetAr6.prefix6)}`] },
  ),
  p2p(
    { host: 'inet', ifname: 'toar4', addresses: [`${P.inet.toAr4}${len(P.networks.inetAr4.prefix4)}`], ipv6: false },
    { host: 'ar4', ifname: P.ar4.upIf, addresses: [`${P.ar4.up4}${len(P.networks.inetAr4.prefix4)}`], ipv6: false },
  ),
  p2p(
    { host: 'inet', ifname: 'tonat', addresses: [`${P.inet.toNat}${len(P.networks.inetNat.prefix4)}`], ipv6: false },
    { host: 'nat', ifname: P.nat.upIf, addresses: [`${P.nat.public4}${len(P.networks.inetNat.prefix4)}`], ipv6: false },
  ),
  p2p(
    { host: 'inet', ifname: 'tocn', addresses: [`${P.inet.toCn6}${len(P.networks.cnNet.prefix6)}`, `${P.inet.toCn4}${len(P.networks.cnNet.prefix4)}`] },
    { host: 'cn', ifname: P.cn.ifname, addresses: [`${P.cn.addr6}${len(P.networks.cnNet.prefix6)}`, `${P.cn.addr4}${len(P.networks.cnNet.prefix4)}`] },
  ),
  p2p(
    { host: 'ar6', ifname: P.ar6.lanIf, addresses: [`${P.ar6.lan6}${len(P.networks.v6net.prefix6)}`] },
    { host: 'mn', ifname: P.mn.ifaces.v6net, addresses: [`${P.mn.coa6}${len(P.networks.v6net.prefix6)}`] },
  ),
  p2p(
    { host: 'ar4', ifname: P.ar4.lanIf, addresses: [`${P.ar4.lan4}${len(P.networks.v4net.prefix4)}`], ipv6: false },
    { host: 'mn', ifname: P.mn.ifaces.v4net, addresses: [`${P.mn.coa4}${len(P.networks.v4net.prefix4)}`], ipv6: false },
  ),
  p2p(
    { host: 'nat', ifname: P.nat.lanIf, addresses: [`${P.nat.lan4}${len(P.networks.natnet.prefix4)}`], ipv6: false },
    { host: 'mn', ifname: P.mn.ifaces.natnet, addresses: [`${P.mn.natPrivate4}${len(P.networks.natnet.prefix4)}`], ipv6: false },
  ),
];

const home6 = len(P.networks.home.prefix6);
const home4 = len(P.networks.home.prefix4);

const hosts: HostSpec[] = [
  {
    name: 'inet',
    forwarding: true,
    routes: [
      { to: P.networks.home.prefix6, via: P.ha.public6 },
      { to: P.networks.home.prefix4, via: P.ha.public4 },
      { to: P.networks.v6net.prefix6, via: P.ar6.up6 },
      { to: P.networks.v4net.prefix4, via: P.ar4.up4 },
    ],
  },
  {
    name: 'ha',
    forwarding: true,
    routes: [
      { to: 'default', via: P.inet.toHa6 },
      { to: 'default', via: P.inet.toHa4 },
    ],
  },
  {
    name: 'homehost',
    routes: [
      { to: 'default', via: P.ha.home6 },
      { to: 'default', via: P.ha.home4 },
    ],
  },
  { name: 'ar6', forwarding: { ipv6: true }, routes: [{ to: 'default', via: P.inet.toAr6 }] },
  { name: 'ar4', forwarding: { ipv4: true }, routes: [{ to: 'default', via: P.inet.toAr4 }] },
  {
    name: 'nat',
    forwarding: { ipv4: true },
    routes: [{ to: 'default', via: P.inet.toNat }],
    nat: { outside: P.nat.upIf, udpTimeoutS: PROJECT_NAT_UDP_TIMEOUT_S, udpStreamTimeoutS: PROJECT_NAT_UDP_TIMEOUT_S },
  },
  {
    name: 'cn',
    routes: [
      { to: 'default', via: P.inet.toCn6 },
      { to: 'default', via: P.inet.toCn4 },
    ],
  },
  {
    name: 'mn',
    routes: [
      // Main table: home first, then the foreign networks.
      { to: 'default', via: P.ha.home6, metric: 100 },
      { to: 'default', via: P.ar6.lan6, metric: 200 },
      { to: 'default', via: P.ha.home4, metric: 100 },
      { to: 'default', via: P.ar4.lan4, metric: 200 },
      { to: 'default', via: P.nat.lan4, metric: 300 },
      // One table per interface, for replies from that interface's address.
      { to: 'default', via: P.ha.home6, table: P.mn.tables.home },
      { to: 'default', via: P.ha.home4, table: P.mn.tables.home },
      { to: 'default', via: P.ar6.lan6, table: P.mn.tables.v6net },
      { to: 'default', via: P.ar4.lan4, table: P.mn.tables.v4net },
      { to: 'default', via: P.nat.lan4, table: P.mn.tables.natnet },
    ],
    rules: [
      { from: P.mn.hoa6, table: P.mn.tables.home, priority: 1000 },
      { from: P.mn.hoa4, table: P.mn.tables.home, priority: 1001 },
      { from: P.mn.coa6, table: P.mn.tables.v6net, priority: 1002 },
      { from: P.mn.coa4, table: P.mn.tables.v4net, priority: 1003 },
      { from: P.mn.natPrivate4, table: P.mn.tables.natnet, priority: 1004 },
    ],
  },
];

/** The project's test network; build it with `Testbed.create(PROJECT_TOPOLOGY)`. */
export const PROJECT_TOPOLOGY: TopologySpec = {
  name: 'project',
  hosts,
  links,
  lans: [
    {
      name: P.homeLan,
      members: [
        { host: 'ha', ifname: P.ha.homeIf, addresses: [`${P.ha.home6}${home6}`, `${P.ha.home4}${home4}`] },
        { host: 'homehost', ifname: P.homehost.ifname, addresses: [`${P.homehost.addr6}${home6}`, `${P.homehost.addr4}${home4}`] },
        { host: 'mn', ifname: P.mn.ifaces.home, addresses: [`${P.mn.hoa6}${home6}`, `${P.mn.hoa4}${home4}`] },
      ],
    },
  ],
};
