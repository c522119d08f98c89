// HomeLink (ha/homelink.ts) against the kernel in PROJECT_TOPOLOGY: with a TUN in the HA's
// namespace, an attached HoA is answered for on the home link (proxy ND / proxy ARP) and routed
// into the TUN; the NA repoints a neighbour's cache at the HA; detach removes it all.
//
// Namespace approach: rtnetlink sockets act in the namespace of the process that opens them, and
// Node cannot setns, so HomeLink runs in a small controller child started with `ip netns exec`
// (tb.spawn) on the compiled module (dist/ha/homelink.js, rebuilt here when older than the
// source); the test talks to it in JSON lines on stdin/stdout. The TUN is opened from this
// process with openTun({ netns }). afterAll closes the child (cleanup()), the TUN and the testbed.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT, PROJECT_TOPOLOGY, Testbed } from '../testbed/index.js';
import { openTun, type TunDevice } from '../tunnel/tun.js';
import { buildUnsolicitedNa, linkLocalOf } from '../ha/homelink.js';
import { decodeIpv6 } from '../common/ipv6.js';
import { until } from './support/until.js';

const NATIVE = process.getuid?.() === 0 && spawnSync('ip', ['netns', 'list'], { stdio: 'ignore' }).status === 0;
const P = PROJECT;
const HOA6 = '2001:db8:1::200';
const HOA4 = '10.1.0.200';
const TUN = 'd6hltun0';
const ROOT = new URL('..', import.meta.url).pathname;
const DIST = `${ROOT}dist/ha/homelink.js`;

const CONTROLLER = `
import { createInterface } from 'node:readline';
const { HomeLink } = await import(process.argv[1]);
const hl = new HomeLink({ ifname: process.argv[2], tunName: process.argv[3], naIntervalMs: 200 });
const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  const { id, op, arg } = JSON.parse(line);
  try {
    const r = op === 'attach' ? await hl.attach(arg) : op === 'detach' ? await hl.detach(arg) : op === 'attached' ? hl.attached() : await hl.cleanup();
    console.log(JSON.stringify({ id, ok: true, r }));
  } catch (e) {
    console.log(JSON.stringify({ id, ok: false, name: e.name, message: e.message, errno: e.errno, address: e.address, ifname: e.ifname }));
  }
  if (op === 'cleanup') break;
}
`;

describe('HomeLink pure parts', () => {
  it('builds an unsolicited NA: hop limit 255, O=1 S=0 R=0, target and TLLA, valid checksum', () => {
    const mac = Uint8Array.from([2, 0, 0, 0, 0, 1]);
    const p = buildUnsolicitedNa('fe80::1', HOA6, mac, false);
    const d = decodeIpv6(p);
    expect(d.header.hopLimit).toBe(255);
    expect(d.header.dst).toBe('ff02::1');
    expect(d.upperProtocol).toBe(58);
    expect(d.upper[0]).toBe(136);
    expect(d.upper[4]).toBe(0x20);
    expect(buildUnsolicitedNa('fe80::1', HOA6, mac, true)[44]).toBe(0xa0);
    expect(Buffer.from(d.upper.subarray(26, 32))).toEqual(Buffer.from(mac));
    // Checksum: the one's-complement sum over pseudo-header + ICMPv6 is 0xffff.
    let s = 0;
    const pseudo = Buffer.concat([p.subarray(8, 40), Buffer.from([0, 0, 0, 32, 0, 0, 0, 58]), p.subarray(40)]);
    for (let i = 0; i < pseudo.length; i += 2) s += pseudo.readUInt16BE(i);
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    expect(s).toBe(0xffff);
  });
  it('derives fe80::IID', () => {
    expect(linkLocalOf('2001:db8:1::200')).toBe('fe80::200');
  });
});

