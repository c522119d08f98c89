// The benchmark: `npm run bench [-- [--quick] [--only LIST] [--no-callgrind] [--no-io] [--no-profile]]`.
// In one run, back to back: ESP seal/open through the IpsecEngine against raw node:crypto on
// 1400-octet IPv6 packets, instructions per packet under callgrind, tunnel throughput in the testbed
// (bench/throughput.ts: dsmip6 against plain forwarding and OpenVPN, with the HA's CPU profile),
// handover timing (bench/handover.ts), home-agent capacity (bench/capacity.ts) and the edge I/O
// benchmark (bench/io.ts); a full run rewrites BENCHMARKS.md with every figure and ratio (--quick
// and --only just print). The testbed parts run as child processes of their own, one at a time,
// inside network namespaces they remove; this file never sends traffic and writes no file but
// BENCHMARKS.md (plus callgrind's temporary output, removed afterwards).

import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CallgrindPlan, countInstructions, valgrindVersion } from './callgrind.js';
import { measure, Plan } from './measure.js';
import { CallgrindOutcome, machine, render, Report } from './report.js';
import { createWorkload, WORKLOAD_NAMES, WorkloadName } from './workloads.js';

/** The parts of a run, in the order they run; --only picks some. */
const SECTIONS = ['esp', 'callgrind', 'throughput', 'handover', 'capacity', 'io'] as const;
type Section = (typeof SECTIONS)[number];

const USAGE = `usage: npm run bench [-- [--quick] [--only LIST] [--no-callgrind] [--no-io] [--no-profile]]
  --quick         under two minutes: short rounds and runs, 6 handovers, small HA; no callgrind, no edge I/O,
                  no CPU profile; prints only (BENCHMARKS.md unchanged)
  --only LIST     run only these parts (comma-separated: ${SECTIONS.join(',')}); prints only
  --no-callgrind  skip the instruction counts under valgrind
  --no-io         skip the edge I/O benchmark (bench/io.ts: native addon vs Node, needs root and namespaces)
  --no-profile    skip the HA's CPU profile under iperf3 load (bench/throughput.ts)
The testbed parts (throughput, handover, io) need root, iperf3, openvpn, dumpcap and tshark (scripts/ensure-deps.sh --bench).`;

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
  let only: Set<Section> | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--help' || a === '-h') {
      console.log(USAGE);
      return;
    }
    if (a === '--only' || a.startsWith('--only=')) {
      const list = a === '--only' ? args[++i] : a.slice('--only='.length);
      const names = (list ?? '').split(',').filter((x) => x);
      const bad = names.filter((n) => !(SECTIONS as readonly string[]).includes(n));
      if (names.length === 0 || bad.length) {
        console.error(`--only takes a comma-separated list of ${SECTIONS.join(', ')}${bad.length ? `; unknown: ${bad.join(', ')}` : ''}\n${USAGE}`);
        process.exitCode = 2;
        return;
      }
      only = new Set(names as Section[]);
      continue;
    }
    if (a !== '--quick' && a !== '--no-callgrind' && a !== '--no-io' && a !== '--no-profile') {
      console.error(`unknown option ${a}\n${USAGE}`);
      process.exitCode = 2;
      return;
    }
  }
  const wants = (s: Section): boolean => !only || only.has(s);
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

  if (wants('esp')) {
    log(`${WORKLOAD_NAMES.length} workloads, warm-up ${plan.warmupMs} ms, ${plan.rounds} rounds of ${plan.roundMs} ms each`);
    const workloads = WORKLOAD_NAMES.map(createWorkload);
    report.results = measure(workloads, plan, log);
  }

  // After the timed rounds, never during them: the valgrind processes would compete for the CPU.
  report.callgrind = wants('callgrind') ? await callgrind(quick, args.includes('--no-callgrind'), log) : { plan: CALLGRIND, note: 'not in --only' };
  // The testbed parts, one at a time (each loads both CPUs); the edge I/O benchmark last and alone.
  const q = quick ? ['--quick'] : [];
  const parts: string[] = [];
  if (wants('throughput')) parts.push(child('throughput', 'bench/throughput.ts', [], [...q, ...(quick || args.includes('--no-profile') ? ['--no-profile'] : [])], quick ? 300 : 1200, log));
  if (wants('handover')) parts.push(child('handover', 'bench/handover.ts', [], q, quick ? 300 : 900, log));
  if (wants('capacity')) parts.push(child('capacity', 'bench/capacity.ts', ['--expose-gc', '--max-old-space-size=16384'], q, quick ? 300 : 1800, log));
  if (wants('io') && !quick && !args.includes('--no-io')) parts.push(ioSection(log));
  const partial = quick || only !== undefined;
  report.seconds = (Date.now() - started) / 1000;
  const text = withSummary(wants('esp') ? render(report) : `# Benchmarks (partial run: --only ${[...only!].join(',')})\n`, parts, `${report.seconds.toFixed(0)} s`);
  process.stdout.write(text);
  if (partial) log(`${quick ? '--quick' : '--only'}: BENCHMARKS.md left unchanged`);
  else {
    writeFileSync(BENCHMARKS_MD, text);
    log(`wrote ${BENCHMARKS_MD}`);
  }
}

