// The handover benchmark: `node dist/bench/handover.js [--quick]` (root). In a PROJECT_TOPOLOGY
// testbed, with `dsmip6 ha` and `dsmip6 mn` from dist/ and a 1,000 packets/s UDP stream from the
// correspondent to the MN's home address, the MN moves between v6net (IPv6 CoA) and v4net (IPv4
// CoA) many times, make-before-break and break-before-make; for each move it measures the time from
// the netlink event that made the new CoA the one to use (`ip -ts monitor` in the mn namespace, or
// the MN's own reading of that message when it read it first) to the first data packet over the new
// CoA (dumpcap on the access routers' ends of the MN's links), and the packets lost. Prints a
// markdown section and JSON. Leaves no namespace, process or file.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { captureLinks, PROJECT, type Testbed } from '../testbed/index.js';
import { createBed, killWait, sleep, startDaemons, type DaemonRun } from './bed.js';
import { DEFAULT_DEBOUNCE_MS } from '../mn/movement.js';

const P = PROJECT;
const TRAFFIC = fileURLToPath(new URL('./handover-traffic.js', import.meta.url));
const PPS = 1000;
/** UDP payload of the stream: its tunnelled packets are > 300 octets on the wire, BAs and keepalives are not. */
const PAYLOAD = 200;
const MIN_DATA_FRAME = 300;
const PORT = 5001;
/** RFC 6275 §13 InitialBindackTimeoutFirstReg, and the delay MOBIKE implementations wait before acting on an address change. */
const RFC6275_FIRST_REG_MS = 1500;
const MOBIKE_WAIT_MS = 100;

const log = (line: string): void => void process.stderr.write(`bench handover: ${line}\n`);

type Mode = 'make-before-break' | 'break-before-make';
type To = 'v4' | 'v6';

interface Move {
  mode: Mode;
  to: To;
  /** Date.now() before the first command of the move. */
  actionAt: number;
  /** The netlink event (ip monitor timestamp, ms) that completed what the MN needed. */
  eventAt?: number;
  /** The MN's decision time (the "movement: coa -> moveTo" line's decidedAt field). */
  decidedAt?: number;
  /** How the MN decided: at once from the netlink event, or after the debounce. */
  via?: 'event' | 'debounce';
  /** From the decision until the MN's moveTo returned (the BU handed to the kernel). */
  moveMs?: number;
  /** When the MN read the notifications it decided on (its own clock reading, from the movement line). */
  mnReadAt?: number;
  /** The MN's "registration: registered" line for the new CoA. */
  registeredAt?: number;
  /** First data frame towards the new CoA on its link (capture timestamp, ms). */
  firstPacketAt?: number;
  lost: number;
  error?: string;
}

const coaOf = (to: To): string => (to === 'v4' ? P.mn.coa4 : P.mn.coa6);
const isoMs = (line: string): number | undefined => {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z)/.exec(line);
  if (m) return Date.parse(m[1]!);
  // JSON log lines (the daemons' format when not on a terminal): their "time" field.
  try {
    const o = JSON.parse(line) as { time?: unknown };
    return typeof o.time === 'string' ? Date.parse(o.time) : undefined;
  } catch {
    return undefined;
  }
};
/** A log line's numeric field (JSON or pretty "key=value"), e.g. the movement line's decidedAt. */
const fieldOf = (line: string, key: string): number | undefined => {
  try {
    const v = (JSON.parse(line) as Record<string, unknown>)[key];
    return typeof v === 'number' ? v : undefined;
  } catch {
    const m = new RegExp(`\\b${key}=([\\d.]+)`).exec(line);
    return m ? Number(m[1]) : undefined;
  }
};

/** `ip -ts monitor` lines start "[2026-11-23T16:47:51.653861]" in local time. */
function monitorMs(line: string): number | undefined {
  const m = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d+)\]/.exec(line);
  if (!m) return undefined;
  return new Date(m[1]!).getTime() + Number(`0.${m[2]}`) * 1000;
}

