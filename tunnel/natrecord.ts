// The HA's NAT-detection record (design Req #4, RFC 5555 §4.2 step 1): for each binding-SA SPI, the
// outer IPv4 source address and UDP port of the last UDP 4191 datagram that carried it, and when.
// tunnel/ writes it before IPsec; ha/ reads it only after ESP authenticated the BU. Bounded: the
// oldest entry is evicted. Never throws on data-plane calls, never decides anything about NAT itself.

export interface NatObservation {
  /** Outer IPv4 source (dotted quad), as the Bind reported it (after any NAT). */
  addr: string;
  /** Outer UDP source port, as the Bind reported it. */
  port: number;
  /** Clock value (ms, the caller's clock) when it was recorded. */
  at: number;
}

export const DEFAULT_NAT_RECORD_CAPACITY = 4096;

export class NatRecord {
  /** Map iteration order is insertion order: the first key is the oldest entry. */
  private readonly entries = new Map<number, NatObservation>();
  readonly capacity: number;
  /** Entries dropped to stay within capacity. */
  evicted = 0;

  constructor(capacity: number = DEFAULT_NAT_RECORD_CAPACITY) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`NatRecord capacity ${capacity}: needs an integer >= 1`);
    this.capacity = capacity;
  }

  /** Records (or refreshes, making it the newest) the observation for `spi`. */
  record(spi: number, addr: string, port: number, at: number): void {
    this.entries.delete(spi);
    this.entries.set(spi, { addr, port, at });
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as number;
      this.entries.delete(oldest);
      this.evicted++;
    }
  }

  /** The last observation for `spi` (a copy), or undefined. */
  get(spi: number): NatObservation | undefined {
    const e = this.entries.get(spi);
    return e ? { ...e } : undefined;
  }

  /** Removes and returns the observation for `spi` (ha/ after using it for one BU). */
  take(spi: number): NatObservation | undefined {
    const e = this.entries.get(spi);
    if (e) this.entries.delete(spi);
    return e;
  }

  delete(spi: number): void {
    this.entries.delete(spi);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Snapshot, oldest first. */
  list(): Array<{ spi: number } & NatObservation> {
    return [...this.entries].map(([spi, e]) => ({ spi, ...e }));
  }
}
