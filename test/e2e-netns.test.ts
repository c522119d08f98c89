// End to end on real edges: `dsmip6 ha` in the ha namespace and `dsmip6 mn` in the mn namespace of
// a PROJECT_TOPOLOGY testbed (test/fixtures/e2e-{ha,mn}.json), the CN pinging the MN's home address.
// The MN starts on the IPv6-only network (v6net0), then moves to the IPv4-only network (v4net0,
// UDP 4191), then behind the NAT (natnet0). tb.destroy() (afterAll) kills the daemons even when a
// step fails. Needs root and a built dist/ (built here).
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT, Testbed, PROJECT_TOPOLOGY } from '../testbed/index.js';

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
    await tb?.destroy();
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
});
