// One interface suite per edge interface (Device, Bind, MipPacketIo), run against the native
// implementations (in testbed network namespaces) and against the in-memory fakes: the fakes pass
// the same interface tests as the native devices, so a test wired with fakes means the same thing.
import { execFileSync, spawnSync } from 'node:child_process';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { baWithRh2, buWithHao, udp6Packet } from '../bench/io-packets.js';
import { encodeIpv6 } from '../common/ipv6.js';
import type { Bind, ReceivedDatagram } from '../tunnel/bind.js';
import type { Device } from '../tunnel/device.js';
import { UdpBindError } from '../tunnel/errors.js';
import { fakeBindPair, FakeUdpNetwork } from '../tunnel/fake-bind.js';
import { fakeDevicePair } from '../tunnel/fake-device.js';
import { fakeMipPacketIoPair } from '../tunnel/fake-mipio.js';
import { isMipPacket } from '../tunnel/mipfilter.js';
import type { MipPacketIo } from '../tunnel/mipio.js';
import { openMipPacketIo } from '../tunnel/mipio-native.js';
import { openTun } from '../tunnel/tun.js';
import { openUdp4Bind } from '../tunnel/udp4.js';
import { Testbed } from '../testbed/index.js';
import { until as untilHolds } from './support/until.js';

// Root with namespaces: the native tests run, and a missing addon fails them loudly (never a silent skip).
const NATIVE = process.getuid?.() === 0 && spawnSync('ip', ['netns', 'list'], { stdio: 'ignore' }).status === 0;
/** No router solicitations, no router advertisements taken: on every interface now and to come. */
const quiet = (...ifnames: string[]) =>
  Object.fromEntries(['all', 'default', ...ifnames].flatMap((k) => [[`net.ipv6.conf.${k}.router_solicitations`, 0], [`net.ipv6.conf.${k}.accept_ra`, 0]]));
const WAIT_MS = 5000;

/** Resolves when `done()` holds, checking after every macrotask; rejects after `ms`. */
const until = (done: () => boolean, ms = WAIT_MS, what = 'condition') => untilHolds(done, ms, what);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Copies out of a batch (views die with the call). */
const copy = (p: Uint8Array) => Uint8Array.from(p);
/** Hop Limit zeroed: the kernel's forwarding between two TUNs decrements it, a fake does not. */
function normalized(p: Uint8Array): Uint8Array {
  const c = copy(p);
  if (c.length >= 40 && c[0] >> 4 === 6) c[7] = 0;
  return c;
}
const hex = (p: Uint8Array) => Buffer.from(p).toString('hex');

// ---- Device ----------------------------------------------------------------------------------

interface DeviceHarness {
  /** a.write(packets) is read by b, and b.write by a. */
  a: Device;
  b: Device;
  /** A packet a writes that b reads, tagged so stray kernel packets are told apart. */
  aToB(tag: number, size?: number): Uint8Array;
  bToA(tag: number): Uint8Array;
  /** Picks out tagged test packets from whatever the device delivered. */
  tagOf(p: Uint8Array): number | undefined;
  close(): void;
}

const TEST_PORT = 9999;

function taggedUdp6(src: string, dst: string, tag: number, size = 64): Buffer {
  const payload = Buffer.alloc(Math.max(8, size - 48));
  payload.writeUInt32BE(0xd5319006, 0);
  payload.writeUInt32BE(tag, 4);
  return udp6Packet(src, dst, 1000, TEST_PORT, payload);
}
function tagOfUdp6(p: Uint8Array): number | undefined {
  if (p.length < 56 || p[0] >> 4 !== 6 || p[6] !== 17) return undefined;
  const b = Buffer.from(p.buffer, p.byteOffset, p.length);
  if (b.readUInt16BE(42) !== TEST_PORT || b.readUInt32BE(48) !== 0xd5319006) return undefined;
  return b.readUInt32BE(52);
}

