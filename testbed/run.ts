// Runs the system tools the testbed is made with (ip, nft, tc, sysctl, conntrack), by argument
// vector through execFile, with a timeout, and turns failures into errors that name the command
// and quote its stderr. It must never build a shell string: arguments are never re-parsed.
import { execFile, execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface RunOptions {
  /** Kill the command (SIGKILL) after this many ms; default 10,000. */
  timeoutMs?: number;
  /** Written to the command's standard input. */
  input?: string;
  env?: NodeJS.ProcessEnv;
}

export interface RunResult {
  /** Exit status; -1 when the command was killed by a signal or could not start. */
  code: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** A command that failed: which one, how, and what it said. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly argv: readonly string[],
    readonly result: RunResult,
  ) {
    const how = result.timedOut ? 'timed out' : result.signal ? `was killed by ${result.signal}` : `exited with status ${result.code}`;
    const said = result.stderr.trim() || result.stdout.trim();
    super(`command failed: ${formatArgv(argv)} ${how}${said ? `: ${said}` : ''}`);
  }
}

/** A tool the testbed needs is not installed; the message says which Debian package has it. */
export class MissingToolError extends Error {
  override readonly name = 'MissingToolError';
}

export const DEFAULT_TIMEOUT_MS = 10_000;

/** The Debian package of each tool we run, for the message that says what to install. */
export const TOOL_PACKAGES: Readonly<Record<string, string>> = Object.freeze({
  ip: 'iproute2',
  tc: 'iproute2',
  nft: 'nftables',
  conntrack: 'conntrack',
  sysctl: 'procps',
  ping: 'iputils-ping',
});

// Root's PATH usually has the sbin folders, but a PATH inherited from a user shell or an IDE may
// not; the tools live there on Debian, so they are searched after PATH.
const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin'];
const resolved = new Map<string, string | undefined>();

/** Absolute path of a tool, searching PATH then the sbin folders; undefined when absent. */
export function findTool(name: string): string | undefined {
  if (resolved.has(name)) return resolved.get(name);
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...SBIN];
  let found: string | undefined;
  for (const d of dirs) {
    try {
      accessSync(join(d, name), constants.X_OK);
      found = join(d, name);
      break;
    } catch {
      // not in this folder
    }
  }
  resolved.set(name, found);
  return found;
}

/** Path of a tool, or a MissingToolError naming the package to install. */
export function tool(name: string): string {
  const path = findTool(name);
  if (!path) {
    const pkg = TOOL_PACKAGES[name] ?? name;
    throw new MissingToolError(`"${name}" is not installed: apt-get install ${pkg} (or run scripts/ensure-deps.sh --test as root)`);
  }
  return path;
}

/** Fails unless every named tool is installed, listing all that are missing. */
export function requireTools(names: readonly string[]): void {
  const missing = names.filter((n) => !findTool(n));
  if (missing.length) {
    const pkgs = [...new Set(missing.map((n) => TOOL_PACKAGES[n] ?? n))];
    throw new MissingToolError(`missing tools: ${missing.join(', ')}; install them with: apt-get install ${pkgs.join(' ')} (or run scripts/ensure-deps.sh --test as root)`);
  }
}

/** Runs argv[0] (a tool name or path) and reports how it ended; never throws for a non-zero exit. */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [cmd, ...args] = argv;
  const path = cmd.includes('/') ? cmd : tool(cmd);
  return new Promise((resolve) => {
    const child = execFile(
      path,
      args,
      {
        timeout: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        killSignal: 'SIGKILL',
        maxBuffer: 64 << 20,
        encoding: 'utf8',
        env: opts.env ?? process.env,
      },
      (err, stdout, stderr) => {
        if (!err) return resolve({ code: 0, signal: null, stdout, stderr, timedOut: false });
        const e = err as NodeJS.ErrnoException & { code?: number | string; signal?: NodeJS.Signals | null; killed?: boolean };
        const timedOut = !!e.killed && e.signal === 'SIGKILL';
        const code = typeof e.code === 'number' ? e.code : -1;
        const why = typeof e.code === 'string' ? `${stderr}${stderr ? '\n' : ''}${e.message}` : stderr;
        resolve({ code, signal: e.signal ?? null, stdout, stderr: why, timedOut });
      },
    );
    // A command that exits before reading its input must not turn into an EPIPE crash.
    child.stdin?.on('error', () => {});
    child.stdin?.end(opts.input ?? '');
  });
}

/** Runs a command that must succeed; returns its stdout or throws CommandError. */
export async function mustRun(argv: readonly string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(argv, opts);
  if (r.code !== 0) throw new CommandError(argv, r);
  return r.stdout;
}

/**
 * The synchronous form, for the exit and signal handlers, where nothing asynchronous runs any
 * more. Returns the result instead of throwing: cleanup goes on past a failed step.
 */
export function runSync(argv: readonly string[], opts: { timeoutMs?: number } = {}): RunResult {
  const [cmd, ...args] = argv;
  const path = cmd.includes('/') ? cmd : findTool(cmd);
  if (!path) return { code: -1, signal: null, stdout: '', stderr: `${cmd}: not installed`, timedOut: false };
  try {
    const stdout = execFileSync(path, args, {
      timeout: opts.timeoutMs ?? 5000,
      killSignal: 'SIGKILL',
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { code: 0, signal: null, stdout, stderr: '', timedOut: false };
  } catch (err) {
    const e = err as { status?: number | null; signal?: NodeJS.Signals | null; stdout?: string; stderr?: string; message: string };
    return { code: e.status ?? -1, signal: e.signal ?? null, stdout: e.stdout ?? '', stderr: e.stderr || e.message, timedOut: e.signal === 'SIGKILL' };
  }
}

/** The command as a person would type it (for messages only; never executed). */
export function formatArgv(argv: readonly string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
