// Plain ESP over IPv6 (no HAO, no RH2) as a Device, on top of a MipPacketIo: the path an MN at home
// and its HA use for the deregistration BU and its BA (RFC 6275 §11.5.4-11.5.5). The tap's filter
// already takes ESP that comes first after the IPv6 header, and its raw socket sends whole packets.
// It must never parse or change a packet; with `receive: false` it only sends (for a caller that
// already reads the same MipPacketIo elsewhere, since a MipPacketIo has one batch handler).
import type { EdgeCounters } from './counters.js';
import type { Device, PacketBatchHandler } from './device.js';
import type { MipPacketIo } from './mipio.js';

export function plainEspDevice(io: MipPacketIo, opts: { receive: boolean; mtu?: number }): Device {
  let closed = false;
  return {
    name: `${io.ifname}:esp`,
    mtu: opts.mtu ?? 1500,
    batchSize: io.batchSize,
    onBatch(handler: PacketBatchHandler | null): void {
      if (opts.receive && !closed) io.onBatch(handler);
    },
    write(packets: readonly Uint8Array[]): number {
      return closed ? 0 : io.send(packets);
    },
    get counters(): EdgeCounters {
      return io.counters;
    },
    close(): void {
      if (closed) return;
      closed = true;
      if (opts.receive) io.onBatch(null);
    },
  };
}
