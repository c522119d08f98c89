// Tears down live testbeds when the process ends without calling destroy(): on 'exit' (normal
// end, process.exit, an uncaught exception) and on SIGINT, SIGTERM and SIGHUP, synchronously,
// because nothing asynchronous runs after those. SIGKILL cannot be caught: the next create()
// sweeps what such a run left. This file must never keep the process alive nor swallow a
// signal that would otherwise have ended it.

/** Something that can remove everything it made, synchronously and more than once. */
export interface SyncCleanable {
  cleanupSync(): void;
}

const live = new Set<SyncCleanable>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
let installed = false;

function cleanupAll(): void {
  for (const t of [...live]) {
    live.delete(t);
    try {
      t.cleanupSync();
    } catch {
      // Go on with the others: a failed teardown of one must not leak the rest.
    }
  }
}

function onExit(): void {
  cleanupAll();
}

function onSignal(signal: NodeJS.Signals): void {
  cleanupAll();
  uninstall();
  // Had nobody else asked for this signal, its default action would have ended the process:
  // raise it again now that our handler is gone, so the exit status still tells the signal.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', onExit);
  for (const s of SIGNALS) process.on(s, onSignal);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  process.off('exit', onExit);
  for (const s of SIGNALS) process.off(s, onSignal);
}

/** Registers a testbed for teardown at exit; the handlers exist only while one is registered. */
export function trackForExit(t: SyncCleanable): void {
  live.add(t);
  install();
}

/** Unregisters after an orderly destroy(). */
export function untrackForExit(t: SyncCleanable): void {
  live.delete(t);
  if (live.size === 0) uninstall();
}
