// End to end on real edges: `dsmip6 ha` in the ha namespace and `dsmip6 mn` in the mn namespace of
// a PROJECT_TOPOLOGY testbed (test/fixtures/e2e-{ha,mn}.json), the CN pinging the MN's home address.
// The MN starts on the IPv6-only network (v6net0), then moves to the IPv4-only network (v4net0,
// UDP 4191), then behind the NAT (natnet0). tb.destroy() (afterAll) kills the daemons even when a
// step fails. Needs root and a built dist/ (built here).
// Every link is captured for the whole run (testbed/capture.ts) and, last, tshark judges the wire
// (test/support/capture-judge.ts): see the "wire capture" block below.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadMnConfig } from '../config/load.js';
import { mnWiresharkEspSas } from '../config/wireshark.js';
import { PROJECT, Testbed, PROJECT_TOPOLOGY, captureLinks, type CaptureFile, type LinkCapture } from '../testbed/index.js';
import {
  assertNoViolations,
  checkEspGood,
  checkIpv4CoaBus,
  checkIpv6CoaSignalling,
  checkNatDetection,
  checkNoErrors,
  judgeCaptures,
  MH_BA,
  MH_BU,
  NATD_NO_NAT,
  tsharkCommandHint,
  where,
  type PacketFacts,
} from './support/capture-judge.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const P = PROJECT;

