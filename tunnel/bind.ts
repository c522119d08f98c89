// The narrow batch interface to UDP over IPv4 (RFC 5555 port 4191), in the spirit of wireguard-go's
// conn.Bind: receive batches that say where each datagram came from, send batches that say where
// each goes. The source address and port are reported exactly as seen, because the HA compares
// them with the IPv4 CoA option to detect a NAT. Implementations must never throw from send() or
// from delivering a batch, never look inside a datagram, and never keep the caller's arrays.
import type { EdgeCounters } from './counters.js';

/** RFC 5555 §4.1: the UDP port of DSMIPv6 encapsulation. */
export const DSMIP_UDP_PORT = 4191;

export interface ReceivedDatagram {
  /** Valid only during the handler call (see PacketBatchHandler). */
  data: Uint8Array;
  /** Dotted quad, as the kernel reports it (after any NAT on the way). */
  srcAddr: string;
  srcPort: number;
}

export interface OutgoingDatagram {
  data: Uint8Array;
  /** Dotted quad. */
  dstAddr: string;
  dstPort: number;
}

/** The array and each record's `data` are valid only during the call; the records are reused. */
export type DatagramBatchHandler = (datagrams: readonly ReceivedDatagram[]) => void;

export interface Bind {
  /** The bound address ('0.0.0.0' for any). */
  readonly localAddress: string;
  /** The bound port (the kernel's choice when opened with port 0). */
  readonly localPort: number;
  readonly batchSize: number;
  /** Sets the one batch handler (null stops receiving). Batches arrive from the event loop. */
  onBatch(handler: DatagramBatchHandler | null): void;
  /**
   * Sends each datagram to its own destination. Returns how many were accepted; the rest
   * (full socket buffer, bad address, unreachable) are counted in `counters.txErrors`.
   * Never throws for a datagram; after close() it sends nothing and returns 0.
   */
  send(datagrams: readonly OutgoingDatagram[]): number;
  readonly counters: EdgeCounters;
  /** Idempotent. */
  close(): void;
}
