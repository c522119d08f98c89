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

/** What peek hands out: the cache's own entry, not to be changed. */
export type ReadonlyBindingEntry = Readonly<Omit<BindingEntry, 'flags'>> & { readonly flags: Readonly<BindingFlags> };

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
  // binding" invariant would otherwise depend on every caller's discipline). peek() is the one
  // exception, typed read-only, for the per-packet lookups of ha/agent.ts.
  private readonly byHoa = new Map<string, BindingEntry>();
  private readonly byIpv4 = new Map<string, string>();
  // Expiry times as a binary min-heap of (expiresAt, HoA) records, so nextExpiry() (asked after every
  // BU) and expire() cost O(log N) instead of a walk over every binding. Records go stale when an
  // entry is refreshed or deleted; they are skipped when they reach the top (an entry's record is
  // current when the entry still has that expiresAt), and the heap is rebuilt when mostly stale.
  private heapAt: number[] = [];
  private heapHoa: string[] = [];

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
    return this.byHoa.has(this.keyOf(hoa));
  }

  /** A copy of the entry: the caller may keep it as a snapshot or change it without touching the cache. */
  get(hoa: string): BindingEntry | undefined {
    const e = this.byHoa.get(this.keyOf(hoa));
    return e && copyEntry(e);
  }

  /**
   * The stored entry itself, read-only, for the data path (a copy per packet was 1% of the HA's
   * busy time under load). Stored entries are never changed in place: set() stores a new object,
   * so what peek returned stays what the binding was then. Callers must not cast the readonly away.
   */
  peek(hoa: string): ReadonlyBindingEntry | undefined {
    // One lookup when `hoa` is already a key (canonical text, as the data path's addresses are).
    const e = this.byHoa.get(hoa);
    if (e !== undefined) return e;
    const k = key(hoa);
    return k === hoa ? undefined : this.byHoa.get(k);
  }

  /** peek by a key: `hoa` must already be canonical text (canonicalIp's), as registration has it; no parse. */
  peekKey(hoa: string): ReadonlyBindingEntry | undefined {
    return this.byHoa.get(hoa);
  }

  /** peek by IPv4 home address. */
  peekByIpv4Hoa(ipv4Hoa: string): ReadonlyBindingEntry | undefined {
    const hoa = this.byIpv4.get(ipv4Hoa);
    return hoa === undefined ? undefined : this.byHoa.get(hoa);
  }

  /** `hoa` itself when it is a key (keys are canonical text, so no parse is needed), else its canonical text. */
  private keyOf(hoa: string): string {
    return this.byHoa.has(hoa) ? hoa : key(hoa);
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
    this.setAt(this.keyOf(entry.hoa), entry);
  }

  /** set() for an entry whose `hoa` is already canonical text (canonicalIp's), as registration makes it: no parse. */
  setKey(entry: BindingEntry): void {
    this.setAt(entry.hoa, entry);
  }

  private setAt(k: string, entry: BindingEntry): void {
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
    if (old === undefined || old.expiresAt !== stored.expiresAt) this.heapPush(stored.expiresAt, k);
  }

  /** Removes and returns the entry, if there was one. */
  delete(hoa: string): BindingEntry | undefined {
    const k = this.keyOf(hoa);
    const old = this.byHoa.get(k);
    if (!old) return undefined;
    this.byHoa.delete(k);
    if (old.ipv4Hoa !== undefined) this.byIpv4.delete(old.ipv4Hoa);
    return old;
  }

  /** Removes every entry with expiresAt <= now and returns them (the caller releases pools, routes, proxy ND). */
  expire(now: number): BindingEntry[] {
    const gone: BindingEntry[] = [];
    for (;;) {
      this.dropStale();
      if (this.heapAt.length === 0 || !(this.heapAt[0] <= now)) break;
      const e = this.byHoa.get(this.heapHoa[0])!;
      this.heapPop();
      this.delete(e.hoa);
      gone.push(e);
    }
    return gone;
  }

  /** The earliest expiresAt, for the caller's single timer; undefined when empty. */
  nextExpiry(): number | undefined {
    this.dropStale();
    return this.heapAt.length > 0 ? this.heapAt[0] : undefined;
  }

  /** Pops stale records off the top until the top is current (or the heap is empty). */
  private dropStale(): void {
    const at = this.heapAt;
    while (at.length > 0 && this.byHoa.get(this.heapHoa[0])?.expiresAt !== at[0]) this.heapPop();
  }

  private heapPush(expiresAt: number, hoa: string): void {
    const at = this.heapAt;
    const ho = this.heapHoa;
    if (at.length >= 2 * this.byHoa.size + 1024) return this.heapRebuild();
    let i = at.length;
    at.push(expiresAt);
    ho.push(hoa);
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (!(expiresAt < at[up])) break;
      at[i] = at[up];
      ho[i] = ho[up];
      i = up;
    }
    at[i] = expiresAt;
    ho[i] = hoa;
  }

  private heapPop(): void {
    const at = this.heapAt;
    const ho = this.heapHoa;
    const lastAt = at.pop()!;
    const lastHoa = ho.pop()!;
    const n = at.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && at[c + 1] < at[c]) c++;
      if (!(at[c] < lastAt)) break;
      at[i] = at[c];
      ho[i] = ho[c];
      i = c;
    }
    at[i] = lastAt;
    ho[i] = lastHoa;
  }

  /** One current record per entry (drops every stale one), then heapified. */
  private heapRebuild(): void {
    const entries = [...this.byHoa.values()].sort((a, b) => a.expiresAt - b.expiresAt);
    // A sorted array is a valid min-heap.
    this.heapAt = entries.map((e) => e.expiresAt);
    this.heapHoa = entries.map((e) => e.hoa);
  }

  /** Copies of all entries, sorted by HoA so that two snapshots of equal caches compare equal. */
  snapshot(): BindingEntry[] {
    return [...this.byHoa.values()].map(copyEntry).sort((a, b) => (a.hoa < b.hoa ? -1 : a.hoa > b.hoa ? 1 : 0));
  }
}
