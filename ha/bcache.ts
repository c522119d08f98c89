// The home agent's binding cache (RFC 6275 §9.1, §10.1; RFC 5555 §4): HoA -> CoA (+ NAT mapping,
// IPv4 HoA) entries, with expiry computed from a caller-supplied `now`. Sans-I/O data structure:
// it must never open a socket, arm a timer, read the clock (Date.now) or decide protocol policy
// (which BU is acceptable is registration.ts's job; this only stores what it is told to store).
import { canonicalIp } from '../common/addr.js';

/** The BU flags a binding remembers: H and R to refuse a registration type change (139), L for proxy ND of fe80::IID, K and F for key management and UDP. */
export interface BindingFlags {
  H: boolean;
  L: boolean;
  K: boolean;
  F: boolean;
  R: boolean;
}

export interface BindingEntry {
  /** IPv6 home address, canonical text: the cache key. */
  hoa: string;
  /** Care-of address: IPv6 text, or dotted-quad IPv4 for a DSMIPv6 IPv4 CoA. */
  coa: string;
  /** Outer IPv4 source seen on the authenticated BU when a NAT was detected; absent otherwise. */
  natAddress?: string;
  natPort?: number;
  /** Traffic to the MN must be UDP-encapsulated (port 4191): NAT detected, BU F flag, or HA policy. */
  udp: boolean;
  /** IPv4 home address assigned from the pool (RFC 5555), if any. */
  ipv4Hoa?: string;
  ipv4PrefixLength?: number;
  /** Sequence number of the last accepted BU. */
  sequence: number;
  /** Granted lifetime in seconds (a multiple of 4). */
  lifetimeSeconds: number;
  /** ms, same clock as `now`: createdAt/updatedAt + lifetime. */
  expiresAt: number;
  flags: BindingFlags;
  createdAt: number;
  updatedAt: number;
}

function copyEntry(e: BindingEntry): BindingEntry {
  return { ...e, flags: { ...e.flags } };
}

/** Canonical text so that '2001:DB8::1' and '2001:db8:0::1' are one key. */
function key(hoa: string): string {
  return canonicalIp(hoa);
}

export class BindingCache {
  // Entries are stored as private copies and handed out as copies, so a caller that mutates what
  // it got cannot change a binding behind the registration rules (the "only accepted BUs change a
  // binding" invariant would otherwise depend on every caller's discipline).
  private readonly byHoa = new Map<string, BindingEntry>();
  private readonly byIpv4 = new Map<string, string>();

  /** @param capacity the most entries the cache may hold; registration answers 130 beyond it. */
  constructor(readonly capacity: number = Number.POSITIVE_INFINITY) {
    if (!(capacity >= 0)) throw new RangeError(`capacity must be >= 0, got ${String(capacity)}`);
  }

  get size(): number {
    return this.byHoa.size;
  }

  isFull(): boolean {
    return this.byHoa.size >= this.capacity;
  }

  has(hoa: string): boolean {
    return this.byHoa.has(key(hoa));
  }

  get(hoa: string): BindingEntry | undefined {
    const e = this.byHoa.get(key(hoa));
    return e && copyEntry(e);
  }

  /** The entry that holds `ipv4Hoa` (reverse index, for the IPv4 data path and proxy ARP). */
  getByIpv4Hoa(ipv4Hoa: string): BindingEntry | undefined {
    const hoa = this.byIpv4.get(ipv4Hoa);
    return hoa === undefined ? undefined : this.get(hoa);
  }

  /**
   * Inserts or replaces the entry for entry.hoa. Throws if a new entry would exceed capacity or its
   * IPv4 HoA is held by another entry: both are caller bugs (registration checks them first).
   */
  set(entry: BindingEntry): void {
    const k = key(entry.hoa);
    const old = this.byHoa.get(k);
    if (!old && this.isFull()) throw new RangeError(`binding cache full (${this.capacity})`);
    if (entry.ipv4Hoa !== undefined) {
      const holder = this.byIpv4.get(entry.ipv4Hoa);
      if (holder !== undefined && holder !== k) throw new Error(`IPv4 HoA ${entry.ipv4Hoa} is bound to ${holder}`);
    }
    if (old?.ipv4Hoa !== undefined) this.byIpv4.delete(old.ipv4Hoa);
    const stored = copyEntry(entry);
    stored.hoa = k;
    this.byHoa.set(k, stored);
    if (stored.ipv4Hoa !== undefined) this.byIpv4.set(stored.ipv4Hoa, k);
  }

  /** Removes and returns the entry, if there was one. */
  delete(hoa: string): BindingEntry | undefined {
    const k = key(hoa);
    const old = this.byHoa.get(k);
    if (!old) return undefined;
    this.byHoa.delete(k);
    if (old.ipv4Hoa !== undefined) this.byIpv4.delete(old.ipv4Hoa);
    return old;
  }

  /** Removes every entry with expiresAt <= now and returns them (the caller releases pools, routes, proxy ND). */
  expire(now: number): BindingEntry[] {
    const gone: BindingEntry[] = [];
    for (const e of [...this.byHoa.values()]) {
      if (e.expiresAt <= now) {
        this.delete(e.hoa);
        gone.push(e);
      }
    }
    return gone;
  }

  /** The earliest expiresAt, for the caller's single timer; undefined when empty. */
  nextExpiry(): number | undefined {
    let min: number | undefined;
    for (const e of this.byHoa.values()) if (min === undefined || e.expiresAt < min) min = e.expiresAt;
    return min;
  }

  /** Copies of all entries, sorted by HoA so that two snapshots of equal caches compare equal. */
  snapshot(): BindingEntry[] {
    return [...this.byHoa.values()].map(copyEntry).sort((a, b) => (a.hoa < b.hoa ? -1 : a.hoa > b.hoa ? 1 : 0));
  }
}
