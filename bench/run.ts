// The benchmark: `npm run bench [-- [--quick] [--no-callgrind]]`. Measures ESP seal/open
// through the IpsecEngine against raw node:crypto on 1400-octet IPv6 packets, counts
// instructions per packet under callgrind, and rewrites BENCHMARKS.md (a full run only;
// --quick just prints). Never sends traffic anywhere, never opens a socket, and writes
// no file but BENCHMARKS.md (plus callgrind's temporary output, removed afterwards).

import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CallgrindPlan, countInstructions, valgrindVersion } from './callgrind.js';
import { measure, Plan } from './measure.js';
import { CallgrindOutcome, machine, render, Report } from './report.js';
import { createWorkload, WORKLOAD_NAMES, WorkloadName } from './workloads.js';

const USAGE = `usage: npm run bench [-- [--quick] [--no-callgrind] [--no-io]]
  --quick         a few seconds: short rounds, no callgrind, no edge I/O, prints only (BENCHMARKS.md unchanged)
  --no-callgrind  skip the instruction counts under valgrind
  --no-io         skip the edge I/O benchmark (bench/io.ts: native addon vs Node, needs root and namespaces)`;

/** Seven shorter rounds rather than five long ones: on a noisy (virtual) machine more rounds make the median steadier for the same ~1 min. */
const FULL: Plan = { warmupMs: 500, rounds: 7, roundMs: 750 };
const QUICK: Plan = { warmupMs: 50, rounds: 3, roundMs: 100 };
/** Warm-up past V8's tier-up and first major GCs; 4000 counted packets keep rounding negligible. ~1 min on two cores. */
const CALLGRIND: CallgrindPlan = { warmup: 3000, counts: [2000, 6000] };
/** GCM seal (the headline pair) and GCM open, raw against the engine in tunnel mode: four workloads keep the phase near a minute. */
const CALLGRIND_WORKLOADS: WorkloadName[] = ['raw-gcm-seal', 'esp-gcm-seal-tunnel', 'raw-gcm-open', 'esp-gcm-open-tunnel'];

const BENCHMARKS_MD = fileURLToPath(new URL('../../BENCHMARKS.md', import.meta.url));

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  for (const a of args) {
    if (a === '--help' || a === '-h') {
      console.log(USAGE);
      return;
    }
    if (a !== '--quick' && a !== '--no-callgrind' && a !== '--no-io') {
      console.error(`unknown option ${a}\n${USAGE}`);
      process.exitCode = 2;
      return;
    }
  }
  const quick = args.includes('--quick');
  const plan = quick ? QUICK : FULL;
  const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
  const started = Date.now();
  const report: Report = {
    command: `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`,
    date: new Date(),
    machine: machine(),
    plan,
    quick,
    results: [],
    callgrind: { plan: CALLGRIND },
    seconds: 0,
  };

  log(`${WORKLOAD_NAMES.length} workloads, warm-up ${plan.warmupMs} ms, ${plan.rounds} rounds of ${plan.roundMs} ms each`);
  const workloads = WORKLOAD_NAMES.map(createWorkload);
  report.results = measure(workloads, plan, log);

  // After the timed rounds, never during them: the valgrind processes would compete for the CPU.
  report.callgrind = await callgrind(quick, args.includes('--no-callgrind'), log);
  report.seconds = (Date.now() - started) / 1000;

  // The edge I/O benchmark runs last and alone: it loads both CPUs with generators and sinks.
  const io = quick || args.includes('--no-io') ? '' : ioSection(log);
  const text = render(report) + (io ? `\n${io}\n` : '');
  process.stdout.write(text);
  if (quick) log('--quick: BENCHMARKS.md left unchanged');
  else {
    writeFileSync(BENCHMARKS_MD, text);
    log(`wrote ${BENCHMARKS_MD}`);
  }
}

/** Runs bench/io.js (its own process: it makes network namespaces) and returns its markdown section. */
function ioSection(log: (line: string) => void): string {
  log('edge I/O benchmark (bench/io.js), about a minute and a half');
  const r = spawnSync(process.execPath, [fileURLToPath(new URL('./io.js', import.meta.url))], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 600_000,
  });
  if (r.status !== 0) {
    const why = r.error ? r.error.message : `exit ${r.status ?? r.signal}`;
    log(`edge I/O benchmark failed (${why}); its section says so`);
    return `## Edge I/O: the native addon against Node without it (bench/io.ts)\n\nNot measured in this run: \`node dist/bench/io.js\` failed (${why}).`;
  }
  return r.stdout.trim();
}

async function callgrind(quick: boolean, skip: boolean, log: (line: string) => void): Promise<CallgrindOutcome> {
  if (quick) return { plan: CALLGRIND, note: 'skipped by --quick' };
  if (skip) return { plan: CALLGRIND, note: 'skipped by --no-callgrind' };
  const valgrind = valgrindVersion();
  if (!valgrind) return { plan: CALLGRIND, note: 'valgrind is not installed (`which valgrind` found nothing)' };
  log(`callgrind: ${CALLGRIND_WORKLOADS.length} workloads x 2 counts under ${valgrind} (about a minute)`);
  const t0 = Date.now();
  try {
    const counts = await countInstructions(CALLGRIND_WORKLOADS, CALLGRIND, log);
    return { plan: CALLGRIND, valgrind, counts, seconds: (Date.now() - t0) / 1000 };
  } catch (e) {
    // Throughput figures still stand; say what went wrong instead of losing them.
    log(`callgrind failed: ${(e as Error).message}`);
    return { plan: CALLGRIND, valgrind, note: `callgrind failed: ${(e as Error).message.split('\n')[0]}` };
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
