// The testbed's pure parts, no root needed: topology validation (errors name the field and the
// fix), the project's address plan, address arithmetic, namespace naming, and the nft/tc text.
import { describe, expect, it } from 'vitest';
import { networkOf, parseCidr, prefixContains } from '../testbed/addr.js';
import { lossScript, lossTableName, rateArgv } from '../testbed/impair.js';
import { nsNameOf, parseNsName, parseRunId, runIdOf } from '../testbed/names.js';
import { natScript, natSysctls } from '../testbed/nat.js';
import { PROJECT, PROJECT_ENDS, PROJECT_TOPOLOGY } from '../testbed/project.js';
import { formatArgv } from '../testbed/run.js';
import { interfacesByHost, placedEnds, TopologyError, validateSpec, type TopologySpec } from '../testbed/spec.js';

function problems(spec: unknown): string[] {
  try {
    validateSpec(spec as TopologySpec);
    return [];
  } catch (e) {
    expect(e).toBeInstanceOf(TopologyError);
    return (e as TopologyError).problems;
  }
}

const two = (): TopologySpec => ({
  hosts: [{ name: 'a' }, { name: 'b' }],
  links: [{ a: { host: 'a', ifname: 'e0', addresses: ['10.0.0.1/24', '2001:db8::1/64'] }, b: { host: 'b', ifname: 'e0', addresses: ['10.0.0.2/24'] } }],
});

