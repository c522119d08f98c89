// More in-process end-to-end scenarios over the fakes (harness: test/support/e2e-harness.ts):
// the whole roaming timeline with numbered traffic, BA loss and the RFC 6275 §11.8 backoff, random
// loss on the MN's link, a dynamic IPv4 home address (RFC 5555 §3.1), an HA refusal answered with
// a failure status (and a HoA the HA does not know), and binding expiry when the MN goes silent.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { decodeIpv6 } from '../common/ipv6.js';
import { encodeUdp4Packet } from '../common/udp.js';
import type { HaConfig, MnConfig } from '../config/schema.js';
import { until } from './support/until.js';
import { CN4, CN6, COA4, COA6, COA6B, HA_CFG, HOA, HOA4, MN_CFG, NAT4, T0, harness, udp6 } from './support/e2e-harness.js';

type H = ReturnType<typeof harness>;

/** Public IPv4 CoA, not behind the NAT. */
const COA4PUB = '198.51.100.50';
const FIRST_REG_MS = 1500; // RFC 6275 §13 InitialBindackTimeoutFirstReg
const MAX_BACKOFF_MS = 32000; // RFC 6275 §13 MAX_BINDACK_TIMEOUT

/** Offsets (ms from the first BU) of the first registration's BUs: 1.5 s, doubling, capped at 32 s. */
function firstRegSchedule(n: number): number[] {
  const out = [0];
  let t = 0;
  let to = FIRST_REG_MS;
  while (out.length < n) {
    t += to;
    out.push(t);
    to = Math.min(to * 2, MAX_BACKOFF_MS);
  }
  return out;
}

const turns = async (n = 40) => {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
};

const isBa = (p: Uint8Array): boolean => {
  try {
    return decodeIpv6(p).esp?.spi === MN_CFG.keys.bu.in.spi;
  } catch {
    return false;
  }
};
const isBu = (p: Uint8Array): boolean => {
  try {
    return decodeIpv6(p).esp?.spi === MN_CFG.keys.bu.out.spi;
  } catch {
    return false;
  }
};

function sumDrops(d: Record<string, number>): number {
  return Object.values(d).reduce((a, b) => a + b, 0);
}

/** Numbered traffic between the CN and both HoAs, both directions; every packet's bytes are unique. */
class Flow {
  private readonly sent = new Map<string, { dir: string; idx: number }>();
  readonly log: { dir: string; idx: number }[][] = [];
  private nextIdx: Record<string, number> = {};
  constructor(
    private readonly h: H,
    private readonly hoa4: () => string,
  ) {}

  private packet(dir: string, idx: number): Uint8Array {
    const text = `${dir} #${idx}`;
    const v4 = this.hoa4();
    switch (dir) {
      case 'down6':
        return udp6(CN6, HOA, text);
      case 'up6':
        return udp6(HOA, CN6, text);
      case 'down4':
        return encodeUdp4Packet({ src: CN4, dst: v4, srcPort: 53, dstPort: 4000, payload: Buffer.from(text) });
      default:
        return encodeUdp4Packet({ src: v4, dst: CN4, srcPort: 4000, dstPort: 53, payload: Buffer.from(text) });
    }
  }

  /** Sends n numbered packets in each of the four flows; returns the batch handle. */
  send(n: number): { dir: string; idx: number }[] {
    const batch: { dir: string; idx: number }[] = [];
    for (let i = 0; i < n; i++) {
      for (const dir of ['down6', 'up6', 'down4', 'up4']) {
        const idx = (this.nextIdx[dir] = (this.nextIdx[dir] ?? 0) + 1);
        const p = this.packet(dir, idx);
        this.sent.set(Buffer.from(p).toString('hex'), { dir, idx });
        batch.push({ dir, idx });
        (dir.startsWith('down') ? this.h.cn : this.h.apps).write([p]);
      }
    }
    this.log.push(batch);
    return batch;
  }

