// Shared start-up of the end-to-end tests on real edges: a PROJECT_TOPOLOGY testbed, `dsmip6 ha` in
// the ha namespace and `dsmip6 mn` in the mn namespace (the compiled CLI in dist/, rebuilt only when
// older than the sources), their logs as they arrive, waits that fail with both logs, packet
// captures, and a teardown that always removes the namespaces.
// It must never leave a namespace or a daemon behind (destroy() always destroys the testbed, and the
// testbed's own exit hooks cover a crash), never build when dist/ is fresh, and never assert: tests do.
//
//   const d = await startDaemons({ mnStartIface: 'v6net0' });
//   try { await d.waitForLog('ha', /binding created/); } finally { await d.destroy(); }
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { controlRequest } from '../../common/control.js';
import { basename, dirname, join } from 'node:path';
import { captureLinks, PROJECT, PROJECT_TOPOLOGY, Testbed } from '../../testbed/index.js';

/** The project root (this file is test/support/daemons.ts). */
export const ROOT = new URL('../..', import.meta.url).pathname;
export const CLI = join(ROOT, 'dist/cli/main.js');
/** Source trees whose .ts files dist/cli/main.js is built from (directly or through imports). */
export const SOURCE_DIRS = ['cli', 'mn', 'ha', 'common', 'tunnel', 'ipsec', 'config', 'testbed', 'native'] as const;

export type DaemonName = 'ha' | 'mn';
export type MnIface = (typeof PROJECT.mn.ifaces)[keyof typeof PROJECT.mn.ifaces];

/** Newest modification time (ms) of any .ts under the source trees (0 when there is none). */
export function newestSourceMtime(root = ROOT, dirs: readonly string[] = SOURCE_DIRS): number {
  let newest = 0;
  const walk = (dir: string): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules' && e.name !== 'build') walk(p);
      } else if (e.name.endsWith('.ts')) {
        newest = Math.max(newest, statSync(p).mtimeMs);
      }
    }
  };
  for (const d of dirs) walk(join(root, d));
  return newest;
}

/** True when `target` (default dist/cli/main.js) is missing or older than the newest source .ts. */
export function distIsStale(target = CLI): boolean {
  if (!existsSync(target)) return true;
  return statSync(target).mtimeMs < newestSourceMtime();
}

/**
 * Builds dist/ with tsc when it is stale (see distIsStale); returns whether it built. Other
 * engineers' type errors elsewhere do not stop tsc from emitting, so only a missing output fails.
 */
export function ensureBuilt(target = CLI): boolean {
  if (!distIsStale(target)) return false;
  const r = spawnSync(join(ROOT, 'node_modules/.bin/tsc'), ['-p', join(ROOT, 'tsconfig.json')], { cwd: ROOT, encoding: 'utf8' });
  if (!existsSync(target)) throw new Error(`tsc did not produce ${target} (exit ${r.status}):\n${r.stdout}${r.stderr}`);
  return true;
}

export interface StartOptions {
  /** The MN's only interface that is up when it starts (the others are taken down); default v6net0. */
  mnStartIface?: MnIface;
  /** Config files, relative to the project root; defaults test/fixtures/e2e-{ha,mn}.json. */
  haConfig?: string;
  mnConfig?: string;
  /** Added to both daemons' environment. */
  extraEnv?: NodeJS.ProcessEnv;
  /** Namespace prefix of the testbed (1-8 of a-z0-9); default the testbed's "d6". */
  prefix?: string;
  /** Runs after the HA has started and before the MN is spawned (impair links, start captures). */
  beforeMn?: (tb: Testbed, capture: Daemons['capture']) => Promise<void>;
  /** How long the HA may take to log "ha: started"; default 15 s. */
  haStartTimeoutMs?: number;
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
  /** Each daemon's control socket (a private path per run, so test files can run side by side). */
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
export async function startDaemons(opts: StartOptions = {}): Promise<Daemons> {
  ensureBuilt();
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
  const socketDir = mkdtempSync(join(tmpdir(), 'dsmip6-e2e-ctl-'));
  const sockets: Record<DaemonName, string> = { ha: join(socketDir, 'ha.sock'), mn: join(socketDir, 'mn.sock') };
  const status = (name: DaemonName): Promise<unknown> => controlRequest(sockets[name], { cmd: 'status' });

  let destroyed: Promise<void> | undefined;
  const destroy = (): Promise<void> =>
    (destroyed ??= (async () => {
      for (const cap of [...captures]) await cap.stop(0).catch(() => {});
      await tb.destroy();
      rmSync(socketDir, { recursive: true, force: true });
    })());

  try {
    for (const ifname of Object.values(P.mn.ifaces)) if (ifname !== startIface) await tb.linkDown('mn', ifname);
    const ha = tb.spawn('ha', [process.execPath, CLI, 'ha', '--config', join(ROOT, opts.haConfig ?? 'test/fixtures/e2e-ha.json'), '--socket', sockets.ha], { env });
    procs.ha = ha;
    collect('ha', ha);
    await waitForLog('ha', /ha: started/, { timeoutMs: opts.haStartTimeoutMs ?? 15_000 });
    if (opts.beforeMn) await opts.beforeMn(tb, capture);
    const mn = tb.spawn('mn', [process.execPath, CLI, 'mn', '--config', join(ROOT, opts.mnConfig ?? 'test/fixtures/e2e-mn.json'), '--socket', sockets.mn], { env });
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

