// The demo's live correspondent traffic: a TCP echo server on the mobile node's two home addresses
// and a client on the correspondent that streams a known byte pattern to each and checks every
// echoed byte, reporting progress, the gaps in echo progress, and resets. Measures only: it must
// never change the network or the daemons, and both scripts are testbed children (the testbed's
// teardown ends them).
import type { ChildProcess } from 'node:child_process';
import type { Testbed } from '../testbed/index.js';

export type StreamName = 'v6' | 'v4';
export const STREAM_NAMES: readonly StreamName[] = ['v6', 'v4'];

// Echo server on the MN: one listener per HoA, every accepted socket echoes what it gets.
const SERVER = `
const net = require('node:net');
const [h6, p6, h4, p4] = process.argv.slice(1);
let up = 0;
for (const [host, port] of [[h6, +p6], [h4, +p4]]) {
  const srv = net.createServer((s) => { s.setNoDelay(true); s.on('error', () => {}); s.pipe(s); });
  srv.on('error', (e) => { console.log(JSON.stringify({ ev: 'server-error', host, port, err: e.code || e.message })); process.exit(1); });
  srv.listen({ host, port }, () => { if (++up === 2) console.log(JSON.stringify({ ev: 'listening' })); });
}
`;

// Client on the CN: CHUNK bytes every 50 ms per stream (at most WINDOW not yet echoed); byte i is
// (i * 7 + (i >> 8)) & 0xff. A "stop" line on stdin stops sending (to let the echo drain). Emits
// JSON lines: progress every 100 ms, every pause in echo progress of GAP_MS or more, errors, closes.
const CLIENT = `
const net = require('node:net');
const targets = JSON.parse(process.argv[1]);
const CHUNK = 4096, WINDOW = 256 * 1024, GAP_MS = 40;
const pat = (i) => (i * 7 + (i >> 8)) & 0xff;
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
let sending = true;
process.stdin.on('data', (b) => { if (String(b).includes('stop')) sending = false; });
const state = {};
for (const t of targets) {
  const st = { sent: 0, echoed: 0, bad: 0, connected: false, closed: false, err: null, lastData: 0 };
  state[t.name] = st;
  const s = net.connect({ host: t.host, port: t.port });
  s.setNoDelay(true);
  s.on('connect', () => { st.connected = true; st.lastData = Date.now(); });
  s.on('data', (b) => {
    const now = Date.now();
    if (now - st.lastData >= GAP_MS) out({ ev: 'gap', name: t.name, from: st.lastData, to: now });
    st.lastData = now;
    for (let k = 0; k < b.length; k++) if (b[k] !== pat(st.echoed + k)) st.bad++;
    st.echoed += b.length;
  });
  s.on('error', (e) => { st.err = e.code || e.message; out({ ev: 'error', name: t.name, err: st.err }); });
  s.on('close', () => { st.closed = true; out({ ev: 'close', name: t.name }); });
  setInterval(() => {
    if (!sending || !st.connected || st.closed || st.sent - st.echoed > WINDOW) return;
    const b = Buffer.allocUnsafe(CHUNK);
    for (let k = 0; k < CHUNK; k++) b[k] = pat(st.sent + k);
    st.sent += CHUNK;
    s.write(b);
  }, 50);
}
setInterval(() => out({ ev: 'progress', t: Date.now(), state }), 100);
`;

export interface StreamState {
  sent: number;
  echoed: number;
  /** Echoed bytes that differ from the pattern. */
  bad: number;
  connected: boolean;
  closed: boolean;
  err: string | null;
  /** When the last echoed bytes arrived (ms since the epoch; the connect time before any). */
  lastData: number;
}

export interface Gap {
  name: StreamName;
  from: number;
  to: number;
}

export interface StreamTarget {
  name: StreamName;
  host: string;
  port: number;
}

export class Streams {
  last: Record<StreamName, StreamState> | undefined;
  readonly gaps: Gap[] = [];
  /** Connection errors and closes, as the client reported them. */
  readonly incidents: string[] = [];
  log = '';

  private constructor(private readonly client: ChildProcess) {}

  /** Starts the echo server in `serverHost` and the client in `clientHost`; resolves once both streams echo. */
  static async start(tb: Testbed, serverHost: string, clientHost: string, targets: readonly StreamTarget[], timeoutMs = 15_000): Promise<Streams> {
    const v6 = targets.find((t) => t.name === 'v6')!;
    const v4 = targets.find((t) => t.name === 'v4')!;
    const server = tb.spawn(serverHost, [process.execPath, '-e', SERVER, v6.host, String(v6.port), v4.host, String(v4.port)]);
    let serverLog = '';
    server.stdout?.on('data', (b: Buffer) => (serverLog += b.toString()));
    server.stderr?.on('data', (b: Buffer) => (serverLog += b.toString()));
    await until(() => serverLog.includes('"listening"') || server.exitCode !== null, timeoutMs, () => `the echo server to listen: ${serverLog}`);
    if (!serverLog.includes('"listening"')) throw new Error(`echo server failed: ${serverLog}`);
    const client = tb.spawn(clientHost, [process.execPath, '-e', CLIENT, JSON.stringify(targets)], { stdio: ['pipe', 'pipe', 'pipe'] });
    const s = new Streams(client);
    let buf = '';
    client.stdout?.on('data', (b: Buffer) => {
      buf += b.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        let m: { ev: string; name?: StreamName; from?: number; to?: number; err?: string; state?: Record<StreamName, StreamState> };
        try {
          m = JSON.parse(line);
        } catch {
          s.log += line + '\n';
          continue;
        }
        if (m.ev === 'progress') s.last = m.state;
        else if (m.ev === 'gap') s.gaps.push({ name: m.name!, from: m.from!, to: m.to! });
        else s.incidents.push(`${m.name ?? '?'}: ${m.ev}${m.err ? ` (${m.err})` : ''}`);
      }
    });
    client.stderr?.on('data', (b: Buffer) => (s.log += b.toString()));
    await until(() => s.last !== undefined && STREAM_NAMES.every((n) => s.last![n].echoed > 0), timeoutMs, () => `both streams to echo: ${JSON.stringify(s.last)} ${s.incidents.join('; ')} ${s.log}`);
    return s;
  }

  /** The latest counters of a stream (zeros before the first report). */
  get(name: StreamName): StreamState {
    return this.last?.[name] ?? { sent: 0, echoed: 0, bad: 0, connected: false, closed: false, err: null, lastData: 0 };
  }

  /**
   * The longest pause in echo progress of either stream that overlaps [from, to], whole (one that
   * began before `from` counts from its start); undefined when there was none of GAP_MS or more.
   * Only ended pauses count: ask once both streams are flowing again.
   */
  longestPause(from: number, to: number): Gap | undefined {
    let best: Gap | undefined;
    for (const g of this.gaps) if (g.to > from && g.from < to && (!best || g.to - g.from > best.to - best.from)) best = g;
    return best;
  }

  /** Stops sending (the echo of what is in flight still arrives). */
  stopSending(): void {
    this.client.stdin?.write('stop\n');
  }
}

/** Polls `ok` every 50 ms; throws `what()` after timeoutMs. */
export async function until(ok: () => boolean | Promise<boolean>, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timeout (${timeoutMs} ms) waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
