// A home agent restart in one process, over the in-memory fakes (test/support/e2e-harness.ts): the
// first HomeAgent keeps its bindings and sequence high marks in a state file (ha/store.ts), is
// dropped, and a second one on the same edges, restored from the file, forwards both ways for the
// MN at once, with no new BU, and its ESP sequence numbers pass the MN's replay window (a restart
// from 1 would be dropped there as replays). Expired bindings are left out; the expiry timer,
// the IPv4 pool and the per-IPv4-HoA SPD entries come back with the binding.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { haKeying } from '../config/keying.js';
import { HomeAgent } from '../ha/agent.js';
import { HaStore } from '../ha/store.js';
import { CN4, COA4, HA_CFG, harness, HOA, NAT4, OTHER_HOA, T0 } from './support/e2e-harness.js';
import { until } from './support/until.js';

const dir = mkdtempSync(join(tmpdir(), 'dsmip6-ha-restore-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('HomeAgent.restore with HaStore', () => {
  test('a restarted HA forwards for a NATed MN at once, with no new BU, past the MN\'s replay window', async () => {
    const file = join(dir, 'ha.db');
    const h = harness();
    let store = new HaStore(file);
    store.continueOutboundSequences(h.ha.engine, haKeying(HA_CFG).sas, 16);
    h.mn.moveTo(COA4);
    h.mn.start();
    await h.registered(COA4);
    await until(() => h.mn.ipv4Hoa !== undefined, 2000, 'IPv4 HoA granted');
    const hoa4 = h.mn.ipv4Hoa!;
    for (let i = 0; i < 20; i++) await h.pingPong(`before ${i}`);
    await h.pingPong('before v4', CN4, hoa4);
    // What ha/daemon.ts does on each binding change.
    const saved = h.ha.binding(HOA)!;
    expect(saved).toMatchObject({ coa: COA4, natAddress: NAT4, ipv4Hoa: hoa4 });
    store.saveBinding(saved, h.ha.udpEndpoint(HOA));
    store.close();

    // "kill -9": the first agent is gone (no clean anything), a second one takes the same edges.
    h.ha.close();
    const buSent = h.mn.counters.buSent;
    store = new HaStore(file);
    const edges = (h.ha as unknown as { opts: ConstructorParameters<typeof HomeAgent>[0] }).opts;
    const ha2 = new HomeAgent({ ...edges });
    const seqs = store.continueOutboundSequences(ha2.engine, haKeying(HA_CFG).sas, 16);
    const { restored, expired } = ha2.restore(store.loadBindings());
    expect(expired).toEqual([]);
    expect(restored).toEqual([saved]);
    expect(ha2.binding(HOA)).toEqual(saved);
    expect(ha2.udpEndpoint(HOA)).toEqual(h.ha.udpEndpoint(HOA));
    expect(ha2.pool?.addressOf(HOA)).toBe(hoa4);
    expect(ha2.engine.listPolicies().map((p) => p.id)).toEqual(expect.arrayContaining([`ha:${HOA}:payload:${hoa4}:out`, `ha:${HOA}:payload:${hoa4}:in`]));
    for (const n of seqs.values()) expect(n % 16n).toBe(0n);

    for (let i = 0; i < 20; i++) await h.pingPong(`after ${i}`);
    await h.pingPong('after v4', CN4, hoa4);
    expect(h.mn.counters.buSent).toBe(buSent);
    expect(ha2.counters.buReceived).toBe(0);
    expect(h.mn.counters.drops).toEqual({});

    // The restored binding still expires on time (the expiry timer was armed by restore()).
    h.clock.advance(saved.expiresAt - h.clock.t);
    expect(ha2.binding(HOA)).toBeUndefined();
    expect(ha2.pool?.addressOf(HOA)).toBeUndefined();
    ha2.close();
    h.mn.close();
    store.close();
  });

  test('expired bindings, HoAs the config no longer serves and IPv4 HoA clashes are left out and reported', () => {
    const h = harness();
    const e = { hoa: HOA, coa: '2001:db8:6::100', udp: false, sequence: 7, lifetimeSeconds: 40, expiresAt: T0 - 1, flags: { H: true, L: false, K: false, F: false, R: false }, createdAt: T0 - 40_001, updatedAt: T0 - 40_001 };
    const other = { ...e, hoa: OTHER_HOA, expiresAt: T0 + 5000, ipv4Hoa: '10.1.0.20', ipv4PrefixLength: 32 };
    const stranger = { ...e, hoa: '2001:db8:1::999', expiresAt: T0 + 5000 };
    const clash = { ...e, hoa: HOA, expiresAt: T0 + 5000, ipv4Hoa: '10.1.0.20', ipv4PrefixLength: 32 };
    const { restored, expired, refused } = h.ha.restore([{ entry: e }, { entry: other }, { entry: stranger }, { entry: clash }]);
    expect(expired).toEqual([e]);
    expect(restored).toEqual([other]);
    expect(refused.map((r) => [r.entry.hoa, r.reason])).toEqual([
      ['2001:db8:1::999', 'no mobile node with this home address in the configuration'],
      [HOA, expect.stringMatching(/10\.1\.0\.20/)],
    ]);
    expect(h.ha.cache.size).toBe(1);
    expect(h.ha.pool?.addressOf(HOA)).toBeUndefined();
    h.close();
  });
});
