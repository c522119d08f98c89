// Wall-clock throughput of the workloads: a warm-up, then timed rounds in which every
// workload runs once, in an order reversed every round so machine noise (other
// processes, frequency changes, GC of a neighbour's garbage) falls on baseline and
// engine alike. Measures in-process only: never sends traffic, never writes files.

import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { BATCH, Workload } from './workloads.js';

export interface Plan {
  /** Warm-up per workload (ms): lets V8 optimise every path before anything counts. */
  warmupMs: number;
  rounds: number;
  /** Timed duration of each workload in each round (ms). */
  roundMs: number;
}

export interface Measured {
  readonly workload: Workload;
  /** Packets per second, one per round, in round order. */
  readonly pps: number[];
  readonly medianPps: number;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** A full collection between runs, untimed, so no workload pays for another's garbage; a no-op if unavailable. */
const collect: () => void = (() => {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    if (typeof gc === 'function') return () => (gc as () => void)();
  } catch {
    // Not fatal: rounds are interleaved anyway.
  }
  return () => {};
})();

/** Keeps every batch's result live, so V8 can never drop the work. */
let sink = 0;

/** Runs whole batches until at least `ms` of timed work; the untimed reset() between batches is excluded. */
function runFor(w: Workload, ms: number): { packets: number; ns: number } {
  const target = ms * 1e6;
  let ns = 0;
  let packets = 0;
  while (ns < target) {
    w.reset();
    const t0 = process.hrtime.bigint();
    sink = (sink + w.batch(BATCH)) | 0;
    ns += Number(process.hrtime.bigint() - t0);
    packets += BATCH;
  }
  return { packets, ns };
}

export function measure(workloads: readonly Workload[], plan: Plan, progress: (line: string) => void): Measured[] {
  for (const w of workloads) runFor(w, plan.warmupMs);
  const pps = workloads.map(() => [] as number[]);
  for (let r = 0; r < plan.rounds; r++) {
    const order = workloads.map((_, i) => i);
    if (r % 2) order.reverse();
    for (const i of order) {
      collect();
      const { packets, ns } = runFor(workloads[i], plan.roundMs);
      pps[i].push((packets * 1e9) / ns);
    }
    progress(`round ${r + 1}/${plan.rounds} done`);
  }
  if (sink === 0.5) progress('');
  return workloads.map((workload, i) => ({ workload, pps: pps[i], medianPps: median(pps[i]) }));
}