function deviceSuite(label: string, make: () => DeviceHarness, enabled = true) {
  describe.skipIf(!enabled)(`Device conformance: ${label}`, () => {
    let h: DeviceHarness;
    beforeEach(() => {
      h = make();
    });
    afterEach(() => h.close());

    /** Collects tagged packets b reads; records each batch's size. */
    function collect(dev: Device) {
      const got: Uint8Array[] = [];
      const batches: number[] = [];
      dev.onBatch((pkts) => {
        batches.push(pkts.length);
        for (const p of pkts) if (h.tagOf(p) !== undefined) got.push(normalized(p));
      });
      return { got, batches };
    }

    it('reports a name, an MTU and a batch size', () => {
      for (const d of [h.a, h.b]) {
        expect(d.name.length).toBeGreaterThan(0);
        expect(d.mtu).toBeGreaterThanOrEqual(1280);
        expect(d.batchSize).toBeGreaterThanOrEqual(1);
      }
    });

    it('delivers what the other end writes, in order, whole, in batches of at most batchSize', async () => {
      const { got, batches } = collect(h.b);
      const sent = Array.from({ length: 200 }, (_, i) => h.aToB(i, 60 + (i % 7) * 100));
      expect(h.a.write(sent)).toBe(200);
      await until(() => got.length >= 200, WAIT_MS, '200 packets');
      expect(got.map(hex)).toEqual(sent.map(normalized).map(hex));
      expect(Math.max(...batches)).toBeLessThanOrEqual(h.b.batchSize);
      expect(batches.length).toBeGreaterThan(1); // 200 packets do not fit one batch of 16
      expect(h.a.counters.txPackets).toBe(200);
      expect(h.b.counters.rxPackets).toBeGreaterThanOrEqual(200);
    });

    it('works in both directions at once', async () => {
      const atA = collect(h.a);
      const atB = collect(h.b);
      h.a.write([h.aToB(1), h.aToB(2)]);
      h.b.write([h.bToA(3)]);
      await until(() => atA.got.length >= 1 && atB.got.length >= 2);
      expect(atB.got.map((p) => h.tagOf(p))).toEqual([1, 2]);
      expect(atA.got.map((p) => h.tagOf(p))).toEqual([3]);
    });

    it('reuses the batch memory: a view kept past its call shows other bytes later', async () => {
      let kept: Uint8Array | undefined;
      let keptBytes = '';
      let seen = 0;
      h.b.onBatch((pkts) => {
        for (const p of pkts) {
          if (h.tagOf(p) === undefined) continue;
          seen++;
          if (!kept) {
            kept = p; // wrong on purpose: the contract says copy
            keptBytes = hex(p);
          }
        }
      });
      h.a.write([h.aToB(100)]);
      await until(() => seen >= 1);
      // A full batch of same-sized packets: every slot the first batch used is written again.
      h.a.write(Array.from({ length: h.b.batchSize }, (_, i) => h.aToB(101 + i)));
      await until(() => seen >= 1 + h.b.batchSize);
      expect(hex(kept!)).not.toBe(keptBytes);
    });

    it('write() counts what it refuses instead of throwing, and returns what it accepted', () => {
      const junk = [h.aToB(1), new Uint8Array(0), Uint8Array.from([0x00, 0x01, 0x02, 0x03]), 'nope' as unknown as Uint8Array, h.aToB(2)];
      expect(h.a.write(junk)).toBe(2);
      expect(h.a.counters.txErrors).toBe(3);
      expect(h.a.counters.txLastErrno).toBeGreaterThan(0);
      expect(h.a.write([])).toBe(0);
    });

    it('onBatch(null) stops delivery; a new handler gets what came meanwhile', async () => {
      const first: number[] = [];
      h.b.onBatch((pkts) => pkts.forEach((p) => h.tagOf(p) !== undefined && first.push(h.tagOf(p)!)));
      h.a.write([h.aToB(1)]);
      await until(() => first.length === 1);
      h.b.onBatch(null);
      h.a.write([h.aToB(2)]);
      await sleep(50);
      expect(first).toEqual([1]);
      const second: number[] = [];
      h.b.onBatch((pkts) => pkts.forEach((p) => h.tagOf(p) !== undefined && second.push(h.tagOf(p)!)));
      await until(() => second.length === 1);
      expect(second).toEqual([2]);
    });

    it('close() is idempotent; after it write() returns 0 and nothing is delivered', async () => {
      const got: number[] = [];
      h.b.onBatch((pkts) => pkts.forEach((p) => h.tagOf(p) !== undefined && got.push(h.tagOf(p)!)));
      h.a.close();
      h.a.close();
      expect(h.a.write([h.aToB(1)])).toBe(0);
      expect(h.a.counters.txErrors).toBe(1);
      await sleep(50);
      expect(got).toEqual([]);
      h.b.close();
      h.a.onBatch(() => {}); // harmless after close
    });
  });
}

