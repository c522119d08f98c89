// The kernel TUN device behind the Device interface (native addon: IFF_TUN | IFF_NO_PI, batched
// reads from a uv_poll, batched writes). Opens and closes the device; never configures addresses
// or routes (rtnetlink's job, in the daemon), never parses a packet, never throws from write().
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
      this.n.tunOpen(opts.name ?? null, opts.netns ?? null, opts.mtu ?? 0, opts.up ?? true, opts.blocking ?? false, this.stats),
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
