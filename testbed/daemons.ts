// startDaemons: a PROJECT_TOPOLOGY testbed with `dsmip6 ha` running in the ha namespace and
// `dsmip6 mn` in the mn namespace (given the CLI's path and both config files), their logs as they
// arrive, waits that fail with both logs, per-run control sockets, packet captures, and a teardown
// that always removes the namespaces. Used by `dsmip6 demo` and, through a thin wrapper, the tests.
// It must never leave a namespace or a daemon behind (destroy() always destroys the testbed, and the
// testbed's own exit hooks cover a crash), never build anything, and never judge what it sees.
//
//   const d = await startDaemons({ cli, haConfig, mnConfig, mnStartIface: 'v6net0' });
//   try { await d.waitForLog('ha', /binding created/); } finally { await d.destroy(); }
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { controlRequest } from '../common/control.js';
import { captureLinks } from './capture.js';
import { PROJECT, PROJECT_TOPOLOGY } from './project.js';
import { Testbed } from './testbed.js';

export type DaemonName = 'ha' | 'mn';
export type MnIface = (typeof PROJECT.mn.ifaces)[keyof typeof PROJECT.mn.ifaces];

export interface DaemonsOptions {
  /** The compiled CLI to run (dist/cli/main.js), started with this process's node. */
  cli: string;
  /** Absolute (or cwd-relative) paths of the HA and MN configuration files. */
  haConfig: string;
  mnConfig: string;
  /** The MN's only interface that is up when it starts (the others are taken down); default v6net0. */
  mnStartIface?: MnIface;
  /** Added to both daemons' environment. */
  extraEnv?: NodeJS.ProcessEnv;
  /** Namespace prefix of the testbed (1-8 of a-z0-9); default the testbed's "d6". */
  prefix?: string;
  /** Runs after the HA has started and before the MN is spawned (impair links, start captures). */
  beforeMn?: (tb: Testbed, capture: Daemons['capture']) => Promise<void>;
  /** How long the HA may take to log "ha: started"; default 15 s. */
  haStartTimeoutMs?: number;
  /** Directory for the two control sockets; default a fresh one under the system temp dir (removed by destroy()). */
  socketDir?: string;
}

/** One line of a daemon's output and when this process received it (Date.now()). */
export interface LogLine {
  at: number;
  text: string;
}

/** Where a waited-for pattern matched: offsets into logs[name], the matched text, its line's arrival time. */
export interface LogMatch {
  index: number;
  end: number;
  text: string;
  match: RegExpExecArray;
  at: number;
}

export interface Capture {
  file: string;
  /**
   * Stops dumpcap (SIGINT) and waits until it has closed the file. dumpcap reads the kernel's ring
   * in blocks and does not drain it on a signal: packets of the last ~second may be missing, so it
   * first waits `settleMs` (default 1500).
   */
  stop(settleMs?: number): Promise<void>;
}

export interface Daemons {
  tb: Testbed;
  ha: ChildProcess;
  mn: ChildProcess;
  /** Everything each daemon wrote (stdout and stderr), growing as it runs. */
  readonly logs: Record<DaemonName, string>;
  /** The same, as complete lines with their arrival times. */
  readonly lines: Record<DaemonName, LogLine[]>;
  /** Polls `ok` every 100 ms until it holds; throws with both logs after timeoutMs (default 15 s). */
  waitFor(what: string, ok: () => boolean | Promise<boolean>, timeoutMs?: number): Promise<void>;
  /** Waits until a daemon's log matches at or after offset `after` (default 0); throws with both logs on timeout or exit. */
  waitForLog(name: DaemonName, pattern: RegExp | string, opts?: { after?: number; timeoutMs?: number }): Promise<LogMatch>;
  /** Both logs, labelled, for error messages. */
  dumpLogs(): string;
  /** Each daemon's control socket (a private path per run, so runs can go side by side). */
  readonly sockets: Record<DaemonName, string>;
  /** `{"cmd":"status"}` on a daemon's control socket: what `dsmip6 status --json` prints. */
  status(name: DaemonName): Promise<unknown>;
  /** Starts dumpcap on an interface of a host (resolves once it captures); destroy() stops it too. */
  capture(host: string, ifname: string, file: string, filter?: string): Promise<Capture>;
  /** SIGTERM to the MN, then the HA; waits for both to exit and returns their exit codes (null: killed by a signal). */
  stop(timeoutMs?: number): Promise<Record<DaemonName, number | null>>;
  /** Stops captures and the testbed (which kills what is left). Always safe to call, also twice. */
  destroy(): Promise<void>;
}

