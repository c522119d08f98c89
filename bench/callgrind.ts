// Instructions per packet, counted by valgrind's callgrind: esp-one.js runs one workload
// for two packet counts after the same warm-up, and the difference in instructions
// divided by the difference in packets is the per-packet cost (node's startup, the
// setup and the warm-up cancel out). Runs local processes only: never sends traffic
// anywhere; writes only callgrind's own output files, in a temporary directory it
// removes afterwards.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WorkloadName } from './workloads.js';

/**
 * --predictable: V8 compiles and collects garbage on the main thread at fixed points
 * and seeds its hashes fixedly, so a count repeats to within ~0.01%; with concurrent
 * compilation the moment optimised code arrives drifts under valgrind and two runs of
 * the same count differed by 5%. The code V8 generates is the same.
 */
const NODE_FLAGS = ['--predictable'];

export interface CallgrindPlan {
  /** Packets run first in both runs; V8's tier-up and the first major GCs happen here. */
  warmup: number;
  /** The two counted packet counts. */
  counts: readonly [number, number];
}

export interface CallgrindCount {
  name: WorkloadName;
  /** Total instructions (all threads) of the two runs. */
  totals: [number, number];
  perPacket: number;
}

/** valgrind's version line, or undefined when valgrind is not installed. */
export function valgrindVersion(): string | undefined {
  const r = spawnSync('valgrind', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

const ESP_ONE = fileURLToPath(new URL('./esp-one.js', import.meta.url));

/** One run of esp-one.js under callgrind; resolves to its total instruction count. */
function runOnce(dir: string, name: WorkloadName, count: number, warmup: number): Promise<number> {
  const out = join(dir, `callgrind.${name}.${count}.out`);
  const args = ['--tool=callgrind', `--callgrind-out-file=${out}`, process.execPath, ...NODE_FLAGS, ESP_ONE, name, String(count), String(warmup)];
  return new Promise((resolve, reject) => {
    const child = spawn('valgrind', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      // Keep only the tail: valgrind's own summary and any error message.
      err = (err + d.toString()).slice(-4000);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`valgrind ${args.slice(3).join(' ')} exited with ${code}:\n${err}`));
      // The file's "totals:" (or "summary:") line sums every thread.
      const m = /^(?:totals|summary):\s+(\d+)/m.exec(readFileSync(out, 'utf8'));
      if (!m) return reject(new Error(`no totals line in ${out}`));
      resolve(Number(m[1]));
    });
  });
}

/** Runs every (workload, count) pair, two valgrinds at a time on a machine with two cores or more (counts do not depend on timing). */
export async function countInstructions(names: readonly WorkloadName[], plan: CallgrindPlan, progress: (line: string) => void): Promise<CallgrindCount[]> {
  const dir = mkdtempSync(join(tmpdir(), 'dsmip6-bench-callgrind-'));
  try {
    const jobs = names.flatMap((name) => plan.counts.map((count) => ({ name, count })));
    const totals = new Map<string, number>();
    let next = 0;
    const worker = async () => {
      while (next < jobs.length) {
        const { name, count } = jobs[next++];
        totals.set(`${name}/${count}`, await runOnce(dir, name, count, plan.warmup));
        progress(`callgrind ${name} x ${count}: ${totals.get(`${name}/${count}`)!.toLocaleString('en-US')} instructions`);
      }
    };
    await Promise.all(Array.from({ length: Math.min(2, availableParallelism()) }, worker));
    const [a, b] = plan.counts;
    return names.map((name) => {
      const ta = totals.get(`${name}/${a}`)!;
      const tb = totals.get(`${name}/${b}`)!;
      return { name, totals: [ta, tb], perPacket: (tb - ta) / (b - a) };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
