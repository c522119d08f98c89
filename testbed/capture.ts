// captureLinks: records every link of a running Testbed with dumpcap (one pcap per veth pair, one
// per LAN member as seen from its bridge port), so a test can hand the wire to an independent
// judge (tshark). It must never leave a dumpcap running: each one is a Testbed.spawn child (so
// destroy() stops it too), and stop() or a failed start kills what it started. It never changes
// the network it records (no addresses, links or routes), and writes only into the directory given.
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tool } from './run.js';
import { placedEnds, type LinkSpec } from './spec.js';
import type { Testbed } from './testbed.js';

/** One capture point: a device inside a namespace, named by the link it records. */
export interface CapturePoint {
  /** "ar6/lan0--mn/v6net0" for a veth pair, "homelan:mn/home0" for a LAN member. */
  link: string;
  /** Host (or LAN) whose namespace holds the captured device. */
  host: string;
  ifname: string;
}

export interface CaptureFile extends CapturePoint {
  /** The pcap file (libpcap format). */
  file: string;
  /** Set when dumpcap ended on its own during the capture or exited non-zero: its stderr. The file may be short. */
  error?: string;
}

export interface CaptureOptions {
  /** Which end of a veth pair to record. Default: the end on a forwarding host (a router's interfaces are rarely taken down; a leaf's, like an MN's, are), else `a`. */
  end?: (link: LinkSpec) => 'a' | 'b';
  /** How long to wait for every dumpcap to report "Capturing on" (ms); default 10000. */
  startTimeoutMs?: number;
  /** Snap length (octets); default dumpcap's (262144). */
  snaplen?: number;
  /** How long stop() waits before signalling, so the last packets reach the files (ms); default 1000. */
  settleMs?: number;
  /** Record these points instead of every link (capturePoints). */
  points?: readonly CapturePoint[];
  /** A capture filter (pcap syntax) for every point. */
  filter?: string;
  /** The file name (inside `dir`) for each point; default `<NN>-<link>.pcap`. */
  fileName?: (point: CapturePoint, index: number) => string;
}

export interface LinkCapture {
  readonly dir: string;
  readonly points: readonly CapturePoint[];
  /** Ends every dumpcap (SIGINT, so it flushes and closes its file; SIGKILL after 5 s) and returns the files. Idempotent. `settleMs` overrides the option. */
  stop(settleMs?: number): Promise<CaptureFile[]>;
}

const STOP_GRACE_MS = 5000;
// libpcap on Linux (TPACKET_V3) hands packets over in blocks retired after dumpcap's read timeout
// (250 ms); dumpcap stops on SIGINT without draining the ring, so packets of the last moments
// would be lost: wait a few timeouts first.
const DEFAULT_SETTLE_MS = 1000;

/** The capture points of a testbed: one end per veth pair, and for each LAN the bridge port facing each member. */
export function capturePoints(tb: Testbed, opts: Pick<CaptureOptions, 'end'> = {}): CapturePoint[] {
  const forwarding = new Set(tb.spec.hosts.filter((h) => h.forwarding === true || (typeof h.forwarding === 'object' && (h.forwarding.ipv4 || h.forwarding.ipv6))).map((h) => h.name));
  const pick = opts.end ?? ((l: LinkSpec) => (forwarding.has(l.a.host) || !forwarding.has(l.b.host) ? 'a' : 'b'));
  const points: CapturePoint[] = [];
  for (const l of tb.spec.links ?? []) {
    const e = l[pick(l)];
    points.push({ link: `${l.a.host}/${l.a.ifname}--${l.b.host}/${l.b.ifname}`, host: e.host, ifname: e.ifname });
  }
  // A bridge device only sees frames delivered to the bridge itself, not those it forwards between
  // ports, so each port is recorded; ports live in the LAN's namespace, which linkDown never touches.
  for (const pe of placedEnds(tb.spec)) {
    if (pe.peer.kind === 'lan') points.push({ link: `${pe.peer.lan}:${pe.end.host}/${pe.end.ifname}`, host: pe.peer.lan, ifname: pe.peer.port });
  }
  return points;
}

