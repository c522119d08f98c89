// The BA waits for the binding write (ha/daemon.ts returns the state file write's promise from
// onBindingChange): while the write is pending the HA already forwards to the new CoA, but the MN is
// not told the binding exists; once the write settles the BA leaves and the MN is registered.

import { describe, expect, test } from 'vitest';
import { COA4, CN6, HOA, harness, udp6 } from './support/e2e-harness.js';
import { until } from './support/until.js';

describe('HomeAgent onBindingChange promise', () => {
  test('data flows to the new CoA at once; the BA only after the promise settles', async () => {
    const calls: string[] = [];
    let settle: () => void = () => {};
    const h = harness({
      onBindingChange: (hoa) => {
        calls.push(hoa);
        return new Promise<void>((r) => (settle = r));
      },
    });
    try {
      h.mn.moveTo(COA4);
      h.mn.start();
      await until(() => h.ha.binding(HOA)?.coa === COA4, 2000, 'binding accepted');
      expect(calls).toEqual([HOA]);
      const udp0 = h.haUdpLog.length;
      const toMobile0 = h.ha.counters.toMobile;
      h.cn.write([udp6(CN6, HOA, 'early')]);
      await until(() => h.ha.counters.toMobile > toMobile0, 2000, 'data tunnelled before the BA');
      // Nothing but that data packet left towards the MN: the BA is held.
      await new Promise((r) => setTimeout(r, 50));
      expect(h.ha.counters.baSent).toBe(0);
      expect(h.haUdpLog.length).toBe(udp0 + 1);
      expect(h.mn.registeredCoa ?? undefined).toBeUndefined();
      settle();
      await h.registered(COA4);
      expect(h.ha.counters.baSent).toBe(1);
      await h.pingPong('after');
    } finally {
      h.close();
    }
  });

  test('a rejected promise still answers (the binding stands; only a restart would lose it)', async () => {
    const h = harness({ onBindingChange: () => Promise.reject(new Error('disk full')) });
    try {
      h.mn.moveTo(COA4);
      h.mn.start();
      await h.registered(COA4);
      expect(h.ha.counters.baSent).toBe(1);
    } finally {
      h.close();
    }
  });
});
