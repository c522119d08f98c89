// The data paths of HomeAgent (ha/agent.ts) and MobileNode (mn/node.ts) hand a received batch's
// tunnelled packets to the edge in ONE send call (sendmmsg on the real raw socket), not one call per
// packet, and keep the counters exact when the edge takes only part of a batch: k of n sent counts
// k in toMobile / toHa and n-k 'edge-send' drops. The HA's receive direction likewise writes a wire
// batch's data to its Device in one call: k of n written counts k in fromMobile and n-k 'device-write'
// drops. Over the in-memory fakes of e2e-fake.test.ts.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Device } from '../tunnel/device.js';
import { until } from './support/until.js';
import { CN6, COA6, HOA, harness, udp6 } from './support/e2e-harness.js';

describe('e2e over fakes: batched sends', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('HA: a Device batch of 3 goes to the MipPacketIo in one call; a partial send counts the rest as edge-send', async () => {
    const h = harness();
    h.mn.moveTo(COA6);
    h.mn.start();
    await h.registered(COA6);
    const send = vi.spyOn(h.haLink, 'send');
    const a0 = h.atApps.length;
    const before = h.ha.counters.toMobile;
    h.cn.write([udp6(CN6, HOA, 'one'), udp6(CN6, HOA, 'two'), udp6(CN6, HOA, 'three')]);
    await until(() => h.atApps.length === a0 + 3, 2000, 'three packets at the MN');
    expect(send).toHaveBeenCalledTimes(1);
    expect(send.mock.calls[0][0]).toHaveLength(3);
    expect(h.ha.counters.toMobile).toBe(before + 3);
    expect(h.atApps.slice(a0).map((p) => Buffer.from(p).subarray(48).toString())).toEqual(['one', 'two', 'three']);

    // The edge takes the first of three.
    send.mockImplementationOnce((ps) => h.haLink.inner.send(ps.slice(0, 1)));
    h.cn.write([udp6(CN6, HOA, 'a'), udp6(CN6, HOA, 'b'), udp6(CN6, HOA, 'c')]);
    await until(() => send.mock.calls.length === 2, 2000, 'second batch sent');
    expect(send.mock.calls[1][0]).toHaveLength(3);
    expect(h.ha.counters.toMobile).toBe(before + 4);
    expect(h.ha.counters.drops).toEqual({ 'edge-send': 2 });
    h.close();
  });

  it('MN: a Device batch of 3 goes to the MipPacketIo in one call; a partial send counts the rest as edge-send', async () => {
    const h = harness();
    h.mn.moveTo(COA6);
    h.mn.start();
    await h.registered(COA6);
    const send = vi.spyOn(h.mnLink, 'send');
    const c0 = h.atCn.length;
    const before = h.mn.counters.toHa;
    const fromHa = h.ha.counters.fromMobile;
    h.apps.write([udp6(HOA, CN6, 'one'), udp6(HOA, CN6, 'two'), udp6(HOA, CN6, 'three')]);
    await until(() => h.atCn.length === c0 + 3, 2000, 'three packets at the CN');
    expect(send).toHaveBeenCalledTimes(1);
    expect(send.mock.calls[0][0]).toHaveLength(3);
    expect(h.mn.counters.toHa).toBe(before + 3);
    expect(h.ha.counters.fromMobile).toBe(fromHa + 3);

    send.mockImplementationOnce((ps) => h.mnLink.inner.send(ps.slice(0, 2)));
    h.apps.write([udp6(HOA, CN6, 'a'), udp6(HOA, CN6, 'b'), udp6(HOA, CN6, 'c')]);
    await until(() => send.mock.calls.length === 2, 2000, 'second batch sent');
    expect(h.mn.counters.toHa).toBe(before + 5);
    expect(h.mn.counters.drops).toEqual({ 'edge-send': 1 });
    h.close();
  });

  it('HA: a wire batch of 3 from the MN goes to the Device in one write; a partial write counts the rest as device-write', async () => {
    const h = harness();
    h.mn.moveTo(COA6);
    h.mn.start();
    await h.registered(COA6);
    // The HA's home-side Device is not in the harness's return: read it from the agent's options.
    const device = (h.ha as unknown as { opts: { device: Device } }).opts.device;
    const realWrite = device.write.bind(device);
    const write = vi.spyOn(device, 'write');
    const c0 = h.atCn.length;
    const fromHa = h.ha.counters.fromMobile;
    h.apps.write([udp6(HOA, CN6, 'one'), udp6(HOA, CN6, 'two'), udp6(HOA, CN6, 'three')]);
    await until(() => h.atCn.length === c0 + 3, 2000, 'three packets at the CN');
    expect(write).toHaveBeenCalledTimes(1);
    expect(write.mock.calls[0][0]).toHaveLength(3);
    expect(h.ha.counters.fromMobile).toBe(fromHa + 3);
    expect(h.atCn.slice(c0).map((p) => Buffer.from(p).subarray(48).toString())).toEqual(['one', 'two', 'three']);

    // The Device takes the first two of three.
    write.mockImplementationOnce((ps) => realWrite(ps.slice(0, 2)));
    h.apps.write([udp6(HOA, CN6, 'a'), udp6(HOA, CN6, 'b'), udp6(HOA, CN6, 'c')]);
    await until(() => write.mock.calls.length === 2, 2000, 'second batch written');
    expect(write.mock.calls[1][0]).toHaveLength(3);
    await until(() => h.atCn.length === c0 + 5, 2000, 'two more packets at the CN');
    expect(h.atCn.slice(c0 + 3).map((p) => Buffer.from(p).subarray(48).toString())).toEqual(['a', 'b']);
    expect(h.ha.counters.fromMobile).toBe(fromHa + 5);
    expect(h.ha.counters.drops).toEqual({ 'device-write': 1 });

    // A Device that throws loses the whole batch, counted, and the next batch goes through.
    write.mockImplementationOnce(() => {
      throw new Error('device gone');
    });
    h.apps.write([udp6(HOA, CN6, 'x'), udp6(HOA, CN6, 'y')]);
    await until(() => write.mock.calls.length === 3, 2000, 'third batch offered');
    expect(h.ha.counters.drops).toEqual({ 'device-write': 1, 'internal-error': 2 });
    h.apps.write([udp6(HOA, CN6, 'z')]);
    await until(() => h.atCn.length === c0 + 6, 2000, 'the next packet at the CN');
    expect(h.ha.counters.fromMobile).toBe(fromHa + 6);
    h.close();
  });
});
