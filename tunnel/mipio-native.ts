// MipPacketIo on the kernel: an AF_PACKET tap (ETH_P_ALL, so it runs before the netdev ingress
// hook where nft.ts drops these packets) with the MIP classic-BPF filter, and a raw IPv6 socket
// (IPPROTO_RAW, header included) to send complete packets. Never sees ordinary packets (the
// filter keeps them in the kernel), never rewrites one, never throws from send().
import { countersOf, newStats, type EdgeCounters } from './counters.js';
import { DEFAULT_BATCH_SIZE, type PacketBatchHandler } from './device.js';
import { openOrThrow, PacketTapOpenError, RawSocketOpenError } from './errors.js';
import type { MipPacketIo } from './mipio.js';
import { loadNative, Stat, type NativeBinding, type NativeHandle } from './native.js';
import { NativeReader, SlotBuffer, slotFor } from './slots.js';

export interface MipPacketIoOptions {
  /** The interface to tap (where MNs' packets arrive: the HA's external link, the MN's access link). */
  ifname: string;
  /** Network namespace path holding the interface. Default: the caller's. */
  netns?: string;
  /** Packets per handler call, 1..1024. Default 64. */
  batchSize?: number;
  /** Largest packet received whole; larger ones are dropped and counted. Default 2048. */
  maxPacket?: number;
  /**
   * Send only out of this interface (SO_BINDTODEVICE; also the scope of link-local
   * destinations). Default: wherever the routing table sends each packet.
   */
  sendInterface?: string;
  /** SO_RCVBUF of the tap and SO_SNDBUF of the sender, octets. Default 4 MiB. */
  socketBuffer?: number;
}

export class NativeMipPacketIo implements MipPacketIo {
  readonly ifname: string;
  readonly batchSize: number;
  /** False on kernels before 4.20: our own outgoing packets are then skipped in user space (rxSkipped). */
  readonly ignoresOutgoing: boolean;
  private readonly n: NativeBinding;
  private readonly tap: NativeHandle;
  private readonly raw: NativeHandle;
  /** The tap counts receives, the sender sends; counters merges them. */
  private readonly rxStats = newStats();
  private readonly txStats = newStats();
  private readonly reader: NativeReader<PacketBatchHandler>;
  private closed = false;

  constructor(opts: MipPacketIoOptions) {
    this.n = loadNative();
    const batch = opts.batchSize ?? DEFAULT_BATCH_SIZE;
    if (!Number.isInteger(batch) || batch < 1 || batch > this.n.MAX_BATCH) {
      throw new RangeError(`batchSize ${batch}: must be an integer in 1..${this.n.MAX_BATCH}`);
    }
    const buf = opts.socketBuffer ?? 4 << 20;
    const tap = openOrThrow(PacketTapOpenError, `AF_PACKET tap on '${opts.ifname}'`, opts.netns, () =>
      this.n.packetOpen(opts.ifname, opts.netns ?? null, null, buf, this.rxStats),
    );
    try {
      const raw = openOrThrow(RawSocketOpenError, `raw IPv6 socket${opts.sendInterface ? ` on '${opts.sendInterface}'` : ''}`, opts.netns, () =>
        this.n.raw6Open(opts.netns ?? null, opts.sendInterface ?? null, buf, this.txStats),
      );
      this.raw = raw.handle;
    } catch (e) {
      this.n.close(tap.handle);
      throw e;
    }
    this.tap = tap.handle;
    this.ignoresOutgoing = tap.ignoreOutgoing;
    this.ifname = opts.ifname;
    this.batchSize = batch;
    const slots = new SlotBuffer(batch, slotFor(opts.maxPacket ?? 2048));
    this.reader = new NativeReader(this.n, this.tap, slots, (fn: PacketBatchHandler, count, start) => fn(slots.packets(count, start)));
  }

  onBatch(handler: PacketBatchHandler | null): void {
    if (!this.closed) this.reader.set(handler);
  }

  send(packets: readonly Uint8Array[]): number {
    if (packets.length === 0) return 0;
    return this.n.raw6Send(this.raw, packets, packets.length);
  }

  get counters(): EdgeCounters {
    const c = countersOf(this.rxStats);
    c.txPackets = this.txStats[Stat.TX_PACKETS];
    c.txErrors = this.txStats[Stat.TX_ERRORS];
    c.txLastErrno = this.txStats[Stat.TX_LAST_ERRNO];
    return c;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.n.close(this.tap);
    this.n.close(this.raw);
    this.reader.closed();
  }
}

/** Opens the tap and the sender. Throws PacketTapOpenError / RawSocketOpenError naming the interface and errno. */
export function openMipPacketIo(opts: MipPacketIoOptions): NativeMipPacketIo {
  return new NativeMipPacketIo(opts);
}
