// Shared harness of the in-process e2e tests (test/e2e-fake*.test.ts): HomeAgent (ha/agent.ts) and
// MobileNode (mn/node.ts) over the in-memory fakes, driven by one manual clock. No sleeps: only
// event-loop turns (until()).
import { expect } from 'vitest';
import { IpProto } from '../../common/iana.js';
import { encodeIpv6 } from '../../common/ipv6.js';
import { encodeUdp, encodeUdp4Packet } from '../../common/udp.js';
import { loadHaConfig, loadMnConfig } from '../../config/load.js';
import type { HaConfig, MnConfig } from '../../config/schema.js';
import type { TransformFactory } from '../../ipsec/index.js';
import { HomeAgent, type HomeAgentOptions, type TimerScheduler } from '../../ha/agent.js';
import { MobileNode } from '../../mn/node.js';
import type { Bind, OutgoingDatagram } from '../../tunnel/bind.js';
import { fakeDevicePair, FakeUdpNetwork, fakeMipPacketIoPair, type FakeMipPacketIo, type FakeNat } from '../../tunnel/edge.js';
import type { MipPacketIo } from '../../tunnel/mipio.js';
import type { PacketBatchHandler } from '../../tunnel/device.js';
import { until } from './until.js';

export const HA_CFG = loadHaConfig('config/ha.example.json');
export const MN_CFG = loadMnConfig('config/mn.example.json');
export const HOA = MN_CFG.hoa; // 2001:db8:1::100
export const HOA4 = '10.1.0.10';
export const HA6 = HA_CFG.haAddress; // 2001:db8:1::1
export const HA4 = HA_CFG.haIpv4Address!; // 192.0.2.1
export const OTHER_HOA = '2001:db8:1::200'; // the second MN in ha.example.json
export const COA6 = '2001:db8:6::100';
export const COA6B = '2001:db8:7::200';
export const COA4 = '192.168.1.20'; // private, behind the NAT
export const NAT4 = '198.51.100.7';
export const CN6 = '2001:db8:99::7';
export const CN4 = '203.0.113.9';
export const T0 = 1_000_000;

/** One clock for both nodes; advance() fires due timers in time order (timers armed while firing included). */
export class ManualClock implements TimerScheduler {
  t = T0;
  private readonly timers = new Set<{ at: number; fire: () => void }>();
  readonly now = (): number => this.t;
  schedule(at: number, fire: () => void): { cancel(): void } {
    const e = { at, fire };
    this.timers.add(e);
    return { cancel: () => void this.timers.delete(e) };
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: { at: number; fire: () => void } | undefined;
      for (const e of this.timers) if (e.at <= end && (!next || e.at < next.at)) next = e;
      if (!next) break;
      this.timers.delete(next);
      this.t = Math.max(this.t, next.at);
      next.fire();
    }
    this.t = end;
  }
}

/** A MipPacketIo that records what it sends and can hold what it receives (to keep a BA back). */
export class TapIo implements MipPacketIo {
  readonly sent: Uint8Array[] = [];
  hold = false;
  private held: Uint8Array[] = [];
  private handler: PacketBatchHandler | null = null;
  /** Incoming packets for which this returns true are lost (never reach the node). */
  dropIn: ((p: Uint8Array) => boolean) | null = null;
  /** Outgoing packets for which this returns true are lost on the wire (the node believes it sent them). */
  dropOut: ((p: Uint8Array) => boolean) | null = null;
  droppedIn = 0;
  droppedOut = 0;
  constructor(readonly inner: FakeMipPacketIo) {}
  get ifname() {
    return this.inner.ifname;
  }
  get batchSize() {
    return this.inner.batchSize;
  }
  get counters() {
    return this.inner.counters;
  }
  onBatch(handler: PacketBatchHandler | null): void {
    this.handler = handler;
    this.inner.onBatch(
      handler &&
        ((ps) => {
          const keep = ps.filter((p) => {
            if (this.dropIn?.(p) !== true) return true;
            this.droppedIn++;
            return false;
          });
          if (keep.length === 0) return;
          if (this.hold) for (const p of keep) this.held.push(Uint8Array.from(p));
          else handler(keep);
        }),
    );
  }
  release(): void {
    this.hold = false;
    const ps = this.held;
    this.held = [];
    if (ps.length > 0) this.handler?.(ps);
  }
  send(packets: readonly Uint8Array[]): number {
    for (const p of packets) this.sent.push(Uint8Array.from(p));
    const pass = packets.filter((p) => {
      if (this.dropOut?.(p) !== true) return true;
      this.droppedOut++;
      return false;
    });
    return pass.length === 0 ? packets.length : this.inner.send(pass) + (packets.length - pass.length);
  }
  close(): void {
    this.inner.close();
  }
}

