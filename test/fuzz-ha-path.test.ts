// Fuzzing of the HA's whole receive path (ha/agent.ts and everything under it: ha/ratelimit.ts,
// tunnel/ fromCareOf, ipsec/ inbound, the MH decoder, registration), fed through its four edges —
// UDP 4191 (Bind), IPv6 with HAO/RH2 (MipPacketIo), plain ESP over IPv6, and the home-side Device —
// with random bytes and mutations of real packets: what a MobileNode really sent while it registered
// from an IPv6 CoA and then from behind a NAT (so the HA's keys open them), and the packets of the
// sample capture test/fixtures/dsmip6-sample.pcap (other keys). The HA under test has already
// received every genuine packet once, so each mutation is either a replay or fails the ICV: none is
// authenticated, so none may change anything.
// Properties, per input: no exception escapes, the call returns (a hang fails the test's timeout),
// the binding cache and IPv4 pool are unchanged, and the counters account for the packet exactly
// once — as a drop for the wire edges, as a drop or a packet tunnelled to the MN for the Device.
// Runs: FUZZ_RUNS per property (default 20 000 in CI; `npm run fuzz` sets 1 000 000), seeded with
// FUZZ_SEED (default fixed, so CI is reproducible; FUZZ_SEED=random for a fresh one).
// It must never assert on how a packet is dropped (reasons may be renamed), only that it is.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { HomeAgent } from '../ha/agent.js';
import { BuRateLimiter } from '../ha/ratelimit.js';
import { readPcap } from '../common/pcap.js';
import type { Bind, DatagramBatchHandler, OutgoingDatagram, ReceivedDatagram } from '../tunnel/bind.js';
import type { Device, PacketBatchHandler } from '../tunnel/device.js';
import type { MipPacketIo } from '../tunnel/mipio.js';
import { countersOf, newStats } from '../tunnel/counters.js';
import { CN4, CN6, COA4, COA6, HA4, HA_CFG, HOA, HOA4, ManualClock, harness, udp6 } from './support/e2e-harness.js';
import { encodeUdp4Packet } from '../common/udp.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 20_000);
const SEED = process.env.FUZZ_SEED === 'random' ? undefined : Number(process.env.FUZZ_SEED ?? 0x6a5eed);

/** Edges that hand packets to the HA synchronously (the fakes of tunnel/ deliver on later turns). */
class Direct {
  handler: ((ps: Uint8Array[]) => void) | null = null;
  udp: DatagramBatchHandler | null = null;
  sent = 0;
  readonly counters = countersOf(newStats());
  readonly batchSize = 64;
  device(): Device {
    return { name: 'fz', mtu: 1500, batchSize: 64, counters: this.counters, onBatch: (h: PacketBatchHandler | null) => void (this.handler = h as never), write: (ps) => ((this.sent += ps.length), ps.length), close: () => {} };
  }
  mip(): MipPacketIo {
    return { ifname: 'fz', batchSize: 64, counters: this.counters, onBatch: (h: PacketBatchHandler | null) => void (this.handler = h as never), send: (ps) => ((this.sent += ps.length), ps.length), close: () => {} };
  }
  bind(): Bind {
    return {
      localAddress: HA4,
      localPort: 4191,
      batchSize: 64,
      counters: this.counters,
      onBatch: (h) => void (this.udp = h),
      send: (ds: readonly OutgoingDatagram[]) => ((this.sent += ds.length), ds.length),
      close: () => {},
    };
  }
}

interface Seeds {
  mip: Uint8Array[];
  udp: ReceivedDatagram[];
  device: Uint8Array[];
}

/** What a real MN sends while it registers from COA6, then from COA4 behind the NAT, with data both ways. */
async function captureSeeds(): Promise<Seeds> {
  const h = harness();
  h.mn.moveTo(COA6);
  h.mn.start();
  await h.registered(COA6);
  await h.pingPong('v6');
  h.mn.moveTo(COA4);
  await h.registered(COA4);
  await h.pingPong('v4 nat');
  await h.pingPong('v4 hoa', CN4, HOA4);
  const b = h.ha.binding(HOA)!;
  const seeds: Seeds = {
    mip: h.mnLink.sent.map((p) => Uint8Array.from(p)),
    udp: h.mnUdpLog.filter((d) => d.dstAddr === HA4).map((d) => ({ data: Uint8Array.from(d.data), srcAddr: b.natAddress!, srcPort: b.natPort! })),
    device: [udp6(CN6, HOA, 'to the MN'), encodeUdp4Packet({ src: CN4, dst: HOA4, srcPort: 53, dstPort: 4000, payload: Buffer.from('to the v4 HoA') })],
  };
  h.close();
  return seeds;
}

function sum(r: Record<string | number, number>): number {
  let s = 0;
  for (const v of Object.values(r)) s += v;
  return s;
}

