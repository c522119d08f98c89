// One role of the I/O benchmark (bench/io.ts), run as a child process inside one of its testbed
// network namespaces (`ip netns exec NS node dist/bench/io-worker.js ROLE ...`), so that node:dgram
// sockets, which cannot be opened in another namespace, measure on the same footing as the addon.
// Talks to bench/io.ts in lines: it prints "ready" (and per-round markers) and JSON results, and
// reads commands from stdin where a role needs them. Sends only to the addresses it is given (all
// inside the benchmark's namespaces); never writes files.
import dgram from 'node:dgram';
import { read, writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { newStats } from '../tunnel/counters.js';
import { loadNative } from '../tunnel/native.js';
import { SlotBuffer } from '../tunnel/slots.js';
import { openTun } from '../tunnel/tun.js';
import { openUdp4Bind } from '../tunnel/udp4.js';

const BATCH = 64;
/** SO_RCVBUF/SO_SNDBUF asked for by both methods (node:dgram is capped at net.core.rmem_max; the kernel doubles it). */
const SOCKET_BUFFER = 4 << 20;

function out(obj: unknown): void {
  process.stdout.write(`${typeof obj === 'string' ? obj : JSON.stringify(obj)}\n`);
}
const now = () => performance.now();
const turn = () => new Promise((r) => setImmediate(r));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Blocks this thread, and so the event loop: a socket fills while nobody reads it. */
function spin(ms: number): void {
  const end = now() + ms;
  while (now() < end);
}

/**
 * gen DST PORT SIZE SECONDS [GSO]: offered load: floods UDP datagrams (addon sendmmsg, 64 a call)
 * for SECONDS; GSO "0" sends every datagram through the stack on its own (no UDP_SEGMENT runs).
 */
async function gen(dst: string, port: number, size: number, seconds: number, gso = true): Promise<void> {
  const sock = openUdp4Bind({ address: '0.0.0.0', port: 0, socketBuffer: SOCKET_BUFFER, gso });
  const batch = Array.from({ length: BATCH }, () => ({ data: Buffer.alloc(size, 0x5a), dstAddr: dst, dstPort: port }));
  out('ready');
  let sent = 0;
  const t0 = now();
  const end = t0 + seconds * 1000;
  while (now() < end) {
    for (let i = 0; i < 16; i++) sent += sock.send(batch);
    await turn(); // stay responsive to signals
  }
  out({ sent, seconds: (now() - t0) / 1000, refused: sock.counters.txErrors });
  sock.close();
}

/** gen-serve DST PORT SIZE: for each line "N" on stdin sends exactly N datagrams, then prints "sent N". */
async function genServe(dst: string, port: number, size: number): Promise<void> {
  const sock = openUdp4Bind({ address: '0.0.0.0', port: 0, socketBuffer: SOCKET_BUFFER });
  const batch = Array.from({ length: BATCH }, () => ({ data: Buffer.alloc(size, 0x5a), dstAddr: dst, dstPort: port }));
  out('ready');
  for await (const line of createInterface({ input: process.stdin })) {
    const count = Number(line);
    let sent = 0;
    while (sent < count) sent += sock.send(count - sent >= BATCH ? batch : batch.slice(0, count - sent));
    out(`sent ${sent}`);
  }
  sock.close();
}

/** udp-recv METHOD ADDR PORT WARMUP SECONDS: counts what arrives in a window (the forwarding benchmark's sink). */
async function udpRecv(method: string, addr: string, port: number, warmupS: number, seconds: number): Promise<void> {
  let n = 0;
  let close: () => void;
  if (method === 'addon') {
    const b = openUdp4Bind({ address: addr, port, socketBuffer: SOCKET_BUFFER });
    b.onBatch((ds) => {
      n += ds.length;
    });
    close = () => b.close();
  } else {
    const s = dgram.createSocket({ type: 'udp4', recvBufferSize: SOCKET_BUFFER });
    s.on('message', () => {
      n++;
    });
    await new Promise<void>((r) => s.bind(port, addr, () => r()));
    close = () => s.close();
  }
  out('ready');
  await sleep(warmupS * 1000);
  const c0 = n;
  const t0 = now();
  await sleep(seconds * 1000);
  const r = { packets: n - c0, seconds: (now() - t0) / 1000 };
  close();
  out(r);
}

/**
 * udp-drain METHOD ADDR PORT ROUNDS SPINMS: per round prints "spin R", blocks its event loop for
 * SPINMS while bench/io.ts has a generator fill the socket buffer, then reads it empty with the
 * addon (recvmmsg; 'addon' with UDP_GRO, 'addon-nogro' without, 'floor' the bare native reader)
 * or node:dgram and prints
 * "drained R {packets, seconds}": the cost of receiving alone, whatever the generator's speed.
 */
async function udpDrain(method: string, addr: string, port: number, rounds: number, spinMs: number): Promise<void> {
  let n = 0;
  let last = 0;
  let close: () => void;
  if (method === 'floor') {
    // The addon's reader with nothing on top (no views, no records, GRO off): what the kernel's
    // recvmmsg costs per datagram, the floor under 'addon-nogro'.
    const n_ = loadNative();
    const u = n_.udp4Open(addr, port, null, SOCKET_BUFFER, newStats());
    const slots = new SlotBuffer(BATCH, 2112);
    n_.readStart(u.handle, BATCH, slots.slotSize, slots.data, slots.lens, slots.offs, new Uint32Array(BATCH), new Uint16Array(BATCH), (count) => {
      n += count;
      last = now();
    });
    close = () => n_.close(u.handle);
  } else if (method === 'addon' || method === 'addon-nogro') {
    const b = openUdp4Bind({ address: addr, port, socketBuffer: SOCKET_BUFFER, gro: method === 'addon' });
    b.onBatch((ds) => {
      n += ds.length;
      last = now();
    });
    close = () => b.close();
  } else {
    const s = dgram.createSocket({ type: 'udp4', recvBufferSize: SOCKET_BUFFER });
    s.on('message', () => {
      n++;
      last = now();
    });
    await new Promise<void>((r) => s.bind(port, addr, () => r()));
    close = () => s.close();
  }
  out('ready');
  for (let r = 0; r < rounds; r++) {
    n = 0;
    out(`spin ${r}`);
    spin(spinMs);
    const t0 = now();
    while (n === 0 || now() - last < 50) await sleep(5);
    out(`drained ${r} ${JSON.stringify({ packets: n, seconds: (last - t0) / 1000 })}`);
  }
  close();
}

/**
 * udp-send METHOD DST PORT SIZE COUNT ROUNDS: per round, sends COUNT datagrams with the addon
 * (sendmmsg, 64 a call; 'addon' coalesces same-destination runs with UDP GSO, 'addon-nogso' does
 * not) or node:dgram (send() each, every callback awaited) and prints the time.
 */
async function udpSend(method: string, dst: string, port: number, size: number, count: number, rounds: number): Promise<void> {
  const payload = Buffer.alloc(size, 0x5a);
  out('ready');
  if (method === 'addon' || method === 'addon-nogso') {
    const b = openUdp4Bind({ address: '0.0.0.0', port: 0, socketBuffer: SOCKET_BUFFER, gso: method === 'addon' });
    const batch = Array.from({ length: BATCH }, () => ({ data: payload, dstAddr: dst, dstPort: port }));
    for (let r = 0; r < rounds; r++) {
      const t0 = now();
      let sent = 0;
      const last = batch.slice(0, count % BATCH || BATCH);
      while (sent < count) {
        sent += b.send(count - sent >= BATCH ? batch : last);
        if (b.counters.txErrors > 0) break;
      }
      out({ sent, errors: b.counters.txErrors, seconds: (now() - t0) / 1000 });
      await turn();
    }
    b.close();
  } else {
    const s = dgram.createSocket({ type: 'udp4', sendBufferSize: SOCKET_BUFFER });
    await new Promise<void>((r) => s.bind(0, () => r()));
    for (let r = 0; r < rounds; r++) {
      let sent = 0;
      let errors = 0;
      const t0 = now();
      await new Promise<void>((resolve) => {
        const done = (err: Error | null) => {
          if (err) errors++;
          else sent++;
          if (sent + errors === count) resolve();
        };
        for (let i = 0; i < count; i++) s.send(payload, port, dst, done);
      });
      out({ sent, errors, seconds: (now() - t0) / 1000 });
    }
    s.close();
  }
}

/**
 * fwd-node-a TUN DST PORT SECONDS: the pure-Node forwarder's first half: fs.read on a TUN (opened
 * blocking by the addon, since Node cannot issue TUNSETIFF), each packet sent whole in a
 * node:dgram datagram to DST:PORT.
 */
async function fwdNodeA(tunName: string, dst: string, port: number, seconds: number): Promise<void> {
  const tun = openTun({ name: tunName, blocking: true });
  const fd = tun.fd;
  const s = dgram.createSocket({ type: 'udp4', sendBufferSize: SOCKET_BUFFER });
  await new Promise<void>((r) => s.bind(0, () => r()));
  out('ready');
  let n = 0;
  let stop = false;
  const buf = Buffer.alloc(2048);
  const loop = () =>
    read(fd, buf, 0, buf.length, null, (err, len) => {
      if (!err && len > 0) {
        s.send(Buffer.from(buf.subarray(0, len)), port, dst);
        n++;
      }
      if (!stop) loop();
    });
  loop();
  await sleep(seconds * 1000);
  stop = true;
  out({ forwarded: n });
  process.exit(0); // a read may still wait in the threadpool; the TUN goes with the process
}

/** fwd-node-b TUN PORT SECONDS: the second half: node:dgram 'message' -> fs.writeSync into a TUN. */
async function fwdNodeB(tunName: string, port: number, seconds: number): Promise<void> {
  const tun = openTun({ name: tunName, blocking: true });
  const fd = tun.fd;
  const s = dgram.createSocket({ type: 'udp4', recvBufferSize: SOCKET_BUFFER });
  let n = 0;
  s.on('message', (m) => {
    try {
      writeSync(fd, m);
      n++;
    } catch {
      // dropped, as a forwarder does
    }
  });
  await new Promise<void>((r) => s.bind(port, '0.0.0.0', () => r()));
  out('ready');
  await sleep(seconds * 1000);
  out({ forwarded: n });
  s.close();
  tun.close();
}

/** fwd-addon-a TUN DST PORT SECONDS: the addon forwarder's first half: TUN batches -> UDP batches (GSO). */
async function fwdAddonA(tunName: string, dst: string, port: number, seconds: number): Promise<void> {
  const tun = openTun({ name: tunName });
  const udp = openUdp4Bind({ address: '0.0.0.0', port: 0, socketBuffer: SOCKET_BUFFER });
  const batch: { data: Uint8Array; dstAddr: string; dstPort: number }[] = [];
  let n = 0;
  tun.onBatch((pkts) => {
    batch.length = pkts.length;
    for (let i = 0; i < pkts.length; i++) {
      const d = batch[i] ?? (batch[i] = { data: pkts[i], dstAddr: dst, dstPort: port });
      d.data = pkts[i];
    }
    n += udp.send(batch);
  });
  out('ready');
  await sleep(seconds * 1000);
  out({ forwarded: n });
  tun.close();
  udp.close();
}

/** fwd-addon-b TUN PORT SECONDS: the second half: UDP batches (GRO) -> TUN batches. */
async function fwdAddonB(tunName: string, port: number, seconds: number): Promise<void> {
  const tun = openTun({ name: tunName });
  const udp = openUdp4Bind({ address: '0.0.0.0', port, socketBuffer: SOCKET_BUFFER });
  const inner: Uint8Array[] = [];
  let n = 0;
  udp.onBatch((ds) => {
    inner.length = ds.length;
    for (let i = 0; i < ds.length; i++) inner[i] = ds[i].data;
    n += tun.write(inner);
  });
  out('ready');
  await sleep(seconds * 1000);
  out({ forwarded: n });
  tun.close();
  udp.close();
}

async function main(): Promise<void> {
  const [role, ...a] = process.argv.slice(2);
  switch (role) {
    case 'gen':
      return gen(a[0], Number(a[1]), Number(a[2]), Number(a[3]), a[4] !== '0');
    case 'gen-serve':
      return genServe(a[0], Number(a[1]), Number(a[2]));
    case 'udp-recv':
      return udpRecv(a[0], a[1], Number(a[2]), Number(a[3]), Number(a[4]));
    case 'udp-drain':
      return udpDrain(a[0], a[1], Number(a[2]), Number(a[3]), Number(a[4]));
    case 'udp-send':
      return udpSend(a[0], a[1], Number(a[2]), Number(a[3]), Number(a[4]), Number(a[5]));
    case 'fwd-addon-a':
      return fwdAddonA(a[0], a[1], Number(a[2]), Number(a[3]));
    case 'fwd-addon-b':
      return fwdAddonB(a[0], Number(a[1]), Number(a[2]));
    case 'fwd-node-a':
      return fwdNodeA(a[0], a[1], Number(a[2]), Number(a[3]));
    case 'fwd-node-b':
      return fwdNodeB(a[0], Number(a[1]), Number(a[2]));
    default:
      throw new Error(`unknown role ${role}`);
  }
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
