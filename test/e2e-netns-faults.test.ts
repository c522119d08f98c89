// Faults and a flood through the real stack: `dsmip6 ha` and `dsmip6 mn` in the testbed, the MN
// behind the NAT (natnet0: UDP 4191, NAT keepalive BUs every natRefreshSeconds = 3 s of
// test/fixtures/e2e-ha.json; the NAT's UDP conntrack timeout is 5 s, testbed/nat.ts).
//  - The NAT mapping survives idle time because the keepalives (3 s) beat its timeout (5 s): the
//    binding's public port does not change over 12 s.
//  - The NAT forgets the mapping (conntrack flush, what an expiry does): the MN's next keepalive
//    makes a new one on a new public port and the HA follows within one keepalive interval.
//  - A flood from the CN's namespace (node dgram, UDP to the HA's 4191: IPv6 + ESP with random
//    SPIs, then with the MN's own BU SPI and garbage; first to a closed port as a control) while
//    the MN keeps registering: every keepalive BU is answered before the MN would retransmit, the
//    binding does not move, and the BU -> BA round trips captured on the MN's link are printed next
//    to those without a flood (twice-the-normal asserted with FLOOD_STRICT=1; the exact criterion
//    is asserted over the fakes, test/attacks-fake.test.ts). The rate achieved is measured, not
//    assumed (two shared cores).
// Every figure is printed as one JSON line for RELIABILITY.md. It must never leave a namespace.
import { readFileSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPcap } from '../common/pcap.js';
import { loadMnConfig } from '../config/load.js';
import type { HaStatus } from '../ha/status.js';
import { espSpiOf } from '../ha/ratelimit.js';
import { PROJECT } from '../testbed/index.js';
import { startDaemons, type Daemons } from './support/daemons.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const P = PROJECT;
const cfg = loadMnConfig('test/fixtures/e2e-mn.json');
const BU_SPI = cfg.keys.bu.out.spi;
const BA_SPI = cfg.keys.bu.in.spi;
const KEEPALIVE_MS = 3000;
const FLOOD_RATE = Number(process.env.FLOOD_RATE ?? 100_000);
const FLOOD_S = 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The flood generator, run in the cn namespace: `node -e FLOOD host rate seconds spi|random port`. Prints {sent, errors, seconds}. */
const FLOOD = `
const dgram = require('dgram');
const [host, rate, secs, mode, port] = process.argv.slice(1);
const s = dgram.createSocket('udp4');
let x = 0x2545f491;
const rnd = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
const pool = [];
for (let i = 0; i < 1024; i++) {
  const b = Buffer.alloc(40 + 8 + 96);
  b[0] = 0x60; b.writeUInt16BE(8 + 96, 4); b[6] = 50; b[7] = 64;
  Buffer.from('20010db8000100000000000000000100', 'hex').copy(b, 8);
  Buffer.from('20010db8000100000000000000000001', 'hex').copy(b, 24);
  b.writeUInt32BE(mode === 'random' ? rnd() : Number(mode), 40);
  b.writeUInt32BE(1000000 + (rnd() >>> 2), 44);
  for (let j = 48; j < b.length; j++) b[j] = rnd() & 255;
  pool.push(b);
}
let sent = 0, errors = 0, inflight = 0;
const t0 = process.hrtime.bigint();
const el = () => Number(process.hrtime.bigint() - t0) / 1e9;
const cb = (e) => { inflight--; if (e) errors++; };
const pump = () => {
  const t = el();
  if (t >= Number(secs)) { const wait = () => inflight > 0 ? setTimeout(wait, 5) : (console.log(JSON.stringify({ sent, errors, seconds: el() })), s.close()); return wait(); }
  let due = Math.min(2000, Math.floor(t * Number(rate)) - sent);
  while (due-- > 0 && inflight < 20000) { inflight++; s.send(pool[sent & 1023], Number(port), host, cb); sent++; }
  setImmediate(pump);
};
pump();
`;

