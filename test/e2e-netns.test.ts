// End to end on real edges: `dsmip6 ha` in the ha namespace and `dsmip6 mn` in the mn namespace of
// a PROJECT_TOPOLOGY testbed (test/fixtures/e2e-{ha,mn}.json), the CN pinging the MN's home address.
// The MN starts on the IPv6-only network (v6net0), then moves to the IPv4-only network (v4net0,
// UDP 4191), then behind the NAT (natnet0), then both daemons stop on SIGTERM and must leave
// nothing behind. Every link is recorded for the whole run and tshark judges it at the end
// (test/support/roaming-wire.ts). Behind the NAT, each daemon's Prometheus metrics address (the
// fixtures' metrics.listen) is scraped inside its namespace. afterAll tears the testbed down even
// when a step fails.
// Needs root (dist/ is built when stale).
import { beforeAll, describe, expect, it } from 'vitest';
import { PROJECT } from '../testbed/index.js';
import type { Daemons } from './support/daemons.js';
import { daemonsWithWire, RoamingWire } from './support/roaming-wire.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const P = PROJECT;

describe.skipIf(!isRoot)('e2e in namespaces: dsmip6 ha + dsmip6 mn, CN pings the HoA (root)', () => {
  const wire = new RoamingWire('e2e-netns');
  const daemons = daemonsWithWire(wire, { mnStartIface: P.mn.ifaces.v6net });
  let d: Daemons | undefined;
  const pings: string[] = [];

  async function expectPing(): Promise<void> {
    let last = { code: -1, out: '' };
    for (let i = 0; i < 3; i++) {
      const r = await d!.tb.exec('cn', ['ping', '-6', '-c', '3', '-W', '2', P.mn.hoa6]);
      last = { code: r.code, out: r.stdout + r.stderr };
      if (last.code === 0) break;
    }
    if (last.code !== 0) throw new Error(`ping ${P.mn.hoa6} from cn failed:\n${last.out}\n${d!.dumpLogs()}`);
    expect(last.out).toMatch(/3 packets transmitted, [1-3] received/);
    pings.push(last.out.split('\n').find((l) => l.includes('packets transmitted')) ?? '');
  }

  /** GET http://ADDR/metrics inside `host`'s namespace (node's fetch: curl may be missing); the samples by name{labels}. */
  async function scrape(host: 'ha' | 'mn', addr: string): Promise<Map<string, number>> {
    const js = `fetch('http://${addr}/metrics').then(async (r) => { if (r.status !== 200) throw new Error('HTTP ' + r.status); process.stdout.write(await r.text()); })`;
    const r = await d!.tb.exec(host, [process.execPath, '-e', js]);
    if (r.code !== 0) throw new Error(`scraping ${addr} in ${host} failed (${r.code}): ${r.stderr}\n${d!.dumpLogs()}`);
    const out = new Map<string, number>();
    for (const line of r.stdout.split('\n')) {
      const m = /^([a-z_:][a-z0-9_:]*(?:\{[^}]*\})?) (\S+)$/i.exec(line);
      if (m) out.set(m[1], Number(m[2]));
    }
    return out;
  }

  /** The JSON log line of `name` whose message is `msg` (the daemons log JSON lines when stderr is not a terminal). */
  function logLine(text: string, msg: string): Record<string, any> | undefined {
    for (const l of text.split('\n')) {
      if (!l.startsWith('{')) continue;
      const o = JSON.parse(l) as Record<string, any>;
      if (o.msg === msg) return o;
    }
    return undefined;
  }

  /** Takes `to` up and `from` down, then waits for the HA's log to show `binding`. */
  async function move(to: string, from: string, binding: string): Promise<void> {
    const after = d!.logs.ha.length;
    await d!.tb.linkUp('mn', to);
    await d!.tb.linkDown('mn', from);
    await d!.waitForLog('ha', binding, { after });
  }

  beforeAll(() => {
    d = daemons.get();
  });

  it('registers over IPv6 from v6net0 and the CN reaches the HoA', async () => {
    await d!.waitForLog('ha', `binding created: ${P.mn.hoa6} -> ${P.mn.coa6}`);
    await d!.waitFor('HoA route on the HA', async () => (await d!.tb.exec('ha', ['ip', '-6', 'route', 'show', `${P.mn.hoa6}/128`])).stdout.includes('dsmip6ha0'));
    await expectPing();
  });

  it('moves to the IPv4-only network (UDP 4191) and the CN still reaches the HoA', async () => {
    await move(P.mn.ifaces.v4net, P.mn.ifaces.v6net, `binding updated: ${P.mn.hoa6} -> ${P.mn.coa4} `);
    await expectPing();
  });

  it('moves behind the NAT and the CN still reaches the HoA', async () => {
    await move(P.mn.ifaces.natnet, P.mn.ifaces.v4net, `${P.mn.hoa6} -> ${P.mn.natPrivate4} (udp, nat ${P.nat.public4}`);
    await expectPing();
    // Past the NAT's UDP timeout (PROJECT_NAT_UDP_TIMEOUT_S = 5 s): the MN's refreshes (natRefreshSeconds = 3 in
    // e2e-ha.json) must keep the mapping, or the CN's packets would find no way in.
    await new Promise((r) => setTimeout(r, 8000));
    await expectPing();
  });

  it('the metrics addresses answer inside the namespaces: one binding, accepted BUs, ESP packets, two handovers on the MN', async () => {
    // test/fixtures/e2e-{ha,mn}.json: metrics.listen 127.0.0.1:9101 (HA) and 127.0.0.1:9102 (MN).
    const ha = await scrape('ha', '127.0.0.1:9101');
    expect(ha.get('dsmip6_ha_bindings')).toBe(1);
    expect(ha.get('dsmip6_ha_binding_updates_accepted_total')).toBeGreaterThanOrEqual(3); // v6net, v4net, natnet (+ NAT refreshes)
    expect(ha.get('dsmip6_ha_packets_to_mobile_total')).toBeGreaterThan(0);
    expect(ha.get('dsmip6_esp_packets_total{direction="in"}')).toBeGreaterThan(0);
    expect(ha.get('dsmip6_esp_packets_total{direction="out"}')).toBeGreaterThan(0);
    expect(ha.get('dsmip6_esp_bytes_total{direction="out"}')).toBeGreaterThan(0);
    expect(ha.get('dsmip6_ha_handovers_total')).toBeGreaterThanOrEqual(2);
    expect(ha.get('dsmip6_esp_drops_total{reason="icv-mismatch"}')).toBe(0);
    const mn = await scrape('mn', '127.0.0.1:9102');
    expect(mn.get('dsmip6_mn_registered')).toBe(1);
    // v6net -> v4net -> natnet: the first registration is not a handover, the two moves are.
    expect(mn.get('dsmip6_mn_handovers_total')).toBeGreaterThanOrEqual(2);
    expect(mn.get('dsmip6_mn_binding_acks_received_total')).toBeGreaterThanOrEqual(3);
    expect(mn.get('dsmip6_esp_packets_total{direction="in"}')).toBeGreaterThan(0);
    expect(mn.get('dsmip6_mn_packets_from_ha_total')).toBeGreaterThan(0);
    expect(mn.get('dsmip6_mn_bu_ba_latency_seconds_count{result="accepted"}')).toBeGreaterThanOrEqual(3);
    // The handovers were logged too, with their fields.
    expect(d!.logs.mn).toContain(`"msg":"mn: handover: ${P.mn.coa6} -> ${P.mn.coa4}"`);
    expect(d!.logs.ha).toContain(`"msg":"ha: handover: ${P.mn.hoa6} ${P.mn.coa6} -> ${P.mn.coa4}"`);
  });

  it('shuts both daemons down cleanly on SIGTERM (nft tables, HoA routes, rules, TUNs gone)', async () => {
    const codes = await d!.stop();
    expect(codes).toEqual({ ha: 0, mn: 0 });
    const { logs, tb } = d!;
    // The last lines carry the counters as a field of the JSON line.
    expect(logLine(logs.ha, 'ha: stopped')?.counters.toMobile, logs.ha).toBeGreaterThan(0);
    expect(logLine(logs.mn, 'mn: stopped')?.counters.fromHa, logs.mn).toBeGreaterThan(0);
    expect(logs.ha + logs.mn).not.toMatch(/shutdown step failed|error/i);
    for (const host of ['ha', 'mn']) {
      expect((await tb.exec(host, ['nft', 'list', 'tables'])).stdout).not.toMatch(/dsmip6_/);
      expect((await tb.exec(host, ['ip', 'link', 'show'])).stdout).not.toMatch(/dsmip6(ha|mn)0/);
    }
    expect((await tb.exec('ha', ['ip', '-6', 'route', 'show', `${P.mn.hoa6}/128`])).stdout.trim()).toBe('');
    expect((await tb.exec('mn', ['ip', '-6', 'rule', 'show'])).stdout).not.toMatch(/lookup 250/);
    if (process.env.E2E_VERBOSE) process.stderr.write(`e2e-netns pings: ${JSON.stringify(pings)}\n${d!.dumpLogs()}`);
  });

  it("on the wire (tshark, with the MN's keys): nothing malformed, every ESP ICV good, HAO/RH2, UDP 4191 + IPv4 CoA, NAT Detection only behind the NAT, pings decrypted", async () => {
    const v = await wire.judge({ mnConfig: 'test/fixtures/e2e-mn.json', visited: ['v6net', 'v4net', 'natnet'], data: 'icmpv6' });
    if (process.env.E2E_VERBOSE) process.stderr.write(`e2e-netns wire: ${v.packets} packets on ${v.links} links; tshark warnings:\n  ${v.warnings.join('\n  ')}\n`);
    for (const [check, list] of Object.entries(v.violations)) expect(list, `${check}\n${v.hint}`).toEqual([]);
  });
});