/**
 * Starts dumpcap on every capture point of `tb`, writing `<dir>/<NN>-<link>.pcap`, and resolves once
 * each one is capturing. If any fails to start, kills them all and throws.
 */
export async function captureLinks(tb: Testbed, dir: string, opts: CaptureOptions = {}): Promise<LinkCapture> {
  const dumpcap = tool('dumpcap');
  mkdirSync(dir, { recursive: true });
  const points = opts.points ?? capturePoints(tb, opts);
  const running: { point: CapturePoint; file: string; child: ChildProcess; stderr: () => string; ended: () => boolean; exited: Promise<void> }[] = [];
  const killAll = () => {
    for (const r of running) if (!r.ended()) r.child.kill('SIGKILL');
  };
  try {
    points.forEach((point, i) => {
      const file = join(dir, opts.fileName?.(point, i) ?? `${String(i).padStart(2, '0')}-${point.link.replace(/[^A-Za-z0-9_.-]+/g, '_')}.pcap`);
      const argv = [dumpcap, '-q', '-P', '-i', point.ifname, '-w', file];
      if (opts.snaplen) argv.push('-s', String(opts.snaplen));
      if (opts.filter) argv.push('-f', opts.filter);
      const child = tb.spawn(point.host, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      let ended = false;
      child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
      const exited = new Promise<void>((r) => {
        // 'close' comes after 'exit' once stderr is drained, so an error message is complete.
        child.once('close', () => ((ended = true), r()));
        // A spawn failure never emits 'exit'.
        child.once('error', (e) => ((err += `\n${e.message}`), (ended = true), r()));
      });
      running.push({ point, file, child, stderr: () => err, ended: () => ended, exited });
    });
    const timeout = opts.startTimeoutMs ?? 10000;
    await Promise.all(
      running.map(
        (r) =>
          new Promise<void>((resolve, reject) => {
            const t0 = Date.now();
            const check = () => {
              // dumpcap says "Capturing on 'IF'" once the device is open and the file written.
              if (/Capturing on/.test(r.stderr()) && existsSync(r.file)) return resolve();
              if (r.ended()) return reject(new Error(`dumpcap on ${r.point.host}/${r.point.ifname} (${r.point.link}) exited at start: ${r.stderr().trim()}`));
              if (Date.now() - t0 > timeout) return reject(new Error(`dumpcap on ${r.point.host}/${r.point.ifname} (${r.point.link}) did not start capturing within ${timeout} ms: ${r.stderr().trim()}`));
              setTimeout(check, 20);
            };
            check();
          }),
      ),
    );
  } catch (e) {
    killAll();
    await Promise.all(running.map((r) => r.exited));
    throw e;
  }

  let stopping: Promise<CaptureFile[]> | undefined;
  const stop = (settleMs?: number): Promise<CaptureFile[]> =>
    (stopping ??= (async () => {
      await new Promise((r) => setTimeout(r, settleMs ?? opts.settleMs ?? DEFAULT_SETTLE_MS));
      // Which ones ended before we asked (e.g. their device was deleted): their files may be short.
      const early = new Set(running.filter((r) => r.ended()));
      for (const r of running) if (!early.has(r)) r.child.kill('SIGINT');
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((r) => (timer = setTimeout(r, STOP_GRACE_MS)));
      await Promise.race([Promise.all(running.map((r) => r.exited)), grace]);
      clearTimeout(timer);
      const late = new Set(running.filter((r) => !r.ended()));
      killAll();
      await Promise.all(running.map((r) => r.exited));
      return running.map((r) => {
        const out: CaptureFile = { ...r.point, file: r.file };
        if (early.has(r)) out.error = `dumpcap ended during the capture (code ${r.child.exitCode}): ${r.stderr().trim()}`;
        else if (late.has(r)) out.error = `dumpcap did not exit on SIGINT within ${STOP_GRACE_MS} ms; killed`;
        else if (r.child.exitCode !== 0 && r.child.signalCode !== 'SIGINT') out.error = `dumpcap exited ${r.child.exitCode ?? r.child.signalCode}: ${r.stderr().trim()}`;
        return out;
      });
    })());
  return { dir, points, stop };
}
