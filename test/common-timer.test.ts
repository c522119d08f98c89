// wallClockScheduler: never fires before its Date.now() deadline, even when setTimeout runs early.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { wallClockScheduler } from '../common/timer.js';

describe('wallClockScheduler', () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it('re-arms when setTimeout runs before the wall-clock deadline, then fires once', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let wall = 1_000_000;
    vi.spyOn(Date, 'now').mockImplementation(() => wall);
    const fire = vi.fn();
    wallClockScheduler.schedule(wall + 10, fire);
    wall += 9; // the monotonic clock ran 1 ms ahead of the wall clock
    vi.advanceTimersByTime(10);
    expect(fire).not.toHaveBeenCalled();
    wall += 1;
    vi.advanceTimersByTime(1);
    expect(fire).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(100);
    expect(fire).toHaveBeenCalledTimes(1);
  });

  it('cancel() stops it, also after an early re-arm', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let wall = 5000;
    vi.spyOn(Date, 'now').mockImplementation(() => wall);
    const fire = vi.fn();
    const t = wallClockScheduler.schedule(wall + 10, fire);
    vi.advanceTimersByTime(10); // early: re-armed
    t.cancel();
    wall += 50;
    vi.advanceTimersByTime(50);
    expect(fire).not.toHaveBeenCalled();
  });

  it('fires at once for a deadline already past', async () => {
    const fired = await new Promise<boolean>((resolve) => {
      wallClockScheduler.schedule(Date.now() - 5, () => resolve(true));
      setTimeout(() => resolve(false), 200);
    });
    expect(fired).toBe(true);
  });
});