function collectLines(c: ChildProcess): string[] {
  const lines: string[] = [];
  let partial = '';
  c.stdout?.on('data', (b: Buffer) => {
    const parts = (partial + b.toString()).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
  });
  return lines;
}

async function firstJsonLine(lines: string[], c: ChildProcess, timeoutMs: number): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const l = lines.find((x) => x.startsWith('{'));
    if (l) return JSON.parse(l);
    if (Date.now() > deadline || (c.exitCode !== null && !lines.some((x) => x.startsWith('{')))) throw new Error('no result line');
    await sleep(20);
  }
}

async function doMove(tb: Testbed, d: DaemonRun, mode: Mode, to: To): Promise<Move> {
  const from: To = to === 'v4' ? 'v6' : 'v4';
  const ifOf = (x: To): string => (x === 'v4' ? P.mn.ifaces.v4net : P.mn.ifaces.v6net);
  const mark = d.lines.mn.length;
  const move: Move = { mode, to, actionAt: Date.now(), lost: 0 };
  if (mode === 'make-before-break') {
    // Both links stay up; the IPv6 CoA is deprecated (the MN then prefers the IPv4 one) or made preferred again (IPv6 wins).
    const lft = to === 'v4' ? '0' : 'forever';
    await tb.exec('mn', ['ip', '-6', 'addr', 'change', `${P.mn.coa6}/64`, 'dev', P.mn.ifaces.v6net, 'nodad', 'preferred_lft', lft], { check: true });
  } else {
    await tb.linkDown('mn', ifOf(from));
    await tb.linkUp('mn', ifOf(to));
  }
  const coa = coaOf(to);
  const esc = coa.replace(/[.:]/g, (c) => `\\${c}`);
  const decided = await d.waitLine('mn', new RegExp(`movement: coa -> moveTo ${esc}`), { from: mark, timeoutMs: 10_000 });
  // The MN's own sub-millisecond decision time (mn/daemon.ts logs the line once the BU is out).
  move.decidedAt = fieldOf(decided.text, 'decidedAt') ?? isoMs(decided.text) ?? decided.at;
  move.via = decided.text.includes('"via":"event"') || decided.text.includes('via=event') ? 'event' : 'debounce';
  move.moveMs = fieldOf(decided.text, 'moveMs');
  const since = fieldOf(decided.text, 'sinceEventMs');
  if (since !== undefined && move.decidedAt !== undefined) move.mnReadAt = move.decidedAt - since;
  const reg = await d.waitLine('mn', new RegExp(`registration: registered ${esc}`), { from: decided.index, timeoutMs: 10_000 });
  move.registeredAt = isoMs(reg.text) ?? reg.at;
  return move;
}

function captureTimes(file: string): number[] {
  const r = spawnSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.time_epoch', '-Y', `frame.len > ${MIN_DATA_FRAME}`], { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`tshark -r ${file}: ${r.stderr.trim().split('\n')[0]}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => Number(l) * 1000)
    .sort((a, b) => a - b);
}