describe.skipIf(!NATIVE)('HomeLink on the home link (root, namespaces)', () => {
  let tb: Testbed;
  let tun: TunDevice | undefined;
  let ctl: ChildProcess | undefined;
  const pending = new Map<number, (r: Record<string, unknown>) => void>();
  let nextId = 1;
  const seen: { family: 4 | 6; dst: string; icmpType: number }[] = [];

  const call = (op: string, arg?: unknown): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const t = setTimeout(() => reject(new Error(`controller: ${op} timed out`)), 10_000);
      pending.set(id, (r) => {
        clearTimeout(t);
        resolve(r);
      });
      ctl!.stdin!.write(JSON.stringify({ id, op, arg }) + '\n');
    });
  const ha = (...argv: string[]) => tb.exec('ha', argv, { check: true }).then((r) => r.stdout);
  const ping = (family: 4 | 6, addr: string) => tb.exec('homehost', ['ping', `-${family}`, '-n', '-c', '1', '-W', '1', addr], { timeoutMs: 5000 });
  const reached = (family: 4 | 6, dst: string) => seen.some((s) => s.family === family && s.dst === dst);

  beforeAll(async () => {
    // The controller runs the compiled module: rebuild when the source is newer (others' type
    // errors elsewhere do not stop tsc from emitting).
    let stale = true;
    try {
      stale = statSync(DIST).mtimeMs < statSync(`${ROOT}ha/homelink.ts`).mtimeMs;
    } catch {
      stale = true;
    }
    if (stale) spawnSync(`${ROOT}node_modules/.bin/tsc`, ['-p', `${ROOT}tsconfig.json`], { stdio: 'ignore' });
    statSync(DIST);
    tb = await Testbed.create(PROJECT_TOPOLOGY, { prefix: 'd6hl' });
    tun = openTun({ name: TUN, netns: `/run/netns/${tb.nsName('ha')}` });
    tun.onBatch((pkts) => {
      for (const p of pkts) {
        if (p[0] >> 4 === 6) {
          const d = decodeIpv6(p);
          seen.push({ family: 6, dst: d.header.dst, icmpType: d.upperProtocol === 58 ? d.upper[0] : -1 });
        } else if (p[0] >> 4 === 4) {
          seen.push({ family: 4, dst: `${p[16]}.${p[17]}.${p[18]}.${p[19]}`, icmpType: p[9] === 1 ? p[20] : -1 });
        }
      }
    });
    ctl = tb.spawn('ha', [process.execPath, '--input-type=module', '-e', CONTROLLER, DIST, P.ha.homeIf, TUN], { stdio: ['pipe', 'pipe', 'inherit'] });
    createInterface({ input: ctl.stdout! }).on('line', (line) => {
      const r = JSON.parse(line) as Record<string, unknown>;
      pending.get(r.id as number)?.(r);
      pending.delete(r.id as number);
    });
  }, 60_000);

  afterAll(async () => {
    if (ctl && ctl.exitCode === null) await call('cleanup').catch(() => undefined);
    ctl?.kill();
    tun?.close();
    await tb?.destroy();
  }, 30_000);

  it('the NA repoints a stale neighbour entry for the HoA at the HA', async () => {
    const haMac = (await ha('cat', `/sys/class/net/${P.ha.homeIf}/address`)).trim();
    await tb.exec('homehost', ['ip', '-6', 'neigh', 'replace', HOA6, 'lladdr', '02:00:00:00:99:99', 'dev', 'home0', 'nud', 'stale'], { check: true });
    const r = await call('attach', { hoa: HOA6, flags: { L: true } });
    expect(r).toMatchObject({ ok: true });
    let shown = '';
    for (const t0 = Date.now(); Date.now() - t0 < 3000; await new Promise((r) => setTimeout(r, 100))) {
      shown = (await tb.exec('homehost', ['ip', '-6', 'neigh', 'show', HOA6, 'dev', 'home0'])).stdout;
      if (shown.includes(haMac)) break;
    }
    expect(shown).toContain(haMac);
    await call('detach', HOA6);
  });

  it('IPv6 HoA: proxy ND answers, the echo request reaches the TUN; after detach nothing does', async () => {
    await tb.exec('homehost', ['ip', '-6', 'neigh', 'flush', 'dev', 'home0'], { check: true });
    expect(await call('attach', { hoa: HOA6, flags: { L: true } })).toMatchObject({ ok: true });
    expect(await call('attach', { hoa: HOA6, flags: { L: true } })).toMatchObject({ ok: true }); // idempotent
    const proxy = await ha('ip', '-6', 'neigh', 'show', 'proxy');
    expect(proxy).toContain(`${HOA6} dev ${P.ha.homeIf}`);
    expect(proxy).toContain(`fe80::200 dev ${P.ha.homeIf}`);
    expect(await ha('ip', '-6', 'route', 'show', `${HOA6}/128`)).toContain(`dev ${TUN}`);

    seen.length = 0;
    await ping(6, HOA6);
    await until(() => seen.some((s) => s.family === 6 && s.dst === HOA6 && s.icmpType === 128), 4000, 'echo request in the TUN');

    expect(await call('detach', HOA6)).toMatchObject({ ok: true });
    expect(await call('detach', HOA6)).toMatchObject({ ok: true }); // idempotent
    expect(await ha('ip', '-6', 'neigh', 'show', 'proxy')).not.toContain('2001:db8:1::200');
    expect(await ha('ip', '-6', 'neigh', 'show', 'proxy')).not.toContain('fe80::200');
    expect((await ha('ip', '-6', 'route', 'show', `${HOA6}/128`)).trim()).toBe('');
    await tb.exec('homehost', ['ip', '-6', 'neigh', 'flush', 'dev', 'home0'], { check: true });
    seen.length = 0;
    await ping(6, HOA6);
    await new Promise((r) => setTimeout(r, 1500));
    expect(reached(6, HOA6)).toBe(false);
  }, 30_000);

  it('IPv4 HoA: proxy ARP answers, the echo request reaches the TUN; after detach nothing does', async () => {
    await tb.exec('homehost', ['ip', '-4', 'neigh', 'flush', 'dev', 'home0'], { check: true });
    expect(await call('attach', { hoa: HOA6, ipv4Hoa: HOA4 })).toMatchObject({ ok: true });
    expect(await ha('ip', '-4', 'neigh', 'show', 'proxy')).toContain(`${HOA4} dev ${P.ha.homeIf}`);
    expect(await ha('ip', '-4', 'route', 'show', `${HOA4}/32`)).toContain(`dev ${TUN}`);

    seen.length = 0;
    await ping(4, HOA4);
    await until(() => seen.some((s) => s.family === 4 && s.dst === HOA4 && s.icmpType === 8), 4000, 'IPv4 echo request in the TUN');

    expect(await call('detach', HOA6)).toMatchObject({ ok: true });
    expect(await ha('ip', '-4', 'neigh', 'show', 'proxy')).not.toContain(HOA4);
    expect((await ha('ip', '-4', 'route', 'show', `${HOA4}/32`)).trim()).toBe('');
    expect(await ha('ip', '-6', 'neigh', 'show', 'proxy')).not.toContain(HOA6);
    await tb.exec('homehost', ['ip', '-4', 'neigh', 'flush', 'dev', 'home0'], { check: true });
    seen.length = 0;
    await ping(4, HOA4);
    await new Promise((r) => setTimeout(r, 1500));
    expect(reached(4, HOA4)).toBe(false);
  }, 30_000);

  it('names errors: a missing TUN fails attach with HomeLinkError (ENODEV), and cleanup removes everything', async () => {
    expect(await call('attach', { hoa: '2001:db8:1::300', ipv4Hoa: '10.1.0.30' })).toMatchObject({ ok: true });
    expect(await call('cleanup')).toMatchObject({ ok: true });
    expect(await ha('ip', 'neigh', 'show', 'proxy')).not.toMatch(/2001:db8:1::300|10\.1\.0\.30/);
    expect((await ha('ip', 'route', 'show', 'dev', TUN)).trim()).toBe('');
    const bad = tb.spawn('ha', [process.execPath, '--input-type=module', '-e',
      `const { HomeLink } = await import(process.argv[1]); const hl = new HomeLink({ ifname: 'home0', tunName: 'nosuchtun' });
       try { await hl.attach({ hoa: '${HOA6}' }); console.log('no error'); } catch (e) { console.log(JSON.stringify({ name: e.name, errno: e.errno, ifname: e.ifname })); } await hl.cleanup();`, DIST]);
    let out = '';
    bad.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    await new Promise((r) => bad.once('exit', r));
    expect(JSON.parse(out)).toEqual({ name: 'HomeLinkError', errno: 'ENODEV', ifname: 'nosuchtun' });
  }, 30_000);
});