deviceSuite('fakeDevicePair', () => {
  const [a, b] = fakeDevicePair({ batchSize: 16 });
  return {
    a,
    b,
    aToB: (t, s) => taggedUdp6('fd00:a::2', 'fd00:b::2', t, s),
    bToA: (t) => taggedUdp6('fd00:b::2', 'fd00:a::2', t),
    tagOf: tagOfUdp6,
    close: () => (a.close(), b.close()),
  };
});

describe.skipIf(!NATIVE)('native TUN pair', () => {
  // Two TUNs in one namespace with IPv6 forwarding: a packet written into tunA for fd00:b::/64 is
  // forwarded by the kernel out of tunB, where it is read: a.write -> b.read, like the fake pair.
  let tb: Testbed;
  /** The namespace, and an address without DAD in it, synchronously (the TUNs are not testbed links). */
  const ns = {
    path: '',
    name: '',
    addr: (ifname: string, cidr: string): void => {
      execFileSync('ip', ['-n', ns.name, 'addr', 'add', cidr, 'dev', ifname, 'nodad'], { stdio: ['ignore', 'pipe', 'pipe'] });
    },
  };
  beforeAll(async () => {
    tb = await Testbed.create({ hosts: [{ name: 'conf-tun', forwarding: { ipv6: true }, sysctls: quiet() }] }, { prefix: 'd6tc' });
    ns.name = tb.nsName('conf-tun');
    ns.path = `/run/netns/${ns.name}`;
  });
  afterAll(async () => {
    await tb?.destroy();
  });
  let n = 0;
  deviceSuite(
    'TunDevice (kernel forwarding between two TUNs)',
    () => {
      const tag = n++;
      const a = openTun({ name: `d6ca${tag}`, netns: ns.path, batchSize: 16 });
      const b = openTun({ name: `d6cb${tag}`, netns: ns.path, batchSize: 16 });
      ns.addr(a.name, `fd00:a:${tag}::1/64`);
      ns.addr(b.name, `fd00:b:${tag}::1/64`);
      return {
        a,
        b,
        aToB: (t, s) => taggedUdp6(`fd00:a:${tag}::2`, `fd00:b:${tag}::2`, t, s),
        bToA: (t) => taggedUdp6(`fd00:b:${tag}::2`, `fd00:a:${tag}::2`, t),
        tagOf: tagOfUdp6,
        close: () => (a.close(), b.close()),
      };
    },
    NATIVE,
  );
});

// ---- Bind ------------------------------------------------------------------------------------

interface BindHarness {
  a: Bind;
  b: Bind;
  /** A third endpoint, for sends to several destinations in one call. */
  c: Bind;
  /** Opens another bind on a's address and port (must fail). */
  reopenA(): Bind;
  close(): void;
}

