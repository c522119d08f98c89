// haStatus / mnStatus (ha/status.ts, mn/status.ts) on a registered HA+MN pair over the in-memory
// fakes (test/support/e2e-harness.ts): every field checked against what this test set up (HoA, CoA,
// the sequence number it seeded, the NAT port it pinned, the lifetime it let pass), the control
// handlers served over a real ControlServer, and no byte of any configured key in the JSON.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { ControlServer, controlRequest } from '../common/control.js';
import { haControlHandler, haStatus } from '../ha/status.js';
import { mnControlHandler, mnStatus } from '../mn/status.js';
import { COA4, COA6, HA6, HA_CFG, HOA, HOA4, MN_CFG, NAT4, harness } from './support/e2e-harness.js';
import { tempDir } from './support/tools.js';

const tmp = tempDir('dsmip6-status-');
afterAll(() => tmp.cleanup());
afterEach(() => vi.restoreAllMocks());

/** Every encKey / authKey string of the two example configurations (what the daemons were keyed with). */
function configuredKeys(): string[] {
  const keys: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if ((k === 'encKey' || k === 'authKey') && typeof x === 'string') keys.push(x);
        else walk(x);
      }
    }
  };
  walk(JSON.parse(readFileSync('config/ha.example.json', 'utf8')));
  walk(JSON.parse(readFileSync('config/mn.example.json', 'utf8')));
  return [...new Set(keys)];
}

/** Fails if any key shows up in `json` as hex (either case), base64, or a list of its octet values. */
function expectNoKeys(json: string): void {
  const keys = configuredKeys();
  expect(keys.length).toBeGreaterThanOrEqual(4);
  expect(json).not.toMatch(/encKey|authKey|ivMask/i);
  for (const hex of keys) {
    const bytes = Buffer.from(hex.replace(/^0x/, ''), 'hex');
    // A distinctive slice is enough: 8 octets of key never occur by chance in a status object.
    const head = bytes.subarray(0, 8);
    expect(json.toLowerCase()).not.toContain(head.toString('hex'));
    expect(json).not.toContain(bytes.toString('base64').slice(0, 10));
    expect(json).not.toContain([...head].join(','));
  }
}

