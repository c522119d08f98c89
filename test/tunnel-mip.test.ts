// HAO and RH2 packets between two namespaces joined by a veth: sent whole through the raw IPv6
// socket, received through the AF_PACKET tap, ordinary packets left to the kernel; and the nftables
// ingress rule (tunnel/nft.ts): without it the receiving kernel answers each HAO/RH2 packet with an
// ICMPv6 parameter problem (captured on the sender's side), with it there is none while the tap
// still sees every packet.
import { spawnSync } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { baWithRh2, buWithHao, udp6Packet } from '../bench/io-packets.js';
import { decodeIpv6 } from '../common/ipv6.js';
import { decodeMobilityHeader } from '../common/mh.js';
import { NftError } from '../tunnel/errors.js';
import { openMipPacketIo, type NativeMipPacketIo } from '../tunnel/mipio-native.js';
import { loadNative } from '../tunnel/native.js';
import { installMipIngressDrop, mipTableName, readMipIngressCounters, removeMipIngressDrop, MIP_TABLE_COMMENT } from '../tunnel/nft.js';
import { newStats } from '../tunnel/counters.js';
import { SlotBuffer } from '../tunnel/slots.js';
import { Testbed } from '../testbed/index.js';
import { until } from './support/until.js';

// Root with namespaces: the native tests run, and a missing addon fails them loudly (never a silent skip).
const NATIVE = process.getuid?.() === 0 && spawnSync('ip', ['netns', 'list'], { stdio: 'ignore' }).status === 0;
/** No router solicitations, no router advertisements taken: on every interface now and to come. */
const quiet = (...ifnames: string[]) =>
  Object.fromEntries(['all', 'default', ...ifnames].flatMap((k) => [[`net.ipv6.conf.${k}.router_solicitations`, 0], [`net.ipv6.conf.${k}.accept_ra`, 0]]));

const COA = 'fd00:1::a'; // the MN's care-of address, on d6mn
const HA = 'fd00:1::b'; // the HA, on d6ha
const HOA = 'fd00:99::1';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** struct sock_filter[] bytes (host order = little endian here) from [code, jt, jf, k] rows. */
function bpf(rows: [number, number, number, number][]): Uint8Array {
  const b = Buffer.alloc(rows.length * 8);
  rows.forEach(([code, jt, jf, k], i) => {
    b.writeUInt16LE(code, i * 8);
    b[i * 8 + 2] = jt;
    b[i * 8 + 3] = jf;
    b.writeUInt32LE(k >>> 0, i * 8 + 4);
  });
  return b;
}

/**
 * Captures incoming ICMPv6 parameter problems (type 4) on an interface: an AF_PACKET socket from
 * the addon with its own filter (the test's judge, independent of the MIP filter under test).
 */
function paramProblemCapture(ifname: string, netns: string) {
  const n = loadNative();
  const stats = newStats();
  const prog = bpf([
    [0x28, 0, 0, 0xfffff000], // ldh proto (SKF_AD_OFF + SKF_AD_PROTOCOL)
    [0x15, 0, 5, 0x86dd], // jeq IPv6
    [0x30, 0, 0, 6], // ldb [6] next header
    [0x15, 0, 3, 58], // jeq ICMPv6
    [0x30, 0, 0, 40], // ldb [40] ICMPv6 type
    [0x15, 0, 1, 4], // jeq parameter problem
    [0x06, 0, 0, 0x40000], // accept
    [0x06, 0, 0, 0], // reject
  ]);
  const { handle } = n.packetOpen(ifname, netns, prog, 0, stats);
  const slots = new SlotBuffer(16, 2048);
  const got: { code: number; pointer: number; invoking: string }[] = [];
  n.readStart(handle, slots.batchSize, slots.slotSize, slots.data, slots.lens, slots.offs, null, null, (count) => {
    for (const p of slots.packets(count)) {
      const b = Buffer.from(p);
      got.push({ code: b[41], pointer: b.readUInt32BE(44), invoking: decodeIpv6(b.subarray(48)).header.dst });
    }
  });
  return { got, close: () => n.close(handle) };
}

