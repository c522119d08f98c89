// The native TUN device against the kernel, in a testbed network namespace: what is written into
// the TUN reaches the kernel's IP stack (it answers an ICMPv6 echo request, read back from the
// TUN), what the kernel routes into the TUN comes out of it, and opening fails with named errors.
import { execFileSync, spawnSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Testbed } from '../testbed/index.js';
import { icmp6EchoRequest } from '../bench/io-packets.js';
import { decodeIpv6 } from '../common/ipv6.js';
import { decodeUdp4Packet } from '../common/udp.js';
import { TunOpenError } from '../tunnel/errors.js';
import { openTun, type TunDevice } from '../tunnel/tun.js';
import { openUdp4Bind } from '../tunnel/udp4.js';
import { until } from './support/until.js';

// Root with namespaces: the native tests run, and a missing addon fails them loudly (never a silent skip).
const NATIVE = process.getuid?.() === 0 && spawnSync('ip', ['netns', 'list'], { stdio: 'ignore' }).status === 0;
/** No router solicitations, no router advertisements taken: on every interface now and to come. */
const quiet = (...ifnames: string[]) =>
  Object.fromEntries(['all', 'default', ...ifnames].flatMap((k) => [[`net.ipv6.conf.${k}.router_solicitations`, 0], [`net.ipv6.conf.${k}.accept_ra`, 0]]));

