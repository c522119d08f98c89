// TCP offload at the TUN (tcpOffload: IFF_VNET_HDR, native/tungro.c) against the kernel, in a
// testbed network namespace. The test is a user-space TCP peer behind the TUN.
// Writes: it opens a connection to a real kernel socket (SYN written, SYN-ACK read back), then
// writes data segments in one batch. Judged by the kernel and by tshark, not by our counters alone:
//  - the kernel's cumulative ACK covers every octet (it accepted the coalesced packet), and the
//    server process receives exactly the octets sent, in order (their SHA-256);
//  - dumpcap on the TUN sees one TCP packet carrying the whole run (tcp.len of all segments);
//  - a segment with a bad TCP checksum is not merged: the kernel drops it, ACKs only up to it,
//    and takes the rest once it is sent again;
//  - IPv4 and IPv6 alike.
// Reads: a kernel socket connects to the peer and sends 200 kB; the kernel hands the TUN TCP
// super-packets (tshark sees them on the TUN), and every packet the handler gets is a segment no
// larger than the MSS the peer announced, with checksums this test verifies itself, and the octets
// reassemble to what the client sent.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ip4ToBytes, ip6ToBytes } from '../common/addr.js';
import { finish, ipv4PseudoSum, ipv6PseudoSum, sumWords } from '../common/checksum.js';
import { captureLinks, Testbed } from '../testbed/index.js';
import { openTun, type TunDevice } from '../tunnel/tun.js';
import { tempDir } from './support/tools.js';
import { tsharkFields } from './support/tshark.js';
import { until } from './support/until.js';

const NATIVE = process.getuid?.() === 0 && spawnSync('ip', ['netns', 'list'], { stdio: 'ignore' }).status === 0;
const quiet = Object.fromEntries(['all', 'default'].flatMap((k) => [[`net.ipv6.conf.${k}.router_solicitations`, 0], [`net.ipv6.conf.${k}.accept_ra`, 0]]));

const FLAG = { FIN: 0x01, SYN: 0x02, PSH: 0x08, ACK: 0x10 } as const;

interface Peer {
  v6: boolean;
  /** Our (the peer's) address behind the TUN, and the kernel socket's. */
  src: Uint8Array;
  dst: Uint8Array;
  sport: number;
  dport: number;
}

/** An IPv4 or IPv6 TCP segment, built octet by octet here (no project encoder), checksums right unless `badChecksum`. */
function segment(p: Peer, seq: number, ack: number, flags: number, payload: Uint8Array = new Uint8Array(0), opts: { badChecksum?: boolean; mss?: number } = {}): Uint8Array {
  const options = opts.mss !== undefined ? [2, 4, opts.mss >> 8, opts.mss & 0xff] : [];
  const tcpLen = 20 + options.length + payload.length;
  const ipLen = p.v6 ? 40 : 20;
  const b = new Uint8Array(ipLen + tcpLen);
  const dv = new DataView(b.buffer);
  if (p.v6) {
    b[0] = 0x60;
    dv.setUint16(4, tcpLen);
    b[6] = 6;
    b[7] = 64;
    b.set(p.src, 8);
    b.set(p.dst, 24);
  } else {
    b[0] = 0x45;
    dv.setUint16(2, b.length);
    dv.setUint16(6, 0x4000); // DF
    b[8] = 64;
    b[9] = 6;
    b.set(p.src, 12);
    b.set(p.dst, 16);
    dv.setUint16(10, finish(sumWords(b, 0, 20)));
  }
  const t = ipLen;
  dv.setUint16(t, p.sport);
  dv.setUint16(t + 2, p.dport);
  dv.setUint32(t + 4, seq >>> 0);
  dv.setUint32(t + 8, ack >>> 0);
  b[t + 12] = ((20 + options.length) / 4) << 4;
  b[t + 13] = flags;
  dv.setUint16(t + 14, 65535);
  b.set(options, t + 20);
  b.set(payload, t + 20 + options.length);
  const pseudo = p.v6 ? ipv6PseudoSum(p.src, p.dst, tcpLen, 6) : ipv4PseudoSum(p.src, p.dst, tcpLen, 6);
  let c = finish(sumWords(b, t, tcpLen, pseudo));
  if (opts.badChecksum) c ^= 0x0101;
  dv.setUint16(t + 16, c);
  return b;
}

