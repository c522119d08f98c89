// The home agent's home-link duties (digest §5.5, §4.4) for one home interface: per registered
// mobile node, a proxy neighbour entry for its IPv6 HoA (and fe80::IID when L = 1) and a /128
// route to the HA's TUN, a proxy ARP entry and a /32 route for its IPv4 HoA, and unsolicited
// Neighbor Advertisements (O = 1, S = 0, R = 0; R = 1 for a NEMO router) so neighbours repoint
// their caches at the HA. It must never touch an entry it did not add (detach/cleanup remove only
// what this instance recorded), never throw anything but HomeLinkError, and never send an NA for
// an address it is not proxying.
//
// Namespace: rtnetlink (the `netlink` package) and the raw socket act in the network namespace of
// the process that creates them, so the daemon runs inside the HA's namespace (`ip netns exec`);
// this module takes no netns option on purpose (a half-applied one would be worse than none).
import { writeFileSync } from 'node:fs';
import { createRtNetlink, FlagsNew, type RtNetlinkSocket } from 'netlink';
import { canonicalIp, ip4ToBytes, ip6ToBytes } from '../common/addr.js';
import { buildUnsolicitedNa } from '../common/nd.js';
import { newStats } from '../tunnel/counters.js';
import { loadNative, type NativeBinding, type NativeHandle } from '../tunnel/native.js';

const AF_INET = 2;
const AF_INET6 = 10;
/** RFC 6275 §12 MAX_NEIGHBOR_ADVERTISEMENT. */
const MAX_NA = 3;

/** What a binding needs for the home link (a subset of bcache's BindingEntry). */
export interface HomeLinkBinding {
  /** IPv6 home address. */
  hoa: string;
  /** IPv4 home address (RFC 5555), if one was assigned. */
  ipv4Hoa?: string;
  /** L: also proxy fe80::IID; R: a NEMO mobile router (NA with R = 1). */
  flags?: { L?: boolean; R?: boolean };
}

export interface HomeLinkOptions {
  /** The home interface (proxy entries live here, NAs leave here). */
  ifname: string;
  /** The HA's TUN device: the routes for home addresses point into it. */
  tunName: string;
  /** Unsolicited NAs per attach, 0..3 (§5.5). Default 3; 0 sends none. */
  naCount?: number;
  /** Spacing of the NAs, ms (RFC 4861 allows one per second). Default 1000. */
  naIntervalMs?: number;
  /**
   * Turn on proxy_ndp and forwarding of the home interface (the kernel answers proxied NS and
   * ARP only on a forwarding interface). Default true.
   */
  setSysctls?: boolean;
  /** Route protocol of the routes this module adds (so they are recognisable). Default 4 (static). */
  routeProtocol?: number;
}

/** A failure on the home link, naming the interface, the address and the netlink errno. */
export class HomeLinkError extends Error {
  override readonly name = 'HomeLinkError';
  constructor(
    readonly op: string,
    readonly ifname: string,
    readonly address: string,
    /** errno name from the kernel (EEXIST, ENODEV, ...), or undefined when not a netlink error. */
    readonly errno: string | undefined,
    cause?: unknown,
  ) {
    super(`home link ${ifname}: ${op} ${address} failed${errno ? ` (${errno})` : ''}${cause instanceof Error && !errno ? `: ${cause.message}` : ''}`);
    if (cause !== undefined) (this as { cause?: unknown }).cause = cause;
  }
}

/** One thing added to the kernel, enough to remove it again. */
type Added =
  | { kind: 'neigh'; family: number; addr: string }
  | { kind: 'route'; family: number; addr: string };

interface Attached {
  key: string;
  added: Added[];
  timer?: NodeJS.Timeout;
}

/** errno name from the netlink package's "Request rejected: EEXIST" (it offers nothing better). */
function errnoOf(e: unknown): string | undefined {
  const m = e instanceof Error ? /Request rejected: (\S+)/.exec(e.message) : null;
  return m ? m[1] : undefined;
}

function addrBytes(family: number, addr: string): Buffer {
  return Buffer.from(family === AF_INET6 ? ip6ToBytes(addr) : ip4ToBytes(addr));
}

/** fe80::IID of a global address (the low 64 bits). */
export function linkLocalOf(hoa: string): string {
  const b = ip6ToBytes(hoa);
  const ll = new Uint8Array(16);
  ll[0] = 0xfe;
  ll[1] = 0x80;
  ll.set(b.subarray(8), 8);
  return canonicalIp(Array.from({ length: 8 }, (_, i) => ((ll[2 * i] << 8) | ll[2 * i + 1]).toString(16)).join(':'));
}

export { buildUnsolicitedNa } from '../common/nd.js';

export class HomeLink {
  readonly ifname: string;
  readonly tunName: string;
  private readonly nl: RtNetlinkSocket;
  private readonly opts: Required<Pick<HomeLinkOptions, 'naCount' | 'naIntervalMs' | 'setSysctls' | 'routeProtocol'>>;
  private readonly bindings = new Map<string, Attached>();
  private ifindex = 0;
  private tunIndex = 0;
  private mac: Uint8Array | undefined;
  private native: NativeBinding | undefined;
  private raw: NativeHandle | undefined;
  private closed = false;

