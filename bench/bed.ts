// Testbed helpers of the in-testbed benchmarks (bench/throughput.ts, bench/handover.ts): a
// PROJECT_TOPOLOGY testbed, `dsmip6 ha` / `dsmip6 mn` from dist/ spawned in it with their log
// lines kept (with arrival times), iperf3 runs, and a teardown that removes every namespace.
// Bench code: it must never assert, never import from test/, and never leave a namespace, a daemon
// or a control socket behind (stopDaemons/destroy always run; the testbed's exit hooks cover a crash).
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROJECT, PROJECT_TOPOLOGY, Testbed } from '../testbed/index.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = join(ROOT, 'dist/cli/main.js');
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export type DaemonName = 'ha' | 'mn';

/** One log line of a daemon and when this process got it (Date.now()). */
export interface LogLine {
  at: number;
  text: string;
}

/** AES key size of the payload SAs: bench/fixtures/gcm128-* or gcm256-* (see bench/fixtures/README.md). */
export type GcmBits = 128 | 256;

export function configs(bits: GcmBits): { ha: string; mn: string } {
  return { ha: join(ROOT, `bench/fixtures/gcm${bits}-ha.json`), mn: join(ROOT, `bench/fixtures/gcm${bits}-mn.json`) };
}

export interface DaemonRun {
  ha: ChildProcess;
  mn: ChildProcess;
  lines: Record<DaemonName, LogLine[]>;
  /** Resolves with the first line (at or after index `from`) that matches; rejects with both logs after timeoutMs. */
  waitLine(name: DaemonName, re: RegExp, opts?: { from?: number; timeoutMs?: number }): Promise<LogLine & { index: number }>;
  /** SIGTERM to both, waits for them to exit (SIGKILL after 5 s). */
  stop(): Promise<void>;
  dump(): string;
}

export interface DaemonOptions {
  bits: GcmBits;
  /** Extra node options for the HA (e.g. --cpu-prof). */
  haNodeArgs?: string[];
  /** Extra node options for the MN (e.g. --cpu-prof). */
  mnNodeArgs?: string[];
}

/** A testbed with every MN link down but `startIface`. */
export async function createBed(prefix: string, startIface: string): Promise<Testbed> {
  const tb = await Testbed.create(PROJECT_TOPOLOGY, { prefix });
  try {
    for (const ifname of Object.values(PROJECT.mn.ifaces)) if (ifname !== startIface) await tb.linkDown('mn', ifname);
  } catch (e) {
    await tb.destroy().catch(() => {});
    throw e;
  }
  return tb;
}

function exited(c: ChildProcess, ms: number): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      c.kill('SIGKILL');
      resolve();
    }, ms);
    c.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** Starts the HA (waits for "ha: started"), then the MN, and waits until the HA has a binding. */
export async function startDaemons(tb: Testbed, opts: DaemonOptions): Promise<DaemonRun> {
  const cfg = configs(opts.bits);
  const sockDir = mkdtempSync(join(tmpdir(), 'dsmip6-bench-ctl-'));
  const lines: Record<DaemonName, LogLine[]> = { ha: [], mn: [] };
  const procs: Partial<Record<DaemonName, ChildProcess>> = {};
  const collect = (name: DaemonName, c: ChildProcess): void => {
    let partial = '';
    const on = (b: Buffer): void => {
      const parts = (partial + b.toString()).split('\n');
      partial = parts.pop()!;
      const at = Date.now();
      for (const text of parts) lines[name].push({ at, text });
    };
    c.stdout?.on('data', on);
    c.stderr?.on('data', on);
  };
  const dump = (): string => `--- ha ---\n${lines.ha.map((l) => l.text).join('\n')}\n--- mn ---\n${lines.mn.map((l) => l.text).join('\n')}`;
  const waitLine = async (name: DaemonName, re: RegExp, o: { from?: number; timeoutMs?: number } = {}): Promise<LogLine & { index: number }> => {
    const deadline = Date.now() + (o.timeoutMs ?? 15_000);
    for (;;) {
      const ls = lines[name];
      for (let i = o.from ?? 0; i < ls.length; i++) if (re.test(ls[i]!.text)) return { ...ls[i]!, index: i };
      const c = procs[name];
      if (c && (c.exitCode !== null || c.signalCode !== null)) throw new Error(`${name} exited before logging ${re}\n${dump()}`);
      if (Date.now() > deadline) throw new Error(`timeout waiting for ${name} to log ${re}\n${dump()}`);
      await sleep(10);
    }
  };
  const stop = async (): Promise<void> => {
    for (const name of ['mn', 'ha'] as const) {
      const c = procs[name];
      if (!c) continue;
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
      await exited(c, 5000);
    }
    rmSync(sockDir, { recursive: true, force: true });
  };
  try {
    const ha = tb.spawn('ha', [process.execPath, ...(opts.haNodeArgs ?? []), CLI, 'ha', '--config', cfg.ha, '--socket', join(sockDir, 'ha.sock')]);
    procs.ha = ha;
    collect('ha', ha);
    await waitLine('ha', /ha: started/);
    const mn = tb.spawn('mn', [process.execPath, ...(opts.mnNodeArgs ?? []), CLI, 'mn', '--config', cfg.mn, '--socket', join(sockDir, 'mn.sock')]);
    procs.mn = mn;
    collect('mn', mn);
    await waitLine('mn', /registration: registered/, { timeoutMs: 20_000 });
    return { ha, mn, lines, waitLine, stop, dump };
  } catch (e) {
    await stop();
    throw e;
  }
}

