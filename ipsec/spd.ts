// The Security Policy Database: an ordered list of host-wide entries, first match wins.
// Each entry has a direction (outbound, inbound or both), a traffic selector and an
// action: PROTECT (naming an SA by SPI or a bundle label), BYPASS or DISCARD. Lookups
// never allocate and must never change which entry wins: an index (DirectionIndex) only
// narrows the candidates, the answer is still the first match in SPD order (RFC 4301
// §4.4.1). The SPD never looks at SA state (the engine resolves the SA a PROTECT entry names).

import { DuplicatePolicyError, InvalidPolicyError, UnknownPolicyError } from './errors.js';
import { PacketInfo } from './packet.js';
import { Selector, SelectorSpec } from './selector.js';

/** 32-bit FNV-1a of an address's octets (and its length); a bucket key, so collisions only cost a longer bucket. */
function addressHash(a: Uint8Array, off: number, len: number): number {
  let h = 0x811c9dc5 ^ len;
  for (let i = 0; i < len; i++) h = Math.imul(h ^ a[off + i], 0x01000193);
  return h | 0;
}

/**
 * One direction's entries in SPD order, indexed so a lookup looks at few of them. An entry whose
 * remote selector is one address goes in the bucket of that address (byRemote); else one whose
 * local selector is one address, in byLocal; the rest (prefixes, ranges, 'any') in `rest`. An
 * entry in a bucket can only match packets carrying its address there, so the first match is the
 * lowest position among the first matches of the packet's two buckets and of `rest`. Buckets and
 * `rest` hold positions in ascending order.
 */
class DirectionIndex {
  readonly byRemote = new Map<number, number[]>();
  readonly byLocal = new Map<number, number[]>();
  readonly rest: number[] = [];

  constructor(readonly list: readonly Policy[]) {
    for (let i = 0; i < list.length; i++) {
      const sel = list[i].selector;
      const r = sel.remote?.host;
      const l = sel.local?.host;
      if (r) push(this.byRemote, addressHash(r, 0, r.length), i);
      else if (l) push(this.byLocal, addressHash(l, 0, l.length), i);
      else this.rest.push(i);
    }
  }

  lookup(p: Uint8Array, info: PacketInfo, inbound: boolean): Policy | undefined {
    const list = this.list;
    let best = list.length;
    if (this.byRemote.size > 0) {
      const b = this.byRemote.get(addressHash(p, inbound ? info.srcOff : info.dstOff, info.addrLen));
      if (b !== undefined) best = firstMatch(list, b, best, p, info, inbound);
    }
    if (this.byLocal.size > 0) {
      const b = this.byLocal.get(addressHash(p, inbound ? info.dstOff : info.srcOff, info.addrLen));
      if (b !== undefined) best = firstMatch(list, b, best, p, info, inbound);
    }
    best = firstMatch(list, this.rest, best, p, info, inbound);
    return best < list.length ? list[best] : undefined;
  }
}

function push(m: Map<number, number[]>, key: number, i: number): void {
  const b = m.get(key);
  if (b === undefined) m.set(key, [i]);
  else b.push(i);
}

/** The lowest position in `candidates` (ascending) below `best` whose entry matches, else `best`. */
function firstMatch(list: readonly Policy[], candidates: readonly number[], best: number, p: Uint8Array, info: PacketInfo, inbound: boolean): number {
  for (let k = 0; k < candidates.length; k++) {
    const i = candidates[k];
    if (i >= best) return best;
    if (list[i].selector.matches(p, info, inbound)) return i;
  }
  return best;
}

export type PolicyDirection = 'outbound' | 'inbound' | 'both';

/** PROTECT names one SA by SPI, or a bundle label (the newest live SA carrying it). */
export type PolicyAction = 'bypass' | 'discard' | { protect: { spi: number } | { bundle: string } };

export interface PolicySpec {
  /** Unique id; generated ('p1', 'p2', ...) when absent. */
  id?: string;
  direction: PolicyDirection;
  /** Absent = match everything. */
  selector?: SelectorSpec;
  action: PolicyAction;
}

export interface PolicyInfo {
  id: string;
  /** Position in the ordered list (0 = consulted first). */
  index: number;
  direction: PolicyDirection;
  selector: SelectorSpec;
  action: PolicyAction;
}

export const ACTION_BYPASS = 0;
export const ACTION_DISCARD = 1;
export const ACTION_PROTECT = 2;

export class Policy {
  private constructor(
    readonly id: string,
    readonly direction: PolicyDirection,
    readonly selector: Selector,
    /** ACTION_BYPASS, ACTION_DISCARD or ACTION_PROTECT. */
    readonly action: number,
    /** PROTECT by SPI: the SPI, else -1. */
    readonly spi: number,
    /** PROTECT by bundle: the label, else undefined. */
    readonly bundle: string | undefined,
  ) {}

