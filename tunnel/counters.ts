// Data-plane counters of one edge device or socket, shared by the native implementations and the
// fakes. The data plane drops and counts; these are where the counts are. Never throws, never logs.
import { Stat } from './native.js';

export interface EdgeCounters {
  /** Packets (datagrams) delivered to the batch handler. */
  rxPackets: number;
  /** Handler calls. rxPackets / rxBatches is the mean batch. */
  rxBatches: number;
  /** Dropped on receive because larger than a slot (maxPacket / the MTU). */
  rxTruncated: number;
  /** Receive system-call failures (other than "nothing to read"). */
  rxErrors: number;
  /** errno of the last receive failure, 0 if none. */
  rxLastErrno: number;
  /** AF_PACKET only: our own outgoing packets skipped (when PACKET_IGNORE_OUTGOING is missing). */
  rxSkipped: number;
  /** Packets the kernel (or the fake's peer) accepted. */
  txPackets: number;
  /** Packets not sent: refused by the kernel, not a packet, bad address, or after close(). */
  txErrors: number;
  /** errno of the last refusal (EAGAIN when a socket buffer was full, EBADF after close()), 0 if none. */
  txLastErrno: number;
  /** UDP: datagrams that arrived in a coalesced (GRO) read and were split again; TUN with tcpOffload: segments split from a TCP super-packet (included in rxPackets). */
  rxCoalesced: number;
  /** UDP: datagrams sent inside a coalesced (GSO) message; TUN with tcpOffload: segments written inside a coalesced GSO packet (included in txPackets). */
  txCoalesced: number;
}

/** A fresh stats array in the addon's layout; fakes use the same layout so counting is shared. */
export function newStats(): Float64Array {
  return new Float64Array(16);
}

export function countersOf(s: Float64Array): EdgeCounters {
  return {
    rxPackets: s[Stat.RX_PACKETS],
    rxBatches: s[Stat.RX_BATCHES],
    rxTruncated: s[Stat.RX_TRUNCATED],
    rxErrors: s[Stat.RX_ERRORS],
    rxLastErrno: s[Stat.RX_LAST_ERRNO],
    rxSkipped: s[Stat.RX_SKIPPED],
    txPackets: s[Stat.TX_PACKETS],
    txErrors: s[Stat.TX_ERRORS],
    txLastErrno: s[Stat.TX_LAST_ERRNO],
    rxCoalesced: s[Stat.RX_COALESCED],
    txCoalesced: s[Stat.TX_COALESCED],
  };
}