function exited(c: ChildProcess, timeoutMs: number): Promise<number | null> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve(c.exitCode);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`pid ${c.pid} did not exit within ${timeoutMs} ms`)), timeoutMs);
    c.once('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Builds the testbed, starts the HA (waits for "ha: started"), runs opts.beforeMn, then starts the
 * MN with only opts.mnStartIface up. On any failure the testbed is destroyed before the error is thrown.
 */
export async function startDaemons(opts: DaemonsOptions): Promise<Daemons> {
  const P = PROJECT;
  const startIface = opts.mnStartIface ?? P.mn.ifaces.v6net;
  const tb = await Testbed.create(PROJECT_TOPOLOGY, opts.prefix ? { prefix: opts.prefix } : {});
  const logs: Record<DaemonName, string> = { ha: '', mn: '' };
  const lines: Record<DaemonName, LogLine[]> = { ha: [], mn: [] };
  const partial: Record<DaemonName, string> = { ha: '', mn: '' };
  const captures = new Set<Capture>();
  const procs: Partial<Record<DaemonName, ChildProcess>> = {};
  const env = { ...process.env, ...(opts.extraEnv ?? {}) };

  const collect = (name: DaemonName, c: ChildProcess): void => {
    const on = (b: Buffer): void => {
      const s = b.toString();
      logs[name] += s;
      const parts = (partial[name] + s).split('\n');
      partial[name] = parts.pop()!;
      const at = Date.now();
      for (const text of parts) lines[name].push({ at, text });
    };
    c.stdout?.on('data', on);
    c.stderr?.on('data', on);
  };

  const dumpLogs = (): string => `--- ha log ---\n${logs.ha}\n--- mn log ---\n${logs.mn}`;

  const waitFor = async (what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!(await ok())) {
      if (Date.now() > deadline) throw new Error(`timeout (${timeoutMs} ms) waiting for ${what}\n${dumpLogs()}`);
      await sleep(100);
    }
  };

  const waitForLog = async (name: DaemonName, pattern: RegExp | string, o: { after?: number; timeoutMs?: number } = {}): Promise<LogMatch> => {
    const re = typeof pattern === 'string' ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : new RegExp(pattern.source, pattern.flags.replace('g', ''));
    const after = o.after ?? 0;
    const timeoutMs = o.timeoutMs ?? 15_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(logs[name].slice(after));
      if (m) {
        const index = after + m.index;
        // The arrival time of the line the match starts in.
        let pos = 0;
        let at = Date.now();
        for (const l of lines[name]) {
          if (pos + l.text.length + 1 > index) {
            at = l.at;
            break;
          }
          pos += l.text.length + 1;
        }
        return { index, end: index + m[0].length, text: m[0], match: m, at };
      }
      const c = procs[name];
      if (c && (c.exitCode !== null || c.signalCode !== null)) throw new Error(`${name} exited (${c.exitCode ?? c.signalCode}) before its log matched ${re}\n${dumpLogs()}`);
      if (Date.now() > deadline) throw new Error(`timeout (${timeoutMs} ms) waiting for ${name} log ${re} after offset ${after}\n${dumpLogs()}`);
      await sleep(50);
    }
  };

  const capture = async (host: string, ifname: string, file: string, filter?: string): Promise<Capture> => {
    const one = await captureLinks(tb, dirname(file), { points: [{ link: `${host}/${ifname}`, host, ifname }], fileName: () => basename(file), ...(filter ? { filter } : {}) });
    const cap: Capture = {
      file,
      stop: async (settleMs = 1500) => {
        if (!captures.has(cap)) return;
        captures.delete(cap);
        await one.stop(settleMs);
      },
    };
    captures.add(cap);
    return cap;
  };

  // Unix sockets are not per network namespace: each run gets its own directory.
  const ownSocketDir = opts.socketDir === undefined;
  const socketDir = opts.socketDir ?? mkdtempSync(join(tmpdir(), 'dsmip6-e2e-ctl-'));
  if (!ownSocketDir) mkdirSync(socketDir, { recursive: true, mode: 0o700 });
  const sockets: Record<DaemonName, string> = { ha: join(socketDir, 'ha.sock'), mn: join(socketDir, 'mn.sock') };
  const status = (name: DaemonName): Promise<unknown> => controlRequest(sockets[name], { cmd: 'status' });

  let destroyed: Promise<void> | undefined;
  const destroy = (): Promise<void> =>
    (destroyed ??= (async () => {
      for (const cap of [...captures]) await cap.stop(0).catch(() => {});
      await tb.destroy();
      // A directory we were given is the caller's; only the sockets in it are ours.
      if (ownSocketDir) rmSync(socketDir, { recursive: true, force: true });
      else for (const s of Object.values(sockets)) rmSync(s, { force: true });
    })());

  try {
    for (const ifname of Object.values(P.mn.ifaces)) if (ifname !== startIface) await tb.linkDown('mn', ifname);
    const ha = tb.spawn('ha', [process.execPath, opts.cli, 'ha', '--config', opts.haConfig, '--socket', sockets.ha], { env });
    procs.ha = ha;
    collect('ha', ha);
    await waitForLog('ha', /ha: started/, { timeoutMs: opts.haStartTimeoutMs ?? 15_000 });
    if (opts.beforeMn) await opts.beforeMn(tb, capture);
    const mn = tb.spawn('mn', [process.execPath, opts.cli, 'mn', '--config', opts.mnConfig, '--socket', sockets.mn], { env });
    procs.mn = mn;
    collect('mn', mn);

    return {
      tb,
      ha,
      mn,
      logs,
      lines,
      waitFor,
      waitForLog,
      dumpLogs,
      sockets,
      status,
      capture,
      stop: async (timeoutMs = 10_000) => {
        const out: Record<DaemonName, number | null> = { ha: null, mn: null };
        for (const name of ['mn', 'ha'] as const) {
          const c = procs[name]!;
          if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
          out[name] = await exited(c, timeoutMs);
        }
        return out;
      },
      destroy,
    };
  } catch (e) {
    await destroy().catch(() => {});
    throw e;
  }
}
