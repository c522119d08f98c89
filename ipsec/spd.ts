// The Security Policy Database: an ordered list of host-wide entries, first match wins.
// Each entry has a direction (outbound, inbound or both), a traffic selector and an
// action: PROTECT (naming an SA by SPI or a bundle label), BYPASS or DISCARD. Lookups
// scan precompiled per-direction arrays and never allocate; the SPD never looks at
// SA state (the engine resolves the SA a PROTECT entry names).

import { DuplicatePolicyError, InvalidPolicyError, UnknownPolicyError } from './errors.js';
import { PacketInfo } from './packet.js';
import { Selector, SelectorSpec } from './selector.js';

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
  private outbound: Policy[] = [];
  private inbound: Policy[] = [];
  private nextId = 1;
  /** Bumped on every change, so derived caches (per-SA inbound selectors) know to rebuild. */
  generation = 0;

  /** Inserts at `position` (0 = first; default: last). Returns the id. */
  add(spec: PolicySpec, position?: number): string {
    let id = spec?.id;
    if (id !== undefined) {
      if (typeof id !== 'string' || id === '') throw new InvalidPolicyError('id', `must be a non-empty string, got ${JSON.stringify(id)}`);
      if (this.entries.some((e) => e.id === id)) throw new DuplicatePolicyError(id);
    } else {
      do id = `p${this.nextId++}`;
      while (this.entries.some((e) => e.id === id));
    }
    const pos = position ?? this.entries.length;
    if (!Number.isInteger(pos) || pos < 0 || pos > this.entries.length) {
      throw new InvalidPolicyError('position', `must be an integer from 0 to ${this.entries.length} (the number of policies), got ${JSON.stringify(position)}`);
    }
    const policy = Policy.compile(spec, id);
    this.entries.splice(pos, 0, policy);
    this.rebuild();
    return id;
  }

  remove(id: string): void {
    const i = this.entries.findIndex((e) => e.id === id);
    if (i < 0) throw new UnknownPolicyError(id);
    this.entries.splice(i, 1);
    this.rebuild();
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
    const list = inbound ? this.inbound : this.outbound;
    for (let i = 0; i < list.length; i++) if (list[i].selector.matches(p, info, inbound)) return list[i];
    return undefined;
  }

  private rebuild(): void {
    this.outbound = this.entries.filter((e) => e.direction !== 'inbound');
    this.inbound = this.entries.filter((e) => e.direction !== 'outbound');
    this.generation++;
  }
}