  constructor(opts: HomeLinkOptions) {
    this.ifname = opts.ifname;
    this.tunName = opts.tunName;
    this.opts = {
      naCount: Math.max(0, Math.min(MAX_NA, opts.naCount ?? MAX_NA)),
      naIntervalMs: opts.naIntervalMs ?? 1000,
      setSysctls: opts.setSysctls ?? true,
      routeProtocol: opts.routeProtocol ?? 4,
    };
    this.nl = createRtNetlink();
  }

  /** Home addresses currently attached (IPv6 HoA, canonical). */
  attached(): string[] {
    return [...this.bindings.keys()];
  }

  /** Looks up both interfaces once (and again after a failure), and turns on the sysctls. */
  private async resolve(): Promise<void> {
    if (this.ifindex && this.tunIndex) return;
    let links;
    try {
      links = await this.nl.getLinks();
    } catch (e) {
      throw new HomeLinkError('list links', this.ifname, '-', errnoOf(e), e);
    }
    const home = links.find((l) => l.attrs.ifname === this.ifname);
    const tun = links.find((l) => l.attrs.ifname === this.tunName);
    if (!home?.data.index) throw new HomeLinkError('find interface', this.ifname, '-', 'ENODEV');
    if (!tun?.data.index) throw new HomeLinkError('find TUN', this.tunName, '-', 'ENODEV');
    this.ifindex = home.data.index;
    this.tunIndex = tun.data.index;
    this.mac = home.attrs.address ? new Uint8Array(home.attrs.address) : undefined;
    if (this.opts.setSysctls) {
      // Without these the kernel ignores the proxy entries: proxied NS/ARP are answered only on a
      // forwarding interface with proxy_ndp on (IPv4 needs only the per-address entry).
      this.sysctl(`/proc/sys/net/ipv6/conf/${this.ifname}/proxy_ndp`, '1');
      this.sysctl(`/proc/sys/net/ipv6/conf/${this.ifname}/forwarding`, '1');
      this.sysctl(`/proc/sys/net/ipv4/conf/${this.ifname}/forwarding`, '1');
    }
  }

  private sysctl(path: string, value: string): void {
    try {
      writeFileSync(path, value);
    } catch (e) {
      throw new HomeLinkError('sysctl', this.ifname, path, (e as NodeJS.ErrnoException).code, e);
    }
  }

  /**
   * Starts the home-link duties for a registered MN. Idempotent: attaching the same binding again
   * only re-sends the NAs; a changed one (new IPv4 HoA, L flag) replaces the old entries.
   * On failure, whatever this call added is removed again before the error is thrown.
   */
  async attach(binding: HomeLinkBinding): Promise<void> {
    if (this.closed) throw new HomeLinkError('attach', this.ifname, binding.hoa, 'EBADF');
    let hoa: string;
    let v4: string | undefined;
    try {
      hoa = canonicalIp(binding.hoa);
      v4 = binding.ipv4Hoa === undefined ? undefined : canonicalIp(binding.ipv4Hoa);
    } catch (e) {
      throw new HomeLinkError('parse', this.ifname, binding.hoa, 'EINVAL', e);
    }
    const key = JSON.stringify([hoa, v4 ?? null, !!binding.flags?.L]);
    const old = this.bindings.get(hoa);
    if (old && old.key === key) {
      this.scheduleNa(old, hoa, !!binding.flags?.R);
      return;
    }
    if (old) await this.detach(hoa);
    await this.resolve();
    const rec: Attached = { key, added: [] };
    try {
      await this.addNeigh(rec, AF_INET6, hoa);
      if (binding.flags?.L) await this.addNeigh(rec, AF_INET6, linkLocalOf(hoa));
      await this.addRoute(rec, AF_INET6, hoa);
      if (v4 !== undefined) {
        await this.addNeigh(rec, AF_INET, v4);
        await this.addRoute(rec, AF_INET, v4);
      }
    } catch (e) {
      await this.remove(rec).catch(() => undefined);
      throw e;
    }
    this.bindings.set(hoa, rec);
    this.scheduleNa(rec, hoa, !!binding.flags?.R);
  }

  /** Stops the duties for a HoA: removes every entry attach added. Idempotent. */
  async detach(hoa: string): Promise<void> {
    let k: string;
    try {
      k = canonicalIp(hoa);
    } catch (e) {
      throw new HomeLinkError('parse', this.ifname, hoa, 'EINVAL', e);
    }
    const rec = this.bindings.get(k);
    if (!rec) return;
    this.bindings.delete(k);
    await this.remove(rec);
  }