  /** Everything received so far, by flow, checked byte-for-byte against what was sent and in order. */
  received(): Map<string, Set<number>> {
    const got = new Map<string, Set<number>>();
    const last: Record<string, number> = {};
    for (const [arr, dirs] of [
      [this.h.atApps, ['down6', 'down4']],
      [this.h.atCn, ['up6', 'up4']],
    ] as const) {
      for (const p of arr) {
        const k = this.sent.get(Buffer.from(p).toString('hex'));
        // Intact: every delivered packet is byte-identical to one that was sent in that direction.
        expect(k, 'a delivered packet matches a sent one byte for byte').toBeDefined();
        expect(dirs).toContain(k!.dir);
        // In order: per flow, indices strictly increase (no reordering, no duplicates).
        expect(k!.idx).toBeGreaterThan(last[k!.dir] ?? 0);
        last[k!.dir] = k!.idx;
        if (!got.has(k!.dir)) got.set(k!.dir, new Set());
        got.get(k!.dir)!.add(k!.idx);
      }
    }
    return got;
  }

  lostOf(batch: { dir: string; idx: number }[], dirs?: string[]): number {
    const got = this.received();
    return batch.filter((b) => (!dirs || dirs.includes(b.dir)) && !got.get(b.dir)?.has(b.idx)).length;
  }
}

function reasons(h: H): Record<string, number> {
  const r: Record<string, number> = { 'nat-lost': h.net.lost };
  for (const [k, v] of Object.entries(h.ha.counters.drops)) r[`ha:${k}`] = v;
  for (const [k, v] of Object.entries(h.mn.counters.drops)) r[`mn:${k}`] = v;
  return r;
}

function diff(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b)) if (v !== (a[k] ?? 0)) out[k] = v - (a[k] ?? 0);
  return out;
}

function dropsTotal(h: H): number {
  return sumDrops(h.ha.counters.drops) + sumDrops(h.mn.counters.drops) + h.net.lost;
}

