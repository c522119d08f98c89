// A small schema validator for configuration files (what zod would do, in ~200 lines, with
// no dependency): schemas parse `unknown` into typed values, collect every problem with its
// field path ("mobileNodes[1].keys.bu.out.encKey") instead of stopping at the first, reject
// unknown fields naming the closest known one (typos must not silently fall back to a
// default), and fill in defaults. It must never read files, know what a home agent is, or
// throw anything but ConfigError. Swapping in zod means replacing this file and the
// builders used in schema.ts; the config types and ConfigError stay.

/** One thing wrong with a configuration: where (a field path, '' for the whole file) and what to do about it. */
export interface ConfigProblem {
  readonly path: string;
  readonly message: string;
}

/** Every problem found in one configuration, each naming its field, the bad value and what is allowed. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[], source?: string) {
    const head = `invalid configuration${source ? ` in ${source}` : ''} (${problems.length} problem${problems.length === 1 ? '' : 's'})`;
    super(`${head}:\n${problems.map((p) => `  ${p.path || '(top level)'}: ${p.message}`).join('\n')}`);
    this.problems = Object.freeze(problems.map((p) => Object.freeze({ ...p })));
  }
}

/** Collects problems during one parse. */
export class Ctx {
  readonly problems: ConfigProblem[] = [];
  add(path: string, message: string): void {
    this.problems.push({ path, message });
  }
}

/** Returned by a schema for a value it rejected (the problem is already in the Ctx). */
export const INVALID: unique symbol = Symbol('invalid');
export type Invalid = typeof INVALID;

export interface Schema<T> {
  parse(value: unknown, path: string, ctx: Ctx): T | Invalid;
}

/** JSON-ish rendering of a bad value for messages, shortened. */
export function show(v: unknown): string {
  let s: string;
  try {
    s = v === undefined ? 'undefined' : JSON.stringify(v);
  } catch {
    s = String(v);
  }
  if (s === undefined) s = String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

export function join(path: string, key: string | number): string {
  return typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key;
}

export function str(what = 'a string', check?: (s: string) => string | undefined): Schema<string> {
  return {
    parse(v, path, ctx) {
      if (typeof v !== 'string') {
        ctx.add(path, `must be ${what}, got ${show(v)}`);
        return INVALID;
      }
      const err = check?.(v);
      if (err !== undefined) {
        ctx.add(path, err);
        return INVALID;
      }
      return v;
    },
  };
}

export function int(min: number, max: number, what?: string): Schema<number> {
  return {
    parse(v, path, ctx) {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
        ctx.add(path, `must be an integer from ${min} to ${max}${what ? ` (${what})` : ''}, got ${show(v)}`);
        return INVALID;
      }
      return v;
    },
  };
}

export function bool(): Schema<boolean> {
  return {
    parse(v, path, ctx) {
      if (typeof v !== 'boolean') {
        ctx.add(path, `must be true or false, got ${show(v)}`);
        return INVALID;
      }
      return v;
    },
  };
}

export function oneOf<const T extends string>(values: readonly T[]): Schema<T> {
  return {
    parse(v, path, ctx) {
      if (typeof v !== 'string' || !values.includes(v as T)) {
        ctx.add(path, `must be one of ${values.map((x) => `'${x}'`).join(', ')}, got ${show(v)}`);
        return INVALID;
      }
      return v as T;
    },
  };
}

/** Tries each alternative on a scratch Ctx; reports `what` when none fits. */
export function either<A, B>(a: Schema<A>, b: Schema<B>, what: string): Schema<A | B> {
  return {
    parse(v, path, ctx) {
      for (const s of [a, b] as Schema<A | B>[]) {
        const r = s.parse(v, path, new Ctx());
        if (r !== INVALID) return r;
      }
      ctx.add(path, `must be ${what}, got ${show(v)}`);
      return INVALID;
    },
  };
}

