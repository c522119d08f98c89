// An in-memory MipPacketIo pair: what one end sends, the other end's tap receives, but only the
// packets isMipPacket() accepts (the native tap's BPF filter keeps everything else in the kernel,
// so the fake does too). Must behave like NativeMipPacketIo on everything MipPacketIo promises
// (same conformance suite); never throws from send(), never rewrites a packet.
import { DEFAULT_BATCH_SIZE, type PacketBatchHandler } from './device.js';
import { Errno, FakeEndpoint } from './fake-queue.js';
import { isMipPacket } from './mipfilter.js';
import type { MipPacketIo } from './mipio.js';

export interface FakeMipPacketIoOptions {
  /** Default ['fakelink0', 'fakelink1']. */
  ifnames?: readonly [string, string];
  batchSize?: number;
  /** Default 2048. */
  maxPacket?: number;
}

const { EBADF, EINVAL } = Errno;

export class FakeMipPacketIo extends FakeEndpoint<null> implements MipPacketIo {
  /** @internal */
  peer!: FakeMipPacketIo;
  /** Packets that reached this end but that the filter left to the kernel (not delivered). */
  kernelBound = 0;

  constructor(
    readonly ifname: string,
    batchSize: number,
    maxPacket: number,
  ) {
    super(batchSize, maxPacket);
  }

  onBatch(handler: PacketBatchHandler | null): void {
    if (this.closed) return;
    this.inbox.set(handler && ((views) => handler(views)));
  }

  send(packets: readonly Uint8Array[]): number {
    let ok = 0;
    for (const p of packets) {
      if (this.closed) {
        this.refuse(EBADF);
        continue;
      }
      // The raw socket refuses what is not an IPv6 packet (native/raw6.c does the same check).
      if (!(p instanceof Uint8Array) || p.length < 40 || p[0] >> 4 !== 6) {
        this.refuse(EINVAL);
        continue;
      }
      ok++;
      const peer = this.peer;
      if (peer.closed) continue; // sent into a link nobody taps: gone, as on a wire
      if (isMipPacket(p)) peer.inbox.push(p, null);
      else peer.kernelBound++;
    }
    this.countSent(ok);
    return ok;
  }
}

/** Two ends of one fake link. */
export function fakeMipPacketIoPair(opts: FakeMipPacketIoOptions = {}): [FakeMipPacketIo, FakeMipPacketIo] {
  const [na, nb] = opts.ifnames ?? ['fakelink0', 'fakelink1'];
  const batch = opts.batchSize ?? DEFAULT_BATCH_SIZE;
  const max = opts.maxPacket ?? 2048;
  const a = new FakeMipPacketIo(na, batch, max);
  const b = new FakeMipPacketIo(nb, batch, max);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
