// UDP over IPv4 (port 4191) batches through a real NAT: an MN namespace behind a NAT namespace
// (nftables masquerade with fully-random ports) and an HA namespace. The HA must see each
// datagram's source as the NAT made it, a reply must find its way back, and `conntrack -F` in the
// NAT must make the next datagram arrive from a new port (what NAT keepalives exist for).
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Testbed } from '../testbed/index.js';
import type { ReceivedDatagram } from '../tunnel/bind.js';
import { openUdp4Bind, type Udp4Bind } from '../tunnel/udp4.js';
import { until } from './support/until.js';

// Root with namespaces: the native tests run, and a missing addon fails them loudly (never a silent skip).
const NATIVE = process.getuid?.() === 0 && spawnSync('ip', ['netns', 'list'], { stdio: 'ignore' }).status === 0;
/** No router solicitations, no router advertisements taken: on every interface now and to come. */
const quiet = (...ifnames: string[]) =>
  Object.fromEntries(['all', 'default', ...ifnames].flatMap((k) => [[`net.ipv6.conf.${k}.router_solicitations`, 0], [`net.ipv6.conf.${k}.accept_ra`, 0]]));

interface Seen {
  text: string;
  srcAddr: string;
  srcPort: number;
}
function recorder(b: Udp4Bind): Seen[] {
  const seen: Seen[] = [];
  b.onBatch((ds: readonly ReceivedDatagram[]) => {
    for (const d of ds) seen.push({ text: Buffer.from(d.data).toString(), srcAddr: d.srcAddr, srcPort: d.srcPort });
  });
  return seen;
}

