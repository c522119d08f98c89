// One-shot timers on the wall clock (Date.now), for the daemons' edges. The state machines take
// `now` from Date.now() and ask for a timer `at` a Date.now() instant; setTimeout counts on a
// monotonic clock and may run its callback a millisecond early by Date.now(). A callback that
// finds itself early would see "not due" and, in a machine that arms each deadline once, the
// deadline would be lost (it lost whole moves in the testbed). So this never fires before `at`.
// It must never fire after cancel(), nor keep the event loop alive on its own account beyond a
// plain setTimeout.

/** An injected one-shot timer (tests drive it with a fake clock). `at` is on the injected clock's scale (ms). */
export interface TimerScheduler {
  schedule(at: number, fire: () => void): { cancel(): void };
}

/** setTimeout for a Date.now() deadline, rechecked so it never fires early. */
export const wallClockScheduler: TimerScheduler = {
  schedule(at, fire) {
    let t: NodeJS.Timeout | null = null;
    const arm = (): void => {
      t = setTimeout(check, Math.max(0, at - Date.now()));
    };
    const check = (): void => {
      if (Date.now() < at) arm();
      else {
        t = null;
        fire();
      }
    };
    arm();
    return {
      cancel: () => {
        if (t !== null) clearTimeout(t);
        t = null;
      },
    };
  },
};
