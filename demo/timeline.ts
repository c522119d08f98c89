// `dsmip6 demo`'s run: the project testbed with a real HA and MN (testbed/daemons.ts), TCP streams
// from the correspondent to both home addresses (demo/streams.ts), and the roaming timeline
// home -> v6net0 -> v4net0 -> natnet0 -> NAT conntrack flush -> v6net0 -> home, measuring each
// step (BU->BA on the MN's wire, pause in echo progress, bytes lost) and optionally recording every
// link. It must never touch anything outside the testbed's namespaces and the files it is given,
// and destroy() must always leave no namespace, daemon, dumpcap or temporary directory behind.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMnConfig } from '../config/load.js';
import { espSaUatFile, mnWiresharkEspSas } from '../config/wireshark.js';
import type { HaStatus } from '../ha/status.js';
import { captureLinks, PROJECT, type LinkCapture } from '../testbed/index.js';
// Not through testbed/index.ts: the testbed proper imports only node: modules (child processes load it alone).
import { startDaemons, type Daemons, type MnIface } from '../testbed/daemons.js';
import { MissingToolError, TOOL_PACKAGES, tool } from '../testbed/run.js';
import { RegistrationSniffer } from './sniff.js';
import { STREAM_NAMES, Streams, until, type StreamName } from './streams.js';
import type { DemoResult, MoveRow, StreamTotal } from './table.js';
import { transportText } from './table.js';

const P = PROJECT;
const PORT6 = 5001;
const PORT4 = 5002;

export interface DemoOptions {
  /** The compiled CLI that runs `dsmip6 ha` and `dsmip6 mn`. */
  cli: string;
  haConfig: string;
  mnConfig: string;
  /** Shorter stays on each network (for CI); the same steps and checks. */
  quick?: boolean;
  /** Write the capture of every link here (pcapng, merged with mergecap). */
  pcap?: string;
  /** Write the MN's ESP SAs here, in Wireshark's esp_sa format. */
  keys?: string;
  /** One line per event, for a person watching. */
  progress?: (line: string) => void;
}

/** One step of the timeline: a move between the MN's interfaces, or a NAT that forgets its mappings. */
interface Step {
  label: string;
  move?: { to: MnIface; from: MnIface };
  /** The HA log line that says the step's binding is in place (none for a conntrack flush). */
  haLog?: string;
}

export const TIMELINE: readonly Step[] = [
  { label: 'home -> v6net0', move: { to: P.mn.ifaces.v6net, from: P.mn.ifaces.home }, haLog: `binding created: ${P.mn.hoa6} -> ${P.mn.coa6} ` },
  { label: 'v6net0 -> v4net0', move: { to: P.mn.ifaces.v4net, from: P.mn.ifaces.v6net }, haLog: `binding updated: ${P.mn.hoa6} -> ${P.mn.coa4} ` },
  { label: 'v4net0 -> natnet0', move: { to: P.mn.ifaces.natnet, from: P.mn.ifaces.v4net }, haLog: `${P.mn.hoa6} -> ${P.mn.natPrivate4} (udp, nat ${P.nat.public4}` },
  { label: 'NAT conntrack flush' },
  { label: 'natnet0 -> v6net0', move: { to: P.mn.ifaces.v6net, from: P.mn.ifaces.natnet }, haLog: `binding updated: ${P.mn.hoa6} -> ${P.mn.coa6} ` },
  { label: 'v6net0 -> home', move: { to: P.mn.ifaces.home, from: P.mn.ifaces.v6net }, haLog: `binding deleted: ${P.mn.hoa6}` },
];