/** The TCP header fields of a packet the kernel wrote into the TUN (to our peer address), or undefined. */
function tcpOf(pk: Uint8Array, p: Peer): { seq: number; ack: number; flags: number } | undefined {
  const v6 = pk[0] >> 4 === 6;
  if (v6 !== p.v6) return undefined;
  const t = v6 ? 40 : (pk[0] & 15) * 4;
  if ((v6 ? pk[6] : pk[9]) !== 6 || pk.length < t + 20) return undefined;
  const dv = new DataView(pk.buffer, pk.byteOffset, pk.byteLength);
  if (dv.getUint16(t + 2) !== p.sport) return undefined;
  return { seq: dv.getUint32(t + 4), ack: dv.getUint32(t + 8), flags: pk[t + 13] };
}

/** True when the TCP checksum of an IPv4 or IPv6 packet verifies (computed here, not by tungro.c). */
function tcpChecksumOk(pk: Uint8Array): boolean {
  const v6 = pk[0] >> 4 === 6;
  const t = v6 ? 40 : (pk[0] & 15) * 4;
  const len = pk.length - t;
  const pseudo = v6 ? ipv6PseudoSum(pk.subarray(8, 24), pk.subarray(24, 40), len, 6) : ipv4PseudoSum(pk.subarray(12, 16), pk.subarray(16, 20), len, 6);
  return finish(sumWords(pk, t, len, pseudo)) === 0 && (v6 || finish(sumWords(pk, 0, t)) === 0);
}

