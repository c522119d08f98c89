// How testbed namespaces are named, so that parallel runs never clash and a leftover says who
// made it: "<prefix>-<pid>-<seq>-<host>", e.g. "d6-4711-0-mn" (run "d6-4711-0" of process 4711).
// Pure string functions: this file must never touch the system.

/** The default prefix of every namespace the testbed makes. */
export const DEFAULT_PREFIX = 'd6';

/** A prefix is short lowercase letters and digits, so names stay short and the pattern unambiguous. */
export const PREFIX = /^[a-z][a-z0-9]{0,7}$/;

export function checkPrefix(prefix: string): void {
  if (!PREFIX.test(prefix)) throw new Error(`testbed prefix ${JSON.stringify(prefix)} must be 1-8 characters of a-z and 0-9, starting with a letter`);
}

/** The id of one run: prefix, owning process id and that process's sequence number. */
export function runIdOf(prefix: string, pid: number, seq: number): string {
  return `${prefix}-${pid}-${seq}`;
}

/** The namespace of one host (or LAN) of a run. */
export function nsNameOf(runId: string, host: string): string {
  return `${runId}-${host}`;
}

/** Splits a namespace name made with `prefix`; undefined for names that are not ours. */
export function parseNsName(prefix: string, ns: string): { runId: string; pid: number; seq: number; host: string } | undefined {
  const m = /^([a-z][a-z0-9]{0,7})-(\d{1,10})-(\d{1,6})-([a-z][a-z0-9-]{0,19})$/.exec(ns);
  if (!m || m[1] !== prefix) return undefined;
  return { runId: `${m[1]}-${m[2]}-${m[3]}`, pid: Number(m[2]), seq: Number(m[3]), host: m[4] };
}

/** Splits a run id; undefined for ids that are not of `prefix`. */
export function parseRunId(prefix: string, runId: string): { pid: number; seq: number } | undefined {
  const m = /^([a-z][a-z0-9]{0,7})-(\d{1,10})-(\d{1,6})$/.exec(runId);
  if (!m || m[1] !== prefix) return undefined;
  return { pid: Number(m[2]), seq: Number(m[3]) };
}
