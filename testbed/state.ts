// The record each testbed run keeps under /run/dsmip6-testbed/<run id>.json (who owns it, which
// namespaces it made, whether `dsmip6 testbed up` holds it on purpose), and how to tell whether a
// run's owner still lives. It reads and writes only that folder and /proc; it must never remove
// a namespace (sweep.ts does, after deciding with these records).
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TopologySpec } from './spec.js';

/** Where runs are recorded: /run is a tmpfs, so records vanish at reboot along with the namespaces. */
export const DEFAULT_STATE_DIR = '/run/dsmip6-testbed';

export interface RunState {
  version: 1;
  runId: string;
  prefix: string;
  /** The process that made the run. */
  pid: number;
  /** Its start time (/proc/<pid>/stat field 22), so a recycled pid is not taken for the owner. */
  pidStart: string | null;
  /** True for a run that `dsmip6 testbed up` left running: a dead owner then does not make it a leftover. */
  held: boolean;
  created: string;
  /** Topology name, for humans. */
  topology: string;
  /** host (or LAN) name -> namespace name. */
  namespaces: Record<string, string>;
  spec: TopologySpec;
}

export function statePath(dir: string, runId: string): string {
  return join(dir, `${runId}.json`);
}

/** Writes a record atomically (a reader never sees half a file). */
export function writeState(dir: string, st: RunState): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const tmp = join(dir, `.${st.runId}.${process.pid}.tmp`);
  writeFileSync(tmp, JSON.stringify(st, null, 2) + '\n');
  renameSync(tmp, statePath(dir, st.runId));
}

export function readState(dir: string, runId: string): RunState | undefined {
  try {
    const st = JSON.parse(readFileSync(statePath(dir, runId), 'utf8')) as RunState;
    return st && st.version === 1 && st.runId === runId ? st : undefined;
  } catch {
    return undefined;
  }
}

/** Every readable record in the folder (an unreadable one is skipped: sweep goes by namespace names too). */
export function readStates(dir: string): RunState[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
    .map((n) => readState(dir, n.slice(0, -5)))
    .filter((s): s is RunState => !!s);
}

export function removeState(dir: string, runId: string): void {
  rmSync(statePath(dir, runId), { force: true });
}

/** The start time of a process in clock ticks since boot, or null when it does not exist or has exited. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ")".
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // A zombie (Z) or dying (X) process has exited: it owns nothing any more.
    if (fields[0] === 'Z' || fields[0] === 'X') return null;
    return fields[19] ?? null; // field 22 overall; fields[0] is field 3
  } catch {
    return null;
  }
}

/**
 * Whether the process that made a run still lives. With a recorded start time a recycled pid
 * does not count; without one (the record is gone) a live pid is given the benefit of the doubt.
 */
export function ownerAlive(pid: number, pidStart: string | null | undefined): boolean {
  const now = processStartTime(pid);
  if (now === null) return false;
  return pidStart ? now === pidStart : true;
}
