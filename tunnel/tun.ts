// The kernel TUN device behind the Device interface (native addon: IFF_TUN | IFF_NO_PI, batched
// reads from a uv_poll, batched writes; with `tcpOffload`, IFF_VNET_HDR: TCP segments of a batch
// written as one GSO packet, TCP super-packets read and split, native/tungro.c). Opens and closes
// the device; never configures addresses or routes (rtnetlink's job, in the daemon), never parses
// a packet in JavaScript, never throws from write().
import { countersOf, newStats, type EdgeCounters } from './counters.js';
import { DEFAULT_BATCH_SIZE, type Device, type PacketBatchHandler } from './device.js';
import { openOrThrow, TunOpenError } from './errors.js';
import { loadNative, type NativeBinding, type NativeHandle } from './native.js';
import { NativeReader, SlotBuffer, slotFor } from './slots.js';

export interface TunOptions {
  /** Interface name, at most 15 octets; may hold one '%d' (kernel numbering). Default: the kernel picks ("tun0", ...). */
  name?: string;
  /** Network namespace to create the device in, as a path (/run/netns/NAME). Default: the caller's. */
  netns?: string;
  /**
   * MTU to set (68..65535). Default: leave the kernel's (1500). Read slots are sized for the MTU at
   * open: raise it here, not later, or larger packets are dropped as truncated.
   */
  mtu?: number;
  /** Bring the link up at open. Default true. */
  up?: boolean;
  /** Packets per handler call, 1..1024. Default DEFAULT_BATCH_SIZE (64). */
  batchSize?: number;
  /**
   * Open the fd blocking. Only for measuring Node's fs.read against the addon (bench/io.ts): a
   * blocking fd with a handler would stall the event loop, so onBatch() then makes it non-blocking.
   */
  blocking?: boolean;
  /**
   * TCP offload both ways, as wireguard-go does (IFF_VNET_HDR, native/tungro.c). Writes: consecutive
   * in-order segments of one TCP flow in a batch go to the kernel as one GSO packet (every segment's
   * checksums and fields checked first), so its receive path runs once per run. Reads: the kernel
   * hands over TCP super-packets (TSO) instead of segmenting them itself, and they are split into
   * segments of the kernel's own size before the handler sees them. The handler and write() still
   * deal in bare IP packets no larger than the MTU. Default false; the daemons turn it on.
   */
  tcpOffload?: boolean;
}

export class TunDevice implements Device {
  readonly name: string;
  readonly mtu: number;
  readonly batchSize: number;
  /** Kernel interface index in the device's namespace. */
  readonly ifindex: number;
  private readonly n: NativeBinding;
  private readonly h: NativeHandle;
  private readonly stats = newStats();
  private readonly reader: NativeReader<PacketBatchHandler>;
  private closed = false;

  constructor(opts: TunOptions = {}) {
    this.n = loadNative();
    const batch = opts.batchSize ?? DEFAULT_BATCH_SIZE;
    if (!Number.isInteger(batch) || batch < 1 || batch > this.n.MAX_BATCH) {
      throw new RangeError(`batchSize ${batch}: must be an integer in 1..${this.n.MAX_BATCH}`);
    }
    if (opts.mtu !== undefined && (!Number.isInteger(opts.mtu) || opts.mtu < 68 || opts.mtu > 65535)) {
      throw new RangeError(`mtu ${opts.mtu}: must be an integer in 68..65535`);
    }
    const r = openOrThrow(TunOpenError, `TUN '${opts.name ?? '(kernel-named)'}'`, opts.netns, () =>
      this.n.tunOpen(opts.name ?? null, opts.netns ?? null, opts.mtu ?? 0, opts.up ?? true, opts.blocking ?? false, this.stats, opts.tcpOffload ?? false),
    );
    this.h = r.handle;
    this.name = r.name;
    this.mtu = r.mtu;
    this.ifindex = r.ifindex;
    this.batchSize = batch;
    const slots = new SlotBuffer(batch, slotFor(Math.max(r.mtu, 1280)));
    this.reader = new NativeReader(this.n, this.h, slots, (fn: PacketBatchHandler, count, start) => fn(slots.packets(count, start)));
  }

  /** The device's fd, for diagnostics and the fs.read benchmark. Never read or write it while a handler is set. */
  get fd(): number {
    return this.n.fd(this.h);
  }

  onBatch(handler: PacketBatchHandler | null): void {
    if (!this.closed) this.reader.set(handler);
  }

  write(packets: readonly Uint8Array[]): number {
    if (packets.length === 0) return 0;
    return this.n.tunWrite(this.h, packets, packets.length);
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

/** Opens (creates) a TUN device. Throws TunOpenError naming the device, the namespace and the errno. */
export function openTun(opts: TunOptions = {}): TunDevice {
  return new TunDevice(opts);
}

/**
 * The TUN of a daemon (ha/daemon.ts, mn/daemon.ts), up, with TCP offload (tcpOffload) unless
 * DSMIP6_TUN_OFFLOAD=0 (for comparing, or a kernel that refuses IFF_VNET_HDR or TUNSETOFFLOAD).
 * MTU 1400, not the kernel's 1500: the tunnel adds up to ~100 bytes (outer IPv6 or IPv4+UDP, ESP), and the
 * header-included raw socket does not fragment, so a full-size inner packet was lost over an IPv6 CoA
 * without a Packet Too Big to its sender. A smaller TUN MTU makes the kernel send PTB / Frag Needed and
 * lets local TCP pick a smaller MSS (test/e2e-netns-tcp.test.ts).
 */
export function openDaemonTun(name: string): TunDevice {
  return openTun({ name, up: true, mtu: 1400, tcpOffload: process.env.DSMIP6_TUN_OFFLOAD !== '0' });
}