describe('topology validation', () => {
  it('accepts the project topology and a minimal spec', () => {
    expect(validateSpec(PROJECT_TOPOLOGY)).toBe(PROJECT_TOPOLOGY);
    expect(problems(two())).toEqual([]);
  });

  it('names the field and the fix of each problem, all at once', () => {
    const s = two();
    s.links![0].a.addresses = ['10.0.0.1'];
    s.links![0].b.ifname = 'an-interface-name-too-long';
    s.hosts.push({ name: 'a' }, { name: 'Bad_Name' });
    const p = problems(s);
    expect(p.some((x) => x.startsWith('hosts[2].name') && x.includes('used twice'))).toBe(true);
    expect(p.some((x) => x.startsWith('hosts[3].name'))).toBe(true);
    // Host names are checked first; the rest is reported once they are right.
    s.hosts.splice(2);
    const q = problems(s);
    expect(q).toContainEqual(expect.stringMatching(/^links\[0\]\.a\.addresses\[0\]: .*add the prefix length: "10\.0\.0\.1\/24"/));
    expect(q).toContainEqual(expect.stringMatching(/^links\[0\]\.b\.ifname: .*1-15 characters/));
  });

  it('checks routes, rules, NAT and impairment against the host', () => {
    const s = two();
    s.hosts[0].routes = [
      { to: 'default' },
      { to: '10.9.0.0/16', via: '10.7.0.1' },
      { to: '2001:db8:9::/48', via: '10.0.0.2' },
      { to: 'default', dev: 'nope', family: 4 },
      { to: 'default', via: '10.0.0.2', table: 255 },
    ];
    s.hosts[0].rules = [{ from: '10.0.0.1', table: 0 }];
    s.hosts[1].nat = { outside: 'wan0', udpTimeoutS: 0 };
    s.links![0].a.loss = 101;
    s.links![0].b.rate = { kbit: 1 };
    const p = problems(s).join('\n');
    expect(p).toMatch(/hosts\[0\]\.routes\[0\]: give "via"/);
    expect(p).toMatch(/hosts\[0\]\.routes\[1\]\.via: no interface of the host has a prefix holding 10\.7\.0\.1/);
    expect(p).toMatch(/hosts\[0\]\.routes\[2\]\.via: 10\.0\.0\.2 is not of the route's family \(IPv6\)/);
    expect(p).toMatch(/hosts\[0\]\.routes\[3\]\.dev: the host has no interface "nope"/);
    expect(p).toMatch(/hosts\[0\]\.routes\[4\]\.table: .*not 255/);
    expect(p).toMatch(/hosts\[0\]\.rules\[0\]\.table/);
    expect(p).toMatch(/hosts\[1\]\.nat\.outside: host "b" has no interface "wan0"/);
    expect(p).toMatch(/hosts\[1\]\.nat\.udpTimeoutS/);
    expect(p).toMatch(/links\[0\]\.a\.loss: 101/);
    expect(p).toMatch(/links\[0\]\.b\.rate\.kbit/);
  });

  it('refuses IPv6 on an end that turns IPv6 off, and LAN names that clash with hosts', () => {
    const s = two();
    s.links![0].a.ipv6 = false;
    s.lans = [{ name: 'a', members: [{ host: 'b', ifname: 'e1' }] }];
    const p = problems(s).join('\n');
    expect(p).toMatch(/lans\[0\]\.name: "a" is already a host or LAN name/);
    s.lans[0].name = 'lan';
    expect(problems(s).join('\n')).toMatch(/links\[0\]\.a\.addresses\[1\]: "2001:db8::1\/64" is IPv6 but the end says ipv6: false/);
  });

  it('accepts a fixed unicast MAC on an end and names the fix of a bad one', () => {
    const s = two();
    s.links![0].a.mac = '02:00:00:00:00:0a';
    s.lans = [{ name: 'lan', members: [{ host: 'b', ifname: 'e1', mac: '02:AB:cd:00:00:01' }] }];
    expect(problems(s)).toEqual([]);
    s.links![0].a.mac = '02:00:00:00:0a';
    s.links![0].b.mac = '01:00:5e:00:00:01';
    s.lans[0].members[0].mac = '00:00:00:00:00:00';
    const p = problems(s).join('\n');
    expect(p).toMatch(/links\[0\]\.a\.mac: "02:00:00:00:0a" must be six hex octets/);
    expect(p).toMatch(/links\[0\]\.b\.mac: 01:00:5e:00:00:01 is a multicast address/);
    expect(p).toMatch(/lans\[0\]\.members\[0\]\.mac: 00:00:00:00:00:00 is not a usable address/);
  });

  it('rejects what is not a spec at all', () => {
    expect(problems(null)[0]).toMatch(/"hosts" list/);
    expect(problems({ hosts: 'x' })[0]).toMatch(/"hosts" list/);
  });
});

describe('the project address plan', () => {
  it('uses documentation and private ranges only', () => {
    const allowed = ['2001:db8::/32', '192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24', '10.0.0.0/8', '192.168.0.0/16'].map((c) => parseCidr(c)!);
    for (const pe of placedEnds(PROJECT_TOPOLOGY)) {
      for (const a of pe.end.addresses ?? []) {
        const addr = a.slice(0, a.indexOf('/'));
        expect(allowed.some((p) => prefixContains(p, addr)), `${pe.path}: ${a}`).toBe(true);
      }
    }
  });

  it('puts each named address on the interface and network the plan says', () => {
    const ifs = interfacesByHost(PROJECT_TOPOLOGY);
    const has = (host: string, ifname: string, addr: string, net: string): void => {
      const cs = ifs.get(host)?.get(ifname) ?? [];
      const c = cs.find((x) => x.address === addr);
      expect(c, `${host}/${ifname} ${addr}`).toBeDefined();
      expect(networkOf(c!)).toBe(net);
    };
    const N = PROJECT.networks;
    has('ha', PROJECT.ha.homeIf, PROJECT.ha.home6, N.home.prefix6);
    has('ha', PROJECT.ha.homeIf, PROJECT.ha.home4, N.home.prefix4);
    has('ha', PROJECT.ha.upIf, PROJECT.ha.public4, N.inetHa.prefix4);
    has('mn', PROJECT.mn.ifaces.home, PROJECT.mn.hoa6, N.home.prefix6);
    has('mn', PROJECT.mn.ifaces.v6net, PROJECT.mn.coa6, N.v6net.prefix6);
    has('mn', PROJECT.mn.ifaces.v4net, PROJECT.mn.coa4, N.v4net.prefix4);
    has('mn', PROJECT.mn.ifaces.natnet, PROJECT.mn.natPrivate4, N.natnet.prefix4);
    has('nat', PROJECT.nat.upIf, PROJECT.nat.public4, N.inetNat.prefix4);
    has('cn', PROJECT.cn.ifname, PROJECT.cn.addr6, N.cnNet.prefix6);
    has('cn', PROJECT.cn.ifname, PROJECT.cn.addr4, N.cnNet.prefix4);
    // The IPv6-only and IPv4-only networks really are.
    expect(ifs.get('mn')!.get(PROJECT.mn.ifaces.v6net)!.every((c) => c.family === 6)).toBe(true);
    expect(ifs.get('mn')!.get(PROJECT.mn.ifaces.v4net)!.every((c) => c.family === 4)).toBe(true);
    for (const e of Object.values(PROJECT_ENDS)) expect(ifs.get(e.host)?.has(e.ifname), `${e.host}/${e.ifname}`).toBe(true);
  });
});

describe('addresses, names, scripts', () => {
  it('parses prefixes and tests containment', () => {
    expect(parseCidr('2001:db8:1::1/64')).toEqual({ address: '2001:db8:1::1', prefixLen: 64, family: 6 });
    expect(parseCidr('10.0.0.1/33')).toBeUndefined();
    expect(parseCidr('fe80::1%eth0/64')).toBeUndefined();
    expect(prefixContains(parseCidr('2001:db8:1::/64')!, '2001:db8:1::ffff:1.2.3.4')).toBe(true);
    expect(prefixContains(parseCidr('2001:db8:1::/64')!, '2001:db8:2::1')).toBe(false);
    expect(prefixContains(parseCidr('203.0.113.32/28')!, '203.0.113.47')).toBe(true);
    expect(prefixContains(parseCidr('203.0.113.32/28')!, '203.0.113.48')).toBe(false);
    expect(networkOf(parseCidr('2001:db8:ff00:1::2/64')!)).toBe('2001:db8:ff00:1::/64');
    expect(networkOf(parseCidr('0.0.0.0/0')!)).toBe('0.0.0.0/0');
  });

  it('names namespaces by prefix, owner pid and sequence, and parses only its own', () => {
    const id = runIdOf('d6', 4711, 3);
    expect(id).toBe('d6-4711-3');
    expect(nsNameOf(id, 'mn')).toBe('d6-4711-3-mn');
    expect(parseNsName('d6', 'd6-4711-3-home-lan')).toEqual({ runId: 'd6-4711-3', pid: 4711, seq: 3, host: 'home-lan' });
    expect(parseNsName('d6', 'd6k-4711-3-mn')).toBeUndefined();
    expect(parseNsName('d6', 'd6-mn')).toBeUndefined();
    expect(parseNsName('d6', 'cni-1234')).toBeUndefined();
    expect(parseRunId('d6', 'd6-1-2')).toEqual({ pid: 1, seq: 2 });
  });

  it('builds loss, rate and NAT commands as text and argv', () => {
    expect(lossTableName('up-0')).toBe('d6loss_75702d30');
    expect(lossScript('up0', 0)).not.toMatch(/chain/);
    expect(lossScript('up0', 30)).toMatch(/hook ingress device "up0".*\n\s+numgen random mod 100 < 30 counter drop/);
    expect(lossScript('up0', 100)).toMatch(/\n\s+counter drop/);
    expect(rateArgv('e0', { kbit: 1000 })).toEqual(['tc', 'qdisc', 'replace', 'dev', 'e0', 'root', 'tbf', 'rate', '1000kbit', 'burst', '3000', 'latency', '50ms']);
    expect(rateArgv('e0', null)).toEqual(['tc', 'qdisc', 'del', 'dev', 'e0', 'root']);
    expect(natScript({ outside: 'up0' })).toMatch(/oifname "up0" masquerade fully-random/);
    expect(natSysctls({ outside: 'up0', udpTimeoutS: 3 })).toEqual({ 'net.netfilter.nf_conntrack_udp_timeout': '3', 'net.netfilter.nf_conntrack_udp_timeout_stream': '5' });
    expect(formatArgv(['ip', 'netns', 'exec', 'x', 'sh', '-c', "it's"])).toBe(`ip netns exec x sh -c 'it'\\''s'`);
  });
});