export interface IperfResult {
  /** What the receiver got, bit/s (iperf3's sum_received, for TCP and UDP). */
  bps: number;
  /** UDP only: the share of datagrams lost (0..100). */
  lostPercent?: number;
  /** The sender's rate, bit/s. */
  sentBps: number;
  /** TCP only: segments the sender retransmitted. */
  retransmits?: number;
  error?: string;
}

/**
 * Runs an iperf3 client in `from` against a server (already running) at `to`: TCP, or UDP with
 * `udpPayload`-octet datagrams (default 1352: 1400-octet IPv6 packets) at an unlimited offered rate. `omit` seconds of warm-up are not counted.
 */
export async function iperf(tb: Testbed, from: string, to: string, proto: 'tcp' | 'udp', seconds: number, omit: number, udpPayload = 1352): Promise<IperfResult> {
  const argv = ['iperf3', '-c', to, '-t', String(seconds), '-J', '--connect-timeout', '3000'];
  // -O (omit the first seconds) only for TCP: iperf3 3.12 miscounts UDP loss across the omitted interval.
  if (omit > 0 && proto === 'tcp') argv.push('-O', String(omit));
  if (proto === 'udp') argv.push('-u', '-l', String(udpPayload), '-b', '0');
  const r = await tb.exec(from, argv, { timeoutMs: (seconds + omit + 15) * 1000 });
  let j: any;
  try {
    j = JSON.parse(r.stdout);
  } catch {
    return { bps: 0, sentBps: 0, error: `iperf3 exit ${r.code}: ${(r.stderr || r.stdout).trim().split('\n')[0]}` };
  }
  if (j.error) return { bps: 0, sentBps: 0, error: String(j.error) };
  if (proto === 'tcp') return { bps: j.end.sum_received.bits_per_second, sentBps: j.end.sum_sent.bits_per_second, retransmits: Number(j.end.sum_sent.retransmits ?? 0) };
  // sum_received: bytes the server counted over the run; lost_percent can exceed 100 when
  // datagrams arrive out of order around an interval edge, so it is clamped.
  const s = j.end.sum_received ?? j.end.sum;
  const lost = Math.min(100, Math.max(0, Number(j.end.sum?.lost_percent ?? 0)));
  return { bps: s.bits_per_second, sentBps: j.end.sum_sent?.bits_per_second ?? j.end.sum.bits_per_second, lostPercent: lost };
}

/** An iperf3 server in `host` bound to `addr`; kill it with the returned child's kill(). */
export async function iperfServer(tb: Testbed, host: string, addr: string): Promise<ChildProcess> {
  const s = tb.spawn(host, ['iperf3', '-s', '-B', addr], { stdio: 'ignore' });
  // iperf3 has no ready signal; it listens within a few ms.
  await sleep(300);
  return s;
}

export async function killWait(c: ChildProcess): Promise<void> {
  if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  await exited(c, 3000);
}