describe.skipIf(!NATIVE)('TUN with tcpOffload (native/tungro.c)', () => {
  let tb: Testbed;
  let tun: TunDevice;
  let nsName = '';
  const tmp = tempDir('dsmip6-gro-');
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    tb = await Testbed.create({ hosts: [{ name: 'gro', sysctls: quiet }] }, { prefix: 'd6tg' });
    nsName = tb.nsName('gro');
    tun = openTun({ name: 'd6gro0', netns: `/run/netns/${nsName}`, mtu: 1400, batchSize: 64, tcpOffload: true });
    spawnSync('ip', ['-n', nsName, 'addr', 'add', 'fd00:79::1/64', 'dev', 'd6gro0', 'nodad'], { stdio: 'ignore' });
    spawnSync('ip', ['-n', nsName, 'addr', 'add', '10.79.0.1/24', 'dev', 'd6gro0'], { stdio: 'ignore' });
  });
  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    tun?.close();
    await tb?.destroy();
    tmp.cleanup();
  });

  /** A server in the namespace that reads `expect` octets from one connection and prints their length and SHA-256. */
  function server(addr: string, port: number, expect: number): { ready: Promise<void>; result: Promise<{ bytes: number; sha256: string }> } {
    const js = `
      const h = require('crypto').createHash('sha256'); let n = 0;
      const s = require('net').createServer((c) => c.on('data', (d) => { h.update(d); n += d.length;
        if (n >= ${expect}) { console.log(JSON.stringify({ bytes: n, sha256: h.digest('hex') })); process.exit(0); } }));
      s.listen(${port}, '${addr}', () => console.log('ready'));`;
    const c = tb.spawn('gro', [process.execPath, '-e', js]);
    children.push(c);
    let out = '';
    const result = new Promise<{ bytes: number; sha256: string }>((resolve, reject) => {
      c.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (line) resolve(JSON.parse(line));
      });
      c.once('exit', (code) => setTimeout(() => reject(new Error(`server exited ${code}: ${out}`)), 100));
    });
    result.catch(() => {}); // awaited by the test; an early exit must not be an unhandled rejection
    return { ready: until(() => out.includes('ready'), 5000, 'server ready'), result };
  }

  it('takes any bytes without harm: mutated and cut segments in coalescable batches are written or refused, each counted once', () => {
    // Seeded xorshift: the same cases every run.
    let x = 0x9e3779b9;
    const rnd = (n: number): number => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) % n;
    };
    const peers: Peer[] = [
      { v6: true, src: ip6ToBytes('fd00:79::5'), dst: ip6ToBytes('fd00:79::1'), sport: 41000, dport: 9 },
      { v6: false, src: ip4ToBytes('10.79.0.5'), dst: ip4ToBytes('10.79.0.1'), sport: 41001, dport: 9 },
    ];
    const before = tun.counters;
    let asked = 0;
    for (let round = 0; round < 2000; round++) {
      const p = peers[round % 2]!;
      const n = 1 + rnd(12);
      const batch: Uint8Array[] = [];
      for (let i = 0; i < n; i++) {
        let pk = segment(p, 7000 + i * 100, 1, FLAG.ACK, new Uint8Array(100).fill(i));
        const cut = rnd(4) === 0;
        if (cut) pk = pk.subarray(0, rnd(pk.length) + 1);
        for (let m = rnd(3); m > 0; m--) pk[rnd(pk.length)] = rnd(256);
        batch.push(pk);
      }
      const written = tun.write(batch);
      expect(written).toBeGreaterThanOrEqual(0);
      expect(written).toBeLessThanOrEqual(n);
      asked += n;
    }
    const c = tun.counters;
    // Every packet asked is either taken by the kernel or refused (EINVAL for a malformed one), once.
    expect(c.txPackets - before.txPackets + (c.txErrors - before.txErrors)).toBe(asked);
    expect(c.txCoalesced - before.txCoalesced).toBeGreaterThan(0); // some batches still coalesced
  });

  for (const v6 of [true, false]) {
    it(`${v6 ? 'IPv6' : 'IPv4'}: TCP super-packets the kernel hands over are split into checked segments of its size`, async () => {
      const p: Peer = v6
        ? { v6, src: ip6ToBytes('fd00:79::3'), dst: ip6ToBytes('fd00:79::1'), sport: 5701, dport: 0 }
        : { v6, src: ip4ToBytes('10.79.0.3'), dst: ip4ToBytes('10.79.0.1'), sport: 5702, dport: 0 };
      const N = 200_000;
      const MSS = 1000;
      const js = `
        const d = Buffer.alloc(${N}); for (let i = 0; i < d.length; i++) d[i] = (i * 7 + (i >> 9)) & 0xff;
        const c = require('net').connect(${p.sport}, '${v6 ? 'fd00:79::3' : '10.79.0.3'}', () => c.end(d));
        c.on('error', (e) => { console.error(e.message); process.exit(1); });
        console.log(require('crypto').createHash('sha256').update(d).digest('hex'));`;
      const client = tb.spawn('gro', [process.execPath, '-e', js]);
      children.push(client);
      let sha = '';
      client.stdout!.on('data', (b: Buffer) => (sha += b.toString()));

      const isn = 5000;
      let peerIsn = -1;
      const got = new Map<number, Uint8Array>();
      let rcvNxt = 0;
      const bad: string[] = [];
      let largest = 0;
      const before = tun.counters;
      tun.onBatch((pkts) => {
        const acks: Uint8Array[] = [];
        for (const pk of pkts) {
          const v = pk[0] >> 4 === 6;
          if (v !== v6) continue;
          const t = v ? 40 : (pk[0] & 15) * 4;
          const dv = new DataView(pk.buffer, pk.byteOffset, pk.byteLength);
          if (dv.getUint16(t + 2) !== p.sport) continue;
          if (pk.length > 1400) bad.push(`packet of ${pk.length} octets`);
          if (!tcpChecksumOk(pk)) bad.push(`bad checksum at seq ${dv.getUint32(t + 4)}`);
          const flags = pk[t + 13]!;
          const seq = dv.getUint32(t + 4);
          if (flags & FLAG.SYN) {
            p.dport = dv.getUint16(t);
            peerIsn = seq;
            rcvNxt = (seq + 1) >>> 0;
            acks.push(segment(p, isn, rcvNxt, FLAG.SYN | FLAG.ACK, undefined, { mss: MSS }));
            continue;
          }
          const payload = pk.subarray(t + (pk[t + 12]! >> 4) * 4);
          if (payload.length > MSS) bad.push(`segment of ${payload.length} octets over MSS ${MSS}`);
          largest = Math.max(largest, payload.length);
          if (payload.length) got.set(seq, Uint8Array.from(payload));
          while (got.has(rcvNxt)) rcvNxt = (rcvNxt + got.get(rcvNxt)!.length) >>> 0;
          if (flags & FLAG.FIN && seq === rcvNxt) rcvNxt = (rcvNxt + 1) >>> 0;
        }
        if (peerIsn >= 0) acks.push(segment(p, isn + 1, rcvNxt, FLAG.ACK));
        tun.write(acks);
      });
      const cap = await captureLinks(tb, join(tmp.dir, v6 ? 'tso6' : 'tso4'), { points: [{ link: 'tun', host: 'gro', ifname: 'd6gro0' }] });
      let file = '';
      try {
        await until(() => peerIsn >= 0 && ((rcvNxt - peerIsn) >>> 0) >= N + 1, 15_000, `${N} octets from the client`);
      } finally {
        tun.onBatch(null);
        file = (await cap.stop())[0]!.file;
      }
      expect(bad).toEqual([]);
      expect(largest).toBe(MSS);
      const data = Buffer.concat([...got.entries()].sort((a, b) => ((a[0] - peerIsn) >>> 0) - ((b[0] - peerIsn) >>> 0)).map(([, v]) => v));
      expect(data.length).toBe(N);
      await until(() => sha.trim().length === 64, 5000, 'the client\'s SHA-256');
      expect(createHash('sha256').update(data).digest('hex')).toBe(sha.trim());
      // The kernel handed over super-packets (tshark on the TUN's transmit side), and they were split here.
      const lens = tsharkFields(file)
        .filter((f) => (f.get('tcp.dstport') ?? [])[0] === String(p.sport))
        .map((f) => Number((f.get('tcp.len') ?? ['0'])[0]));
      expect(Math.max(...lens)).toBeGreaterThan(MSS);
      expect(tun.counters.rxCoalesced - before.rxCoalesced).toBeGreaterThan(0);
      expect(tun.counters.rxTruncated - before.rxTruncated).toBe(0);
    });

    it(`${v6 ? 'IPv6' : 'IPv4'}: a batch of in-order segments reaches the kernel as one packet, and every octet arrives`, async () => {
      const p: Peer = v6
        ? { v6, src: ip6ToBytes('fd00:79::2'), dst: ip6ToBytes('fd00:79::1'), sport: 40001, dport: 5601 }
        : { v6, src: ip4ToBytes('10.79.0.2'), dst: ip4ToBytes('10.79.0.1'), sport: 40002, dport: 5602 };
      const SEG = 1000;
      const first = 20; // one run
      const second = 10; // a run, a corrupt segment, a run
      const data = createHash('sha256').update('gro').digest(); // 32 octets to repeat
      const payload = (i: number): Uint8Array => Uint8Array.from({ length: SEG }, (_, k) => data[(i * SEG + k) % 32]! ^ (i & 0xff));
      const all = Buffer.concat(Array.from({ length: first + second }, (_, i) => payload(i)));
      const srv = server(v6 ? 'fd00:79::1' : '10.79.0.1', p.dport, all.length);
      await srv.ready;

      const seen: { seq: number; ack: number; flags: number }[] = [];
      tun.onBatch((pkts) => {
        for (const pk of pkts) {
          const t = tcpOf(pk, p);
          if (t) seen.push(t);
        }
      });
      const errors0 = tun.counters.txErrors;
      const cap = await captureLinks(tb, join(tmp.dir, v6 ? 'v6' : 'v4'), { points: [{ link: 'tun', host: 'gro', ifname: 'd6gro0' }] });
      let file = '';
      try {
        // Handshake: our ISN 1000; the kernel's from its SYN-ACK.
        const isn = 1000;
        expect(tun.write([segment(p, isn, 0, FLAG.SYN, undefined, { mss: 1360 })])).toBe(1);
        await until(() => seen.some((s) => s.flags === (FLAG.SYN | FLAG.ACK)), 5000, 'SYN-ACK');
        const synAck = seen.find((s) => s.flags === (FLAG.SYN | FLAG.ACK))!;
        expect(synAck.ack).toBe(isn + 1);
        const ack = (synAck.seq + 1) >>> 0;
        expect(tun.write([segment(p, isn + 1, ack, FLAG.ACK)])).toBe(1);
        const seqOf = (i: number): number => isn + 1 + i * SEG;
        const acked = (upTo: number) => () => seen.some((s) => (s.flags & FLAG.ACK) !== 0 && s.ack === seqOf(upTo));

        // 1. Twenty segments in one write: one run.
        const before = tun.counters;
        const batch1 = Array.from({ length: first }, (_, i) => segment(p, seqOf(i), ack, i === first - 1 ? FLAG.ACK | FLAG.PSH : FLAG.ACK, payload(i)));
        expect(tun.write(batch1)).toBe(first);
        await until(acked(first), 5000, `the kernel's ACK of ${first} segments`);
        expect(tun.counters.txCoalesced - before.txCoalesced).toBe(first);

        // 2. Segments 20..24 good, 25 with a bad checksum, 26..29 good: two runs around it.
        const bad = first + 5;
        const batch2 = Array.from({ length: second }, (_, k) => {
          const i = first + k;
          return segment(p, seqOf(i), ack, FLAG.ACK, payload(i), { badChecksum: i === bad });
        });
        const mid = tun.counters;
        expect(tun.write(batch2)).toBe(second); // the kernel takes the write, then drops the bad segment
        await until(acked(bad), 5000, 'the ACK up to the corrupt segment');
        // Two runs: 5 before the corrupt segment, 4 after it; the corrupt one went alone.
        expect(tun.counters.txCoalesced - mid.txCoalesced).toBe(second - 1);
        await new Promise((r) => setTimeout(r, 100));
        expect(seen.some((s) => s.ack === seqOf(first + second))).toBe(false); // nothing past the hole
        // The segment again, right: the kernel now has everything.
        expect(tun.write([segment(p, seqOf(bad), ack, FLAG.ACK | FLAG.PSH, payload(bad))])).toBe(1);
        await until(acked(first + second), 5000, 'the ACK of every octet');

        const r = await srv.result;
        expect(r.bytes).toBe(all.length);
        expect(r.sha256).toBe(createHash('sha256').update(all).digest('hex'));
        expect(tun.counters.txErrors).toBe(errors0);
      } finally {
        tun.onBatch(null);
        file = (await cap.stop())[0]!.file;
      }
      // tshark's view of what entered the kernel from the TUN: each run as one packet.
      const frames = tsharkFields(file).filter((f) => (f.get('tcp.srcport') ?? [])[0] === String(p.sport));
      const lens = frames.map((f) => Number((f.get('tcp.len') ?? ['0'])[0]));
      expect(lens).toContain(first * SEG);
      expect(lens).toContain(5 * SEG);
      expect(lens).toContain(4 * SEG);
    });
  }
});
