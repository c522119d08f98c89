// The native addon's own guarantees, below the tunnel/ interfaces: no file descriptor outlives its
// handle (open/close loops, failed opens, handles dropped without close), every open in another
// network namespace returns the thread to its own, errors carry errno, code and the failing call,
// and a handle of the wrong kind is refused.
import { spawnSync } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Testbed } from '../testbed/index.js';
import { newStats } from '../tunnel/counters.js';
import { PacketTapOpenError, RawSocketOpenError, TunOpenError, UdpBindError } from '../tunnel/errors.js';
import { openMipPacketIo } from '../tunnel/mipio-native.js';
import { loadNative } from '../tunnel/native.js';
import { openTun } from '../tunnel/tun.js';
import { openUdp4Bind } from '../tunnel/udp4.js';

// Root with namespaces: the native tests run, and a missing addon fails them loudly (never a silent skip).
const NATIVE = process.getuid?.() === 0 && spawnSync('ip', ['netns', 'list'], { stdio: 'ignore' }).status === 0;
/** No router solicitations, no router advertisements taken: on every interface now and to come. */
const quiet = (...ifnames: string[]) =>
  Object.fromEntries(['all', 'default', ...ifnames].flatMap((k) => [[`net.ipv6.conf.${k}.router_solicitations`, 0], [`net.ipv6.conf.${k}.accept_ra`, 0]]));

const fdCount = () => readdirSync('/proc/self/fd').length;
const myNetns = () => readlinkSync('/proc/thread-self/ns/net');
const turn = () => new Promise((r) => setImmediate(r));