export function array<T>(item: Schema<T>, min = 0): Schema<T[]> {
  return {
    parse(v, path, ctx) {
      if (!Array.isArray(v)) {
        ctx.add(path, `must be an array, got ${show(v)}`);
        return INVALID;
      }
      if (v.length < min) {
        ctx.add(path, `must hold at least ${min} entr${min === 1 ? 'y' : 'ies'}, got ${v.length}`);
        return INVALID;
      }
      const out: T[] = [];
      let bad = false;
      v.forEach((x, i) => {
        const r = item.parse(x, join(path, i), ctx);
        if (r === INVALID) bad = true;
        else out.push(r);
      });
      return bad ? INVALID : out;
    },
  };
}

/** A field of an object schema: required, optional (may be absent), or with a default used when absent. */
export type Field<T> =
  | { readonly kind: 'required'; readonly schema: Schema<Exclude<T, undefined>> }
  | { readonly kind: 'optional'; readonly schema: Schema<Exclude<T, undefined>> }
  | { readonly kind: 'default'; readonly schema: Schema<Exclude<T, undefined>>; readonly value: Exclude<T, undefined> };

export const required = <T>(schema: Schema<T>): Field<T> => ({ kind: 'required', schema: schema as Schema<Exclude<T, undefined>> });
export const optional = <T>(schema: Schema<T>): Field<T | undefined> => ({ kind: 'optional', schema: schema as Schema<Exclude<T, undefined>> });
export const withDefault = <T>(schema: Schema<T>, value: T): Field<T> => ({ kind: 'default', schema: schema as Schema<Exclude<T, undefined>>, value: value as Exclude<T, undefined> });

/**
 * An object whose fields are exactly `shape` (typed against T, so the schema and the
 * documented interface cannot drift apart). Unknown fields are rejected with the closest
 * known name. `check` runs cross-field rules once every field parsed.
 */
export function object<T extends object>(
  shape: { readonly [K in keyof T]-?: Field<T[K]> },
  check?: (value: T, path: string, ctx: Ctx) => void,
): Schema<T> {
  const known = Object.keys(shape);
  return {
    parse(v, path, ctx) {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) {
        ctx.add(path, `must be an object with fields ${known.join(', ')}, got ${show(v)}`);
        return INVALID;
      }
      const rec = v as Record<string, unknown>;
      let bad = false;
      for (const k of Object.keys(rec)) {
        if (known.includes(k)) continue;
        bad = true;
        const near = closest(k, known);
        ctx.add(join(path, k), `unknown field${near ? `; did you mean '${near}'?` : ''} (allowed: ${known.join(', ')})`);
      }
      const out: Record<string, unknown> = {};
      for (const k of known) {
        const f = (shape as Record<string, Field<unknown>>)[k];
        const has = Object.prototype.hasOwnProperty.call(rec, k) && rec[k] !== undefined;
        if (!has) {
          if (f.kind === 'required') {
            ctx.add(join(path, k), 'is required');
            bad = true;
          } else if (f.kind === 'default') out[k] = f.value;
          continue;
        }
        const r = f.schema.parse(rec[k], join(path, k), ctx);
        if (r === INVALID) bad = true;
        else out[k] = r;
      }
      if (bad) return INVALID;
      const n = ctx.problems.length;
      check?.(out as T, path, ctx);
      return ctx.problems.length > n ? INVALID : (out as T);
    },
  };
}

/** Runs `schema` on `value` and returns the result, or throws one ConfigError listing every problem. */
export function parseOrThrow<T>(schema: Schema<T>, value: unknown, source?: string): T {
  const ctx = new Ctx();
  const r = schema.parse(value, '', ctx);
  if (r === INVALID || ctx.problems.length > 0) {
    if (ctx.problems.length === 0) ctx.add('', 'invalid');
    throw new ConfigError(ctx.problems, source);
  }
  return r;
}

/** The known name within edit distance max(2, a third of its length) of `name`, if one is. */
export function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  const lower = name.toLowerCase();
  for (const k of known) {
    const d = lower === k.toLowerCase() ? 0 : editDistance(lower, k.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/** Deep-freezes plain objects and arrays (Uint8Arrays cannot be frozen and are left alone). */
export function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !ArrayBuffer.isView(v) && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}