/**
 * Runs one testbed benchmark (dist/bench/NAME.js, its own process: it makes network namespaces or
 * a large heap) and returns its markdown section, or a section that says why there is none.
 */
function child(name: string, source: string, nodeArgs: string[], args: string[], timeoutS: number, log: (line: string) => void): string {
  log(`${name}: node ${[...nodeArgs, `dist/${source.replace(/\.ts$/, '.js')}`, ...args].join(' ')}`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [...nodeArgs, fileURLToPath(new URL(`./${name}.js`, import.meta.url)), ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: timeoutS * 1000,
    maxBuffer: 64 << 20,
  });
  log(`${name}: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  if (r.status !== 0 || !r.stdout.trim()) {
    const why = r.error ? r.error.message : `exit ${r.status ?? r.signal}`;
    log(`${name} failed (${why}); its section says so`);
    return `## ${name} (${source})\n\nNot measured in this run: \`node dist/${source.replace(/\.ts$/, '.js')}\` failed (${why}).`;
  }
  return r.stdout.trim();
}

/**
 * The report with the testbed sections after it, and a summary of every goal (the "Goal:" /
 * "Goals:" line of each section, which states its figure and its ratio) after the header.
 */
function withSummary(head: string, parts: string[], runTime: string): string {
  const all = [head.trimEnd(), ...parts.filter((p) => p)];
  const goals: string[] = [];
  for (const sec of all) {
    const title = /^## (.*)$/m.exec(sec)?.[1] ?? 'ESP';
    // report.ts's ESP section is titled "Goal" and states its goal in the paragraph under it.
    const m = title === 'Goal' ? /^## Goal\n\n(.*)$/m.exec(sec) : /^Goals?: .*$/m.exec(sec);
    // A goal line without a verdict (bench/io.ts states its verdicts in its table): count the table's.
    const verdict = (line: string): string => {
      if (/MET\*\*/.test(line)) return line;
      const met = (sec.match(/\| \*\*MET\*\* \|/g) ?? []).length;
      const not = (sec.match(/\| not met \|/g) ?? []).length;
      return met + not > 0 ? `${line} ${met === met + not ? '**MET**' : '**NOT MET**'}: ${met} of ${met + not} comparisons in its table meet it.` : line;
    };
    if (m) goals.push(title === 'Goal' ? `- **ESP through the engine against raw node:crypto** — ${m[1]}` : `- **${title.replace(/ \(bench\/.*\)$/, '')}** — ${verdict(m[0])}`);
    else if (/^Not measured in this run/m.test(sec)) goals.push(`- **${title.replace(/ \(bench\/.*\)$/, '')}** — not measured in this run (see its section).`);
  }
  const summary = [`## Goals at a glance`, '', `Every goal of this file, as its section states it (figures from this run; total run time ${runTime}; ratios are against baselines measured in the same run).`, '', ...goals, ''].join('\n');
  const text = all.join('\n\n') + '\n';
  const at = text.indexOf('\n## ');
  return at < 0 ? `${text}\n${summary}` : `${text.slice(0, at + 1)}${summary}\n${text.slice(at + 1)}`;
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