describe.skipIf(!NATIVE)('UDP 4191 through a NAT (native)', () => {
  let tb: Testbed;
  /** The namespaces' paths, for the addon's `netns` option. */
  const mn = { path: '' };
  const ha = { path: '' };
  let mnSock: Udp4Bind;
  let haSock: Udp4Bind;
  let atHa: Seen[];
  let atMn: Seen[];

  beforeAll(async () => {
    tb = await Testbed.create(
      {
        hosts: [
          { name: 'udp-mn', routes: [{ to: 'default', via: '10.1.0.1' }], sysctls: quiet('d6mn0') },
          // Masquerade with fully-random ports out of d6natout; the kernel's own UDP conntrack timeouts.
          { name: 'udp-nat', forwarding: { ipv4: true }, nat: { outside: 'd6natout', udpTimeoutS: 30, udpStreamTimeoutS: 120 }, sysctls: quiet('d6natin', 'd6natout') },
          { name: 'udp-ha', sysctls: quiet('d6ha0') },
        ],
        links: [
          {
            a: { host: 'udp-mn', ifname: 'd6mn0', mac: '02:00:00:00:02:01', addresses: ['10.1.0.2/24'] },
            b: { host: 'udp-nat', ifname: 'd6natin', mac: '02:00:00:00:02:02', addresses: ['10.1.0.1/24'] },
          },
          {
            a: { host: 'udp-nat', ifname: 'd6natout', mac: '02:00:00:00:02:03', addresses: ['192.0.2.1/24'] },
            b: { host: 'udp-ha', ifname: 'd6ha0', mac: '02:00:00:00:02:04', addresses: ['192.0.2.2/24'] },
          },
        ],
      },
      { prefix: 'd6tu' },
    );
    mn.path = `/run/netns/${tb.nsName('udp-mn')}`;
    ha.path = `/run/netns/${tb.nsName('udp-ha')}`;
    mnSock = openUdp4Bind({ address: '10.1.0.2', port: 4191, netns: mn.path });
    haSock = openUdp4Bind({ address: '192.0.2.2', port: 4191, netns: ha.path });
    atHa = recorder(haSock);
    atMn = recorder(mnSock);
  });
  afterAll(async () => {
    mnSock?.close();
    haSock?.close();
    await tb?.destroy();
  });

  it('the HA sees the NAT’s address and port; its reply reaches the MN from 192.0.2.2:4191', async () => {
    mnSock.send([{ data: Buffer.from('BU 1'), dstAddr: '192.0.2.2', dstPort: 4191 }]);
    await until(() => atHa.length === 1);
    const first = atHa[0];
    expect(first.text).toBe('BU 1');
    expect(first.srcAddr).toBe('192.0.2.1'); // translated: not 10.1.0.2
    expect(first.srcPort).toBeGreaterThan(0);
    haSock.send([{ data: Buffer.from('BA 1'), dstAddr: first.srcAddr, dstPort: first.srcPort }]);
    await until(() => atMn.length === 1);
    expect(atMn[0]).toEqual({ text: 'BA 1', srcAddr: '192.0.2.2', srcPort: 4191 });
  });

  it('after conntrack -F in the NAT the next datagram arrives from a new port', async () => {
    atHa.length = 0;
    mnSock.send([{ data: Buffer.from('keepalive a'), dstAddr: '192.0.2.2', dstPort: 4191 }]);
    await until(() => atHa.length === 1);
    mnSock.send([{ data: Buffer.from('keepalive b'), dstAddr: '192.0.2.2', dstPort: 4191 }]);
    await until(() => atHa.length === 2);
    expect(atHa[1].srcPort).toBe(atHa[0].srcPort); // same conntrack entry, same port
    await tb.flushConntrack('udp-nat');
    mnSock.send([{ data: Buffer.from('after flush'), dstAddr: '192.0.2.2', dstPort: 4191 }]);
    await until(() => atHa.length === 3);
    expect(atHa[2].srcAddr).toBe('192.0.2.1');
    // fully-random: a fresh mapping; the same port again has odds of about 1 in 64 000.
    expect(atHa[2].srcPort).not.toBe(atHa[0].srcPort);
  });

  it('a batch from two MN sockets is told apart by the NAT port of each datagram', async () => {
    atHa.length = 0;
    const second = openUdp4Bind({ address: '10.1.0.2', port: 4192, netns: mn.path });
    try {
      const n = 200;
      for (let i = 0; i < n; i += 20) {
        const batch = (from: string) => Array.from({ length: 10 }, (_, j) => ({ data: Buffer.from(`${from} ${i + j}`), dstAddr: '192.0.2.2', dstPort: 4191 }));
        expect(mnSock.send(batch('one'))).toBe(10);
        expect(second.send(batch('two'))).toBe(10);
      }
      await until(() => atHa.length === n, 5000, `${n} datagrams`);
      const portOf = (who: string) => new Set(atHa.filter((s) => s.text.startsWith(who)).map((s) => s.srcPort));
      const p1 = portOf('one');
      const p2 = portOf('two');
      expect(p1.size).toBe(1);
      expect(p2.size).toBe(1);
      expect([...p1][0]).not.toBe([...p2][0]);
      expect(haSock.counters.rxBatches).toBeLessThan(haSock.counters.rxPackets); // batched
    } finally {
      second.close();
    }
  });

  it('drops and counts a datagram larger than maxDatagram, delivers the next', async () => {
    const small = openUdp4Bind({ address: '192.0.2.2', port: 0, netns: ha.path, maxDatagram: 100 });
    const seen = recorder(small);
    try {
      mnSock.send([
        { data: Buffer.alloc(500, 0x61), dstAddr: '192.0.2.2', dstPort: small.localPort },
        { data: Buffer.from('fits'), dstAddr: '192.0.2.2', dstPort: small.localPort },
      ]);
      await until(() => seen.length === 1);
      expect(seen[0].text).toBe('fits');
      expect(small.counters.rxTruncated).toBe(1);
    } finally {
      small.close();
    }
  });

  it('1000 datagrams in one send() arrive whole (recvmmsg batches of at most 64)', async () => {
    atMn.length = 0;
    const probe = atHa.length;
    mnSock.send([{ data: Buffer.from('hole punch'), dstAddr: '192.0.2.2', dstPort: 4191 }]);
    await until(() => atHa.length > probe);
    const back = atHa[atHa.length - 1];
    const msgs = Array.from({ length: 1000 }, (_, i) => ({ data: Buffer.from(`d${i}`), dstAddr: back.srcAddr, dstPort: back.srcPort }));
    expect(haSock.send(msgs)).toBe(1000);
    await until(() => atMn.length === 1000, 5000, '1000 datagrams');
    expect(atMn.map((s) => s.text)).toEqual(msgs.map((m) => m.data.toString()));
  });

  for (const coalesce of [true, false]) {
    it(`${coalesce ? 'coalesces runs out (GSO) and splits coalesced reads in (GRO)' : 'with GSO and GRO off'}: the same datagrams, in order, in batches of at most batchSize`, async () => {
      const rx = openUdp4Bind({ address: '127.0.0.1', port: 0, netns: ha.path, batchSize: 16, gro: coalesce });
      const tx = openUdp4Bind({ address: '127.0.0.1', port: 0, netns: ha.path, gso: coalesce });
      try {
        expect(rx.gro).toBe(coalesce);
        // Runs of equal sizes (one shorter datagram ends a run), two sizes, and a lone one.
        const sizes = [...Array<number>(40).fill(100), 37, ...Array<number>(30).fill(1200), 5];
        const sent = sizes.map((n, i) => Buffer.concat([Buffer.from(`#${i};`), Buffer.alloc(n, 0x61)]).subarray(0, Math.max(n, 5)));
        const got: Buffer[] = [];
        const batches: number[] = [];
        rx.onBatch((ds) => {
          batches.push(ds.length);
          for (const d of ds) {
            expect(d).toMatchObject({ srcAddr: '127.0.0.1', srcPort: tx.localPort });
            got.push(Buffer.from(d.data));
          }
        });
        expect(tx.send(sent.map((data) => ({ data, dstAddr: '127.0.0.1', dstPort: rx.localPort })))).toBe(sent.length);
        await until(() => got.length === sent.length);
        expect(got.map((b) => b.toString('hex'))).toEqual(sent.map((b) => b.toString('hex')));
        expect(Math.max(...batches)).toBeLessThanOrEqual(16);
        if (coalesce) {
          expect(tx.counters.txCoalesced).toBeGreaterThan(60);
          expect(rx.counters.rxCoalesced).toBeGreaterThan(60);
        } else {
          expect(tx.counters.txCoalesced).toBe(0);
          expect(rx.counters.rxCoalesced).toBe(0);
        }
      } finally {
        rx.close();
        tx.close();
      }
    });
  }
});