describe.skipIf(!NATIVE)('TUN device (native)', () => {
  let tb: Testbed;
  let tun: TunDevice;
  /** The namespace, and `ip -n NS ...` / an address without DAD in it, synchronously (the TUNs are not testbed links). */
  const ns = {
    path: '',
    name: '',
    ip: (...args: string[]): string => execFileSync('ip', ['-n', ns.name, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }),
    addr: (ifname: string, cidr: string): string => ns.ip('addr', 'add', cidr, 'dev', ifname, ...(cidr.includes(':') ? ['nodad'] : [])),
  };
  beforeAll(async () => {
    tb = await Testbed.create({ hosts: [{ name: 'tun', sysctls: quiet() }] }, { prefix: 'd6tt' });
    ns.name = tb.nsName('tun');
    ns.path = `/run/netns/${ns.name}`;
    tun = openTun({ name: 'd6tun0', netns: ns.path, mtu: 1400, batchSize: 32 });
    ns.addr('d6tun0', 'fd00:77::1/64');
    ns.addr('d6tun0', '10.77.0.1/24');
  });
  afterAll(async () => {
    tun?.close();
    await tb?.destroy();
  });

  it('is created in the namespace, up, with the MTU asked for', () => {
    expect(tun.name).toBe('d6tun0');
    expect(tun.mtu).toBe(1400);
    const link = ns.ip('link', 'show', 'd6tun0');
    expect(link).toMatch(/mtu 1400/);
    expect(link).toMatch(/<[^>]*\bUP\b[^>]*>/);
    // ...and not in ours.
    expect(() => readlinkSync('/sys/class/net/d6tun0')).toThrow();
  });

  it('delivers written packets to the kernel: 50 echo requests in one write, 50 replies read back', async () => {
    const replies = new Map<number, string>();
    tun.onBatch((pkts) => {
      for (const p of pkts) {
        const d = decodeIpv6(p);
        if (d.upperProtocol === 58 && d.upper[0] === 129) replies.set((d.upper[6] << 8) | d.upper[7], d.header.dst);
      }
    });
    const reqs = Array.from({ length: 50 }, (_, seq) => icmp6EchoRequest('fd00:77::2', 'fd00:77::1', 0x6464, seq, Buffer.from(`ping ${seq}`)));
    expect(tun.write(reqs)).toBe(50);
    await until(() => replies.size === 50, 5000, '50 echo replies');
    expect([...replies.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect([...new Set(replies.values())]).toEqual(['fd00:77::2']);
    tun.onBatch(null);
  });

  it('reads what the kernel routes into it: UDP to 10.77.0.2 comes out whole', async () => {
    const got: { payload: string; dst: string; port: number }[] = [];
    tun.onBatch((pkts) => {
      for (const p of pkts) {
        if (p[0] >> 4 !== 4) continue;
        const u = decodeUdp4Packet(p); // verifies the checksums the kernel computed
        got.push({ payload: Buffer.from(u.udp.payload).toString(), dst: u.ip.dst, port: u.udp.dstPort });
      }
    });
    const sock = openUdp4Bind({ address: '10.77.0.1', port: 0, netns: ns.path });
    try {
      const n = sock.send(Array.from({ length: 100 }, (_, i) => ({ data: Buffer.from(`to the tun ${i}`), dstAddr: '10.77.0.2', dstPort: 5000 })));
      expect(n).toBe(100);
      await until(() => got.length === 100, 5000, '100 routed packets');
      expect(got[0]).toEqual({ payload: 'to the tun 0', dst: '10.77.0.2', port: 5000 });
      expect(got.map((g) => g.payload)).toEqual(Array.from({ length: 100 }, (_, i) => `to the tun ${i}`));
      const c = tun.counters;
      expect(c.rxBatches).toBeGreaterThan(0);
      expect(c.rxPackets / c.rxBatches).toBeGreaterThan(1); // really batched
    } finally {
      sock.close();
      tun.onBatch(null);
    }
  });

  it('a handler may close the device it is called for', async () => {
    const t = openTun({ name: 'd6tun1', netns: ns.path });
    ns.addr('d6tun1', 'fd00:78::1/64');
    let calls = 0;
    t.onBatch(() => {
      calls++;
      t.close();
    });
    t.write([icmp6EchoRequest('fd00:78::2', 'fd00:78::1', 1, 1, Buffer.from('a')), icmp6EchoRequest('fd00:78::2', 'fd00:78::1', 1, 2, Buffer.from('b'))]);
    await until(() => calls > 0);
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toBe(1);
    expect(() => ns.ip('link', 'show', 'd6tun1')).toThrow(); // gone with its fd
  });

  it('a handler may hand over to another handler from inside its call', async () => {
    const seen: string[] = [];
    const second = (pkts: readonly Uint8Array[]) => pkts.forEach(() => seen.push('second'));
    tun.onBatch(() => {
      seen.push('first');
      tun.onBatch(null);
      tun.onBatch(second);
    });
    tun.write([icmp6EchoRequest('fd00:77::2', 'fd00:77::1', 7, 1, Buffer.from('x'))]);
    await until(() => seen.length >= 1);
    tun.write([icmp6EchoRequest('fd00:77::2', 'fd00:77::1', 7, 2, Buffer.from('y'))]);
    await until(() => seen.includes('second'));
    expect(seen[0]).toBe('first');
    tun.onBatch(null);
  });

  it('names the device, the namespace and the errno when it cannot open', () => {
    let err: TunOpenError | undefined;
    try {
      openTun({ name: 'd6tunx', netns: '/run/netns/d6t-does-not-exist' });
    } catch (e) {
      err = e as TunOpenError;
    }
    expect(err).toBeInstanceOf(TunOpenError);
    expect(err!.name).toBe('TunOpenError');
    expect(err!.code).toBe('ENOENT');
    expect(err!.errno).toBe(2);
    expect(err!.netns).toBe('/run/netns/d6t-does-not-exist');
    expect(err!.message).toBe("opening TUN 'd6tunx' in netns /run/netns/d6t-does-not-exist: ENOENT (No such file or directory) [open(netns)]");
    expect(String(err)).toMatch(/^TunOpenError: opening TUN 'd6tunx'/);
  });

  it('refuses a name another TUN holds (EBUSY) and a name that is too long', () => {
    expect(() => openTun({ name: 'd6tun0', netns: ns.path })).toThrow(expect.objectContaining({ name: 'TunOpenError', code: 'EBUSY' }));
    expect(() => openTun({ name: 'a-name-longer-than-15', netns: ns.path })).toThrow(TypeError);
  });
});