describe.skipIf(!isRoot)('e2e in namespaces: dsmip6 ha + dsmip6 mn, CN pings the HoA (root)', () => {
  let tb: Testbed | undefined;
  let ha: ChildProcess | undefined;
  let mn: ChildProcess | undefined;
  const logs = { ha: '', mn: '' };
  const pings: string[] = [];

  function collect(name: 'ha' | 'mn', c: ChildProcess): void {
    c.stdout?.on('data', (b: Buffer) => (logs[name] += b.toString()));
    c.stderr?.on('data', (b: Buffer) => (logs[name] += b.toString()));
  }

  async function waitFor(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 15000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await ok())) {
      if (Date.now() > deadline) throw new Error(`timeout waiting for ${what}\n--- ha log ---\n${logs.ha}\n--- mn log ---\n${logs.mn}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async function pingHoa(): Promise<{ code: number; out: string }> {
    const r = await tb!.exec('cn', ['ping', '-6', '-c', '3', '-W', '2', P.mn.hoa6]);
    return { code: r.code, out: r.stdout + r.stderr };
  }

  async function expectPing(): Promise<void> {
    let last = { code: -1, out: '' };
    for (let i = 0; i < 3; i++) {
      last = await pingHoa();
      if (last.code === 0) break;
    }
    if (last.code !== 0) throw new Error(`ping ${P.mn.hoa6} from cn failed:\n${last.out}\n--- ha log ---\n${logs.ha}\n--- mn log ---\n${logs.mn}`);
    expect(last.out).toMatch(/3 packets transmitted, [1-3] received/);
    pings.push(last.out.split('\n').find((l) => l.includes('packets transmitted')) ?? '');
  }

  async function exited(c: ChildProcess, timeoutMs = 10000): Promise<number | null> {
    if (c.exitCode !== null) return c.exitCode;
    return await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('daemon did not exit')), timeoutMs);
      c.once('exit', (code) => {
        clearTimeout(t);
        resolve(code);
      });
    });
  }

  beforeAll(async () => {
    if (!existsSync('dist/cli/main.js') || process.env.E2E_BUILD !== '0') spawnSync('node_modules/.bin/tsc', ['-p', 'tsconfig.json'], { stdio: 'ignore' });
    tb = await Testbed.create(PROJECT_TOPOLOGY);
    await startWireCapture(tb);
    await tb.linkDown('mn', P.mn.ifaces.home);
    await tb.linkDown('mn', P.mn.ifaces.v4net);
    await tb.linkDown('mn', P.mn.ifaces.natnet);
    ha = tb.spawn('ha', [process.execPath, 'dist/cli/main.js', 'ha', '--config', 'test/fixtures/e2e-ha.json']);
    collect('ha', ha);
    await waitFor('ha started', () => /ha: started/.test(logs.ha) || ha!.exitCode !== null);
    if (ha.exitCode !== null) throw new Error(`ha exited ${ha.exitCode}:\n${logs.ha}`);
    mn = tb.spawn('mn', [process.execPath, 'dist/cli/main.js', 'mn', '--config', 'test/fixtures/e2e-mn.json']);
    collect('mn', mn);
  });

  afterAll(async () => {
    try {
      await finishWireCapture();
    } finally {
      await tb?.destroy();
    }
  });

  it('registers over IPv6 from v6net0 and the CN reaches the HoA', async () => {
    await waitFor('HA binding for the IPv6 CoA', () => logs.ha.includes(`binding created: ${P.mn.hoa6} -> ${P.mn.coa6}`));
    await waitFor('HoA route on the HA', async () => (await tb!.exec('ha', ['ip', '-6', 'route', 'show', `${P.mn.hoa6}/128`])).stdout.includes('dsmip6ha0'));
    await expectPing();
  });

  it('moves to the IPv4-only network (UDP 4191) and the CN still reaches the HoA', async () => {
    await tb!.linkUp('mn', P.mn.ifaces.v4net);
    await tb!.linkDown('mn', P.mn.ifaces.v6net);
    await waitFor('HA binding for the IPv4 CoA', () => logs.ha.includes(`binding updated: ${P.mn.hoa6} -> ${P.mn.coa4} `));
    await expectPing();
  });

  it('moves behind the NAT and the CN still reaches the HoA', async () => {
    await tb!.linkUp('mn', P.mn.ifaces.natnet);
    await tb!.linkDown('mn', P.mn.ifaces.v4net);
    await waitFor('HA binding for the NATed CoA', () => logs.ha.includes(`${P.mn.hoa6} -> ${P.mn.natPrivate4} (udp, nat ${P.nat.public4}`));
    await expectPing();
    // Past the NAT's UDP timeout (PROJECT_NAT_UDP_TIMEOUT_S = 5 s): the MN's refreshes (natRefreshSeconds = 3 in
    // e2e-ha.json) must keep the mapping, or the CN's packets would find no way in.
    await new Promise((r) => setTimeout(r, 8000));
    await expectPing();
  });

  it('shuts both daemons down cleanly on SIGTERM (nft tables, HoA routes, rules, TUNs gone)', async () => {
    mn!.kill('SIGTERM');
    expect(await exited(mn!)).toBe(0);
    ha!.kill('SIGTERM');
    expect(await exited(ha!)).toBe(0);
    expect(logs.ha).toMatch(/ha: stopped \(counters .*"toMobile":[1-9]/);
    expect(logs.mn).toMatch(/mn: stopped \(counters .*"fromHa":[1-9]/);
    expect(logs.ha + logs.mn).not.toMatch(/shutdown step failed|error/i);
    for (const host of ['ha', 'mn']) {
      expect((await tb!.exec(host, ['nft', 'list', 'tables'])).stdout).not.toMatch(/dsmip6_/);
      expect((await tb!.exec(host, ['ip', 'link', 'show'])).stdout).not.toMatch(/dsmip6(ha|mn)0/);
    }
    expect((await tb!.exec('ha', ['ip', '-6', 'route', 'show', `${P.mn.hoa6}/128`])).stdout.trim()).toBe('');
    expect((await tb!.exec('mn', ['ip', '-6', 'rule', 'show'])).stdout).not.toMatch(/lookup 250/);
    if (process.env.E2E_VERBOSE) process.stderr.write(`e2e-netns pings: ${JSON.stringify(pings)}\n--- ha ---\n${logs.ha}--- mn ---\n${logs.mn}`);
  });
  // ---- wire capture: every link recorded for the whole run, judged by tshark at the end ----------
  // Kept apart from the daemon start-up above (one call in beforeAll, one in afterAll). The pcaps of
  // a failing run stay in a temp dir whose path is printed; a passing run deletes them (unless
// E2E_KEEP_PCAPS is set).
  const wire: { dir?: string; cap?: LinkCapture; files?: CaptureFile[]; failed: boolean; judged: boolean } = { failed: false, judged: false };

  async function startWireCapture(t: Testbed): Promise<void> {
    wire.dir = mkdtempSync(join(tmpdir(), 'dsmip6-e2e-pcap-'));
    wire.cap = await captureLinks(t, wire.dir);
  }

  async function stopWireCapture(): Promise<CaptureFile[]> {
    wire.files ??= wire.cap ? await wire.cap.stop() : [];
    return wire.files;
  }

  async function finishWireCapture(): Promise<void> {
    // Stopped here too when a step failed before the judge ran (SIGINT flushes the files).
    await stopWireCapture().catch(() => {});
    if (!wire.dir) return;
    if (wire.judged && !wire.failed && !process.env.E2E_KEEP_PCAPS) rmSync(wire.dir, { recursive: true, force: true });
    else process.stderr.write(`e2e-netns: ${wire.judged && !wire.failed ? 'E2E_KEEP_PCAPS set' : 'run failed'}; link captures kept in ${wire.dir}\n`);
  }

  beforeEach(({ onTestFailed }) => {
    onTestFailed(() => {
      wire.failed = true;
    });
  });

  it('on the wire (tshark, with the MN\'s keys): nothing malformed, every ESP ICV good, HAO/RH2, UDP 4191 + IPv4 CoA, NAT Detection only behind the NAT, data decrypted', async () => {
    const files = await stopWireCapture();
    expect(files.length).toBeGreaterThan(0);
    expect(files.filter((f) => f.error).map((f) => `${f.link}: ${f.error}`)).toEqual([]);
    const sas = mnWiresharkEspSas(loadMnConfig('test/fixtures/e2e-mn.json'));
    const facts = await judgeCaptures(files, sas);
    const onLink = (ifname: string) => facts.filter((p) => p.link.includes(`mn/${ifname}`) && !p.link.startsWith(`${P.homeLan}:`));
    const hint = `pcaps: ${wire.dir}\nby hand: ${tsharkCommandHint(files.find((f) => f.link.includes(`mn/${P.mn.ifaces.natnet}`))?.file ?? files[0].file, sas)}`;

    assertNoViolations('malformed packets or expert errors', checkNoErrors(facts), hint);
    assertNoViolations('ESP that tshark could not verify', checkEspGood(facts), hint);
    assertNoViolations('signalling from/to the IPv6 CoA', checkIpv6CoaSignalling(facts, P.mn.coa6), hint);
    assertNoViolations('BUs from IPv4 CoAs', checkIpv4CoaBus(facts), hint);
    assertNoViolations('NAT Detection in BAs', checkNatDetection(facts, [P.nat.public4, P.mn.natPrivate4]), hint);

    // The checks above hold vacuously if nothing was seen: each network must show its signalling...
    const missing: string[] = [];
    const need = (what: string, list: PacketFacts[]) => list.length > 0 || missing.push(what);
    const v6 = onLink(P.mn.ifaces.v6net);
    const v4 = onLink(P.mn.ifaces.v4net);
    const nat = onLink(P.mn.ifaces.natnet);
    need('v6net: BU with a HAO from the IPv6 CoA', v6.filter((p) => p.mhType === MH_BU && p.hao && p.outerSrc === P.mn.coa6));
    need('v6net: BA with an RH2 to the IPv6 CoA', v6.filter((p) => p.mhType === MH_BA && p.rh2 && p.outerDst === P.mn.coa6));
    need('v4net: BU in UDP 4191 with the IPv4 CoA option', v4.filter((p) => p.mhType === MH_BU && p.udp4191 && p.ipv4CoaAddr === P.mn.coa4));
    need('v4net: BA not saying a NAT was detected', v4.filter((p) => p.mhType === MH_BA && (!p.natd || p.natd.refresh === NATD_NO_NAT)));
    need('natnet: BU in UDP 4191 with the IPv4 CoA option', nat.filter((p) => p.mhType === MH_BU && p.udp4191 && p.ipv4CoaAddr === P.mn.natPrivate4));
    need('natnet: BA with NAT Detection (NAT detected)', nat.filter((p) => p.mhType === MH_BA && p.natd && p.natd.refresh !== NATD_NO_NAT));
    // ...and the pings in both directions, decrypted (ICMPv6 echo inside the tunnel-mode ESP).
    const keys = loadMnConfig('test/fixtures/e2e-mn.json').keys;
    const echo = (list: PacketFacts[], spi: number) => list.filter((p) => p.esp.some((e) => e.spi === spi && e.decrypted) && p.afterEsp.includes('ipv6') && p.afterEsp.includes('icmpv6'));
    for (const [name, list] of [['v6net', v6], ['v4net', v4], ['natnet', nat]] as const) {
      need(`${name}: ping to the HoA decrypted (HA -> MN, spi ${keys.payload.in.spi})`, echo(list, keys.payload.in.spi));
      need(`${name}: ping reply decrypted (MN -> HA, spi ${keys.payload.out.spi})`, echo(list, keys.payload.out.spi));
    }
    assertNoViolations('expected traffic not seen', missing, hint);
    if (process.env.E2E_VERBOSE) {
      const warned = facts.filter((p) => p.warnings.length).map((p) => `${where(p)}: ${p.warnings.join('; ')}`);
      process.stderr.write(`e2e-netns wire: ${facts.length} packets on ${files.length} links; tshark warnings:\n  ${warned.join('\n  ')}\n`);
    }
    wire.judged = true;
  });
});
