// What only the fakes do: a FakeNat that maps like `masquerade fully-random` and forgets like
// `conntrack -F`, and an HA and an MN wired together in one process (wireguard-go's
// TestTwoDevicePing in spirit): MN kernel -> MN TUN -> UDP 4191 through a NAT -> HA -> HA TUN ->
// HA kernel, and back. No privileges needed.
import { describe, expect, it } from 'vitest';
import { udp6Packet } from '../bench/io-packets.js';
import { decodeIpv6 } from '../common/ipv6.js';
import type { Bind } from '../tunnel/bind.js';
import type { Device } from '../tunnel/device.js';
import { FakeUdpNetwork } from '../tunnel/fake-bind.js';
import { fakeDevicePair } from '../tunnel/fake-device.js';
import { until } from './support/until.js';

describe('FakeNat', () => {
  it('translates the source, routes the reply back, and takes a new port after flush()', async () => {
    const net = new FakeUdpNetwork();
    const nat = net.addNat({ publicAddress: '198.51.100.1', inside: ['10.0.0.2'] });
    const mn = net.bind({ address: '10.0.0.2' });
    const ha = net.bind({ address: '192.0.2.2' });
    const atHa: { srcAddr: string; srcPort: number }[] = [];
    const atMn: { text: string; srcAddr: string; srcPort: number }[] = [];
    ha.onBatch((ds) => ds.forEach((d) => atHa.push({ srcAddr: d.srcAddr, srcPort: d.srcPort })));
    mn.onBatch((ds) => ds.forEach((d) => atMn.push({ text: Buffer.from(d.data).toString(), srcAddr: d.srcAddr, srcPort: d.srcPort })));

    mn.send([{ data: Buffer.from('BU'), dstAddr: '192.0.2.2', dstPort: 4191 }]);
    mn.send([{ data: Buffer.from('BU'), dstAddr: '192.0.2.2', dstPort: 4191 }]);
    await until(() => atHa.length === 2);
    expect(atHa[0].srcAddr).toBe('198.51.100.1');
    expect(atHa[1].srcPort).toBe(atHa[0].srcPort);
    expect(nat.mappings).toBe(1);

    ha.send([{ data: Buffer.from('BA'), dstAddr: atHa[0].srcAddr, dstPort: atHa[0].srcPort }]);
    await until(() => atMn.length === 1);
    expect(atMn[0]).toEqual({ text: 'BA', srcAddr: '192.0.2.2', srcPort: 4191 });

    nat.flush();
    ha.send([{ data: Buffer.from('lost'), dstAddr: atHa[0].srcAddr, dstPort: atHa[0].srcPort }]); // no mapping any more
    mn.send([{ data: Buffer.from('BU'), dstAddr: '192.0.2.2', dstPort: 4191 }]);
    await until(() => atHa.length === 3);
    expect(atHa[2].srcPort).not.toBe(atHa[0].srcPort);
    expect(net.lost).toBe(1);
    expect(atMn).toHaveLength(1);
  });
});

/**
 * A toy tunnel endpoint: packets read from its TUN go out in UDP to the peer; datagrams from the
 * peer are written into its TUN, and the peer's address is learned from the last datagram (as the
 * HA learns the NAT's address and port). Enough to prove the fakes wire two daemons together.
 */
function toyEndpoint(tun: Device, sock: Bind, peer?: { addr: string; port: number }) {
  let to = peer;
  tun.onBatch((pkts) => {
    if (to) sock.send(pkts.map((p) => ({ data: p, dstAddr: to!.addr, dstPort: to!.port })));
  });
  sock.onBatch((ds) => {
    to = { addr: ds[ds.length - 1].srcAddr, port: ds[ds.length - 1].srcPort };
    tun.write(ds.map((d) => d.data));
  });
}

describe('an MN and an HA in one process, over fakes', () => {
  it('carries IPv6 packets both ways through the NAT', async () => {
    const [mnKernel, mnTun] = fakeDevicePair({ names: ['mn-kernel', 'mn-tun'] });
    const [haKernel, haTun] = fakeDevicePair({ names: ['ha-kernel', 'ha-tun'] });
    const net = new FakeUdpNetwork();
    net.addNat({ publicAddress: '198.51.100.1', inside: ['10.0.0.2'] });
    toyEndpoint(mnTun, net.bind({ address: '10.0.0.2' }), { addr: '192.0.2.2', port: 4191 });
    toyEndpoint(haTun, net.bind({ address: '192.0.2.2' }));

    const atHaKernel: string[] = [];
    const atMnKernel: string[] = [];
    haKernel.onBatch((pkts) => pkts.forEach((p) => atHaKernel.push(Buffer.from(decodeIpv6(p).upper.subarray(8)).toString())));
    mnKernel.onBatch((pkts) => pkts.forEach((p) => atMnKernel.push(Buffer.from(decodeIpv6(p).upper.subarray(8)).toString())));

    const HOA = 'fd00:99::1';
    const CN = 'fd00:cc::1';
    mnKernel.write(Array.from({ length: 100 }, (_, i) => udp6Packet(HOA, CN, 1000, 2000, Buffer.from(`up ${i}`))));
    await until(() => atHaKernel.length === 100);
    haKernel.write([udp6Packet(CN, HOA, 2000, 1000, Buffer.from('down'))]);
    await until(() => atMnKernel.length === 1);
    expect(atHaKernel).toEqual(Array.from({ length: 100 }, (_, i) => `up ${i}`));
    expect(atMnKernel).toEqual(['down']);
    expect(mnTun.counters.rxBatches).toBeLessThan(100); // batched all the way
  });
});