describe('e2e over fakes, more: timeline, loss, dynamic IPv4 HoA, refusal, expiry', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('(1) roaming timeline home -> IPv6 -> IPv4 -> IPv4 behind NAT -> NAT rebinding -> IPv6 -> home, numbered traffic at every stage', async () => {
    const rnd = vi.spyOn(Math, 'random').mockReturnValue(0.25); // NAT ports: pinned so rebinding surely moves
    const h = harness();
    const f = new Flow(h, () => HOA4);
    const K = 3; // packets per flow sent while a move is in progress (BU sent, BA not yet back)
    const N = 5; // packets per flow sent once the BA is back
    const report: string[] = [];
    const whys: Record<string, number>[] = [];

    /** A move: K per flow in flight right after the BU, then N per flow after the BA. */
    const stage = async (name: string, move: () => void, done: () => boolean, homeStage = false, beforeBa?: () => Promise<void>) => {
      const d0 = dropsTotal(h);
      const r0 = reasons(h);
      move();
      const inflight = f.send(K);
      await beforeBa?.();
      await until(done, 2000, `${name}: BA`);
      await turns();
      const lostInflight = f.lostOf(inflight);
      // Only packets in flight may be lost, and every loss is counted somewhere (a drop reason or the NAT).
      expect(lostInflight).toBeLessThanOrEqual(inflight.length);
      expect(dropsTotal(h) - d0).toBe(lostInflight);
      const d1 = dropsTotal(h);
      const why = diff(r0, reasons(h));
      whys.push(why);
      const after = f.send(N);
      if (homeStage) {
        // At home the HA tunnels nothing (no binding): downlink is the home link's job (RFC 6275 §10.4.1
        // intercepts only for a bound HoA), which the fakes do not model, so the HA counts 'no-binding'.
        const nb = h.ha.counters.drops['no-binding'] ?? 0;
        await until(() => f.lostOf(after, ['up6', 'up4']) === 0, 2000, `${name}: uplink`);
        await turns();
        expect(f.lostOf(after, ['up6', 'up4'])).toBe(0);
        expect(f.lostOf(after, ['down6', 'down4'])).toBe(2 * N);
        expect((h.ha.counters.drops['no-binding'] ?? 0) - nb).toBe(2 * N);
      } else {
        await until(() => f.lostOf(after) === 0, 2000, `${name}: all ${after.length} after the BA`);
        await turns();
        expect(f.lostOf(after)).toBe(0);
        expect(dropsTotal(h)).toBe(d1);
      }
      report.push(`${name}: in flight ${inflight.length}, lost ${lostInflight} (up ${f.lostOf(inflight, ['up6', 'up4'])}, down ${f.lostOf(inflight, ['down6', 'down4'])}: ${JSON.stringify(why)}); after BA ${after.length}, lost ${f.lostOf(after)}`);
    };

    h.mn.moveTo('home');
    h.mn.start();
    // home (never registered): uplink goes as plain ESP from the HoA, nothing to wait for.
    await stage('home', () => {}, () => h.mn.registration.bul.state === 'at-home', true);
    expect(h.mn.counters.buSent).toBe(0);

    await stage('IPv6 foreign', () => h.mn.moveTo(COA6), () => h.mn.registeredCoa?.address === COA6 && h.ha.binding(HOA)?.coa === COA6);
    expect(h.ha.binding(HOA)).toMatchObject({ udp: false, ipv4Hoa: HOA4 });

    await stage('IPv4 foreign, no NAT', () => h.mn.moveTo(COA4PUB), () => h.mn.registeredCoa?.address === COA4PUB);
    expect(h.ha.binding(HOA)).toMatchObject({ coa: COA4PUB, udp: false });
    expect(h.ha.binding(HOA)!.natAddress).toBeUndefined();
    expect(h.mn.nat).toMatchObject({ natDetected: false });

    await stage('IPv4 behind NAT', () => h.mn.moveTo(COA4), () => h.mn.registeredCoa?.address === COA4);
    const port1 = h.ha.binding(HOA)!.natPort!;
    expect(h.ha.binding(HOA)).toMatchObject({ coa: COA4, natAddress: NAT4, udp: true });
    expect(h.mn.nat).toMatchObject({ natDetected: true, refreshTimeSeconds: HA_CFG.natRefreshSeconds });

    // NAT rebinding: the mapping is flushed; the keepalive BU at the NAT refresh time (RFC 5555 §4.3) moves it.
    rnd.mockReturnValue(0.75);
    const ba0 = h.mn.counters.baReceived;
    const lost0 = h.net.lost;
    await stage(
      'NAT rebinding',
      () => h.nat.flush(),
      () => h.mn.counters.baReceived === ba0 + 1 && h.mn.registeringCoa === null,
      false,
      async () => {
        await turns();
        // Before the keepalive: every downlink packet in flight died at the NAT (no mapping), every uplink one got through.
        expect(f.lostOf(f.log.at(-1)!, ['down6', 'down4'])).toBe(2 * K);
        expect(f.lostOf(f.log.at(-1)!, ['up6', 'up4'])).toBe(0);
        expect(h.net.lost - lost0).toBe(2 * K);
        h.clock.advance(HA_CFG.natRefreshSeconds * 1000);
      },
    );
    expect(h.ha.binding(HOA)!.natPort).toBe(1024 + Math.floor(0.75 * (65536 - 1024)));
    expect(h.ha.binding(HOA)!.natPort).not.toBe(port1);
    rnd.mockRestore();

    await stage('IPv6 foreign again', () => h.mn.moveTo(COA6B), () => h.mn.registeredCoa?.address === COA6B && h.ha.binding(HOA)?.coa === COA6B);
    expect(h.ha.binding(HOA)).toMatchObject({ udp: false });
    expect(h.ha.binding(HOA)!.natAddress).toBeUndefined();

    await stage('home', () => h.mn.moveTo('home'), () => h.mn.registration.bul.state === 'at-home' && h.ha.binding(HOA) === undefined, true);
    expect(h.ha.pool?.addressOf(HOA)).toBeUndefined();
    // Where the in-flight losses went, stage by stage (2K = one direction of both HoAs):
    expect(whys).toEqual([
      { 'ha:no-binding': 2 * K }, // home: the HA does not tunnel to an MN at home (the home link delivers)
      { 'mn:not-registered': 2 * K }, // home -> first CoA: no binding yet, the MN holds uplink back
      {}, // CoA -> CoA: uplink still from the old CoA (Req #3) is accepted during the grace period
      {},
      { 'nat-lost': 2 * K }, // flushed NAT: downlink to the old mapping dies until the keepalive BU
      {},
      { 'ha:no-binding': 4 * K }, // dereg: binding deleted; uplink with HAO and downlink both find none
    ]);
    console.info(`timeline losses:\n  ${report.join('\n  ')}`);
    h.close();
  });

  it('(2) BA loss: the first 3 BAs are dropped; BUs go at 0, 1.5, 4.5, 10.5 s with sequence 1000..1003; the 4th BA registers', async () => {
    const h = harness();
    let dropBas = 3;
    h.mnLink.dropIn = (p) => isBa(p) && dropBas-- > 0;
    const sched = firstRegSchedule(5); // [0, 1500, 4500, 10500, 22500]
    h.mn.moveTo(COA6);
    h.mn.start();
    for (let k = 0; k < 4; k++) {
      if (k > 0) {
        const gap = sched[k] - (h.clock.t - T0);
        h.clock.advance(gap - 1);
        expect(h.mn.counters.buSent, `no BU before ${sched[k]} ms`).toBe(k);
        h.clock.advance(1);
      }
      expect(h.mn.counters.buSent).toBe(k + 1);
      // The HA accepted it (every BU reaches it) with a sequence number one past the last.
      await until(() => h.ha.counters.baSent === k + 1, 2000, `BA ${k + 1} sent`);
      expect(h.ha.binding(HOA)?.sequence).toBe(1000 + k);
      // The first three BAs are dropped at the MN's edge; the fourth registers it.
      await until(() => (k < 3 ? h.mnLink.droppedIn === k + 1 : h.mn.registeredCoa !== null), 2000, `BA ${k + 1} at the MN edge`);
      expect(h.mn.registeredCoa === null).toBe(k < 3);
    }
    await h.registered(COA6);
    expect(h.mn.counters).toMatchObject({ buSent: 4, baReceived: 1 });
    expect(h.ha.counters).toMatchObject({ buReceived: 4, buAccepted: 4, baSent: 4 });
    // Nothing more until the refresh (0.8 of the 3600-s lifetime, counted from the accepted BU's send time).
    h.clock.advance(sched[4] - (h.clock.t - T0) + 60_000);
    expect(h.mn.counters.buSent).toBe(4);
    await h.pingPong('after BA loss');
    h.close();
  });

  it('(3) 50% seeded random loss both ways on the MN link: BUs keep to the backoff schedule and registration completes', async () => {
    const h = harness();
    let seed = 0x5eed1234;
    const rand = () => {
      // mulberry32
      seed = (seed + 0x6d2b79f5) | 0;
      let t = seed;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    h.mnLink.dropIn = () => rand() < 0.5;
    h.mnLink.dropOut = () => rand() < 0.5;
    const MAX_ATTEMPTS = 10;
    const sched = firstRegSchedule(MAX_ATTEMPTS);
    const buTimes: number[] = [];
    h.mn.moveTo(COA6);
    h.mn.start();
    buTimes.push(h.clock.t - T0);
    let k = 1;
    for (;;) {
      await turns();
      if (h.mn.registeredCoa !== null) break;
      expect(k, 'registered within the schedule').toBeLessThan(MAX_ATTEMPTS);
      const before = h.mn.counters.buSent;
      h.clock.advance(sched[k] - (h.clock.t - T0) - 1);
      expect(h.mn.counters.buSent).toBe(before);
      h.clock.advance(1);
      expect(h.mn.counters.buSent).toBe(before + 1);
      buTimes.push(h.clock.t - T0);
      k++;
    }
    expect(buTimes).toEqual(sched.slice(0, k));
    expect(h.ha.binding(HOA)?.coa).toBe(COA6);
    // Each failed attempt lost its BU or its BA; the successful one lost neither.
    const busLost = h.mnLink.sent.filter(isBu).length - h.ha.counters.buReceived;
    const basLost = h.ha.counters.baSent - h.mn.counters.baReceived;
    expect(busLost + basLost).toBe(k - 1);
    expect(h.mn.counters.baReceived).toBe(1);
    console.info(`random loss: registered on attempt ${k} at ${buTimes.at(-1)} ms (BUs lost ${busLost}, BAs lost ${basLost})`);
    h.mnLink.dropIn = null;
    h.mnLink.dropOut = null;
    await h.pingPong('after loss');
    h.close();
  });

  it('(4) dynamic IPv4 HoA: the HA assigns the lowest free pool address, the MN learns it from option 30, IPv4 data flows', async () => {
    const ha: HaConfig = { ...HA_CFG, mobileNodes: HA_CFG.mobileNodes.map((m) => (m.hoa === HOA ? { hoa: m.hoa, keys: m.keys } : m)) };
    const mn: MnConfig = { ...MN_CFG, ipv4Hoa: 'dynamic' };
    const h = harness({ ha, mn });
    // 10.1.0.0/24: .0 (network) and .255 (broadcast) and the configured .1 are reserved -> .2 is the lowest free.
    const expected = '10.1.0.2';
    h.mn.moveTo(COA6);
    h.mn.start();
    await h.registered(COA6);
    expect(h.ha.pool?.addressOf(HOA)).toBe(expected);
    expect(h.ha.binding(HOA)?.ipv4Hoa).toBe(expected);
    expect(h.mn.ipv4Hoa).toBe(expected);
    expect(h.mn.registration.bul.ipv4Hoa).toMatchObject({ assigned: expected, lastStatus: 0 });
    await h.pingPong('dyn v4', CN4, expected);
    await h.pingPong('dyn v6');
    // The statically configured address of the example config is not this MN's now.
    const nb = h.ha.counters.drops['no-binding'] ?? 0;
    h.cn.write([encodeUdp4Packet({ src: CN4, dst: HOA4, srcPort: 53, dstPort: 4000, payload: Buffer.from('x') })]);
    await until(() => h.ha.counters.drops['no-binding'] === nb + 1, 2000, 'no-binding for 10.1.0.10');
    // A refresh (at 0.8 of the lifetime) asks for the address it holds and keeps it.
    h.clock.advance(0.8 * 3600 * 1000);
    await until(() => h.ha.counters.buAccepted === 2 && h.mn.registeringCoa === null, 2000, 'refresh');
    expect(h.ha.pool?.addressOf(HOA)).toBe(expected);
    expect(h.mn.ipv4Hoa).toBe(expected);
    await h.pingPong('dyn v4 after refresh', CN4, expected);
    h.close();
  });

  it('(5a) an HA refusal (cache full -> 130 Insufficient resources) ends in failed(130) at the MN and a retry every 32 s', async () => {
    const h = harness({ cacheCapacity: 0 });
    h.mn.moveTo(COA6);
    h.mn.start();
    await until(() => h.mn.counters.failed[130] === 1, 2000, 'failed 130');
    expect(h.ha.counters).toMatchObject({ buReceived: 1, buAccepted: 0, buRejected: { 130: 1 }, baSent: 1 });
    expect(h.ha.binding(HOA)).toBeUndefined();
    expect(h.mn.registeredCoa).toBeNull();
    for (let i = 2; i <= 3; i++) {
      h.clock.advance(MAX_BACKOFF_MS - 1);
      expect(h.mn.counters.buSent).toBe(i - 1);
      h.clock.advance(1);
      expect(h.mn.counters.buSent).toBe(i);
      await until(() => h.mn.counters.failed[130] === i, 2000, `failed 130 #${i}`);
      // A new sequence number each time: the HA saw no replay (it counts every BU as a fresh refusal).
      expect(h.ha.counters.buRejected[130]).toBe(i);
      expect(h.ha.counters.drops).toEqual({});
    }
    h.apps.write([udp6(HOA, CN6, 'unregistered')]);
    await until(() => h.mn.counters.drops['not-registered'] === 1, 2000, 'MN holds data back');
    h.close();
  });

  it('(5b) a HoA the HA is not configured for: its BU fails the SPD check, no BA comes, the MN backs off to 32 s', async () => {
    const h = harness({ mn: { ...MN_CFG, hoa: '2001:db8:1::300', ipv4Hoa: 'none' } });
    h.mn.moveTo(COA6);
    h.mn.start();
    const sched = firstRegSchedule(8); // 0, 1.5, 4.5, 10.5, 22.5, 46.5, 78.5, 110.5 s
    for (let k = 1; k < sched.length; k++) {
      h.clock.advance(sched[k] - (h.clock.t - T0) - 1);
      expect(h.mn.counters.buSent).toBe(k);
      h.clock.advance(1);
      expect(h.mn.counters.buSent).toBe(k + 1);
    }
    await until(() => h.ha.counters.drops['ipsec-in:policy-mismatch'] === sched.length, 2000, 'all BUs refused by IPsec');
    expect(h.ha.counters).toMatchObject({ buReceived: 0, baSent: 0 });
    expect(h.mn.counters.baReceived).toBe(0);
    expect(h.ha.cache.size).toBe(0);
    h.close();
  });

  it('(6) the MN goes silent: the HA binding expires at its lifetime, then data to both HoAs is dropped as no-binding', async () => {
    const h = harness();
    h.mn.moveTo(COA6);
    h.mn.start();
    await h.registered(COA6);
    const b = h.ha.binding(HOA)!;
    // Granted min(3600 requested, 3600 max) s, counted from the BU's arrival (same clock instant as its send).
    expect(b.expiresAt).toBe(T0 + 3600 * 1000);
    h.mnLink.dropOut = () => true; // silence: nothing the MN sends reaches the HA any more
    h.clock.advance(b.expiresAt - h.clock.t - 1);
    await turns();
    // Refreshes were sent (from 0.8 of the lifetime on) but lost.
    expect(h.mn.counters.buSent).toBeGreaterThan(1);
    expect(h.ha.counters.buReceived).toBe(1);
    expect(h.ha.binding(HOA)).toBeDefined();
    const a0 = h.atApps.length;
    h.cn.write([udp6(CN6, HOA, 'just before')]);
    await until(() => h.atApps.length === a0 + 1, 2000, 'still delivered before expiry');

    h.clock.advance(1);
    expect(h.ha.binding(HOA)).toBeUndefined();
    expect(h.ha.pool?.addressOf(HOA)).toBeUndefined();
    expect(h.mn.registeredCoa).toBeNull(); // the MN's own copy of the lifetime ran out too
    const nb = h.ha.counters.drops['no-binding'] ?? 0;
    const s = h.haLink.sent.length;
    h.cn.write([udp6(CN6, HOA, 'after expiry')]);
    h.cn.write([encodeUdp4Packet({ src: CN4, dst: HOA4, srcPort: 53, dstPort: 4000, payload: Buffer.from('after expiry v4') })]);
    await until(() => h.ha.counters.drops['no-binding'] === nb + 2, 2000, 'no-binding x2');
    await turns();
    expect(h.haLink.sent.length).toBe(s);
    expect(h.atApps.length).toBe(a0 + 1);
    h.close();
  });
});