describe.skipIf(!isRoot)('faults and a flood through the real stack, the MN behind the NAT (root)', () => {
  let d: Daemons | undefined;
  const figures: Record<string, unknown> = {};

  async function haStatus(): Promise<HaStatus> {
    return (await d!.status('ha')) as HaStatus;
  }
  async function natPort(): Promise<number | undefined> {
    return (await haStatus()).bindings.find((x) => x.hoa === P.mn.hoa6)?.natPort;
  }

  /** Captures the MN's natnet0 for `ms` while `during` runs; returns the keepalive BU -> BA round trips (ms). */
  async function keepaliveRtts(name: string, ms: number, during?: () => Promise<unknown>): Promise<number[]> {
    const file = `/tmp/dsmip6-faults-${process.pid}-${name}.pcap`;
    const cap = await d!.capture('mn', P.mn.ifaces.natnet, file, 'udp port 4191');
    await Promise.all([sleep(ms), during?.()]);
    await cap.stop();
    const recs = readPcap(readFileSync(cap.file));
    rmSync(cap.file, { force: true });
    const rtts: number[] = [];
    let bu: number | undefined;
    for (const r of recs) {
      const p = r.data;
      // Ethernet (veth) + IPv4 + UDP 4191 carrying IPv6 (+ HAO) + ESP.
      if (p.length < 14 + 20 + 8 + 48 || p[12] !== 0x08 || p[13] !== 0x00) continue;
      const udp = 14 + (p[14] & 0x0f) * 4;
      const spi = espSpiOf(p.subarray(udp + 8));
      if (spi === BU_SPI) bu = r.time;
      else if (spi === BA_SPI && bu !== undefined) {
        rtts.push((r.time - bu) * 1000);
        bu = undefined;
      }
    }
    return rtts;
  }

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

  beforeAll(async () => {
    d = await startDaemons({ mnStartIface: P.mn.ifaces.natnet, prefix: 'rfault' }); // its own namespaces: other e2e runs may be up
    await d.waitForLog('ha', `binding created: ${P.mn.hoa6} -> ${P.mn.natPrivate4}`, { timeoutMs: 20_000 });
  });

  afterAll(async () => {
    console.log(`e2e-netns-faults figures: ${JSON.stringify(figures)}`);
    await d?.destroy();
  });

  it('idle past the NAT timeout (5 s): the 3-s keepalives keep the mapping, the public port does not change over 12 s', async () => {
    const p0 = await natPort();
    expect(p0).toBeDefined();
    await sleep(12_000);
    expect(await natPort()).toBe(p0);
  }, 30_000);

  it('the NAT forgets the mapping (conntrack flush): the HA has the new public port within one keepalive interval', async () => {
    const p0 = await natPort();
    const t0 = Date.now();
    await d!.tb.flushConntrack('nat');
    let p1 = p0;
    while (p1 === p0 && Date.now() - t0 < 3 * KEEPALIVE_MS) {
      await sleep(20);
      p1 = await natPort();
    }
    const recovered = Date.now() - t0;
    figures.natFlushRecoveredMs = recovered;
    expect(p1, 'a new public port').not.toBe(p0);
    // One interval: the MN arms the next keepalive 3 s after the previous BA came back, so at worst
    // the flush falls just after a BA and recovery takes 3 s + the BU's trip to the HA + our 20-ms
    // status poll (about 50 ms measured; 250 ms allowed for a loaded machine).
    expect(recovered).toBeLessThanOrEqual(KEEPALIVE_MS + 250);
  }, 30_000);

  it(`a flood of UDP 4191 from the CN (${FLOOD_RATE}/s asked; a closed port, random SPIs, the MN's BU SPI): every keepalive answered at once, round trips measured`, async () => {
    const base = await keepaliveRtts('base', 10_000);
    expect(base.length).toBeGreaterThanOrEqual(2);
    const normal = median(base);
    const before = await haStatus();
    const p0 = await natPort();
    const results: Record<string, unknown> = { normalRttMs: base.map((x) => +x.toFixed(3)) };
    // 'control': the same random-SPI flood to UDP 4192, where nothing listens: the testbed's own load
    // (the generator, the kernel forwarding it through inet) without the HA having to read it.
    for (const mode of ['control', 'random', String(BU_SPI)]) {
      let out = '';
      const flood = async () => {
        const c = d!.tb.spawn('cn', [process.execPath, '-e', FLOOD, P.ha.public4, String(FLOOD_RATE), String(FLOOD_S), mode === 'control' ? 'random' : mode, mode === 'control' ? '4192' : '4191']);
        c.stdout?.on('data', (b: Buffer) => (out += b.toString()));
        await new Promise((r) => c.once('exit', r));
      };
      const rtts = await keepaliveRtts(mode, FLOOD_S * 1000, flood);
      const gen = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as { sent?: number; errors?: number; seconds?: number };
      const achieved = gen.sent !== undefined && gen.seconds ? Math.round((gen.sent - (gen.errors ?? 0)) / gen.seconds) : 0;
      results[mode === 'random' ? 'randomSpi' : mode === 'control' ? 'controlPort4192' : 'mnSpi'] = { achievedPerS: achieved, generator: gen, rttMs: rtts.map((x) => +x.toFixed(3)) };
      console.log(`e2e-netns-faults flood ${mode}: ${JSON.stringify(results)}`);
      // Every keepalive answered within the MN's 1-s retransmission timer: the flood cost no BU.
      expect(rtts.length, `${mode}: keepalives answered during the flood`).toBeGreaterThanOrEqual(Math.floor(FLOOD_S * 1000 / KEEPALIVE_MS) - 1);
      expect(Math.max(...rtts), `${mode}: every keepalive answered before the MN would retransmit`).toBeLessThan(1000);
      // The criterion, twice the idle round trip: on two shared cores the generator and the
      // kernel's forwarding of 100k packets/s slow every process, the HA's or not (see 'control'),
      // so it is asserted only on request (FLOOD_STRICT=1); RELIABILITY.md gives the figures.
      if (process.env.FLOOD_STRICT === '1') expect(median(rtts), `${mode}: median keepalive round trip ${median(rtts)} ms vs ${normal} ms without a flood`).toBeLessThanOrEqual(2 * normal);
    }
    const after = await haStatus();
    const delta = (k: string) => (after.counters.drops[k] ?? 0) - (before.counters.drops[k] ?? 0);
    results.haDrops = Object.fromEntries(Object.keys(after.counters.drops).map((k) => [k, delta(k)]).filter(([, v]) => (v as number) > 0));
    figures.flood = results;
    expect(delta('ipsec-in:unknown-spi')).toBeGreaterThan(0);
    expect(delta('rate-limited:source')).toBeGreaterThan(0);
    // Nothing the flood sent changed the binding: same CoA, same NAT mapping, no BU refused.
    expect(await natPort()).toBe(p0);
    expect(after.bindings.map((b) => [b.hoa, b.coa])).toEqual(before.bindings.map((b) => [b.hoa, b.coa]));
  }, 120_000);
});
