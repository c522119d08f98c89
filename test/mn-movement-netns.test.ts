// Movement detection against a real kernel: mn/netwatch-report.js (the netlink edge) runs inside
// the MN's namespace of a small testbed (IPv6-only network with a default route, IPv4-only
// network with a default route, and a third interface for the home link) and reports decisions
// as JSON lines. Links go down and up, a home address appears; the testbed is destroyed in
// afterAll even when a test fails. Needs root and a built dist/ (built here when stale).
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Testbed, type TopologySpec } from '../testbed/index.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const SCRIPT = 'dist/mn/netwatch-report.js';
const SOURCES = ['mn/netwatch-report.ts', 'mn/netwatch.ts', 'mn/movement.ts'];

const SPEC: TopologySpec = {
  name: 'mn-movement',
  hosts: [
    { name: 'mn', routes: [{ to: 'default', via: '2001:db8:6::1' }, { to: 'default', via: '198.51.100.1' }] },
    { name: 'ar6' },
    { name: 'ar4' },
    { name: 'homeh' },
  ],
  links: [
    { a: { host: 'ar6', ifname: 'lan0', addresses: ['2001:db8:6::1/64'] }, b: { host: 'mn', ifname: 'v6net0', addresses: ['2001:db8:6::100/64'] } },
    {
      a: { host: 'ar4', ifname: 'lan0', addresses: ['198.51.100.1/24'], ipv6: false },
      b: { host: 'mn', ifname: 'v4net0', addresses: ['198.51.100.100/24'], ipv6: false },
    },
    { a: { host: 'homeh', ifname: 'home0', addresses: ['2001:db8:1::1/64'] }, b: { host: 'mn', ifname: 'home0' } },
  ],
};

const CONFIG = { homePrefixes: ['2001:db8:1::/64'], hoa: '2001:db8:1::100', tunName: 'mip0', debounceMs: 50 };

function ensureBuilt(): void {
  const fresh = existsSync(SCRIPT) && SOURCES.every((s) => statSync(s).mtimeMs <= statSync(SCRIPT).mtimeMs);
  if (!fresh) spawnSync('node_modules/.bin/tsc', ['-p', 'tsconfig.json'], { stdio: 'ignore' }); // emits even if others' files have errors
  if (!existsSync(SCRIPT)) throw new Error(`${SCRIPT} missing: run node_modules/.bin/tsc -p tsconfig.json`);
}

describe.skipIf(!isRoot)('mn movement detection over netlink in a namespace (root)', () => {
  let tb: Testbed | undefined;
  let child: ChildProcess | undefined;
  const lines: Record<string, unknown>[] = [];
  let waiters: (() => void)[] = [];

  /** Waits until the latest decision reported equals `want` (a registration 'coa-changed' event). */
  async function latest(want: unknown, timeoutMs = 8000): Promise<void> {
    const ok = (): boolean => {
      const ds = lines.filter((l) => l.kind === 'decision');
      return ds.length > 0 && JSON.stringify(ds[ds.length - 1].event) === JSON.stringify(want);
    };
    const deadline = Date.now() + timeoutMs;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`no decision ${JSON.stringify(want)}; got ${JSON.stringify(lines)}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 100);
      });
    }
  }
  const decisionCount = (): number => lines.filter((l) => l.kind === 'decision').length;

  beforeAll(async () => {
    ensureBuilt();
    tb = await Testbed.create(SPEC, { prefix: 'mvt' });
    child = tb.spawn('mn', [process.execPath, SCRIPT, JSON.stringify(CONFIG)]);
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    });
    child.stderr!.on('data', (d: Buffer) => lines.push({ kind: 'stderr', text: d.toString() }));
  });

  afterAll(async () => {
    child?.kill('SIGTERM');
    await tb?.destroy();
  });

  it('reports the IPv6 CoA when both networks are up', async () => {
    await latest({ kind: 'coa-changed', coa: { family: 6, address: '2001:db8:6::100' } });
    expect(lines.filter((l) => l.kind === 'error' || l.kind === 'stderr')).toEqual([]);
  });

  it('reports the IPv4 CoA after the IPv6 link goes down, in one decision', async () => {
    const before = decisionCount();
    await tb!.linkDown('mn', 'v6net0');
    await latest({ kind: 'coa-changed', coa: { family: 4, address: '198.51.100.100' } });
    await new Promise((r) => setTimeout(r, 300));
    expect(decisionCount()).toBe(before + 1);
  });

  it('reports null after both links are down', async () => {
    await tb!.linkDown('mn', 'v4net0');
    await latest({ kind: 'coa-changed', coa: null });
  });

  it('reports the IPv6 CoA again when the IPv6 link comes back, at once from the notification (not after the debounce)', async () => {
    await tb!.linkUp('mn', 'v6net0');
    await latest({ kind: 'coa-changed', coa: { family: 6, address: '2001:db8:6::100' } });
    const ds = lines.filter((l) => l.kind === 'decision');
    expect(ds[ds.length - 1].via).toBe('event');
  });

  it("reports 'home' when a home-prefix address appears on the third interface", async () => {
    await tb!.addAddress('mn', 'home0', '2001:db8:1::100/64');
    await latest({ kind: 'coa-changed', coa: null, home: true });
    expect(lines.filter((l) => l.kind === 'error' || l.kind === 'stderr')).toEqual([]);
  });
});