describe.skipIf(!NATIVE)('HAO / RH2 packets across a veth (native)', () => {
  let tb: Testbed;
  /** The namespaces' paths, for the addon's `netns` option. */
  const mn = { path: '' };
  const ha = { path: '' };
  let mnIo: NativeMipPacketIo;
  let haIo: NativeMipPacketIo;
  const atHa: Buffer[] = [];
  const atMn: Buffer[] = [];

  beforeAll(async () => {
    tb = await Testbed.create(
      {
        hosts: [
          // One ICMP per offending packet.
          { name: 'mip-mn', sysctls: { ...quiet('d6mn'), 'net.ipv6.icmp.ratelimit': 0 } },
          { name: 'mip-ha', sysctls: { ...quiet('d6ha'), 'net.ipv6.icmp.ratelimit': 0 } },
        ],
        links: [
          {
            a: { host: 'mip-mn', ifname: 'd6mn', mac: '02:00:00:00:01:0a', addresses: [`${COA}/64`] },
            b: { host: 'mip-ha', ifname: 'd6ha', mac: '02:00:00:00:01:0b', addresses: [`${HA}/64`] },
          },
        ],
      },
      { prefix: 'd6tm' },
    );
    await tb.exec('mip-mn', ['ip', 'neigh', 'add', HA, 'lladdr', '02:00:00:00:01:0b', 'dev', 'd6mn', 'nud', 'permanent'], { check: true });
    await tb.exec('mip-ha', ['ip', 'neigh', 'add', COA, 'lladdr', '02:00:00:00:01:0a', 'dev', 'd6ha', 'nud', 'permanent'], { check: true });
    mn.path = `/run/netns/${tb.nsName('mip-mn')}`;
    ha.path = `/run/netns/${tb.nsName('mip-ha')}`;
    mnIo = openMipPacketIo({ ifname: 'd6mn', netns: mn.path });
    haIo = openMipPacketIo({ ifname: 'd6ha', netns: ha.path });
    haIo.onBatch((pkts) => pkts.forEach((p) => atHa.push(Buffer.from(p))));
    mnIo.onBatch((pkts) => pkts.forEach((p) => atMn.push(Buffer.from(p))));
  });
  afterAll(async () => {
    mnIo?.close();
    haIo?.close();
    await tb?.destroy();
  });
  afterEach(() => {
    atHa.length = 0;
    atMn.length = 0;
    removeMipIngressDrop({ ifname: 'd6ha', netns: ha.path });
    removeMipIngressDrop({ ifname: 'd6mn', netns: mn.path });
  });

  it('opens on kernels with PACKET_IGNORE_OUTGOING', () => {
    expect(mnIo.ignoresOutgoing).toBe(true);
  });

  it('a BU with a HAO reaches the HA tap and a BA with an RH2 the MN tap; ordinary packets do not', async () => {
    expect(mnIo.send([udp6Packet(COA, HA, 1, 2, Buffer.from('ordinary')), buWithHao(COA, HOA, HA, 17)])).toBe(2);
    expect(haIo.send([baWithRh2(HA, COA, HOA, 17), udp6Packet(HA, COA, 3, 4, Buffer.from('ordinary'))])).toBe(2);
    await until(() => atHa.length >= 1 && atMn.length >= 1);
    await sleep(100);
    expect(atHa).toHaveLength(1);
    expect(atMn).toHaveLength(1);

    const bu = decodeIpv6(atHa[0]);
    expect(bu.header).toMatchObject({ src: COA, dst: HA });
    expect(bu.homeAddress).toBe(HOA);
    const buMh = decodeMobilityHeader(bu.upper, { src: HOA, dst: HA });
    expect(buMh.message).toMatchObject({ kind: 'BU', sequence: 17 });

    const ba = decodeIpv6(atMn[0]);
    expect(ba.header).toMatchObject({ src: HA, dst: COA });
    expect(ba.finalDestination).toBe(HOA);
    const baMh = decodeMobilityHeader(ba.upper, { src: HA, dst: HOA });
    expect(baMh.message).toMatchObject({ kind: 'BA', sequence: 17, status: 0 });
  });

  it('without the nft rule the kernel answers every HAO and RH2 packet with a parameter problem', async () => {
    const mnCap = paramProblemCapture('d6mn', mn.path);
    const haCap = paramProblemCapture('d6ha', ha.path);
    try {
      mnIo.send([1, 2, 3].map((s) => buWithHao(COA, HOA, HA, s)));
      haIo.send([1, 2].map((s) => baWithRh2(HA, COA, HOA, s)));
      await until(() => mnCap.got.length >= 3 && haCap.got.length >= 2, 5000, 'parameter problems');
      await sleep(100);
      // HAO: code 2 (unrecognized IPv6 option), pointing at the option type (octet 46).
      expect(mnCap.got).toEqual(Array(3).fill({ code: 2, pointer: 46, invoking: HA }));
      // RH2: code 0 (erroneous header field), pointing at the routing type (octet 42).
      expect(haCap.got).toEqual(Array(2).fill({ code: 0, pointer: 42, invoking: COA }));
      expect(atHa).toHaveLength(3); // the tap saw them all the same
      expect(atMn).toHaveLength(2);
    } finally {
      mnCap.close();
      haCap.close();
    }
  });

  it('with the rule installed the kernel sends none, the taps still get every packet, the counters count', async () => {
    installMipIngressDrop({ ifname: 'd6ha', netns: ha.path });
    installMipIngressDrop({ ifname: 'd6mn', netns: mn.path });
    installMipIngressDrop({ ifname: 'd6mn', netns: mn.path }); // after a crash: idempotent
    const mnCap = paramProblemCapture('d6mn', mn.path);
    const haCap = paramProblemCapture('d6ha', ha.path);
    try {
      mnIo.send([1, 2, 3].map((s) => buWithHao(COA, HOA, HA, s)));
      haIo.send([1, 2].map((s) => baWithRh2(HA, COA, HOA, s)));
      await until(() => atHa.length >= 3 && atMn.length >= 2, 5000, 'tapped packets');
      await sleep(300);
      expect(mnCap.got).toEqual([]);
      expect(haCap.got).toEqual([]);
      expect(readMipIngressCounters({ ifname: 'd6ha', netns: ha.path })?.hao.packets).toBe(3);
      expect(readMipIngressCounters({ ifname: 'd6mn', netns: mn.path })?.rh2.packets).toBe(2);
      const listing = (await tb.exec('mip-ha', ['nft', 'list', 'ruleset'], { check: true })).stdout;
      expect(listing).toContain(`table netdev ${mipTableName('d6ha')}`);
      expect(listing).toContain(MIP_TABLE_COMMENT);
      // Ordinary traffic still flows through the kernel: an echo request gets its reply.
      expect((await tb.exec('mip-mn', ['ping', '-6', '-c', '1', '-W', '2', HA], { check: true })).stdout).toMatch(/1 received/);
    } finally {
      mnCap.close();
      haCap.close();
    }
  });

  it('removing the rule gives the kernel back its answer; removing twice is harmless', async () => {
    installMipIngressDrop({ ifname: 'd6ha', netns: ha.path });
    removeMipIngressDrop({ ifname: 'd6ha', netns: ha.path });
    removeMipIngressDrop({ ifname: 'd6ha', netns: ha.path });
    expect(readMipIngressCounters({ ifname: 'd6ha', netns: ha.path })).toBeUndefined();
    expect((await tb.exec('mip-ha', ['nft', 'list', 'ruleset'], { check: true })).stdout).not.toContain('dsmip6_');
    const mnCap = paramProblemCapture('d6mn', mn.path);
    try {
      mnIo.send([buWithHao(COA, HOA, HA, 9)]);
      await until(() => mnCap.got.length >= 1, 5000, 'a parameter problem');
    } finally {
      mnCap.close();
    }
  });

  // An MN at home and its HA speak plain ESP (no HAO / RH2, RFC 6275 §11.5.5). There is no kernel
  // ESP here: the kernel would answer with a parameter problem. The tap takes it; the rule drops
  // it before the kernel only for the addresses given (espTo), so ESP to others is left alone.
  it('plain ESP: tapped; dropped before the kernel for espTo addresses only', async () => {
    const espPacket = (dst: string, seq: number): Buffer => {
      const body = Buffer.alloc(40);
      body.writeUInt32BE(0x1001, 0); // SPI
      body.writeUInt32BE(seq, 4);
      const p = udp6Packet(COA, dst, 1, 2, Buffer.alloc(0));
      const out = Buffer.concat([p.subarray(0, 40), body]);
      out[6] = 50;
      out.writeUInt16BE(body.length, 4);
      return out;
    };
    const OTHER = 'fd00:1::c';
    await tb.exec('mip-ha', ['ip', 'addr', 'add', `${OTHER}/64`, 'dev', 'd6ha', 'nodad'], { check: true });
    await tb.exec('mip-mn', ['ip', 'neigh', 'replace', OTHER, 'lladdr', '02:00:00:00:01:0b', 'dev', 'd6mn', 'nud', 'permanent'], { check: true });
    expect(() => installMipIngressDrop({ ifname: 'd6ha', netns: ha.path, espTo: ['10.0.0.1'] })).toThrow(/not an IPv6 address/);
    installMipIngressDrop({ ifname: 'd6ha', netns: ha.path, espTo: [HA] });
    const mnCap = paramProblemCapture('d6mn', mn.path);
    try {
      mnIo.send([espPacket(HA, 1), espPacket(HA, 2)]);
      await until(() => atHa.length >= 2, 5000, 'tapped ESP');
      await sleep(300);
      expect(atHa.map((p) => p[6])).toEqual([50, 50]);
      expect(mnCap.got).toEqual([]); // dropped before the kernel
      mnIo.send([espPacket(OTHER, 3)]);
      await until(() => atHa.length >= 3 && mnCap.got.length >= 1, 5000, 'ESP to another address: tapped, and the kernel answers');
    } finally {
      mnCap.close();
      removeMipIngressDrop({ ifname: 'd6ha', netns: ha.path });
    }
  });

  it('nft failures name the interface and carry nft’s message', () => {
    let err: NftError | undefined;
    try {
      installMipIngressDrop({ ifname: 'd6ha', netns: '/run/netns/d6t-no-such-ns' });
    } catch (e) {
      err = e as NftError;
    }
    expect(err).toBeInstanceOf(NftError);
    expect(err!.ifname).toBe('d6ha');
    expect(err!.message).toMatch(/^nft: installing the dsmip6 ingress drop on interface 'd6ha' failed: .*d6t-no-such-ns/);
    expect(() => installMipIngressDrop({ ifname: 'bad"name' })).toThrow(NftError);
  });
});
