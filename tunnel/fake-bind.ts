// An in-memory UDP over IPv4 network for Bind (wireguard-go's bindtest in spirit): binds are routed
// by (address, port), and a FakeNat rewrites sources like the kernel's nftables masquerade with
// fully-random ports, including forgetting its mappings on flush() as `conntrack -F` does. Lets an
// HA and an MN (behind a NAT) talk in one test process. Must behave like the native Udp4Bind on
// everything Bind promises (same conformance suite); never throws from send(); never loses a
// datagram except where a real network would (no listener, NAT without a mapping, full queue).
import { DSMIP_UDP_PORT, type Bind, type DatagramBatchHandler, type OutgoingDatagram, type ReceivedDatagram } from './bind.js';
import { DEFAULT_BATCH_SIZE } from './device.js';
import { UdpBindError } from './errors.js';
import { Errno, FakeEndpoint } from './fake-queue.js';
import { ipv4ToNumber } from './ipv4text.js';

export interface FakeBindOptions {
  /** Dotted quad; '0.0.0.0' receives for any address (and then sends from '0.0.0.0'). */
  address: string;
  /** 0 picks a free port from 49152 up. Default 4191. */
  port?: number;
  batchSize?: number;
  /** Default 2048. */
  maxDatagram?: number;
}

interface Source {
  addr: string;
  port: number;
}

const { EBADF, EINVAL } = Errno;

export class FakeBind extends FakeEndpoint<Source> implements Bind {
  private readonly records: ReceivedDatagram[] = [];
  private readonly out: ReceivedDatagram[] = [];

  constructor(
    private readonly net: FakeUdpNetwork,
    readonly localAddress: string,
    readonly localPort: number,
    batchSize: number,
    maxDatagram: number,
  ) {
    super(batchSize, maxDatagram);
    for (let i = 0; i < batchSize; i++) this.records.push({ data: new Uint8Array(0), srcAddr: '', srcPort: 0 });
  }

  onBatch(handler: DatagramBatchHandler | null): void {
    if (this.closed) return;
    this.inbox.set(
      handler &&
        ((views, metas, count) => {
          const out = this.out;
          out.length = count;
          for (let i = 0; i < count; i++) {
            const r = this.records[i];
            r.data = views[i];
            r.srcAddr = metas[i].addr;
            r.srcPort = metas[i].port;
            out[i] = r;
          }
          handler(out);
        }),
    );
  }

  send(datagrams: readonly OutgoingDatagram[]): number {
    let ok = 0;
    for (const d of datagrams) {
      if (this.closed) {
        this.refuse(EBADF);
        continue;
      }
      if (!(d.data instanceof Uint8Array) || ipv4ToNumber(d.dstAddr) < 0 || !Number.isInteger(d.dstPort) || d.dstPort < 1 || d.dstPort > 65535) {
        this.refuse(EINVAL);
        continue;
      }
      this.net.route({ addr: this.localAddress, port: this.localPort }, d);
      ok++;
    }
    this.countSent(ok);
    return ok;
  }

  override close(): void {
    if (this.closed) return;
    super.close();
    this.net.unbind(this);
  }
}

export interface FakeNatOptions {
  /** The NAT's outside address: what the far side sees as the source. */
  publicAddress: string;
  /** Addresses behind the NAT. A datagram from one of them to an address not in this list is translated. */
  inside: readonly string[];
}

/**
 * Source NAT with fully-random ports and per-flow mappings (a conntrack entry per inside
 * address:port and outside destination), like `masquerade fully-random`.
 */
export class FakeNat {
  readonly publicAddress: string;
  private readonly inside: ReadonlySet<string>;
  private readonly out = new Map<string, number>(); // "in-addr:port>dst-addr:port" -> public port
  private readonly back = new Map<string, Source>(); // "public-port<dst-addr:port" -> inside source

  constructor(opts: FakeNatOptions) {
    this.publicAddress = opts.publicAddress;
    this.inside = new Set(opts.inside);
  }

  /** Live mappings (conntrack entries). */
  get mappings(): number {
    return this.out.size;
  }