/** Fails unless every tool is installed, naming the Debian packages of all that are missing. */
function requireDemoTools(names: readonly string[]): void {
  const packages: Record<string, string> = { ...TOOL_PACKAGES, dumpcap: 'wireshark-common', mergecap: 'wireshark-common' };
  const missing = names.filter((n) => {
    try {
      tool(n);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length) throw new MissingToolError(`the demo needs ${missing.join(', ')}: apt-get install ${[...new Set(missing.map((n) => packages[n] ?? n))].join(' ')}`);
}

export class Demo {
  private d: Daemons | undefined;
  private sniffer: RegistrationSniffer | undefined;
  private linkCap: LinkCapture | undefined;
  private capDir: string | undefined;
  private stateDir: string | undefined;
  private ctlDir: string | undefined;
  private destroying: Promise<void> | undefined;
  private readonly say: (line: string) => void;
  /** The daemons' control sockets, once they are known. */
  sockets: { ha: string; mn: string } | undefined;

  constructor(private readonly opts: DemoOptions) {
    this.say = opts.progress ?? (() => {});
  }

  async run(): Promise<DemoResult> {
    const o = this.opts;
    const t0 = Date.now();
    const quick = o.quick ?? false;
    // How long to stay on each network once the streams are back, and how far they must get.
    const dwellMs = quick ? 300 : 3000;
    const margin = (quick ? 16 : 64) * 1024;
    const mnCfg = loadMnConfig(o.mnConfig);
    // Say everything that is missing now, not after a minute of roaming.
    requireDemoTools(['ip', 'nft', 'conntrack', 'sysctl', 'dumpcap', ...(o.pcap ? ['mergecap'] : [])]);
    if (o.keys) {
      writeFileSync(o.keys, espSaUatFile(mnWiresharkEspSas(mnCfg)), { mode: 0o600 });
      chmodSync(o.keys, 0o600); // the mode above applies only to a new file
      this.say(`wrote the MN's ESP keys (Wireshark esp_sa) to ${o.keys}`);
    }

    // The daemons keep bindings and sequence numbers in state files: a demo starts from none and
    // must not disturb (or inherit) those of a real daemon or of another run.
    this.stateDir = mkdtempSync(join(tmpdir(), 'dsmip6-demo-state-'));
    // Unix sockets are not per namespace: the daemons' control sockets get a directory of this run.
    this.ctlDir = mkdtempSync(join(tmpdir(), 'dsmip6-demo-ctl-'));
    this.say('building the testbed (network namespaces: home link + HA, IPv6-only, IPv4-only and NATed networks, correspondent) ...');
    const d = await startDaemons({
      cli: o.cli,
      haConfig: o.haConfig,
      mnConfig: o.mnConfig,
      mnStartIface: P.mn.ifaces.home,
      socketDir: this.ctlDir,
      extraEnv: { DSMIP6_HA_STATE: join(this.stateDir, 'ha.db'), DSMIP6_MN_STATE: join(this.stateDir, 'mn.db') },
      beforeMn: async (tb) => {
        this.say('home agent started; starting the capture and the mobile node (at home) ...');
        this.sniffer = await RegistrationSniffer.start(tb, P.mn.host, mnCfg.keys.bu.out.spi, mnCfg.keys.bu.in.spi);
        if (o.pcap) {
          this.capDir = mkdtempSync(join(tmpdir(), 'dsmip6-demo-pcap-'));
          this.linkCap = await captureLinks(tb, this.capDir);
        }
      },
    });
    this.d = d;
    this.sockets = { ...d.sockets };
    this.say(`control sockets: ha ${d.sockets.ha} mn ${d.sockets.mn} (try: dsmip6 status --socket ${d.sockets.ha})`);

    await d.waitForLog('mn', 'movement: home -> moveTo home', { timeoutMs: 15_000 });
    this.say(`mobile node is at home; opening TCP from the correspondent ${P.cn.addr6} to ${P.mn.hoa6}:${PORT6} and ${P.cn.addr4} to ${P.mn.hoa4}:${PORT4} ...`);
    const streams = await Streams.start(d.tb, P.mn.host, P.cn.host, [
      { name: 'v6', host: P.mn.hoa6, port: PORT6 },
      { name: 'v4', host: P.mn.hoa4, port: PORT4 },
    ]);
    await until(() => STREAM_NAMES.every((n) => streams.get(n).echoed >= margin), 15_000, () => 'both streams to get going');
    this.say('both streams echo; starting the roaming timeline');

    const problems: string[] = [];
    const moves: MoveRow[] = [];
    for (const step of TIMELINE) {
      moves.push(await this.step(step, streams, margin, dwellMs, problems));
    }

    // The end: stop sending, let what is in flight come back, and count.
    streams.stopSending();
    // Until the client has read "stop", a report may still be followed by one more chunk.
    await new Promise((r) => setTimeout(r, 300));
    const drained = () => STREAM_NAMES.every((n) => streams.get(n).echoed >= streams.get(n).sent || streams.get(n).closed);
    await until(drained, 10_000, () => 'the echo to drain').catch(() => problems.push('the echo did not drain within 10 s'));
    // A last progress report after the final bytes (reports come every 100 ms).
    await new Promise((r) => setTimeout(r, 250));
    const total = (n: StreamName): StreamTotal => {
      const s = streams.get(n);
      return { sent: s.sent, echoed: s.echoed, mismatched: s.bad, lost: Math.max(0, s.sent - s.echoed) + s.bad, error: s.err ?? (s.closed ? 'closed' : null) };
    };
    const totals = { v6: total('v6'), v4: total('v4') };
    for (const n of STREAM_NAMES) if (totals[n].error) problems.push(`${n} stream: ${totals[n].error}`);
    problems.push(...streams.incidents);
    const bytesLost = totals.v6.lost + totals.v4.lost;
    if (bytesLost !== 0) problems.push(`${bytesLost} bytes lost`);
    this.say(`streams drained: ${bytesLost} bytes lost`);

    const result: DemoResult = { ok: false, problems, moves, streams: totals, bytesLost, durationMs: 0, sockets: { ...d.sockets } };
    await this.finishCapture(result, problems);
    if (o.keys) result.keys = o.keys;
    const stopped = await d.stop().catch((e: Error) => (problems.push(`stopping the daemons: ${e.message}`), undefined));
    if (stopped && (stopped.ha !== 0 || stopped.mn !== 0)) problems.push(`daemons exited with ha ${stopped.ha}, mn ${stopped.mn}`);
    result.ok = problems.length === 0 && moves.length === TIMELINE.length;
    result.durationMs = Date.now() - t0;
    return result;
  }

  private async step(step: Step, streams: Streams, margin: number, dwellMs: number, problems: string[]): Promise<MoveRow> {
    const d = this.d!;
    const tb = d.tb;
    const base = { v6: { ...streams.get('v6') }, v4: { ...streams.get('v4') } };
    const haLen = d.logs.ha.length;
    // The step begins: the MN may act on the new link's arrival before the old one goes away.
    const t0 = Date.now();
    if (step.move) {
      this.say(`moving ${step.label} ...`);
      // Make before break: the new network comes up, then the old one goes away.
      await tb.linkUp(P.mn.host, step.move.to);
      await tb.linkDown(P.mn.host, step.move.from);
    } else {
      this.say(`${step.label}: the NAT forgets every mapping ...`);
      await tb.flushConntrack(P.nat.host);
    }
    // 30 s: room for the MN's BU retransmissions (1.5 s, doubling) when the first BUs get no answer.
    if (step.haLog) await d.waitForLog('ha', step.haLog, { after: haLen, timeoutMs: 30_000 });
    // Back in business: both streams went `margin` further, and everything sent before the step came back.
    const back = () => STREAM_NAMES.every((n) => streams.get(n).echoed >= Math.max(base[n].echoed + margin, base[n].sent));
    const resumedOk = await until(back, 30_000, () => 'the streams to resume').then(
      () => true,
      () => false,
    );
    // The step's pauses are those up to here; later ones (while we stay) are ordinary TCP jitter.
    const tBack = Date.now();
    await new Promise((r) => setTimeout(r, dwellMs));
    const ex = this.sniffer!.exchangeSince(t0);
    const pause = streams.longestPause(t0, tBack);
    // Back after the longest pause: its end (the streams were flowing before and after it).
    const resumedMs = pause ? Math.max(0, pause.to - t0) : 0;
    let bytesLost = 0;
    for (const n of STREAM_NAMES) {
      const s = streams.get(n);
      bytesLost += Math.max(0, base[n].sent - s.echoed) + (s.bad - base[n].bad);
    }
    if (!resumedOk) problems.push(`${step.label}: the streams did not resume within 30 s`);

    const st = (await d.status('ha')) as HaStatus;
    const b = st.bindings.find((x) => x.hoa === P.mn.hoa6);
    const row: MoveRow = {
      move: step.label,
      coa: b ? b.coa : P.mn.hoa6,
      transport: b ? b.transport : 'home',
      nat: b?.natDetected ? { detected: true, ...(b.natAddress !== undefined ? { address: b.natAddress } : {}), ...(b.natPort !== undefined ? { port: b.natPort } : {}) } : { detected: false },
      buToBaMs: ex ? Math.round((ex.baAt - ex.buAt) * 10) / 10 : null,
      bus: ex ? ex.bus : null,
      interruptionMs: pause ? pause.to - pause.from : 0,
      resumedMs,
      bytesLost,
    };
    if (step.move?.to === P.mn.ifaces.home && b) problems.push(`${step.label}: the HA still holds a binding for ${P.mn.hoa6}`);
    if (step.move && step.move.to !== P.mn.ifaces.home && !b) problems.push(`${step.label}: the HA holds no binding for ${P.mn.hoa6}`);
    const where = row.transport === 'home' ? 'deregistered (home)' : `registered ${row.coa} over ${transportText(row.transport)}${row.nat.detected ? `, NAT ${row.nat.address}:${row.nat.port}` : ''}`;
    this.say(
      `  ${where}` +
        (row.buToBaMs !== null ? ` in ${row.buToBaMs.toFixed(1)} ms (BU->BA${row.bus! > 1 ? `, ${row.bus} BUs` : ''})` : '') +
        `, streams resumed ${resumedMs} ms after the step began (longest pause ${row.interruptionMs} ms), ${bytesLost} bytes lost`,
    );
    return row;
  }

  private async finishCapture(result: DemoResult, problems: string[]): Promise<void> {
    this.sniffer?.stop();
    if (!this.linkCap || !this.opts.pcap) return;
    const files = await this.linkCap.stop();
    this.linkCap = undefined;
    for (const f of files) if (f.error) problems.push(`capture of ${f.link}: ${f.error}`);
    const r = spawnSync(tool('mergecap'), ['-w', this.opts.pcap, ...files.map((f) => f.file)], { encoding: 'utf8' });
    if (r.status !== 0) problems.push(`mergecap failed (${r.error?.message ?? `exit ${r.status}`}): ${r.stderr}`);
    else {
      result.pcap = this.opts.pcap;
      this.say(`wrote the capture of all ${files.length} links to ${this.opts.pcap}`);
    }
  }

  /** The last `n` lines of each daemon's log, labelled (for a failure report). */
  logTail(n = 40): string {
    if (!this.d) return '';
    const tail = (s: string) => s.trimEnd().split('\n').slice(-n).join('\n');
    return `--- ha log (last ${n} lines) ---\n${tail(this.d.logs.ha)}\n--- mn log (last ${n} lines) ---\n${tail(this.d.logs.mn)}\n`;
  }

  /** Stops captures, daemons and the testbed, and removes temporary files. Idempotent; never throws. */
  destroy(): Promise<void> {
    this.destroying ??= (async () => {
      this.sniffer?.stop();
      await this.linkCap?.stop(0).catch(() => {});
      await this.d?.destroy().catch(() => {});
      for (const dir of [this.capDir, this.stateDir, this.ctlDir]) if (dir) rmSync(dir, { recursive: true, force: true });
    })();
    return this.destroying;
  }
}