describe('haStatus / mnStatus', () => {
  it('IPv6 CoA: the binding, the MN registration, counters and SAs match what the test set up; no key material', async () => {
    const h = harness(); // the MN's random initial sequence number is pinned to 1000
    h.mn.moveTo(COA6);
    h.mn.start();
    await h.registered(COA6);
    await h.pingPong('status');
    h.clock.advance(10_000); // 10 s of the 3600 s lifetime pass

    const ha = haStatus(h.ha, h.clock.now());
    expect(ha.role).toBe('ha');
    expect(ha.bindings).toEqual([
      {
        hoa: HOA,
        coa: COA6,
        coaFamily: 6,
        transport: 'ipv6',
        natDetected: false,
        ipv4Hoa: HOA4,
        sequence: 1000,
        lifetimeSeconds: MN_CFG.lifetimeSeconds,
        lifetimeRemainingS: MN_CFG.lifetimeSeconds - 10,
        flags: 'H',
      },
    ]);
    expect(ha.counters).toMatchObject({ buReceived: 1, buAccepted: 1, baSent: 1, toMobile: 1, fromMobile: 1, drops: {} });
    // The HA's SAs are the two MNs' four SAs each, by SPI, with the traffic the ping moved.
    const haSpis = HA_CFG.mobileNodes.flatMap((m) => [m.keys.bu.out.spi, m.keys.bu.in.spi, m.keys.payload.out.spi, m.keys.payload.in.spi]);
    expect(ha.ipsec.sas.map((s) => s.spi)).toEqual([...haSpis].sort((a, b) => a - b));
    const haPayloadOut = ha.ipsec.sas.find((s) => s.spi === HA_CFG.mobileNodes[0].keys.payload.out.spi)!;
    expect(haPayloadOut).toMatchObject({ direction: 'outbound', mode: 'tunnel', algorithm: 'aes-gcm-16', packets: 1, seq: '1' });
    expect(ha.ipsec.sas.find((s) => s.spi === HA_CFG.mobileNodes[0].keys.bu.in.spi)).toMatchObject({ direction: 'inbound', mode: 'transport', packets: 1 });
    expect(ha.ipsec.counters.inProtected).toBeGreaterThanOrEqual(2);
    // Only the named fields: nothing else of SaInfo (keys or otherwise) comes through.
    for (const s of ha.ipsec.sas) expect(Object.keys(s).sort()).toEqual(['algorithm', 'bytes', 'direction', 'mode', 'packets', 'seq', 'spi', 'state']);

    const mn = mnStatus(h.mn, h.clock.now());
    expect(mn).toMatchObject({
      role: 'mn',
      hoa: HOA,
      ha: HA6,
      ipv4Hoa: HOA4,
      state: 'registered',
      atHome: false,
      coa: COA6,
      registeredCoa: COA6,
      transport: 'ipv6',
      nat: { detected: false, forceUdp: false },
      sequence: 1000,
      outstandingSequence: null,
      lifetimeGrantedS: MN_CFG.lifetimeSeconds,
      lifetimeRemainingS: MN_CFG.lifetimeSeconds - 10,
      counters: { buSent: 1, baReceived: 1, toHa: 1, fromHa: 1, drops: {} },
    });
    expect(mn.nat.refreshS).toBeUndefined();
    // Refresh at 80 % of the lifetime, counted from when the BU left (10 s ago).
    expect(mn.refreshInS).toBe(Math.floor(MN_CFG.lifetimeSeconds * 0.8) - 10);
    const k = MN_CFG.keys;
    expect(mn.ipsec.sas.map((s) => [s.spi, s.direction])).toEqual(
      [
        [k.bu.out.spi, 'outbound'],
        [k.bu.in.spi, 'inbound'],
        [k.payload.out.spi, 'outbound'],
        [k.payload.in.spi, 'inbound'],
      ].sort((a, b) => (a[0] as number) - (b[0] as number)),
    );
    expect(mn.ipsec.sas.find((s) => s.spi === k.bu.out.spi)).toMatchObject({ packets: 1, seq: '1', algorithm: 'aes-cbc-hmac-sha256-128' });

    const json = JSON.stringify([ha, mn]);
    expectNoKeys(json);
    // The status is a copy: changing it changes nothing in the agent.
    ha.counters.buAccepted = 99;
    expect(h.ha.counters.buAccepted).toBe(1);
    h.close();
  });

  it('IPv4 CoA behind the NAT: UDP transport, the NAT address and the port the test pinned, the IPv4 HoA', async () => {
    // The fake NAT picks its port from Math.random: pin it so the test knows the mapping.
    vi.spyOn(Math, 'random').mockReturnValue(0.25);
    const natPort = 1024 + Math.floor(0.25 * (65536 - 1024));
    const h = harness();
    h.mn.moveTo(COA4);
    h.mn.start();
    await h.registered(COA4);

    const ha = haStatus(h.ha, h.clock.now());
    expect(ha.bindings).toHaveLength(1);
    expect(ha.bindings[0]).toEqual({
      hoa: HOA,
      coa: COA4,
      coaFamily: 4,
      transport: 'udp',
      natDetected: true,
      natAddress: NAT4,
      natPort,
      ipv4Hoa: HOA4,
      sequence: 1000,
      lifetimeSeconds: MN_CFG.lifetimeSeconds,
      lifetimeRemainingS: MN_CFG.lifetimeSeconds,
      flags: 'H',
    });
    const mn = mnStatus(h.mn, h.clock.now());
    expect(mn).toMatchObject({ coa: COA4, registeredCoa: COA4, transport: 'udp', ipv4Hoa: HOA4, nat: { detected: true, forceUdp: false, refreshS: HA_CFG.natRefreshSeconds } });
    // The NAT keepalive comes before the lifetime refresh.
    expect(mn.refreshInS).toBe(HA_CFG.natRefreshSeconds);
    expectNoKeys(JSON.stringify([ha, mn]));
    h.close();
  });

  it('before registration and after expiry: no bindings at the HA, MN idle with no lifetime left', async () => {
    const h = harness();
    expect(haStatus(h.ha, h.clock.now()).bindings).toEqual([]);
    expect(mnStatus(h.mn, h.clock.now())).toMatchObject({ state: 'idle', coa: null, registeredCoa: null, transport: null, sequence: null, lifetimeRemainingS: 0 });
    h.mn.moveTo(COA6);
    h.mn.start();
    await h.registered(COA6);
    h.mn.close(); // silent from here on
    h.clock.advance(MN_CFG.lifetimeSeconds * 1000);
    expect(haStatus(h.ha, h.clock.now()).bindings).toEqual([]);
    expect(mnStatus(h.mn, h.clock.now()).lifetimeRemainingS).toBe(0);
    h.close();
  });

  it('the daemons\' control handlers serve the same status over a ControlServer, and refuse unknown commands', async () => {
    const h = harness();
    h.mn.moveTo(COA6);
    h.mn.start();
    await h.registered(COA6);
    const haSock = join(tmp.dir, 'ha.sock');
    const mnSock = join(tmp.dir, 'mn.sock');
    const haSrv = await ControlServer.listen(haSock, haControlHandler(h.ha, h.clock.now), { name: 'ha' });
    const mnSrv = await ControlServer.listen(mnSock, mnControlHandler(h.mn, h.clock.now), { name: 'mn' });
    try {
      const viaHa = await controlRequest(haSock, { cmd: 'status' });
      expect(viaHa).toEqual(JSON.parse(JSON.stringify(haStatus(h.ha, h.clock.now()))));
      const viaMn = await controlRequest(mnSock, { cmd: 'status' });
      expect(viaMn).toEqual(JSON.parse(JSON.stringify(mnStatus(h.mn, h.clock.now()))));
      expectNoKeys(JSON.stringify([viaHa, viaMn]));
      await expect(controlRequest(haSock, { cmd: 'flush' })).rejects.toMatchObject({ code: 'remote', message: expect.stringContaining("unknown command 'flush'") });
    } finally {
      await haSrv.close();
      await mnSrv.close();
      h.close();
    }
  });
});