describe("the HA's receive path under hostile input", async () => {
  const seeds = await captureSeeds();
  const sample = readPcap(readFileSync(new URL('./fixtures/dsmip6-sample.pcap', import.meta.url))).map((r) => Uint8Array.from(r.data));

  /** A fresh HA that has received every genuine packet once (so the binding is at COA4 via the NAT). */
  function primedHa() {
    const clock = new ManualClock();
    const [dev, mip, plain, udp] = [new Direct(), new Direct(), new Direct(), new Direct()];
    const ha = new HomeAgent({ config: HA_CFG, device: dev.device(), mipIo: mip.mip(), plainIpv6: plain.device(), bind: udp.bind(), now: clock.now, scheduler: clock });
    for (const p of seeds.mip) mip.handler!([p]);
    for (const d of seeds.udp) udp.udp!([d]);
    expect(ha.binding(HOA)?.coa, 'the replayed genuine traffic registered the MN').toBe(COA4);
    return { clock, ha, dev, mip, plain, udp };
  }

  const allSeeds = [...seeds.mip, ...seeds.udp.map((d) => d.data), ...seeds.device, ...sample];
  const mutated = fc
    .tuple(
      fc.constantFrom(...allSeeds),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
      fc.nat(),
      fc.constantFrom('edit', 'truncate', 'extend'),
    )
    .map(([seed, edits, cut, how]) => {
      let b = Uint8Array.from(seed);
      for (const [at, v] of edits) b[at % b.length] = v;
      if (how === 'truncate') b = b.subarray(0, cut % (b.length + 1));
      if (how === 'extend') b = Uint8Array.from([...b, ...edits.map(([, v]) => v)]);
      return b;
    });
  const packet = fc.oneof({ weight: 4, arbitrary: mutated }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }) });
  const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((q) => q.join('.'));
  const input = fc.record({
    edge: fc.constantFrom('mip', 'plain', 'udp', 'device'),
    bytes: packet,
    srcAddr: fc.oneof(fc.constant(seeds.udp[0].srcAddr), ipv4, fc.constantFrom('', 'not an address', '::1')),
    srcPort: fc.oneof(fc.constant(seeds.udp[0].srcPort), fc.integer({ min: -1, max: 70000 })),
  });

  function run(limits: 'default' | 'off') {
    const t = primedHa();
    if (limits === 'off') {
      const off = { perPairRate: 1e9, perPairBurst: 1e9, perSourceRate: 1e9, perSourceBurst: 1e9, perSpiRate: 1e9, perSpiBurst: 1e9 };
      Object.assign(t.ha, { limiter: new BuRateLimiter(t.clock.now, off) });
    }
    const cache = JSON.stringify(t.ha.cache.snapshot());
    const pool = JSON.stringify(t.ha.pool);
    const c = t.ha.counters;
    const fixed = () => [c.buReceived, c.buAccepted, sum(c.buRejected), c.baSent, c.fromMobile];
    const fixed0 = JSON.stringify(fixed());
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(input, ({ edge, bytes, srcAddr, srcPort }) => {
        const drops0 = sum(c.drops);
        const to0 = c.toMobile;
        if (edge === 'udp') t.udp.udp!([{ data: bytes, srcAddr, srcPort }]);
        else (edge === 'mip' ? t.mip : edge === 'plain' ? t.plain : t.dev).handler!([bytes]);
        t.clock.advance(1); // token buckets refill a little; far from any lifetime
        const dDrops = sum(c.drops) - drops0;
        const dTo = c.toMobile - to0;
        if (edge === 'device') expect(dDrops + dTo).toBe(1);
        else expect([dDrops, dTo]).toEqual([1, 0]);
        expect(JSON.stringify(fixed())).toBe(fixed0);
        expect(JSON.stringify(t.ha.cache.snapshot())).toBe(cache);
        expect(JSON.stringify(t.ha.pool)).toBe(pool);
      }),
      { numRuns: RUNS, ...(SEED !== undefined ? { seed: SEED } : {}) },
    );
    for (const [k, v] of Object.entries(c.drops)) seen.set(k, v);
    t.ha.close();
    return Object.fromEntries(seen);
  }

  it(`${RUNS} inputs with the default rate limits: no throw, no state change, every packet counted once`, () => {
    const drops = run('default');
    console.log('drops (default limits):', JSON.stringify(drops));
    expect(drops['internal-error'] ?? 0, 'no exception was swallowed either').toBe(0);
  }, 600_000);

  it(`${RUNS} inputs with the limits off (every forgery reaches ESP): the same`, () => {
    const drops = run('off');
    console.log('drops (limits off):', JSON.stringify(drops));
    expect(drops['internal-error'] ?? 0).toBe(0);
    // The mutations reach deep: past the tunnel and into ESP's replay window and ICV.
    expect(drops['ipsec-in:replay'] ?? 0).toBeGreaterThan(0);
    expect(drops['ipsec-in:icv-mismatch'] ?? 0).toBeGreaterThan(0);
  }, 600_000);
});
