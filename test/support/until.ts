// Polls a condition from the event loop until it holds or a deadline passes; for tests whose
// packets arrive asynchronously (native devices, fakes). Never sleeps the thread.
export function until(done: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (done()) return resolve();
      if (Date.now() - t0 > ms) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 2);
    };
    tick();
  });
}
