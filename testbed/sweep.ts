// Finds testbed runs (by namespace names and state records) and removes them: first every
// process still inside their namespaces, then the namespaces (which takes their veths and
// bridges with them), then the record. `sweep` removes only runs whose owner is dead and that
// nobody holds. It must never touch a namespace whose name does not follow names.ts with the
// given prefix, nor kill a process outside those namespaces.
import { existsSync, readdirSync } from 'node:fs';
import { parseNsName, parseRunId } from './names.js';
import { run, runSync } from './run.js';
import { DEFAULT_STATE_DIR, ownerAlive, readStates, removeState, type RunState } from './state.js';

/** Where `ip netns` keeps its named namespaces. */
export const NETNS_DIR = '/run/netns';

export interface RunInfo {
  runId: string;
  pid: number;
  /** The run's namespaces that exist now. */
  namespaces: string[];
  state?: RunState;
  held: boolean;
  ownerAlive: boolean;
}

export interface SweepOptions {
  stateDir?: string;
  /** Also remove runs that `dsmip6 testbed up` holds (as `testbed down` does). Default false. */
  includeHeld?: boolean;
}

export interface SweepResult {
  removed: string[];
  /** Runs left alone, with the reason. */
  kept: { runId: string; reason: string }[];
  /** What could not be removed (the message names the namespace and the command). */
  errors: string[];
}

/** Names of every namespace `ip netns` knows. */
export function existingNamespaces(): string[] {
  try {
    return readdirSync(NETNS_DIR);
  } catch {
    return [];
  }
}

/** Every run of this prefix that has a namespace or a record. */
export function listRuns(prefix: string, stateDir = DEFAULT_STATE_DIR): RunInfo[] {
  const runs = new Map<string, RunInfo>();
  const get = (runId: string, pid: number): RunInfo => {
    let r = runs.get(runId);
    if (!r) runs.set(runId, (r = { runId, pid, namespaces: [], held: false, ownerAlive: false }));
    return r;
  };
  for (const ns of existingNamespaces()) {
    const p = parseNsName(prefix, ns);
    if (p) get(p.runId, p.pid).namespaces.push(ns);
  }
  for (const st of readStates(stateDir)) {
    const p = parseRunId(prefix, st.runId);
    if (!p) continue;
    const r = get(st.runId, p.pid);
    r.state = st;
    r.held = st.held;
  }
  for (const r of runs.values()) {
    r.namespaces.sort();
    r.ownerAlive = ownerAlive(r.pid, r.state?.pidStart);
  }
  return [...runs.values()].sort((a, b) => a.runId.localeCompare(b.runId));
}

/** Removes the leftovers of dead runs; a run whose owner lives, or that is held, stays. */
export async function sweep(prefix: string, opts: SweepOptions = {}): Promise<SweepResult> {
  const stateDir = opts.stateDir ?? DEFAULT_STATE_DIR;
  const result: SweepResult = { removed: [], kept: [], errors: [] };
  for (const r of listRuns(prefix, stateDir)) {
    if (r.ownerAlive) {
      result.kept.push({ runId: r.runId, reason: `its owner, process ${r.pid}, is running` });
      continue;
    }
    if (r.held && !opts.includeHeld) {
      result.kept.push({ runId: r.runId, reason: 'held by `dsmip6 testbed up` (remove it with `dsmip6 testbed down`)' });
      continue;
    }
    const errors = await removeRun(r, stateDir);
    if (errors.length) result.errors.push(...errors);
    else result.removed.push(r.runId);
  }
  return result;
}

/** Removes one run: its processes, namespaces and record. Returns what failed (empty when all went). */
export async function removeRun(r: Pick<RunInfo, 'runId' | 'namespaces' | 'state'>, stateDir = DEFAULT_STATE_DIR): Promise<string[]> {
  const names = new Set(r.namespaces);
  // The record lists namespaces made before a crash even if listing missed one; only existing ones matter.
  for (const ns of Object.values(r.state?.namespaces ?? {})) names.add(ns);
  const errors = (await Promise.all([...names].map((ns) => removeNamespace(ns)))).filter((e): e is string => !!e);
  if (!errors.length) removeState(stateDir, r.runId);
  return errors;
}

/** Kills what runs inside a namespace, then deletes it. Returns an error message, or undefined when gone. */
export async function removeNamespace(ns: string): Promise<string | undefined> {
  if (!existsSync(`${NETNS_DIR}/${ns}`)) return undefined;
  // A namespace with a process in it outlives `ip netns del` (only the name goes), keeping its
  // interfaces: so the processes go first. Bounded: 40 rounds of 25 ms.
  for (let round = 0; round < 40; round++) {
    const pids = await pidsIn(ns);
    if (pids.length === 0) break;
    for (const pid of pids) killQuietly(pid);
    await sleep(25);
  }
  const r = await run(['ip', 'netns', 'del', ns]);
  if (r.code !== 0 && existsSync(`${NETNS_DIR}/${ns}`)) return `could not delete namespace ${ns}: ${r.stderr.trim()}`;
  return undefined;
}

/** The synchronous form of removeNamespace, for exit and signal handlers. */
export function removeNamespaceSync(ns: string): void {
  if (!existsSync(`${NETNS_DIR}/${ns}`)) return;
  for (let round = 0; round < 40; round++) {
    const r = runSync(['ip', 'netns', 'pids', ns], { timeoutMs: 2000 });
    const pids = parsePids(r.stdout);
    if (pids.length === 0) break;
    for (const pid of pids) killQuietly(pid);
    sleepSync(25);
  }
  runSync(['ip', 'netns', 'del', ns], { timeoutMs: 2000 });
}

async function pidsIn(ns: string): Promise<number[]> {
  const r = await run(['ip', 'netns', 'pids', ns], { timeoutMs: 5000 });
  return r.code === 0 ? parsePids(r.stdout) : [];
}

function parsePids(out: string): number[] {
  return out
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number)
    .filter((pid) => pid > 1 && pid !== process.pid);
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
