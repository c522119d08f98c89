// The narrow batch interface to a TUN-like device, in the spirit of wireguard-go's tun.Device:
// whole IP packets in, whole IP packets out, many per call. What sits above it (the tunnel's
// HoA/CoA rewrite, IPsec) never knows whether it is a kernel TUN or an in-memory fake.
// Implementations must never throw from write() or from delivering a batch, never parse the
// packets they carry, and never keep a packet array the caller passed to write().
import type { EdgeCounters } from './counters.js';

/**
 * Receives one batch. The array and every view in it are valid ONLY during the call: the next
 * batch reuses the same memory. Copy (`Uint8Array.from(p)`, `Buffer.from(p)`) what must outlive
 * it. Rewriting a packet in place during the call is allowed (and cheap).
 */
export type PacketBatchHandler = (packets: readonly Uint8Array[]) => void;

/** Packets per batch when an implementation is not told otherwise (wireguard-go uses 128). */
export const DEFAULT_BATCH_SIZE = 64;

export interface Device {
  /** Interface name (kernel name for a TUN). */
  readonly name: string;
  /** Largest packet the device carries; reads drop (and count) larger ones. */
  readonly mtu: number;
  /** Most packets one handler call carries. */
  readonly batchSize: number;
  /**
   * Sets the one batch handler (null stops reading). Reading starts when a handler is set;
   * batches arrive from the event loop, never synchronously inside this call.
   */
  onBatch(handler: PacketBatchHandler | null): void;
  /**
   * Writes packets into the device (towards the kernel's IP stack, or the fake's peer). Returns
   * how many were accepted; the rest are counted in `counters.txErrors`. Never throws for a
   * packet; after close() it writes nothing and returns 0.
   */
  write(packets: readonly Uint8Array[]): number;
  /** A snapshot of the counters. */
  readonly counters: EdgeCounters;
  /** Stops reading and releases the device (a TUN disappears). Idempotent. */
  close(): void;
}