  static compile(spec: PolicySpec, id: string): Policy {
    if (typeof spec !== 'object' || spec === null) throw new InvalidPolicyError('', 'a policy must be an object { id?, direction, selector?, action }');
    for (const k of Object.keys(spec)) {
      if (!['id', 'direction', 'selector', 'action'].includes(k)) {
        throw new InvalidPolicyError(k, 'unknown policy field; allowed: id, direction, selector, action (policies name no interface)');
      }
    }
    const d = spec.direction;
    if (d !== 'outbound' && d !== 'inbound' && d !== 'both') {
      throw new InvalidPolicyError('direction', `must be 'outbound', 'inbound' or 'both', got ${JSON.stringify(d)}`);
    }
    const selector = Selector.compile(spec.selector, 'selector');
    const a = spec.action as unknown;
    if (a === 'bypass') return new Policy(id, d, selector, ACTION_BYPASS, -1, undefined);
    if (a === 'discard') return new Policy(id, d, selector, ACTION_DISCARD, -1, undefined);
    const bad = () =>
      new InvalidPolicyError('action', `must be 'bypass', 'discard', { protect: { spi: 256..4294967295 } } or { protect: { bundle: 'label' } }, got ${JSON.stringify(a)}`);
    if (typeof a !== 'object' || a === null || !('protect' in a)) throw bad();
    const p = (a as { protect: unknown }).protect;
    if (typeof p !== 'object' || p === null) throw bad();
    const { spi, bundle } = p as { spi?: unknown; bundle?: unknown };
    if ((spi === undefined) === (bundle === undefined)) throw bad();
    if (spi !== undefined) {
      if (typeof spi !== 'number' || !Number.isInteger(spi) || spi < 256 || spi > 0xffffffff) throw bad();
      return new Policy(id, d, selector, ACTION_PROTECT, spi, undefined);
    }
    if (typeof bundle !== 'string' || bundle === '') throw bad();
    return new Policy(id, d, selector, ACTION_PROTECT, -1, bundle);
  }

  describe(): PolicyAction {
    if (this.action === ACTION_BYPASS) return 'bypass';
    if (this.action === ACTION_DISCARD) return 'discard';
    return { protect: this.bundle !== undefined ? { bundle: this.bundle } : { spi: this.spi } };
  }
}

export class Spd {
  private entries: Policy[] = [];
  private readonly ids = new Set<string>();
  /** Per-direction indexes, rebuilt on the first lookup after a change (so loading N entries costs O(N), not O(N²)). */
  private outbound: DirectionIndex | undefined;
  private inbound: DirectionIndex | undefined;
  /** Inbound PROTECT entries' selectors by the SPI / bundle they name, in SPD order; rebuilt lazily too. */
  private protecting: { bySpi: Map<number, Selector[]>; byBundle: Map<string, Selector[]> } | undefined;
  private nextId = 1;
  /** Bumped on every change, so derived caches (per-SA inbound selectors) know to rebuild. */
  generation = 0;

  /** Inserts at `position` (0 = first; default: last). Returns the id. */
  add(spec: PolicySpec, position?: number): string {
    let id = spec?.id;
    if (id !== undefined) {
      if (typeof id !== 'string' || id === '') throw new InvalidPolicyError('id', `must be a non-empty string, got ${JSON.stringify(id)}`);
      if (this.ids.has(id)) throw new DuplicatePolicyError(id);
    } else {
      do id = `p${this.nextId++}`;
      while (this.ids.has(id));
    }
    const pos = position ?? this.entries.length;
    if (!Number.isInteger(pos) || pos < 0 || pos > this.entries.length) {
      throw new InvalidPolicyError('position', `must be an integer from 0 to ${this.entries.length} (the number of policies), got ${JSON.stringify(position)}`);
    }
    const policy = Policy.compile(spec, id);
    if (pos === this.entries.length) this.entries.push(policy);
    else this.entries.splice(pos, 0, policy);
    this.ids.add(id);
    this.changed();
    return id;
  }

  remove(id: string): void {
    const i = this.ids.has(id) ? this.entries.findIndex((e) => e.id === id) : -1;
    if (i < 0) throw new UnknownPolicyError(id);
    this.entries.splice(i, 1);
    this.ids.delete(id);
    this.changed();
  }

  list(): PolicyInfo[] {
    return this.entries.map((e, index) => ({
      id: e.id,
      index,
      direction: e.direction,
      selector: e.selector.describe(),
      action: e.describe(),
    }));
  }

  /** All entries in order (do not modify). */
  all(): readonly Policy[] {
    return this.entries;
  }

  /** First entry for the direction whose selector matches the parsed packet. */
  lookup(p: Uint8Array, info: PacketInfo, inbound: boolean): Policy | undefined {
    if (inbound) return (this.inbound ??= new DirectionIndex(this.entries.filter((e) => e.direction !== 'outbound'))).lookup(p, info, true);
    return (this.outbound ??= new DirectionIndex(this.entries.filter((e) => e.direction !== 'inbound'))).lookup(p, info, false);
  }

  /** Selectors of the inbound PROTECT entries naming SA `spi` or its `bundle` label, in SPD order (do not modify). */
  inboundProtecting(spi: number, bundle: string | undefined): readonly Selector[] {
    if (this.protecting === undefined) {
      const bySpi = new Map<number, Selector[]>();
      const byBundle = new Map<string, Selector[]>();
      for (const e of this.entries) {
        if (e.direction === 'outbound' || e.action !== ACTION_PROTECT) continue;
        if (e.bundle !== undefined) {
          const l = byBundle.get(e.bundle);
          if (l) l.push(e.selector);
          else byBundle.set(e.bundle, [e.selector]);
        } else {
          const l = bySpi.get(e.spi);
          if (l) l.push(e.selector);
          else bySpi.set(e.spi, [e.selector]);
        }
      }
      this.protecting = { bySpi, byBundle };
    }
    const a = this.protecting.bySpi.get(spi);
    const b = bundle !== undefined ? this.protecting.byBundle.get(bundle) : undefined;
    if (!b) return a ?? NONE;
    if (!a) return b;
    // Both: back in SPD order (callers may depend on it being the order the scan gave).
    const order = new Map(this.entries.map((e, i) => [e.selector, i]));
    return [...a, ...b].sort((x, y) => order.get(x)! - order.get(y)!);
  }

  private changed(): void {
    this.outbound = undefined;
    this.inbound = undefined;
    this.protecting = undefined;
    this.generation++;
  }
}

const NONE: readonly Selector[] = Object.freeze([]);
