// Script mode for instruction counting: `node dist/bench/esp-one.js <workload> <count> [warmup]`
// sets one workload up and pushes warmup + count packets through it, nothing else, so
// that two runs under `valgrind --tool=callgrind` with different counts differ only by
// the counted packets (node's startup, the setup and V8's tier-up during the warm-up
// cancel out). In-memory only: never sends traffic anywhere, never writes files;
// prints one line.

import { BATCH, createWorkload, isWorkloadName, WORKLOAD_NAMES } from './workloads.js';

const [name, countText, warmupText = '0'] = process.argv.slice(2);
const count = Number(countText);
const warmup = Number(warmupText);
if (!name || !isWorkloadName(name) || !Number.isInteger(count) || count < 0 || !Number.isInteger(warmup) || warmup < 0) {
  process.stderr.write(`usage: node dist/bench/esp-one.js <workload> <count> [warmup]\nworkloads: ${WORKLOAD_NAMES.join(', ')}\n`);
  process.exit(2);
}

const w = createWorkload(name);
let left = warmup + count;
let sink = 0;
while (left > 0) {
  const n = Math.min(left, BATCH);
  w.reset();
  sink = (sink + w.batch(n)) | 0;
  left -= n;
}
process.stdout.write(`${name}: ${warmup} + ${count} packets (check ${sink >>> 0})\n`);
