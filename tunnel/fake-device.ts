// An in-memory Device pair (wireguard-go's tuntest.ChannelTUN in spirit): what one end writes, the
// other end reads, in batches, from the event loop. One end plays the daemon's TUN, the other the
// kernel behind it, so an HA and an MN can be wired together in one test process. Must behave like
// the native TunDevice on everything the Device interface promises (the conformance suite in
// test/tunnel-conformance.test.ts runs both); never throws from write().
import { DEFAULT_BATCH_SIZE, type Device, type PacketBatchHandler } from './device.js';
import { Errno, FakeEndpoint } from './fake-queue.js';

export interface FakeDeviceOptions {
  /** Names of the two ends. Default ['fake0', 'fake1']. */
  names?: readonly [string, string];
  /** Default 1500. Read slots are sized for it as on a TUN: a packet that does not fit is dropped on read (rxTruncated). */
  mtu?: number;
  /** Default 64. */
  batchSize?: number;
  /** Packets queued towards an end before it drops. Default 4096. */
  queueLimit?: number;
}

const { EBADF, EINVAL, EIO } = Errno;

export class FakeDevice extends FakeEndpoint<null> implements Device {
  /** @internal */
  peer!: FakeDevice;

  constructor(
    readonly name: string,
    readonly mtu: number,
    batchSize: number,
    queueLimit: number,
  ) {
    // Slots hold up to the MTU, like the native device: a longer packet is counted, not delivered.
    super(batchSize, Math.max(mtu, 1280), queueLimit);
  }

  onBatch(handler: PacketBatchHandler | null): void {
    if (this.closed) return;
    this.inbox.set(handler && ((views) => handler(views)));
  }

  write(packets: readonly Uint8Array[]): number {
    let ok = 0;
    for (const p of packets) {
      if (this.closed) this.refuse(EBADF);
      // A TUN takes only IPv4 or IPv6 (it reads the version nibble): the fake refuses the same.
      else if (!(p instanceof Uint8Array) || p.length === 0 || (p[0] >> 4 !== 4 && p[0] >> 4 !== 6)) this.refuse(EINVAL);
      else if (this.peer.closed) this.refuse(EIO);
      else {
        this.peer.inbox.push(p, null); // a full queue drops silently, like a kernel queue
        ok++;
      }
    }
    this.countSent(ok);
    return ok;
  }
}

/** Two connected fake devices: a.write() is read by b's handler and b.write() by a's. */
export function fakeDevicePair(opts: FakeDeviceOptions = {}): [FakeDevice, FakeDevice] {
  const [na, nb] = opts.names ?? ['fake0', 'fake1'];
  const mtu = opts.mtu ?? 1500;
  const batch = opts.batchSize ?? DEFAULT_BATCH_SIZE;
  const limit = opts.queueLimit ?? 4096;
  const a = new FakeDevice(na, mtu, batch, limit);
  const b = new FakeDevice(nb, mtu, batch, limit);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