describe.skipIf(!NATIVE)('native addon', () => {
  let tb: Testbed;
  const ns = { path: '' };
  beforeAll(async () => {
    tb = await Testbed.create(
      {
        hosts: [
          { name: 'addon', sysctls: quiet('d6x0') },
          { name: 'addon-peer', sysctls: quiet('d6x1') },
        ],
        links: [{ a: { host: 'addon', ifname: 'd6x0', addresses: ['10.5.0.1/24'] }, b: { host: 'addon-peer', ifname: 'd6x1' } }],
      },
      { prefix: 'd6na' },
    );
    ns.path = `/run/netns/${tb.nsName('addon')}`;
  });
  afterAll(async () => {
    await tb?.destroy();
  });

  it('leaks no file descriptor over open/read/close loops and failed opens', async () => {
    // Warm up once so lazily created fds (the addon itself, the event loop's) are counted in both.
    openTun({ netns: ns.path }).close();
    const before = fdCount();
    for (let i = 0; i < 50; i++) {
      const t = openTun({ name: 'd6leak', netns: ns.path });
      t.onBatch(() => {});
      const u = openUdp4Bind({ address: '10.5.0.1', port: 0, netns: ns.path });
      u.onBatch(() => {});
      const m = openMipPacketIo({ ifname: 'd6x0', netns: ns.path, sendInterface: 'd6x0' });
      m.onBatch(() => {});
      await turn();
      t.close();
      u.close();
      m.close();
      expect(() => openTun({ netns: '/run/netns/d6t-missing' })).toThrow(TunOpenError);
      expect(() => openUdp4Bind({ address: '10.9.9.9', port: 0, netns: ns.path })).toThrow(UdpBindError);
      expect(() => openMipPacketIo({ ifname: 'nosuchif', netns: ns.path })).toThrow(PacketTapOpenError);
      expect(() => openMipPacketIo({ ifname: 'd6x0', netns: ns.path, sendInterface: 'nosuchif' })).toThrow(RawSocketOpenError);
    }
    await turn(); // uv_close callbacks of the stopped readers
    expect(fdCount()).toBe(before);
  });

  it('closes the fd of a handle dropped without close() when it is collected', async () => {
    let gc: (() => void) | undefined;
    try {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as () => void;
    } catch {
      gc = undefined;
    }
    if (typeof gc !== 'function') return; // no way to force a collection here
    const before = fdCount();
    (() => {
      for (let i = 0; i < 20; i++) openUdp4Bind({ address: '10.5.0.1', port: 0, netns: ns.path });
    })();
    expect(fdCount()).toBe(before + 20);
    for (let i = 0; i < 10 && fdCount() > before; i++) {
      gc();
      await turn();
    }
    expect(fdCount()).toBe(before);
  });

  it('returns the calling thread to its own network namespace after every open, failed or not', () => {
    const mine = myNetns();
    const t = openTun({ netns: ns.path });
    expect(myNetns()).toBe(mine);
    expect(() => openTun({ name: t.name, netns: ns.path })).toThrow(TunOpenError); // EBUSY after setns
    expect(myNetns()).toBe(mine);
    expect(() => openMipPacketIo({ ifname: 'nosuchif', netns: ns.path })).toThrow();
    expect(myNetns()).toBe(mine);
    t.close();
  });

  it('errors name what was opened, the errno and the call that failed', () => {
    const cases: [() => unknown, unknown, string, RegExp][] = [
      [() => openMipPacketIo({ ifname: 'nosuchif', netns: ns.path }), PacketTapOpenError, 'ENODEV', /^opening AF_PACKET tap on 'nosuchif' in netns .*: ENODEV \(No such device\) \[if_nametoindex\]$/],
      [() => openUdp4Bind({ address: '10.9.9.9', port: 4191, netns: ns.path }), UdpBindError, 'EADDRNOTAVAIL', /^opening UDP socket 10\.9\.9\.9:4191 in netns .*: EADDRNOTAVAIL .* \[bind\]$/],
      [() => openUdp4Bind({ address: 'ten.nine', netns: ns.path }), UdpBindError, 'EINVAL', /\[inet_pton\]$/],
      [() => openTun({ name: 'x', netns: '/proc/self/status' }), TunOpenError, 'EINVAL', /\[setns\(netns\)\]$/],
    ];
    for (const [open, Kind, code, message] of cases) {
      let err: (Error & { code?: string; errno?: number; syscall?: string }) | undefined;
      try {
        open();
      } catch (e) {
        err = e as Error;
      }
      expect(err).toBeInstanceOf(Kind as new () => Error);
      expect(err!.code).toBe(code);
      expect(err!.errno).toBeGreaterThan(0);
      expect(err!.syscall).toBeTruthy();
      expect(err!.message).toMatch(message);
    }
  });

  it('refuses a handle of the wrong kind, and writes after close count instead of throwing', () => {
    const n = loadNative();
    const stats = newStats();
    const u = n.udp4Open('10.5.0.1', 0, ns.path, 0, stats);
    expect(() => n.tunWrite(u.handle, [new Uint8Array(40)], 1)).toThrow(TypeError);
    expect(() => n.raw6Send({} as never, [], 0)).toThrow(TypeError);
    n.close(u.handle);
    n.close(u.handle);
    expect(n.udp4Send(u.handle, [new Uint8Array(4)], new Uint32Array([0x0a050001]), new Uint16Array([9]), 1)).toBe(0);
    expect(stats[6]).toBe(1); // TX_ERRORS
    expect(stats[7]).toBe(9); // EBADF
  });

  it('builds the MIP filter as one classic BPF program ending in accept/reject', () => {
    const prog = loadNative().mipFilter();
    expect(prog.length % 8).toBe(0);
    const n = prog.length / 8;
    expect(n).toBeGreaterThan(20);
    expect(n).toBeLessThan(256);
    const dv = new DataView(prog.buffer, prog.byteOffset, prog.byteLength);
    const code = (i: number) => dv.getUint16(i * 8, true);
    const k = (i: number) => dv.getUint32(i * 8 + 4, true);
    expect([code(n - 2), k(n - 2)]).toEqual([0x06, 0]); // ret #0
    expect([code(n - 1), k(n - 1)]).toEqual([0x06, 0x40000]); // ret #262144
  });
});
