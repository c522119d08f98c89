// `dsmip6 demo` as a user runs it: the built CLI, as root, `demo --quick --json --pcap --keys`.
// Checks that the result lists every step of the roaming timeline with the transport and NAT the
// address plan implies and zero bytes lost; that `dsmip6 status --socket <the demo's HA socket>`
// taken while it runs shows the binding; that tshark, given only the --keys file, decrypts the
// --pcap file (every ESP ICV good, BUs and BAs visible), also with the bash line the README shows;
// and that Ctrl-C tears everything down. The pcap stream parser and the table are checked offline.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LinkType, writePcap } from '../common/pcap.js';
import { PcapStreamParser } from '../demo/sniff.js';
import { formatTable, type DemoResult } from '../demo/table.js';
import { PROJECT } from '../testbed/index.js';
import { CLI, ensureBuilt, ROOT } from './support/daemons.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasTshark = spawnSync('tshark', ['--version']).status === 0;
const P = PROJECT;
const tmp = mkdtempSync(join(tmpdir(), 'dsmip6-demo-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The namespaces a demo process (by pid) left behind. */
function namespacesOf(pid: number): string[] {
  if (!existsSync('/run/netns')) return [];
  return readdirSync('/run/netns').filter((n) => n.startsWith(`d6-${pid}-`));
}

interface Run {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function runDemo(args: string[]): Run {
  const child = spawn(process.execPath, [CLI, 'demo', ...args], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
  const r: Run = {
    child,
    stdout: '',
    stderr: '',
    exit: new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))),
  };
  child.stdout!.on('data', (b: Buffer) => (r.stdout += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (r.stderr += b.toString()));
  return r;
}

async function until(ok: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timeout waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('demo offline pieces', () => {
  it('PcapStreamParser gives every record with its time, whatever the chunking', () => {
    const packets = [
      { data: Uint8Array.from([1, 2, 3]), time: 1700000000.25 },
      { data: new Uint8Array(300).fill(7), time: 1700000000.5 },
      { data: Uint8Array.from([9]), time: 1700000001.000125 },
    ];
    const file = writePcap(packets, LinkType.LINUX_SLL);
    for (const step of [1, 7, 24, 40, file.length]) {
      const got: { at: number; len: number; first: number }[] = [];
      const p = new PcapStreamParser((at, d) => got.push({ at, len: d.length, first: d[0] }));
      for (let i = 0; i < file.length; i += step) p.push(file.subarray(i, i + step));
      expect(p.linkType).toBe(113);
      expect(got.map((g) => g.len)).toEqual([3, 300, 1]);
      expect(got.map((g) => g.first)).toEqual([1, 7, 9]);
      expect(got[0].at).toBeCloseTo(1700000000250, 3);
      expect(got[2].at).toBeCloseTo(1700000001000.125, 3);
    }
    expect(() => new PcapStreamParser(() => {}).push(Buffer.alloc(24, 0x55))).toThrow(/not a pcap/);
  });

  it('formatTable prints one row per move with its figures', () => {
    const r: DemoResult = {
      ok: true,
      problems: [],
      moves: [
        { move: 'a -> b', coa: '2001:db8:6::100', transport: 'ipv6', nat: { detected: false }, buToBaMs: 3.25, bus: 1, interruptionMs: 120, resumedMs: 130, bytesLost: 0 },
        { move: 'b -> c', coa: '192.168.77.100', transport: 'udp', nat: { detected: true, address: '203.0.113.34', port: 4711 }, buToBaMs: null, bus: null, interruptionMs: 3000, resumedMs: 3001, bytesLost: 5 },
      ],
      streams: { v6: { sent: 2048, echoed: 2048, mismatched: 0, lost: 0, error: null }, v4: { sent: 4096, echoed: 4091, mismatched: 0, lost: 5, error: null } },
      bytesLost: 5,
      durationMs: 1,
      sockets: { ha: '/x/ha.sock', mn: '/x/mn.sock' },
    };
    const lines = formatTable(r).split('\n');
    expect(lines[0]).toMatch(/^MOVE\s+NEW COA\s+TRANSPORT\s+NAT DETECTED\s+BU->BA MS\s+INTERRUPTION MS\s+BYTES LOST$/);
    expect(lines[2]).toMatch(/^a -> b\s+2001:db8:6::100\s+IPv6 \(HAO\/RH2\)\s+no\s+3\.3\s+120\s+0$/);
    expect(lines[3]).toMatch(/^b -> c\s+192\.168\.77\.100\s+UDP 4191 over IPv4\s+yes \(203\.0\.113\.34:4711\)\s+-\s+3000\s+5$/);
    expect(formatTable(r)).toContain('bytes lost 5');
  });
});

describe.skipIf(!isRoot || !hasTshark)('dsmip6 demo (root, tshark)', () => {
  const pcap = join(tmp, 'demo.pcapng');
  const keys = join(tmp, 'demo.esp_sa');
  let run: Run | undefined;
  let result: DemoResult | undefined;
  const statusSeen: { bindings: { hoa: string; coa: string; transport: string }[] }[] = [];

  it('runs the whole timeline with every step listed and zero bytes lost, within a minute', async () => {
    ensureBuilt();
    run = runDemo(['--quick', '--json', '--pcap', pcap, '--keys', keys]);
    const r = run;
    let exited = false;
    void r.exit.then(() => (exited = true));
    // While it runs, ask its HA like an operator would, until a binding shows.
    await until(() => /control sockets: ha (\S+)/.test(r.stderr) || exited, 30_000, () => `the socket line:\n${r.stderr}`);
    const haSock = /control sockets: ha (\S+)/.exec(r.stderr)?.[1];
    expect(haSock, r.stderr).toBeDefined();
    while (!exited && !statusSeen.some((s) => s.bindings.length > 0)) {
      const st = spawnSync(process.execPath, [CLI, 'status', '--socket', haSock!, '--json'], { encoding: 'utf8' });
      if (st.status === 0) statusSeen.push(JSON.parse(st.stdout));
      await new Promise((res) => setTimeout(res, 100));
    }
    const { code } = await Promise.race([r.exit, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`demo still running after 80 s:\n${r.stderr}`)), 80_000))]);
    expect(code, r.stderr).toBe(0);
    result = JSON.parse(r.stdout) as DemoResult;
    expect(result.ok, r.stderr).toBe(true);
    expect(result.problems).toEqual([]);
    expect(result.moves.map((m) => m.move)).toEqual(['home -> v6net0', 'v6net0 -> v4net0', 'v4net0 -> natnet0', 'NAT conntrack flush', 'natnet0 -> v6net0', 'v6net0 -> home']);
    // What the address plan implies for each step.
    const expected: [string, string, boolean][] = [
      [P.mn.coa6, 'ipv6', false],
      [P.mn.coa4, 'udp', false],
      [P.mn.natPrivate4, 'udp', true],
      [P.mn.natPrivate4, 'udp', true],
      [P.mn.coa6, 'ipv6', false],
      [P.mn.hoa6, 'home', false],
    ];
    result.moves.forEach((m, i) => {
      expect([m.coa, m.transport, m.nat.detected], m.move).toEqual(expected[i]);
      expect(m.bytesLost, m.move).toBe(0);
      if (m.nat.detected) expect(m.nat.address).toBe(P.nat.public4);
      // Every move is registered (or deregistered) by a BU answered with a BA on the MN's wire.
      if (m.move !== 'NAT conntrack flush') expect(m.buToBaMs, m.move).toBeGreaterThan(0);
      expect(m.interruptionMs, m.move).toBeLessThan(10_000);
    });
    // The NAT forgot the mapping: the HA sees a new source port after the flush.
    expect(result.moves[3].nat.port).not.toBe(result.moves[2].nat.port);
    expect(result.bytesLost).toBe(0);
    for (const s of [result.streams.v6, result.streams.v4]) {
      expect(s.sent).toBeGreaterThan(64 * 1024);
      expect(s.echoed).toBe(s.sent);
      expect(s.mismatched).toBe(0);
      expect(s.error).toBeNull();
    }
    // Progress went to stderr as it happened.
    expect(r.stderr).toMatch(/moving v4net0 -> natnet0 \.\.\.\n.*registered 192\.168\.77\.100 over UDP 4191/);
  }, 120_000);

  it('`dsmip6 status` of the demo\'s HA showed the binding while it ran', () => {
    expect(run).toBeDefined();
    const withBinding = statusSeen.find((s) => s.bindings.length > 0);
    expect(withBinding, JSON.stringify(statusSeen)).toBeDefined();
    const b = withBinding!.bindings.find((x) => x.hoa === P.mn.hoa6);
    expect(b).toBeDefined();
    expect([P.mn.coa6, P.mn.coa4, P.mn.natPrivate4]).toContain(b!.coa);
  });

  it('left no namespace and no socket behind', () => {
    expect(run).toBeDefined();
    expect(namespacesOf(run!.child.pid!)).toEqual([]);
    expect(existsSync(result!.sockets.ha)).toBe(false);
  });

  it('tshark with the --keys file decrypts the --pcap file: every ESP ICV good, BUs and BAs visible', () => {
    expect(result?.pcap).toBe(pcap);
    expect(statSync(pcap).size).toBeGreaterThan(100_000);
    expect(statSync(keys).mode & 0o777).toBe(0o600);
    const records = readFileSync(keys, 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
    expect(records).toHaveLength(4);
    const args = ['-r', pcap, '-d', 'udp.port==4191,ipv6', '-o', 'esp.enable_encryption_decode:TRUE', '-o', 'esp.enable_authentication_check:TRUE', ...records.flatMap((r) => ['-o', `uat:esp_sa:${r}`])];
    // ESP quoted in an ICMP error (a NAT that forgot the mapping, a link gone) is cut short: no ICV to check.
    const t = spawnSync('tshark', [...args, '-Y', 'esp && !icmp && !icmpv6', '-T', 'fields', '-E', 'occurrence=f', '-e', 'esp.spi', '-e', 'esp.icv_good', '-e', 'esp.icv_bad', '-e', 'mip6.mhtype'], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    expect(t.status, t.stderr).toBe(0);
    const rows = t.stdout.trim().split('\n').map((l) => l.split('\t'));
    expect(rows.length).toBeGreaterThan(1000);
    const notGood = rows.filter((r) => !['1', 'True'].includes(r[1]));
    expect(notGood.slice(0, 5), `${notGood.length} of ${rows.length} ESP packets without a good ICV`).toEqual([]);
    const mh = rows.map((r) => r[3]).filter(Boolean);
    // Six steps, each with at least one BU and its BA (on several links each).
    expect(mh.filter((x) => x === '5').length).toBeGreaterThanOrEqual(6);
    expect(mh.filter((x) => x === '6').length).toBeGreaterThanOrEqual(6);
  });

  it('the README\'s bash line decrypts the capture too', () => {
    // Kept word for word in the README ("How to decrypt a capture"), with the file names substituted.
    const line = `args=(); while read -r r; do args+=(-o "uat:esp_sa:$r"); done < <(grep -v '^#' ${keys}); tshark -r ${pcap} -d udp.port==4191,ipv6 -o esp.enable_encryption_decode:TRUE -o esp.enable_authentication_check:TRUE "\${args[@]}" -Y mip6.mhtype`;
    const t = spawnSync('bash', ['-c', line], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    expect(t.status, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/Binding Update/);
    expect(t.stdout).toMatch(/Binding Acknowledgement/);
  });

  it('on Ctrl-C (SIGINT) tears down the testbed and its daemons and exits 130', async () => {
    ensureBuilt();
    const r = runDemo([]);
    await until(() => /moving home -> v6net0/.test(r.stderr) || r.child.exitCode !== null, 40_000, () => `the first move:\n${r.stderr}`);
    expect(namespacesOf(r.child.pid!).length, r.stderr).toBeGreaterThan(0);
    r.child.kill('SIGINT');
    const { code } = await Promise.race([r.exit, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`demo did not exit within 20 s of SIGINT:\n${r.stderr}`)), 20_000))]);
    expect(code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/SIGINT: tearing down/);
    expect(namespacesOf(r.child.pid!)).toEqual([]);
    // No daemon of that demo survived it (they ran with the demo's own socket directory).
    const sock = /control sockets: ha (\S+)/.exec(r.stderr)?.[1];
    expect(sock).toBeDefined();
    const ps = spawnSync('pgrep', ['-f', sock!], { encoding: 'utf8' });
    expect(ps.stdout.trim()).toBe('');
  }, 90_000);
});

// The project root is where `dsmip6 demo` finds config/demo-*.json (next to dist/).
it('the demo configs exist where the built CLI looks for them', () => {
  expect(existsSync(join(ROOT, 'config/demo-ha.json'))).toBe(true);
  expect(existsSync(join(ROOT, 'config/demo-mn.json'))).toBe(true);
});
