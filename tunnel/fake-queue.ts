// The parts shared by the in-memory fakes: the FakeEndpoint base (counters, close, refused
// sends) and the receiving half, which queues copies of what a peer sent and delivers them from
// the event loop (setImmediate, one batch per turn, like a readable fd) through the same
// reused slot memory the native reader uses, so a handler that keeps a view past its call breaks
// under the fakes exactly as it would on a real device. Never delivers synchronously inside the
// sender's call, never throws into the sender.
import { countersOf, newStats, type EdgeCounters } from './counters.js';
import { Stat } from './native.js';
import { SlotBuffer, slotFor } from './slots.js';

/** Queued packets per receiver beyond which a fake drops (a TUN's txqueuelen is 500, a socket buffer a few MiB). */
export const DEFAULT_FAKE_QUEUE_LIMIT = 4096;

export class FakeReceiver<M> {
  private readonly slots: SlotBuffer;
  private readonly queue: { bytes: Uint8Array; meta: M }[] = [];
  private head = 0;
  private scheduled = false;
  private handler: ((views: Uint8Array[], metas: M[], count: number) => void) | null = null;
  private readonly metas: M[] = [];
  /** Packets dropped because the queue was full (invisible to both ends, as a kernel queue drop is). */
  queueDrops = 0;

  constructor(
    readonly batchSize: number,
    maxPacket: number,
    private readonly stats: Float64Array,
    private readonly limit = DEFAULT_FAKE_QUEUE_LIMIT,
  ) {
    this.slots = new SlotBuffer(batchSize, slotFor(maxPacket));
  }

  /** Takes a copy; false when the queue is full. */
  push(bytes: Uint8Array, meta: M): boolean {
    if (this.queue.length - this.head >= this.limit) {
      this.queueDrops++;
      return false;
    }
    this.queue.push({ bytes: bytes.slice(), meta });
    this.schedule();
    return true;
  }

  set(handler: ((views: Uint8Array[], metas: M[], count: number) => void) | null): void {
    this.handler = handler;
    if (handler) this.schedule();
  }

  /** Drops everything queued (the device or socket was closed). */
  clear(): void {
    this.queue.length = 0;
    this.head = 0;
    this.handler = null;
  }

  private schedule(): void {
    if (this.scheduled || !this.handler || this.head >= this.queue.length) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flushOne();
      this.schedule();
    });
  }

  private flushOne(): void {
    const fn = this.handler;
    if (!fn) return;
    const s = this.slots;
    const bytes = new Uint8Array(s.data);
    let n = 0;
    while (n < s.batchSize && this.head < this.queue.length) {
      const item = this.queue[this.head++];
      if (item.bytes.length >= s.slotSize) {
        this.stats[Stat.RX_TRUNCATED] += 1;
        continue;
      }
      const off = n * s.slotSize;
      bytes.set(item.bytes, off);
      s.offs[n] = off;
      s.lens[n] = item.bytes.length;
      this.metas[n] = item.meta;
      n++;
    }
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    }
    if (n === 0) return;
    this.stats[Stat.RX_PACKETS] += n;
    this.stats[Stat.RX_BATCHES] += 1;
    fn(s.packets(n), this.metas, n);
  }
}

/** errno values the fakes report, as the native calls would. */
export const Errno = Object.freeze({ EIO: 5, EBADF: 9, EINVAL: 22 });

/**
 * What every fake end shares: its counters, its inbox, and closing. Subclasses add the
 * sending side of their interface; a refused send is counted here, never thrown.
 */
export abstract class FakeEndpoint<M> {
  protected readonly stats = newStats();
  /** @internal the queue of what this end will read */
  readonly inbox: FakeReceiver<M>;
  protected closed = false;

  constructor(
    readonly batchSize: number,
    maxPacket: number,
    queueLimit?: number,
  ) {
    this.inbox = new FakeReceiver<M>(batchSize, maxPacket, this.stats, queueLimit);
  }

  /** True once close() ran. */
  get isClosed(): boolean {
    return this.closed;
  }

  get counters(): EdgeCounters {
    return countersOf(this.stats);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.inbox.clear();
  }

  protected refuse(errno: number): void {
    this.stats[Stat.TX_ERRORS] += 1;
    this.stats[Stat.TX_LAST_ERRNO] = errno;
  }

  protected countSent(n: number): void {
    this.stats[Stat.TX_PACKETS] += n;
  }
}
