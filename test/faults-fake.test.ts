// Faults over the in-memory fakes (harness: test/support/e2e-harness.ts), on the fake clock so that
// minutes pass in milliseconds: the HA unreachable for five minutes during a first registration and
// during a refresh (the MN keeps to the RFC 6275 §11.8 backoff — 1.5 s first, 1 s for a refresh,
// doubling to MAX_BINDACK_TIMEOUT 32 s — and re-registers at its first retransmission after the path
// returns); the NAT losing its mapping (expiry or a conntrack flush: the fake NAT's flush is both)
// at any point of the keepalive interval, recovered by the MN's next keepalive BU — within one
// interval — on a new public port; and a refresh whose BA is lost. BA loss during a first registration
// is test/e2e-fake-more.test.ts (2); the same faults through the real stack, test/e2e-netns-faults.test.ts.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { decodeIpv6 } from '../common/ipv6.js';
import { until } from './support/until.js';
import { CN6, COA4, COA6, HA_CFG, HOA, MN_CFG, NAT4, T0, harness, udp6 } from './support/e2e-harness.js';

type H = ReturnType<typeof harness>;
const MAX_BACKOFF_MS = 32_000; // RFC 6275 §13 MAX_BINDACK_TIMEOUT
const turns = async (n = 20) => {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
};
const isBu = (p: Uint8Array): boolean => {
  try {
    return decodeIpv6(p).esp?.spi === MN_CFG.keys.bu.out.spi;
  } catch {
    return false;
  }
};

/** Offsets of BUs from the first one: first timeout `first`, doubling, capped at 32 s, up to `until`. */
function schedule(first: number, end: number): number[] {
  const out = [0];
  let t = 0;
  let to = first;
  while (t + to <= end) {
    t += to;
    out.push(t);
    to = Math.min(to * 2, MAX_BACKOFF_MS);
  }
  return out;
}