  /** Removes every entry this instance added and closes its sockets (daemon exit). Idempotent. */
  async cleanup(): Promise<void> {
    const errors: unknown[] = [];
    for (const hoa of [...this.bindings.keys()]) await this.detach(hoa).catch((e) => errors.push(e));
    if (!this.closed) {
      this.closed = true;
      if (this.raw && this.native) this.native.close(this.raw);
      this.raw = undefined;
      this.nl.socket.close();
    }
    if (errors.length) throw errors[0];
  }

  private async addNeigh(rec: Attached, family: number, addr: string): Promise<void> {
    try {
      // NLM_F_REPLACE: an entry left by a crashed run is taken over rather than failing EEXIST.
      await this.nl.newNeighbor(
        { family, ifindex: this.ifindex, flags: { proxy: true }, state: { permanent: true } },
        { dst: addrBytes(family, addr) },
        { flags: FlagsNew.CREATE | FlagsNew.REPLACE },
      );
    } catch (e) {
      throw new HomeLinkError('add proxy neighbour', this.ifname, addr, errnoOf(e), e);
    }
    rec.added.push({ kind: 'neigh', family, addr });
  }

  private async addRoute(rec: Attached, family: number, addr: string): Promise<void> {
    try {
      await this.nl.newRoute(
        {
          family,
          dstLen: family === AF_INET6 ? 128 : 32,
          table: 254,
          protocol: this.opts.routeProtocol,
          // IPv4 needs scope link for a gatewayless device route; IPv6 routes are universe.
          scope: family === AF_INET ? 253 : 0,
          type: 'UNICAST',
        },
        { dst: addrBytes(family, addr), oif: this.tunIndex },
        { flags: FlagsNew.CREATE | FlagsNew.REPLACE },
      );
    } catch (e) {
      throw new HomeLinkError('add route', this.tunName, addr, errnoOf(e), e);
    }
    rec.added.push({ kind: 'route', family, addr });
  }

  /** Removes in reverse order; "already gone" is success; the first other failure is thrown after trying all. */
  private async remove(rec: Attached): Promise<void> {
    if (rec.timer) clearTimeout(rec.timer);
    rec.timer = undefined;
    let first: HomeLinkError | undefined;
    for (const a of [...rec.added].reverse()) {
      try {
        if (a.kind === 'neigh') {
          await this.nl.delNeighbor({ family: a.family, ifindex: this.ifindex, flags: { proxy: true } }, { dst: addrBytes(a.family, a.addr) });
        } else {
          await this.nl.delRoute(
            // Scope NOWHERE (255) means "any scope" to the IPv4 delete (as `ip route del` sends it);
            // scope 0 would match only universe routes, and ours is scope link.
            { family: a.family, dstLen: a.family === AF_INET6 ? 128 : 32, table: 254, protocol: this.opts.routeProtocol, scope: 255 },
            { dst: addrBytes(a.family, a.addr), oif: this.tunIndex },
          );
        }
      } catch (e) {
        const errno = errnoOf(e);
        if (errno === 'ENOENT' || errno === 'ESRCH' || errno === 'ENODEV') continue;
        first ??= new HomeLinkError(a.kind === 'neigh' ? 'delete proxy neighbour' : 'delete route', a.kind === 'neigh' ? this.ifname : this.tunName, a.addr, errno, e);
      }
    }
    rec.added = [];
    if (first) throw first;
  }

  /** Sends the NAs now and every naIntervalMs after (timers unref'd, cancelled by detach). */
  private scheduleNa(rec: Attached, hoa: string, router: boolean): void {
    if (rec.timer) clearTimeout(rec.timer);
    rec.timer = undefined;
    let left = this.opts.naCount;
    const tick = (): void => {
      rec.timer = undefined;
      if (left <= 0 || this.bindings.get(hoa) !== rec) return;
      left--;
      void this.sendNa(hoa, router);
      if (left > 0) {
        rec.timer = setTimeout(tick, this.opts.naIntervalMs);
        rec.timer.unref();
      }
    };
    tick();
  }

  /** Best effort: an NA that cannot be sent only delays the neighbours' update (their NUD recovers). */
  private async sendNa(hoa: string, router: boolean): Promise<boolean> {
    try {
      if (!this.mac || this.mac.length !== 6) return false;
      const addrs = await this.nl.getAddresses({ family: AF_INET6, index: this.ifindex });
      const ll = addrs.find((a) => a.data.index === this.ifindex && a.attrs.address && a.attrs.address[0] === 0xfe && (a.attrs.address[1] & 0xc0) === 0x80);
      if (!ll?.attrs.address) return false;
      const src = canonicalIp(Array.from({ length: 8 }, (_, i) => ll.attrs.address!.readUInt16BE(2 * i).toString(16)).join(':'));
      if (!this.raw) {
        this.native ??= loadNative();
        // SO_BINDTODEVICE on the home interface: ff02::1 is link-scoped, it must leave there.
        this.raw = this.native.raw6Open(null, this.ifname, 1 << 16, newStats()).handle;
      }
      if (this.closed) return false;
      return this.native!.raw6Send(this.raw, [buildUnsolicitedNa(src, hoa, this.mac, router)], 1) === 1;
    } catch {
      return false;
    }
  }
}
