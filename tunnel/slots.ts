// The JS half of the addon's batched reader: the memory the addon reads packets into (one slot per
// packet in one ArrayBuffer) and the views handed to a batch handler. The addon owns the contents
// during a read; the views are valid only during the handler call, because the next readable
// event overwrites the slots. Views are cached per slot and reused while a slot's length repeats,
// so steady traffic allocates nothing per packet. Never copies a packet and never hands out a view
// past the batch the addon reported.
import type { NativeBinding, NativeHandle } from './native.js';

export class SlotBuffer {
  readonly data: ArrayBuffer;
  readonly lens: Uint32Array;
  readonly offs: Uint32Array;
  private readonly views: (Uint8Array | undefined)[];
  private readonly batch: Uint8Array[] = [];

  constructor(
    /** Reads (slots) per readable event, and the most packets one handler call gets. */
    readonly batchSize: number,
    /** Octets per slot: a packet of this size or more is dropped as truncated. */
    readonly slotSize: number,
    /** Packets the addon may report per event: batchSize, or more when one read holds several (UDP GRO). */
    readonly entries = batchSize,
  ) {
    this.data = new ArrayBuffer(batchSize * slotSize);
    this.lens = new Uint32Array(entries);
    this.offs = new Uint32Array(entries);
    this.views = new Array(entries);
  }

  /** Views of the `count` packets from entry `start` the addon reported. Valid until the next call. */
  packets(count: number, start = 0): Uint8Array[] {
    const out = this.batch;
    out.length = count;
    for (let i = 0; i < count; i++) {
      const e = start + i;
      const off = this.offs[e];
      const len = this.lens[e];
      let v = this.views[e];
      if (v === undefined || v.byteOffset !== off || v.length !== len) {
        v = new Uint8Array(this.data, off, len);
        this.views[e] = v;
      }
      out[i] = v;
    }
    return out;
  }
}

/** Slot size for packets up to `maxPacket` octets: one more, so a full slot means "too big". */
export function slotFor(maxPacket: number): number {
  return Math.max(64, Math.ceil((maxPacket + 1) / 64) * 64);
}

/**
 * Keeps the addon's reader running exactly while a handler is set. The addon holds one fixed
 * callback; replacing the handler does not restart the reader, and a handler may set null and
 * then another handler from inside its own call (the stop waits until the call returns).
 */
export class NativeReader<H> {
  private handler: H | null = null;
  private running = false;
  private delivering = false;

  constructor(
    private readonly n: NativeBinding,
    private readonly h: NativeHandle,
    private readonly slots: SlotBuffer,
    /** Called with the handler and the window [start, start + count) of the entries just read. */
    private readonly deliver: (handler: H, count: number, start: number) => void,
    private readonly meta?: { addrs: Uint32Array; ports: Uint16Array },
  ) {}

  set(handler: H | null): void {
    this.handler = handler;
    if (handler && !this.running) {
      const s = this.slots;
      this.n.readStart(this.h, s.batchSize, s.slotSize, s.data, s.lens, s.offs, this.meta?.addrs ?? null, this.meta?.ports ?? null, (count, start) => {
        const fn = this.handler;
        if (!fn) return;
        this.delivering = true;
        try {
          this.deliver(fn, count, start);
        } finally {
          this.delivering = false;
          // A handler that set null (and did not set another) stops the reader once it returns.
          if (!this.handler && this.running) this.stop();
        }
      });
      this.running = true;
    } else if (!handler && this.running && !this.delivering) {
      this.stop();
    }
  }

  /** Forget the handler after the handle was closed (the addon already stopped reading). */
  closed(): void {
    this.handler = null;
    this.running = false;
  }

  private stop(): void {
    this.n.readStop(this.h);
    this.running = false;
  }
}
