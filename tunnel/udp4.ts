// UDP over IPv4 behind the Bind interface (native addon: recvmmsg/sendmmsg in batches, each
// datagram's source address and port as the kernel reports them). Never connects, never reuses
// a port another socket holds (that is a UdpBindError), never throws from send().
import { DSMIP_UDP_PORT, type Bind, type DatagramBatchHandler, type OutgoingDatagram, type ReceivedDatagram } from './bind.js';
import { countersOf, newStats, type EdgeCounters } from './counters.js';
import { DEFAULT_BATCH_SIZE } from './device.js';
import { openOrThrow, UdpBindError } from './errors.js';
import { ipv4ToNumber, numberToIpv4 } from './ipv4text.js';
import { loadNative, Stat, type NativeBinding, type NativeHandle } from './native.js';
import { NativeReader, SlotBuffer, slotFor } from './slots.js';

export interface Udp4BindOptions {
  /** Local address. Default '0.0.0.0' (any). */
  address?: string;
  /** Local port; 0 lets the kernel choose. Default 4191 (RFC 5555). */
  port?: number;
  /** Network namespace path to open the socket in. Default: the caller's. */
  netns?: string;
  /** Datagrams per handler call, 1..1024. Default 64. */
  batchSize?: number;
  /** Largest datagram received whole; larger ones are dropped and counted. Default 2048. */
  maxDatagram?: number;
  /** SO_RCVBUF and SO_SNDBUF in octets (forced past the sysctl limit as root). Default 4 MiB. */
  socketBuffer?: number;
  /**
   * Send runs of same-size datagrams to one destination as one UDP_SEGMENT (GSO) message; the
   * kernel cuts them back into the same datagrams, so the peer cannot tell. Falls back to one by
   * one by itself where the path refuses. Default true.
   */
  gso?: boolean;
  /**
   * Let the kernel hand over runs of datagrams from one source coalesced (UDP_GRO, where the
   * interface does GRO or the sender used GSO); they are split back before the handler sees
   * them, so it cannot tell. Costs 64 KiB of read buffer per batch slot. Default true.
   */
  gro?: boolean;
}

/** Most datagrams the kernel coalesces into one GRO read (UDP_GRO_CNT_MAX). */
const GRO_MAX_SEGMENTS = 64;

export class Udp4Bind implements Bind {
  readonly localAddress: string;
  readonly localPort: number;
  readonly batchSize: number;
  /** True when the kernel took UDP_GRO: reads may arrive coalesced (and are split again). */
  readonly gro: boolean;
  private readonly n: NativeBinding;
  private readonly h: NativeHandle;
  private readonly stats = newStats();
  private readonly reader: NativeReader<DatagramBatchHandler>;
  private readonly records: ReceivedDatagram[] = [];
  private readonly out: ReceivedDatagram[] = [];
  private txData: Uint8Array[] = [];
  private txAddrs = new Uint32Array(64);
  private txPorts = new Uint16Array(64);
  private closed = false;

  constructor(opts: Udp4BindOptions = {}) {
    this.n = loadNative();
    const batch = opts.batchSize ?? DEFAULT_BATCH_SIZE;
    if (!Number.isInteger(batch) || batch < 1 || batch > this.n.MAX_BATCH) {
      throw new RangeError(`batchSize ${batch}: must be an integer in 1..${this.n.MAX_BATCH}`);
    }
    const maxDatagram = opts.maxDatagram ?? 2048;
    if (!Number.isInteger(maxDatagram) || maxDatagram < 1 || maxDatagram > 65535) {
      throw new RangeError(`maxDatagram ${maxDatagram}: must be an integer in 1..65535`);
    }
    const address = opts.address ?? '0.0.0.0';
    const port = opts.port ?? DSMIP_UDP_PORT;
    const r = openOrThrow(UdpBindError, `UDP socket ${address}:${port}`, opts.netns, () =>
      this.n.udp4Open(address, port, opts.netns ?? null, opts.socketBuffer ?? 4 << 20, this.stats),
    );
    this.h = r.handle;
    if (opts.gso === false) this.n.udp4SetGso(this.h, false);
    this.localAddress = r.address;
    this.localPort = r.port;
    this.batchSize = batch;
    const gro = opts.gro !== false && this.n.udp4SetGro(this.h, true, maxDatagram);
    this.gro = gro;
    const slots = gro ? new SlotBuffer(batch, 65536, batch * GRO_MAX_SEGMENTS) : new SlotBuffer(batch, slotFor(maxDatagram));
    const addrs = new Uint32Array(slots.entries);
    const ports = new Uint16Array(slots.entries);
    for (let i = 0; i < batch; i++) this.records.push({ data: new Uint8Array(0), srcAddr: '', srcPort: 0 });
    this.reader = new NativeReader(
      this.n,
      this.h,
      slots,
      (fn: DatagramBatchHandler, count, start) => {
        const views = slots.packets(count, start);
        const out = this.out;
        out.length = count;
        for (let i = 0; i < count; i++) {
          const r = this.records[i];
          r.data = views[i];
          r.srcAddr = numberToIpv4(addrs[start + i]);
          r.srcPort = ports[start + i];
          out[i] = r;
        }
        fn(out);
      },
      { addrs, ports },
    );
  }

  onBatch(handler: DatagramBatchHandler | null): void {
    if (!this.closed) this.reader.set(handler);
  }

  send(datagrams: readonly OutgoingDatagram[]): number {
    const count = datagrams.length;
    if (count === 0) return 0;
    if (count > this.txAddrs.length) {
      this.txAddrs = new Uint32Array(count);
      this.txPorts = new Uint16Array(count);
    }
    const data = this.txData;
    data.length = 0;
    let bad = 0;
    for (let i = 0; i < count; i++) {
      const d = datagrams[i];
      const a = ipv4ToNumber(d.dstAddr);
      const port = d.dstPort;
      if (a < 0 || !Number.isInteger(port) || port < 1 || port > 65535 || !(d.data instanceof Uint8Array)) {
        bad++; // counted below, skipped here: one bad datagram must not cost the others
        continue;
      }
      this.txAddrs[data.length] = a;
      this.txPorts[data.length] = port;
      data.push(d.data);
    }
    if (bad > 0) {
      this.stats[Stat.TX_ERRORS] += bad;
      this.stats[Stat.TX_LAST_ERRNO] = 22; // EINVAL
    }
    const sent = data.length ? this.n.udp4Send(this.h, data, this.txAddrs, this.txPorts, data.length) : 0;
    data.length = 0; // never keep the caller's buffers
    return sent;
  }

  get counters(): EdgeCounters {
    return countersOf(this.stats);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.n.close(this.h);
    this.reader.closed();
  }
}

/** Opens a UDP over IPv4 socket. Throws UdpBindError naming the address, port, namespace and errno. */
export function openUdp4Bind(opts: Udp4BindOptions = {}): Udp4Bind {
  return new Udp4Bind(opts);
}