function bindSuite(label: string, make: () => BindHarness, enabled = true) {
  describe.skipIf(!enabled)(`Bind conformance: ${label}`, () => {
    let h: BindHarness;
    beforeEach(() => {
      h = make();
    });
    afterEach(() => h.close());

    function collect(bind: Bind) {
      const got: { data: string; srcAddr: string; srcPort: number }[] = [];
      const batches: number[] = [];
      bind.onBatch((ds: readonly ReceivedDatagram[]) => {
        batches.push(ds.length);
        for (const d of ds) got.push({ data: Buffer.from(d.data).toString(), srcAddr: d.srcAddr, srcPort: d.srcPort });
      });
      return { got, batches };
    }

    it('reports its address and port (the kernel picks one for port 0)', () => {
      for (const x of [h.a, h.b, h.c]) {
        expect(x.localPort).toBeGreaterThan(0);
        expect(x.localAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      }
    });

    it("reports each datagram's source address and port, in order, in batches of at most batchSize", async () => {
      const { got, batches } = collect(h.b);
      const msgs = Array.from({ length: 100 }, (_, i) => `dgram ${i}`);
      const n = h.a.send(msgs.map((m) => ({ data: Buffer.from(m), dstAddr: h.b.localAddress, dstPort: h.b.localPort })));
      expect(n).toBe(100);
      await until(() => got.length >= 100);
      expect(got.map((g) => g.data)).toEqual(msgs);
      for (const g of got) expect(g).toMatchObject({ srcAddr: h.a.localAddress, srcPort: h.a.localPort });
      expect(Math.max(...batches)).toBeLessThanOrEqual(h.b.batchSize);
      expect(h.a.counters.txPackets).toBe(100);
      expect(h.b.counters.rxPackets).toBe(100);
    });

    it('sends one batch to several destinations', async () => {
      const atB = collect(h.b);
      const atC = collect(h.c);
      h.a.send([
        { data: Buffer.from('to b'), dstAddr: h.b.localAddress, dstPort: h.b.localPort },
        { data: Buffer.from('to c'), dstAddr: h.c.localAddress, dstPort: h.c.localPort },
        { data: Buffer.from('to b again'), dstAddr: h.b.localAddress, dstPort: h.b.localPort },
      ]);
      await until(() => atB.got.length === 2 && atC.got.length === 1);
      expect(atB.got.map((g) => g.data)).toEqual(['to b', 'to b again']);
      expect(atC.got.map((g) => g.data)).toEqual(['to c']);
    });

    it('counts a bad destination and still sends the rest', async () => {
      const atB = collect(h.b);
      const n = h.a.send([
        { data: Buffer.from('one'), dstAddr: h.b.localAddress, dstPort: h.b.localPort },
        { data: Buffer.from('bad'), dstAddr: 'not an address', dstPort: 4191 },
        { data: Buffer.from('bad port'), dstAddr: h.b.localAddress, dstPort: 0 },
        { data: Buffer.from('two'), dstAddr: h.b.localAddress, dstPort: h.b.localPort },
      ]);
      expect(n).toBe(2);
      expect(h.a.counters.txErrors).toBe(2);
      await until(() => atB.got.length === 2);
      expect(atB.got.map((g) => g.data)).toEqual(['one', 'two']);
    });

    it('refuses a port in use with UdpBindError EADDRINUSE', () => {
      let err: unknown;
      try {
        h.reopenA().close();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UdpBindError);
      expect((err as UdpBindError).code).toBe('EADDRINUSE');
      expect((err as UdpBindError).message).toMatch(/^opening UDP socket .*: EADDRINUSE \(Address already in use\)/);
    });

    it('close() is idempotent, frees the port, and send() after it returns 0', () => {
      h.a.close();
      h.a.close();
      expect(h.a.send([{ data: Buffer.from('x'), dstAddr: h.b.localAddress, dstPort: h.b.localPort }])).toBe(0);
      expect(h.a.counters.txErrors).toBe(1);
      h.reopenA().close(); // the port is free again
    });
  });
}

bindSuite('FakeUdpNetwork', () => {
  const [a, b, net] = fakeBindPair({ address: '192.0.2.1', port: 0 }, { address: '192.0.2.2', port: 0 });
  const c = net.bind({ address: '192.0.2.3', port: 4191 });
  return {
    a,
    b,
    c,
    reopenA: () => net.bind({ address: a.localAddress, port: a.localPort }),
    close: () => [a, b, c].forEach((x) => x.close()),
  };
});

describe.skipIf(!NATIVE)('native UDP binds', () => {
  let tb: Testbed;
  let nsPath = '';
  beforeAll(async () => {
    tb = await Testbed.create({ hosts: [{ name: 'conf-udp', sysctls: quiet() }] }, { prefix: 'd6tc' });
    nsPath = `/run/netns/${tb.nsName('conf-udp')}`;
  });
  afterAll(async () => {
    await tb?.destroy();
  });
  bindSuite(
    'Udp4Bind (loopback in a namespace)',
    () => {
      const a = openUdp4Bind({ address: '127.0.0.1', port: 0, netns: nsPath, batchSize: 16 });
      const b = openUdp4Bind({ address: '127.0.0.2', port: 0, netns: nsPath, batchSize: 16 });
      const c = openUdp4Bind({ address: '127.0.0.3', port: 4191, netns: nsPath });
      return {
        a,
        b,
        c,
        reopenA: () => openUdp4Bind({ address: a.localAddress, port: a.localPort, netns: nsPath }),
        close: () => [a, b, c].forEach((x) => x.close()),
      };
    },
    NATIVE,
  );
});

// ---- MipPacketIo -----------------------------------------------------------------------------

const COA = 'fd00:1::a';
const PEER = 'fd00:1::b';
const HOA = 'fd00:99::1';

/** An IPv6 header in front of `payload`, built by hand: the encoder (rightly) refuses to put an
 * extension header as the upper protocol, and these cases need raw chains. */
function rawIpv6(nextHeader: number, payload: Buffer): Buffer {
  const h = encodeIpv6({ header: { src: COA, dst: PEER }, upperProtocol: 59, upper: payload });
  h[6] = nextHeader;
  return h;
}

/**
 * Packets sent from COA to PEER, each with whether the tap must deliver it. The native tap's
 * BPF program and isMipPacket() must agree on every one (the fake uses isMipPacket()).
 */
function corpus(): { name: string; pkt: Buffer; mip: boolean }[] {
  const mh = Buffer.from('3b01050000000000', 'hex'); // an MH-sized body; its contents do not matter here
  /** A Destination Options header (next header MH) around `options` (8n - 2 octets). */
  const dst = (options: Buffer) => rawIpv6(60, Buffer.concat([Buffer.from([135, (options.length + 2) / 8 - 1]), options, mh]));
  const hao = Buffer.concat([Buffer.from('c910', 'hex'), Buffer.alloc(16, 0xab)]);
  const rh = (type: number, segleft: number) =>
    rawIpv6(43, Buffer.concat([Buffer.from([135, 2, type, segleft, 0, 0, 0, 0]), Buffer.alloc(16, 0xcd), mh]));
  const bu = buWithHao(COA, HOA, PEER, 2);
  const list = [
    { name: 'BU with the standard HAO (PadN then c9 10)', pkt: buWithHao(COA, HOA, PEER, 1), mip: true },
    { name: 'BA with a type 2 routing header', pkt: baWithRh2(COA, PEER, HOA, 1), mip: true },
    { name: 'HAO after four Pad1', pkt: dst(Buffer.concat([Buffer.alloc(4, 0), hao])), mip: true },
    { name: 'HAO after PadN(6) and four Pad1 (found by the walk)', pkt: dst(Buffer.concat([Buffer.from('0106000000000000', 'hex'), Buffer.alloc(4, 0), hao])), mip: true },
    { name: 'HAO after an experimental option (found by the walk)', pkt: dst(Buffer.concat([Buffer.from('1e0a', 'hex'), Buffer.alloc(10, 0x55), hao])), mip: true },
    { name: 'HAO after twelve Pad1 (beyond the 8-option walk)', pkt: dst(Buffer.concat([Buffer.alloc(12, 0), hao])), mip: false },
    { name: 'Destination Options without HAO', pkt: dst(Buffer.from('1e04aabbccdd', 'hex')), mip: false },
    { name: 'type 2 routing header with Segments Left 0', pkt: rh(2, 0), mip: true },
    { name: 'type 0 routing header', pkt: rh(0, 1), mip: false },
    { name: 'plain UDP', pkt: udp6Packet(COA, PEER, 1000, 2000, Buffer.from('hello')), mip: false },
    // ESP straight after the IPv6 header: an MN at home and its HA (RFC 6275 §11.5.5 deregistration).
    { name: 'plain ESP (next header 50)', pkt: rawIpv6(50, Buffer.from('0000100100000001' + '00'.repeat(24), 'hex')), mip: true },
    { name: 'ESP behind a Hop-by-Hop header (not first)', pkt: rawIpv6(0, Buffer.from('3200010400000000' + '0000100100000001' + '00'.repeat(24), 'hex')), mip: false },
    {
      name: 'HAO behind a Hop-by-Hop header (not the first extension header)',
      pkt: rawIpv6(0, Buffer.concat([Buffer.from('3c00010400000000', 'hex'), bu.subarray(40)])),
      mip: false,
    },
  ];
  for (const c of list) expect(isMipPacket(c.pkt), `isMipPacket: ${c.name}`).toBe(c.mip);
  return list;
}

interface MipHarness {
  a: MipPacketIo;
  b: MipPacketIo;
  close(): void;
}

function mipSuite(label: string, make: () => MipHarness, enabled = true) {
  describe.skipIf(!enabled)(`MipPacketIo conformance: ${label}`, () => {
    let h: MipHarness;
    beforeEach(() => {
      h = make();
    });
    afterEach(() => h.close());

    it('delivers exactly the packets the MIP filter accepts, whole and in order', async () => {
      const got: string[] = [];
      const batches: number[] = [];
      h.b.onBatch((pkts) => {
        batches.push(pkts.length);
        for (const p of pkts) got.push(hex(p));
      });
      const cases = corpus();
      expect(h.a.send(cases.map((c) => c.pkt))).toBe(cases.length);
      const want = cases.filter((c) => c.mip).map((c) => hex(c.pkt));
      await until(() => got.length >= want.length);
      await sleep(100); // and nothing else trickles in
      expect(got).toEqual(want);
      expect(Math.max(...batches)).toBeLessThanOrEqual(h.b.batchSize);
    });

    it('a sender does not hear itself', async () => {
      const got: Uint8Array[] = [];
      h.a.onBatch((pkts) => pkts.forEach((p) => got.push(copy(p))));
      h.a.send([buWithHao(COA, HOA, PEER, 7)]);
      await sleep(100);
      expect(got).toEqual([]);
    });

    it('send() refuses what is not an IPv6 packet, counts it, and sends the rest', async () => {
      const got: string[] = [];
      h.b.onBatch((pkts) => pkts.forEach((p) => got.push(hex(p))));
      const good = buWithHao(COA, HOA, PEER, 3);
      const n = h.a.send([Buffer.alloc(20), good, Buffer.alloc(60, 0x45), 42 as unknown as Uint8Array]);
      expect(n).toBe(1);
      expect(h.a.counters.txErrors).toBe(3);
      await until(() => got.length === 1);
      expect(got).toEqual([hex(good)]);
    });

    it('close() is idempotent and send() after it returns 0', () => {
      h.a.close();
      h.a.close();
      expect(h.a.send([buWithHao(COA, HOA, PEER, 4)])).toBe(0);
      expect(h.a.counters.txErrors).toBe(1);
    });
  });
}

mipSuite('fakeMipPacketIoPair', () => {
  const [a, b] = fakeMipPacketIoPair({ batchSize: 4 });
  return { a, b, close: () => (a.close(), b.close()) };
});

describe.skipIf(!NATIVE)('native MipPacketIo over a veth', () => {
  let tb: Testbed;
  let pa = '';
  let pb = '';
  beforeAll(async () => {
    tb = await Testbed.create(
      {
        hosts: [
          { name: 'conf-mipa', sysctls: quiet('d6va') },
          { name: 'conf-mipb', sysctls: quiet('d6vb') },
        ],
        links: [
          {
            a: { host: 'conf-mipa', ifname: 'd6va', mac: '02:00:00:00:00:0a', addresses: [`${COA}/64`] },
            b: { host: 'conf-mipb', ifname: 'd6vb', mac: '02:00:00:00:00:0b', addresses: [`${PEER}/64`] },
          },
        ],
      },
      { prefix: 'd6tc' },
    );
    await tb.exec('conf-mipa', ['ip', 'neigh', 'add', PEER, 'lladdr', '02:00:00:00:00:0b', 'dev', 'd6va', 'nud', 'permanent'], { check: true });
    await tb.exec('conf-mipb', ['ip', 'neigh', 'add', COA, 'lladdr', '02:00:00:00:00:0a', 'dev', 'd6vb', 'nud', 'permanent'], { check: true });
    pa = `/run/netns/${tb.nsName('conf-mipa')}`;
    pb = `/run/netns/${tb.nsName('conf-mipb')}`;
  });
  afterAll(async () => {
    await tb?.destroy();
  });
  mipSuite(
    'NativeMipPacketIo (AF_PACKET tap + raw IPv6)',
    () => {
      const a = openMipPacketIo({ ifname: 'd6va', netns: pa, batchSize: 4 });
      const b = openMipPacketIo({ ifname: 'd6vb', netns: pb, batchSize: 4 });
      return { a, b, close: () => (a.close(), b.close()) };
    },
    NATIVE,
  );
});

describe('fakes need no privileges', () => {
  it('FakeUdpNetwork refuses a bad address with UdpBindError EINVAL', () => {
    expect(() => new FakeUdpNetwork().bind({ address: '300.1.1.1' })).toThrow(UdpBindError);
  });
});
