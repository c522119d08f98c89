// Test helper: runs a NetWatch in the current network namespace and prints one JSON line per
// decision on stdout ({"kind":"ready"} first, then {"kind":"decision","decision":...,"event":...,"via":...}:
// via "event" when decided at once from a notification, "debounce" after the debounce).
// Config: a JSON MovementConfig as argv[2]. Ends on SIGTERM/SIGINT or when stdin closes.
import { NetWatch } from './netwatch.js';
import type { MovementConfig } from './movement.js';

const config = JSON.parse(process.argv[2] ?? '{}') as MovementConfig;
const out = (o: unknown): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
const w = await NetWatch.start({
  ...config,
  ref: true,
  onDecision: (decision, event, _target, timing) => out({ kind: 'decision', decision, event, via: timing.via }),
  onError: (e) => out({ kind: 'error', message: String(e) }),
});
out({ kind: 'ready' });
const stop = (): void => {
  w.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();
