// SA lifetimes (RFC 4301 §4.4.2.1): soft and hard limits in seconds (from the time the
// SA was added, on the injected clock) and in octets of protected payload. Tracks one
// SA's state, mature -> dying (soft limit) -> dead (hard limit); each transition
// happens once. Never reads a clock itself and never raises events: the engine does.

import { InvalidSaError } from './errors.js';

export interface LifetimeSpec {
  softSeconds?: number;
  hardSeconds?: number;
  softBytes?: number;
  hardBytes?: number;
}

export type SaState = 'mature' | 'dying' | 'dead';

/** advance() result bits. */
export const BECAME_DYING = 1;
export const BECAME_DEAD = 2;

function limit(spec: LifetimeSpec, key: keyof LifetimeSpec): number {
  const v = spec[key];
  if (v === undefined) return Infinity;
  if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) {
    throw new InvalidSaError(`lifetime.${key}`, `must be a positive finite number (leave it out for no limit), got ${JSON.stringify(v)}`);
  }
  return v;
}

export class Lifetime {
  readonly softAt: number;
  readonly hardAt: number;
  readonly softBytes: number;
  readonly hardBytes: number;
  /** True once the hard limit is reached: a boolean so the packet path compares no strings. */
  dead = false;
  private dying = false;
  /** Protected payload octets so far. */
  bytes = 0;
  /** Clock value (ms) at or after which advance() must run; Infinity when no time limit remains. */
  deadline: number;
  /** Byte count at or after which advance() must run. */
  byteMark: number;

  /** Validates `spec` (InvalidSaError naming the field); `now` is the clock (ms) when the SA is added. */
  constructor(
    readonly spec: LifetimeSpec,
    readonly addedAt: number,
  ) {
    if (typeof spec !== 'object' || spec === null) throw new InvalidSaError('lifetime', 'must be an object with optional softSeconds, hardSeconds, softBytes, hardBytes');
    const ss = limit(spec, 'softSeconds');
    const hs = limit(spec, 'hardSeconds');
    this.softBytes = limit(spec, 'softBytes');
    this.hardBytes = limit(spec, 'hardBytes');
    // Compared only when both are given: a soft limit alone, or a hard limit alone, is fine.
    if (ss !== Infinity && ss > hs) throw new InvalidSaError('lifetime.softSeconds', `must not exceed hardSeconds (${hs})`);
    if (this.softBytes !== Infinity && this.softBytes > this.hardBytes) throw new InvalidSaError('lifetime.softBytes', `must not exceed hardBytes (${this.hardBytes})`);
    this.softAt = addedAt + ss * 1000;
    this.hardAt = addedAt + hs * 1000;
    this.deadline = Math.min(this.softAt, this.hardAt);
    this.byteMark = Math.min(this.softBytes, this.hardBytes);
  }

  /** Moves the state forward for clock `now`; returns BECAME_DYING / BECAME_DEAD bits for the transitions made. */
  get state(): SaState {
    return this.dead ? 'dead' : this.dying ? 'dying' : 'mature';
  }

  advance(now: number): number {
    if (this.dead) return 0;
    if (now >= this.hardAt || this.bytes >= this.hardBytes) {
      // Straight to dead: a soft warning after the fact would mean nothing.
      this.dead = true;
      this.deadline = Infinity;
      this.byteMark = Infinity;
      return BECAME_DEAD;
    }
    if (!this.dying && (now >= this.softAt || this.bytes >= this.softBytes)) {
      this.dying = true;
      this.deadline = this.hardAt;
      this.byteMark = this.hardBytes;
      return BECAME_DYING;
    }
    return 0;
  }

  /** The state at `now` without changing anything (for side-effect-free queries). */
  peek(now: number): SaState {
    if (this.dead || now >= this.hardAt || this.bytes >= this.hardBytes) return 'dead';
    if (this.dying || now >= this.softAt || this.bytes >= this.softBytes) return 'dying';
    return 'mature';
  }
}