/** Cuts the MN's link both ways while `down()` is true; records when each BU left the MN. */
function cutLink(h: H, down: () => boolean): number[] {
  const buTimes: number[] = [];
  h.mnLink.dropOut = (p) => {
    if (isBu(p)) buTimes.push(h.clock.t);
    return down();
  };
  h.mnLink.dropIn = () => down();
  return buTimes;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('the HA unreachable for minutes', () => {
  it('during the first registration: BUs at 0, 1.5, 4.5, 10.5, 22.5, 46.5 s, then every 32 s; the first one after the HA is back registers', async () => {
    const h = harness();
    let down = true;
    const times = cutLink(h, () => down);
    h.mn.moveTo(COA6);
    h.mn.start();
    h.clock.advance(300_000); // five minutes with no HA
    const expected = schedule(1500, 300_000);
    expect(expected.slice(0, 8)).toEqual([0, 1500, 4500, 10500, 22500, 46500, 78500, 110500]);
    expect(times.map((t) => t - T0)).toEqual(expected);
    expect(h.ha.counters.buReceived).toBe(0);
    expect(h.mn.registeredCoa).toBeNull();

    down = false; // the HA is back at T0 + 300 s
    const next = expected.at(-1)! + MAX_BACKOFF_MS;
    h.clock.advance(next - (h.clock.t - T0) - 1);
    await turns();
    expect(h.mn.registeredCoa, 'nothing before the next retransmission').toBeNull();
    h.clock.advance(1);
    await h.registered(COA6);
    expect(h.clock.t - T0 - 300_000, 'registered within one MAX_BINDACK_TIMEOUT of the HA coming back').toBeLessThanOrEqual(MAX_BACKOFF_MS);
    expect(h.ha.counters).toMatchObject({ buReceived: 1, buAccepted: 1, baSent: 1 });
    // Every retransmission took a new sequence number (RFC 6275 §11.8): the one that arrived is the last.
    expect(h.ha.binding(HOA)!.sequence).toBe(1000 + expected.length);
    await h.pingPong('after the outage');
    h.close();
  });

  it('during a refresh: the refresh BU and its retransmissions at +1, +3, +7, +15, +31 s, then every 32 s; the binding is refreshed once the HA is back', async () => {
    const h = harness();
    h.mn.moveTo(COA6);
    h.mn.start();
    await h.registered(COA6);
    const lifetime = h.ha.binding(HOA)!.expiresAt - T0;
    await h.pingPong('before');
    let down = false;
    const times = cutLink(h, () => down);
    // Down from 60 s before the refresh (0.8 of the lifetime) for five minutes.
    const refreshAt = T0 + 0.8 * lifetime;
    h.clock.advance(refreshAt - 60_000 - h.clock.t);
    down = true;
    const downAt = h.clock.t;
    h.clock.advance(300_000);
    const expected = schedule(1000, downAt + 300_000 - refreshAt).map((o) => refreshAt + o);
    expect(expected.slice(0, 7).map((t) => t - refreshAt)).toEqual([0, 1000, 3000, 7000, 15000, 31000, 63000]);
    expect(times).toEqual(expected);
    // Data meanwhile is lost on the cut link, not misrouted: the HA still holds the binding.
    expect(h.ha.binding(HOA)?.coa).toBe(COA6);

    down = false;
    const back = h.clock.t;
    const acc0 = h.ha.counters.buAccepted;
    for (let t = 0; t <= MAX_BACKOFF_MS && h.ha.counters.buAccepted === acc0; t += 500) {
      h.clock.advance(500);
      await turns();
    }
    await until(() => h.mn.registeredCoa?.address === COA6 && h.mn.registeringCoa === null, 2000, 'the refresh BA');
    expect(h.clock.t - back).toBeLessThanOrEqual(MAX_BACKOFF_MS);
    expect(h.ha.binding(HOA)!.expiresAt).toBeGreaterThan(back);
    await h.pingPong('after');
    h.close();
  });
});

describe('the NAT forgets the mapping (expiry or flush) and rebinds to a new port', () => {
  const KEEPALIVE_S = 3; // as test/fixtures/e2e-ha.json
  const cfg = { ...HA_CFG, natRefreshSeconds: KEEPALIVE_S };

  for (const offsetMs of [100, 1500, 2900]) {
    it(`lost ${offsetMs} ms after a keepalive: CN->MN data flows again within one keepalive interval (${KEEPALIVE_S} s), on a new port`, async () => {
      let r = 0.25;
      vi.spyOn(Math, 'random').mockImplementation(() => r);
      const h = harness({ ha: cfg });
      h.mn.moveTo(COA4);
      h.mn.start();
      await h.registered(COA4);
      await h.pingPong('before');
      const oldPort = h.ha.binding(HOA)!.natPort!;
      // Find a keepalive: step until the MN sends its next BU.
      const bus = h.mn.counters.buSent;
      while (h.mn.counters.buSent === bus) h.clock.advance(10);
      await until(() => h.mn.registeringCoa === null, 2000, 'keepalive BA');
      h.clock.advance(offsetMs);
      h.nat.flush();
      r = 0.75; // the NAT's next mapping gets another port
      const lostAt = h.clock.t;
      // Probe CN -> HoA every 100 ms of fake time until one arrives.
      let recovered: number | undefined;
      for (let step = 0; step <= 2 * KEEPALIVE_S * 10 && recovered === undefined; step++) {
        const n = h.atApps.length;
        h.cn.write([udp6(CN6, HOA, `probe ${step}`)]);
        await turns();
        if (h.atApps.length > n) recovered = h.clock.t - lostAt;
        else h.clock.advance(100);
      }
      expect(recovered, 'data flows again').toBeDefined();
      expect(recovered!).toBeGreaterThan(0); // it really was lost
      expect(recovered!).toBeLessThanOrEqual(KEEPALIVE_S * 1000);
      const b = h.ha.binding(HOA)!;
      expect(b.natAddress).toBe(NAT4);
      expect(b.natPort).not.toBe(oldPort);
      await h.pingPong('after');
      h.close();
    });
  }
});

describe('BA loss on a refresh', () => {
  it("the refresh's BA is lost: the MN resends after 1 s (INITIAL_BINDACK_TIMEOUT), the binding never lapses, data keeps flowing", async () => {
    const h = harness();
    h.mn.moveTo(COA6);
    h.mn.start();
    await h.registered(COA6);
    const lifetime = h.ha.binding(HOA)!.expiresAt - T0;
    let dropNextBa = true;
    h.mnLink.dropIn = (p) => {
      try {
        if (dropNextBa && decodeIpv6(p).esp?.spi === MN_CFG.keys.bu.in.spi) {
          dropNextBa = false;
          return true;
        }
      } catch {
        /* not ours to judge */
      }
      return false;
    };
    const refreshAt = T0 + 0.8 * lifetime;
    h.clock.advance(refreshAt - h.clock.t);
    expect(h.mn.counters.buSent).toBe(2);
    await until(() => h.mnLink.droppedIn === 1, 2000, 'the refresh BA lost');
    await h.pingPong('while the refresh is outstanding');
    h.clock.advance(999);
    expect(h.mn.counters.buSent, 'not before 1 s').toBe(2);
    h.clock.advance(1);
    expect(h.mn.counters.buSent).toBe(3);
    await until(() => h.mn.registeringCoa === null && h.mn.counters.baReceived === 2, 2000, 'the second BA');
    expect(h.ha.counters).toMatchObject({ buAccepted: 3, baSent: 3 });
    expect(h.ha.binding(HOA)!.expiresAt).toBeGreaterThan(refreshAt + 1000);
    await h.pingPong('after');
    h.close();
  });
});