async function run(moves: number): Promise<{ moves: Move[]; sent: number; received: number; lostOutside: number; notes: string[] }> {
  const tb = await createBed('bho', P.mn.ifaces.v6net);
  const dir = mkdtempSync(join(tmpdir(), 'dsmip6-bench-ho-'));
  const notes: string[] = [];
  let d: DaemonRun | undefined;
  const kids: ChildProcess[] = [];
  try {
    d = await startDaemons(tb, { bits: 128 });
    const cap = await captureLinks(tb, dir, {
      points: [
        { link: 'ar6/lan0', host: 'ar6', ifname: P.ar6.lanIf },
        { link: 'ar4/lan0', host: 'ar4', ifname: P.ar4.lanIf },
      ],
      filter: `(dst host ${P.mn.coa6} or dst host ${P.mn.coa4}) and greater ${MIN_DATA_FRAME}`,
      fileName: (p) => `${p.host}.pcap`,
    });
    const mon = tb.spawn('mn', ['ip', '-ts', 'monitor', 'address', 'route', 'link']);
    kids.push(mon);
    const monLines = collectLines(mon);
    const sink = tb.spawn('mn', [process.execPath, TRAFFIC, 'sink', P.mn.hoa6, String(PORT)]);
    kids.push(sink);
    const sinkLines = collectLines(sink);
    while (!sinkLines.includes('ready')) {
      if (sink.exitCode !== null) throw new Error('the sink exited');
      await sleep(20);
    }
    const sender = tb.spawn('cn', [process.execPath, TRAFFIC, 'send', P.mn.hoa6, String(PORT), String(PPS), String(PAYLOAD)]);
    kids.push(sender);
    const senderLines = collectLines(sender);
    await sleep(500);

    const all: Move[] = [];
    for (const mode of ['make-before-break', 'break-before-make'] as Mode[]) {
      // Start of each mode: the MN on v6net; for make-before-break v4net up too, for break-before-make down.
      if (mode === 'make-before-break') await tb.linkUp('mn', P.mn.ifaces.v4net);
      else await tb.linkDown('mn', P.mn.ifaces.v4net);
      await sleep(400);
      for (let k = 0; k < moves; k++) {
        const to: To = k % 2 === 0 ? 'v4' : 'v6';
        try {
          all.push(await doMove(tb, d, mode, to));
        } catch (e) {
          all.push({ mode, to, actionAt: Date.now(), lost: 0, error: (e as Error).message.split('\n')[0] });
          log(`${mode} -> ${to}: ${(e as Error).message.split('\n')[0]}`);
        }
        // Let the stream settle on the new path before the next move.
        await sleep(250);
      }
      log(`${mode}: ${moves} moves done`);
    }
    await sleep(300);
    sender.kill('SIGTERM');
    const sent = await firstJsonLine(senderLines, sender, 5000);
    await sleep(500);
    sink.kill('SIGTERM');
    const got = await firstJsonLine(sinkLines, sink, 5000);
    const files = await cap.stop(1500);
    mon.kill('SIGTERM');
    await sleep(100);

    // Netlink event times, then per move: the last event at or after the action and not after the
    // decision. `ip monitor` and the MN read the same kernel message each in its own time, and the
    // MN, deciding at once, often reads (and decides) first: then the event time is the MN's own
    // read time, the earlier of the two readings (the last monitor event up to 3 ms after it is
    // taken as its reading of the same message).
    const events = monLines.map(monitorMs).filter((t): t is number => t !== undefined);
    const frames: Record<To, number[]> = { v6: [], v4: [] };
    for (const f of files) frames[f.host === 'ar6' ? 'v6' : 'v4'] = captureTimes(f.file);
    for (const m of all) {
      if (m.decidedAt === undefined) continue;
      const upTo = m.mnReadAt !== undefined ? m.mnReadAt + 3 : m.decidedAt + 0.5;
      const ev = events.filter((t) => t >= m.actionAt - 2 && t <= upTo);
      if (ev.length === 0 && m.mnReadAt === undefined) {
        m.error = 'no netlink event between the action and the decision';
        continue;
      }
      const mon = ev.length > 0 ? ev[ev.length - 1]! : Infinity;
      m.eventAt = m.mnReadAt !== undefined ? Math.min(mon, m.mnReadAt) : mon;
      m.firstPacketAt = frames[m.to].find((t) => t >= m.eventAt!);
    }
    // Losses: datagram k left the sender at about startMs + k; each one missing counts against the last move begun before it left.
    let lostOutside = 0;
    for (const k of got.missing as number[]) {
      const at = sent.startMs + (k * 1000) / PPS;
      let owner: Move | undefined;
      for (const m of all) if (m.actionAt <= at) owner = m;
      if (owner) owner.lost++;
      else lostOutside++;
    }
    // Datagrams still in flight when the sink stopped are not lost: the sink counts up to the highest it saw.
    if (sent.sent - 1 > got.max) notes.push(`${sent.sent - 1 - got.max} datagrams sent after the last one the sink saw (in flight at stop) are not counted`);
    return { moves: all, sent: got.max + 1, received: got.received, lostOutside, notes };
  } finally {
    for (const k of kids) await killWait(k);
    await d?.stop();
    await tb.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

function pctl(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const moves = quick ? 6 : 50;
  const started = Date.now();
  const load = loadavg().map((x) => x.toFixed(2)).join(' ');
  const r = await run(moves);
  process.stdout.write(render(r, { quick, moves, load, seconds: (Date.now() - started) / 1000 }));
}

function render(r: Awaited<ReturnType<typeof run>>, meta: { quick: boolean; moves: number; load: string; seconds: number }): string {
  const out: string[] = [];
  const f = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '—');
  out.push('## Handover: from the new address to the first packet over it (bench/handover.ts)', '');
  out.push(`- Command: \`node dist/bench/handover.js${meta.quick ? ' --quick' : ''}\` (root); run time ${meta.seconds.toFixed(0)} s; ${cpus().length} logical CPUs; load average before: ${meta.load}`);
  out.push(`- ${meta.moves} moves per mode between v6net (IPv6 CoA ${P.mn.coa6}) and v4net (IPv4 CoA ${P.mn.coa4}, UDP 4191), alternating, under a ${PPS.toLocaleString('en-US')} packets/s UDP stream (${PAYLOAD}-octet payloads) from cn to the MN's home address ${P.mn.hoa6}.`, '');
  const modes: Mode[] = ['make-before-break', 'break-before-make'];
  const lat = (ms: Move[]): number[] => ms.filter((m) => m.eventAt !== undefined && m.firstPacketAt !== undefined).map((m) => m.firstPacketAt! - m.eventAt!);
  const mbb = r.moves.filter((m) => m.mode === 'make-before-break');
  const mbbP99 = pctl(lat(mbb), 99);
  const mbbLost = mbb.reduce((a, m) => a + m.lost, 0);
  const allP99 = modes.map((mode) => pctl(lat(r.moves.filter((m) => m.mode === mode)), 99));
  out.push(
    `Goals: p99 under 10 ms — ${allP99.every((x) => x < 10) ? '**MET**' : '**NOT MET**'} (make-before-break p99 ${f(allP99[0]!)} ms, ${f(allP99[0]! / 10)}× the goal; break-before-make p99 ${f(allP99[1]!)} ms, ${f(allP99[1]! / 10)}× the goal); no loss in make-before-break — ${mbbLost === 0 ? '**MET**' : '**NOT MET**'} (${mbbLost} packets lost over ${mbb.length} moves).`,
    '',
  );
  out.push('| Mode | Direction | moves measured | event → first packet p50 ms | p99 ms | max ms | event → MN decision p50 ms | decision → BA (registered) p50 ms | packets lost | ÷ RFC 6275 first-registration timeout (1.5 s), p99 | ÷ MOBIKE reaction delay (100 ms), p99 |');
  out.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const mode of modes) {
    for (const to of ['v4', 'v6', 'both'] as const) {
      const ms = r.moves.filter((m) => m.mode === mode && (to === 'both' || m.to === to));
      const l = lat(ms);
      const dec = ms.filter((m) => m.eventAt !== undefined && m.decidedAt !== undefined).map((m) => m.decidedAt! - m.eventAt!);
      const reg = ms.filter((m) => m.registeredAt !== undefined && m.decidedAt !== undefined).map((m) => m.registeredAt! - m.decidedAt!);
      const lost = ms.reduce((a, m) => a + m.lost, 0);
      const p99 = pctl(l, 99);
      const dir = to === 'both' ? '**all**' : to === 'v4' ? 'v6net → v4net' : 'v4net → v6net';
      out.push(`| ${mode} | ${dir} | ${l.length} of ${ms.length} | ${f(pctl(l, 50))} | ${f(p99)} | ${f(Math.max(...l))} | ${f(pctl(dec, 50))} | ${f(pctl(reg, 50))} | ${lost} | ${(p99 / RFC6275_FIRST_REG_MS).toFixed(3)} | ${(p99 / MOBIKE_WAIT_MS).toFixed(2)} |`);
    }
  }
  out.push('', `For scale: RFC 6275's InitialBindackTimeoutFirstReg is ${RFC6275_FIRST_REG_MS.toLocaleString('en-US')} ms (an MN that loses its first BU waits that long before resending it), and MOBIKE implementations wait about ${MOBIKE_WAIT_MS} ms after an address change before they react (strongSwan's roam-event delay); our p99 against them is in the last two columns.`);
  const after = (mode: Mode): number[] => r.moves.filter((m) => m.mode === mode && m.decidedAt !== undefined && m.firstPacketAt !== undefined).map((m) => m.firstPacketAt! - m.decidedAt!);
  const dec = r.moves.filter((m) => m.eventAt !== undefined && m.decidedAt !== undefined).map((m) => m.decidedAt! - m.eventAt!);
  // Each move split at the MN's decision and at its moveTo's return (decidedAt + moveMs; the BU is sent within it).
  const split = r.moves
    .filter((m) => m.eventAt !== undefined && m.decidedAt !== undefined && m.moveMs !== undefined && m.firstPacketAt !== undefined)
    .map((m) => ({ m, total: m.firstPacketAt! - m.eventAt!, detect: m.decidedAt! - m.eventAt!, bu: m.moveMs!, rest: m.firstPacketAt! - m.decidedAt! - m.moveMs! }));
  const rest = split.map((x) => x.rest);
  out.push(
    '',
    '### What limits the handover goal, and what it would take',
    '',
    `- Of each move's time, the MN's movement detection takes ${f(pctl(dec, 50))} ms (p50; p99 ${f(pctl(dec, 99))} ms) from the netlink event to its decision: mn/netwatch.ts applies each notification to the detector's state as it is read and, once the messages already queued are read, mn/movement.ts decides at once when the state offers a usable CoA other than the current one (${r.moves.filter((m) => m.via === 'event').length} of ${r.moves.filter((m) => m.via !== undefined).length} moves decided that way); losing every CoA, coming home or leaving it still wait for the ${DEFAULT_DEBOUNCE_MS} ms debounce (DEFAULT_DEBOUNCE_MS) and a fresh dump. From the decision to the first packet over the new CoA — the BU leaving the MN (decision → BU handed to the kernel p50 ${f(pctl(r.moves.filter((m) => m.moveMs !== undefined && m.via === 'event').map((m) => m.moveMs!), 50))} ms, p99 ${f(pctl(r.moves.filter((m) => m.moveMs !== undefined && m.via === 'event').map((m) => m.moveMs!), 99))} ms), the HA's binding change, the first tunnelled packet — takes p50 ${f(pctl(after('make-before-break'), 50))} ms / p99 ${f(pctl(after('make-before-break'), 99))} ms in make-before-break and p50 ${f(pctl(after('break-before-make'), 50))} ms / p99 ${f(pctl(after('break-before-make'), 99))} ms in break-before-make.`,
    `- From the MN's moveTo returning (it hands the BU to the kernel, then finishes its own bookkeeping) to the first packet — the BU's trip to the HA, the HA's ESP and registration and its switch of the tunnel, the next stream packet (one per ms) and that packet's trip to the capture point — takes p50 ${f(pctl(rest, 50))} ms / p99 ${f(pctl(rest, 99))} ms (${rest.length} moves; under zero when the first packet came before moveTo returned). The HA forwards to the new CoA as soon as it accepts the BU: it writes the binding to its state file on a worker thread and holds only the BA until that write is on disk (ha/daemon.ts), so the fsync is not part of this. This benchmark does not capture the HA's link, so it does not split that part further.`,
    ...modes.map((mode, i) => {
      const goal = allP99[i]! < 10 ? 'met' : 'not met';
      const worst = split.filter((x) => x.m.mode === mode).sort((a, b) => b.total - a.total)[0];
      if (worst === undefined) return `- ${mode}: the goal is ${goal} (p99 ${f(allP99[i]!)} ms); no move could be split into its stages.`;
      const parts: [string, number][] = [
        ["the MN's movement detection (event → decision)", worst.detect],
        ["the MN sending its BU (decision → its moveTo returned)", worst.bu],
        ['the part after moveTo returned', worst.rest],
      ];
      const [name, ms] = parts.reduce((x, y) => (y[1] > x[1] ? y : x));
      return `- ${mode}: the goal is ${goal} (p99 ${f(allP99[i]!)} ms). Its slowest move that can be split took ${f(worst.total)} ms: ${f(worst.detect)} ms to the MN's decision, ${f(worst.bu)} ms until its moveTo returned (the BU sent), ${f(worst.rest)} ms from there to the first packet; the largest part, ${name} (${f(ms)} ms), is where${goal === 'met' ? ' the margin goes' : ' it would have to shrink'}.`;
    }),
    `- Loss: ${mbbLost === 0 ? 'none' : `${mbbLost} packets`} in make-before-break (the old path keeps delivering until the HA switches). In break-before-make the stream is lost from the moment the old link goes down until the HA switches, which includes the testbed bringing the other link up (the kernel makes it RUNNING up to several hundred ms later).`,
    '',
  );
  out.push(`Stream totals: ${r.sent.toLocaleString('en-US')} datagrams sent (up to the last the sink saw), ${r.received.toLocaleString('en-US')} received, ${r.lostOutside} lost outside any move.`);
  const errs = r.moves.filter((m) => m.error);
  if (errs.length) out.push('', ...errs.slice(0, 10).map((m) => `- ${m.mode} → ${m.to}: ${m.error}`));
  for (const n of r.notes) out.push(`- ${n}`);
  out.push(
    '',
    'Method:',
    '',
    '- Make-before-break: both of the MN\'s links stay up the whole time. A move to v4net deprecates the IPv6 CoA (`ip -6 addr change ... preferred_lft 0`: mn/movement.ts takes no deprecated address, so the IPv4 CoA becomes the one to use while the IPv6 path still delivers); a move back makes it preferred again (an IPv6 CoA wins over an IPv4 one). Break-before-make: the old link is taken down, then the new one brought up (testbed linkDown/linkUp: the MN\'s link and its default route).',
    '- The event time is the `ip -ts monitor address route link` timestamp (in the mn namespace) of the last netlink event at or after the move began and not after the MN read the notification it decided on: the one that completed what the MN needed (the deprecation or the restored address, or the default route of the link that came up). `ip monitor` and the MN each read the kernel\'s message in their own time and the MN often reads it first; then the MN\'s own reading (its decision time less the `sinceEventMs` on its "movement: coa -> moveTo" line) is the event time: the earlier of the two. The decision time is the `decidedAt` field of that line (the MN logs it once the BU is out), the registration time that of its "registration: registered" line (after the BA).',
    `- The first packet: dumpcap on the access routers' ends of the MN's links (ar6 lan0, ar4 lan0; the MN's own ends go down in break-before-make), frames towards the MN's CoAs longer than ${MIN_DATA_FRAME} octets (the stream's tunnelled packets; BAs and keepalives are shorter), read back with tshark; the first such frame on the new link at or after the event. Both clocks are the kernel's CLOCK_REALTIME.`,
    '- Loss: the sender numbers its datagrams and paces them by the clock (datagram k leaves at start + k ms); the sink in the mn namespace records which arrived; each missing one counts against the last move begun before it was sent.',
    '- Percentiles are nearest-rank over the measured moves: with 50 moves p99 is the largest, with 25 per direction too.',
    `- What bounds the figure: the MN decides from the netlink notification itself (no dump, no debounce) when it makes a CoA usable; the BU leaving the MN, the HA switching its binding and the next stream packet come on top. The ${DEFAULT_DEBOUNCE_MS} ms debounce and the re-dump of links, addresses and routes only confirm that decision (or time the ones that take every CoA away).`,
  );
  out.push('', '```json', JSON.stringify({ moves: r.moves.map((m) => ({ ...m, latencyMs: m.firstPacketAt !== undefined && m.eventAt !== undefined ? Math.round((m.firstPacketAt - m.eventAt) * 10) / 10 : null })), sent: r.sent, received: r.received }, (k, v) => (typeof v === 'number' && !Number.isInteger(v) ? Math.round(v * 10) / 10 : v)), '```');
  return out.join('\n') + '\n';
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