/** Wraps a Bind to record its datagrams. */
export function recordingBind(b: Bind, log: OutgoingDatagram[]): Bind {
  return {
    get localAddress() {
      return b.localAddress;
    },
    get localPort() {
      return b.localPort;
    },
    get batchSize() {
      return b.batchSize;
    },
    get counters() {
      return b.counters;
    },
    onBatch: (h) => b.onBatch(h),
    send: (ds) => {
      for (const d of ds) log.push({ ...d, data: Uint8Array.from(d.data) });
      return b.send(ds);
    },
    close: () => b.close(),
  };
}

export function udp6(src: string, dst: string, text: string): Uint8Array {
  const payload = new TextEncoder().encode(text);
  return encodeIpv6({
    header: { src, dst, hopLimit: 60 },
    upperProtocol: IpProto.UDP,
    upper: encodeUdp({ srcPort: 5000, dstPort: 6000, payload }, { version: 6, src, dst }),
  });
}

export interface HarnessOptions {
  ha?: HaConfig;
  mn?: MnConfig;
  cacheCapacity?: number;
  /** ESP transforms for both nodes' engines (e.g. the native ones); node:crypto when absent. */
  espTransforms?: TransformFactory;
  /** The HA's onBindingChange (ha/daemon.ts persists there). */
  onBindingChange?: HomeAgentOptions['onBindingChange'];
}

export function harness(o: HarnessOptions = {}) {
  const clock = new ManualClock();
  const [haDev, cn] = fakeDevicePair({ names: ['ha-tun', 'home'] });
  const [mnDev, apps] = fakeDevicePair({ names: ['mn-tun', 'apps'] });
  const [haLinkRaw, mnLinkRaw] = fakeMipPacketIoPair({ ifnames: ['ha-pub', 'mn-wlan'] });
  const haLink = new TapIo(haLinkRaw);
  const mnLink = new TapIo(mnLinkRaw);
  const [haPlain, mnPlain] = fakeDevicePair({ names: ['ha-esp', 'mn-home'] });
  const net = new FakeUdpNetwork();
  const nat: FakeNat = net.addNat({ publicAddress: NAT4, inside: [COA4] });
  const haUdpLog: OutgoingDatagram[] = [];
  const mnUdpLog: OutgoingDatagram[] = [];
  const haBind = recordingBind(net.bind({ address: HA4, port: 4191 }), haUdpLog);
  const ha = new HomeAgent({ config: o.ha ?? HA_CFG, ...(o.cacheCapacity !== undefined ? { cacheCapacity: o.cacheCapacity } : {}), device: haDev, bind: haBind, mipIo: haLink, plainIpv6: haPlain, now: clock.now, scheduler: clock, ...(o.espTransforms ? { espTransforms: o.espTransforms } : {}), ...(o.onBindingChange ? { onBindingChange: o.onBindingChange } : {}) });
  const mn = new MobileNode({
    config: o.mn ?? MN_CFG,
    device: mnDev,
    mipIo: mnLink,
    openBind: (coa) => recordingBind(net.bind({ address: coa, port: 4191 }), mnUdpLog),
    plainIpv6: mnPlain,
    now: clock.now,
    scheduler: clock,
    randomSeq: () => 1000,
    ...(o.espTransforms ? { espTransforms: o.espTransforms } : {}),
  });
  const atCn: Uint8Array[] = [];
  const atApps: Uint8Array[] = [];
  cn.onBatch((ps) => ps.forEach((p) => atCn.push(Uint8Array.from(p))));
  apps.onBatch((ps) => ps.forEach((p) => atApps.push(Uint8Array.from(p))));
  const registered = (coa: string) => until(() => mn.registeredCoa?.address === coa && ha.binding(HOA)?.coa === coa, 2000, `registered at ${coa}`);
  /** CN -> HoA through the HA, and a reply back: both arrive unchanged. */
  const pingPong = async (tag: string, cnAddr = CN6, hoa = HOA) => {
    const down = hoa.includes(':') ? udp6(cnAddr, hoa, `down ${tag}`) : encodeUdp4Packet({ src: cnAddr, dst: hoa, srcPort: 53, dstPort: 4000, payload: Buffer.from(`down ${tag}`) });
    const up = hoa.includes(':') ? udp6(hoa, cnAddr, `up ${tag}`) : encodeUdp4Packet({ src: hoa, dst: cnAddr, srcPort: 4000, dstPort: 53, payload: Buffer.from(`up ${tag}`) });
    const a0 = atApps.length;
    const c0 = atCn.length;
    cn.write([down]);
    await until(() => atApps.length > a0, 2000, `CN->MN ${tag}`);
    expect(Buffer.from(atApps[a0])).toEqual(Buffer.from(down));
    apps.write([up]);
    await until(() => atCn.length > c0, 2000, `MN->CN ${tag}`);
    expect(Buffer.from(atCn[c0])).toEqual(Buffer.from(up));
  };
  const close = () => {
    mn.close();
    ha.close();
  };
  return { clock, ha, mn, haPlain, mnPlain, haLink, mnLink, mnLinkRaw, nat, net, haUdpLog, mnUdpLog, cn, apps, atCn, atApps, registered, pingPong, close };
}

