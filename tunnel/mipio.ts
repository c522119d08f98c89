// The narrow batch interface for the IPv6 packets a kernel without Mobile IPv6 cannot handle:
// those whose first extension header carries a Home Address option (Destination Options, option
// 0xC9) or is a type 2 routing header. They are received beside the kernel (an AF_PACKET tap,
// while an nftables rule keeps the kernel from answering them) and sent as complete packets (a
// raw socket with the header included), because the kernel would neither accept nor build them.
// Implementations must never deliver a packet the classifier (mipfilter.ts) rejects, never throw
// from send() or from delivering a batch, and never rewrite a packet.
import type { EdgeCounters } from './counters.js';
import type { PacketBatchHandler } from './device.js';

export interface MipPacketIo {
  /** The interface the tap listens on. */
  readonly ifname: string;
  readonly batchSize: number;
  /**
   * Sets the one batch handler (null stops receiving). Each packet is a whole IPv6 packet (no
   * link header) that isMipPacket() accepts. Views are valid only during the call.
   */
  onBatch(handler: PacketBatchHandler | null): void;
  /**
   * Sends complete IPv6 packets as they are (the kernel routes each by its Destination Address,
   * the first hop for a packet with a type 2 routing header). Returns how many were accepted;
   * the rest are counted in `counters.txErrors`. Never throws for a packet.
   */
  send(packets: readonly Uint8Array[]): number;
  readonly counters: EdgeCounters;
  /** Idempotent. */
  close(): void;
}
