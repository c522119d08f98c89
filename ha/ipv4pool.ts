// IPv4 home address pool for DSMIPv6 (RFC 5555 §3.1-3.2, digest §2.3/§4.4): hands out single
// addresses (/32) from the home IPv4 prefix and answers with the IPv4 Address Acknowledgement
// status codes. Sans-I/O data structure: it must never touch sockets, ARP, timers or the clock,
// and never decide whether a BU is accepted (it is asked only after the IPv6 binding is accepted).
import { ip4ToBytes } from '../common/addr.js';
import { Ipv4AckStatus } from '../common/iana.js';

export interface PoolResult {
  status: number;
  /** The address granted (status 0), or echoed from the request on failure. */
  address: string;
  /** 32 on success (single addresses only), 0 on failure (RFC 5555: zero and ignored on failure). */
  prefixLength: number;
}

function toInt(a: string): number {
  const b = ip4ToBytes(a);
  return ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
}

function toText(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export class Ipv4Pool {
  private readonly base: number;
  private readonly size: number;
  private readonly reserved = new Set<number>();
  /** address (int) -> owner (IPv6 HoA text) */
  private readonly owners = new Map<number, string>();
  /** owner -> address (int) */
  private readonly held = new Map<string, number>();

  /**
   * @param prefix any address inside the home IPv4 prefix; @param prefixLength 1..32.
   * @param reserved addresses never handed out (the HA's own, routers). The network and broadcast
   *   addresses are reserved automatically for prefixes of /30 and shorter, where they exist.
   */
  constructor(prefix: string, readonly prefixLength: number, reserved: readonly string[] = []) {
    if (!Number.isInteger(prefixLength) || prefixLength < 1 || prefixLength > 32) {
      throw new RangeError(`prefixLength must be 1..32, got ${String(prefixLength)}`);
    }
    this.size = 2 ** (32 - prefixLength);
    const mask = prefixLength === 32 ? 0xffffffff : (0xffffffff << (32 - prefixLength)) >>> 0;
    this.base = (toInt(prefix) & mask) >>> 0;
    if (prefixLength <= 30) {
      this.reserved.add(this.base);
      this.reserved.add(this.base + this.size - 1);
    }
    for (const r of reserved) {
      const n = toInt(r);
      if (!this.inPrefix(n)) throw new RangeError(`reserved address ${r} is outside ${toText(this.base)}/${prefixLength}`);
      this.reserved.add(n);
    }
  }

  private inPrefix(n: number): boolean {
    return n >= this.base && n < this.base + this.size;
  }

  /** Addresses that can be handed out at all (prefix minus reserved). */
  get capacity(): number {
    return this.size - this.reserved.size;
  }

  get allocatedCount(): number {
    return this.owners.size;
  }

  /** True when `address` is one this pool could hand out (inside the prefix, not reserved). */
  contains(address: string): boolean {
    const n = toInt(address);
    return this.inPrefix(n) && !this.reserved.has(n);
  }

  ownerOf(address: string): string | undefined {
    return this.owners.get(toInt(address));
  }

  addressOf(owner: string): string | undefined {
    const n = this.held.get(owner);
    return n === undefined ? undefined : toText(n);
  }

  /**
   * What allocate() would answer, without changing anything (so registration can decide the whole
   * BA before it commits). See allocate() for the rules.
   */
  check(owner: string, requested: string, requestedPrefixLength = 32, p = false): PoolResult {
    return this.decide(owner, requested, requestedPrefixLength, p).result;
  }

  /**
   * Allocates for `owner` (its IPv6 HoA):
   * - P set, or a prefix length other than 32 -> 133 (prefix allocation unauthorized: this pool
   *   gives single addresses only; NEMO IPv4 prefixes are not supported); prefix length 0 -> 131.
   * - 0.0.0.0 -> the owner's current address if it has one, else the lowest free one; none free ->
   *   132 (dynamic assignment not available).
   * - a specific address: not a valid unicast text (0.0.0.0 excluded above, 255.255.255.255,
   *   multicast, loopback) -> 131; outside the pool or reserved -> 130 (incorrect IPv4 HoA); held by
   *   another owner -> 130 (it is not this MN's home address). A owner that moves to a new specific
   *   address gives up its old one.
   */
  allocate(owner: string, requested: string, requestedPrefixLength = 32, p = false): PoolResult {
    const d = this.decide(owner, requested, requestedPrefixLength, p);
    if (d.result.status === Ipv4AckStatus.SUCCESS && d.n !== undefined) {
      const prev = this.held.get(owner);
      if (prev !== undefined && prev !== d.n) this.owners.delete(prev);
      this.owners.set(d.n, owner);
      this.held.set(owner, d.n);
    }
    return d.result;
  }

  /** Releases whatever `owner` holds; returns the address released. */
  release(owner: string): string | undefined {
    const n = this.held.get(owner);
    if (n === undefined) return undefined;
    this.held.delete(owner);
    this.owners.delete(n);
    return toText(n);
  }

  private decide(owner: string, requested: string, plen: number, p: boolean): { result: PoolResult; n?: number } {
    const fail = (status: number): { result: PoolResult } => ({ result: { status, address: requested, prefixLength: 0 } });
    let n: number;
    try {
      n = toInt(requested);
    } catch {
      return fail(Ipv4AckStatus.INVALID_IPV4_ADDRESS);
    }
    if (plen === 0) return fail(Ipv4AckStatus.INVALID_IPV4_ADDRESS);
    if (p || plen !== 32) return fail(Ipv4AckStatus.PREFIX_ALLOCATION_UNAUTHORIZED);
    if (n === 0) {
      const mine = this.held.get(owner);
      if (mine !== undefined) return { result: { status: 0, address: toText(mine), prefixLength: 32 }, n: mine };
      for (let i = 0; i < this.size; i++) {
        const c = this.base + i;
        if (!this.reserved.has(c) && !this.owners.has(c)) return { result: { status: 0, address: toText(c), prefixLength: 32 }, n: c };
      }
      return fail(Ipv4AckStatus.DYNAMIC_ASSIGNMENT_UNAVAILABLE);
    }
    const first = n >>> 24;
    if (n === 0xffffffff || first >= 224 || first === 127) return fail(Ipv4AckStatus.INVALID_IPV4_ADDRESS);
    if (!this.inPrefix(n) || this.reserved.has(n)) return fail(Ipv4AckStatus.INCORRECT_IPV4_HOA);
    const holder = this.owners.get(n);
    if (holder !== undefined && holder !== owner) return fail(Ipv4AckStatus.INCORRECT_IPV4_HOA);
    return { result: { status: 0, address: toText(n), prefixLength: 32 }, n };
  }
}