  /** Forgets every mapping, like `conntrack -F`: the next datagram out gets a new port. */
  flush(): void {
    this.out.clear();
    this.back.clear();
  }

  /** @internal the source after this NAT, or the same source when it does not apply. */
  outbound(src: Source, dstAddr: string, dstPort: number): Source {
    if (!this.inside.has(src.addr) || this.inside.has(dstAddr)) return src;
    const key = `${src.addr}:${src.port}>${dstAddr}:${dstPort}`;
    let port = this.out.get(key);
    if (port === undefined) {
      do port = 1024 + Math.floor(Math.random() * (65536 - 1024));
      while (this.back.has(`${port}<${dstAddr}:${dstPort}`));
      this.out.set(key, port);
      this.back.set(`${port}<${dstAddr}:${dstPort}`, src);
    }
    return { addr: this.publicAddress, port };
  }

  /** @internal the inside destination of a datagram to the public address, undefined without a mapping. */
  inbound(from: Source, dstPort: number): Source | undefined {
    return this.back.get(`${dstPort}<${from.addr}:${from.port}`);
  }
}

export class FakeUdpNetwork {
  private readonly binds = new Map<string, FakeBind>();
  private readonly nats: FakeNat[] = [];
  private nextPort = 49152;
  /** Datagrams that reached no bind (no listener, or a NAT without a mapping). */
  lost = 0;

  /** Opens a fake socket. Throws UdpBindError (EADDRINUSE, EINVAL) like the native bind. */
  bind(opts: FakeBindOptions): FakeBind {
    const address = opts.address;
    let port = opts.port ?? DSMIP_UDP_PORT;
    const target = `UDP socket ${address}:${port}`;
    if (ipv4ToNumber(address) < 0) throw new UdpBindError(target, undefined, { code: 'EINVAL', errno: EINVAL, syscall: 'inet_pton', message: 'EINVAL (Invalid argument)' });
    if (port === 0) {
      while (this.binds.has(`${address}:${this.nextPort}`)) this.nextPort++;
      port = this.nextPort++;
    }
    const key = `${address}:${port}`;
    if (this.binds.has(key)) throw new UdpBindError(target, undefined, { code: 'EADDRINUSE', errno: 98, syscall: 'bind', message: 'EADDRINUSE (Address already in use)' });
    const b = new FakeBind(this, address, port, opts.batchSize ?? DEFAULT_BATCH_SIZE, opts.maxDatagram ?? 2048);
    this.binds.set(key, b);
    return b;
  }

  /** Puts a NAT between `inside` addresses and everything else. */
  addNat(opts: FakeNatOptions): FakeNat {
    const nat = new FakeNat(opts);
    this.nats.push(nat);
    return nat;
  }

  /** @internal */
  unbind(b: FakeBind): void {
    const key = `${b.localAddress}:${b.localPort}`;
    if (this.binds.get(key) === b) this.binds.delete(key);
  }

  /** @internal delivers one datagram (after source NAT, and destination NAT for a reply). */
  route(from: Source, d: OutgoingDatagram): void {
    let src = from;
    for (const nat of this.nats) src = nat.outbound(src, d.dstAddr, d.dstPort);
    let dst: Source | undefined = { addr: d.dstAddr, port: d.dstPort };
    for (const nat of this.nats) {
      if (dst && dst.addr === nat.publicAddress) dst = nat.inbound(src, dst.port);
    }
    const to = dst && (this.binds.get(`${dst.addr}:${dst.port}`) ?? this.binds.get(`0.0.0.0:${dst.port}`));
    if (!to) {
      this.lost++;
      return;
    }
    if (!to.inbox.push(d.data, src)) this.lost++;
  }
}

/** Two fake binds on one network: 192.0.2.1:4191 and 192.0.2.2:4191 unless told otherwise. */
export function fakeBindPair(
  a: FakeBindOptions = { address: '192.0.2.1' },
  b: FakeBindOptions = { address: '192.0.2.2' },
): [FakeBind, FakeBind, FakeUdpNetwork] {
  const net = new FakeUdpNetwork();
  return [net.bind(a), net.bind(b), net];
}
