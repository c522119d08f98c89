// Configuration error messages: the little that zod does not do for this project's config
// errors. ConfigError (every problem of one file, each naming its field path, the bad value
// and what is allowed), the error maps the schemas in schema.ts hand to zod so its issues read
// that way, the "did you mean" suggestion for unknown fields (on top of zod's
// unrecognized_keys issue), and the turning of a ZodError into ConfigProblems. It must never
// validate anything itself (zod does), read files, or know what a home agent is.

import type { z } from 'zod';

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

/** The raw issue zod hands a schema's error map. */
type RawIssue = z.core.$ZodRawIssue;
/** An error map as the schemas' `error` parameter takes it. */
export type ErrorMap = (iss: RawIssue) => string;

/** JSON-ish rendering of a bad value for messages, shortened. */
export function show(v: unknown): string {
  let s: string | undefined;
  try {
    s = v === undefined ? 'undefined' : JSON.stringify(v);
  } catch {
    s = String(v);
  }
  if (s === undefined) s = String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** A field path as the messages write it: `mobileNodes[1].keys.bu.out.encKey`; '' for the top level. */
export function pathText(path: readonly PropertyKey[]): string {
  let out = '';
  for (const k of path) out = typeof k === 'number' ? `${out}[${k}]` : out ? `${out}.${String(k)}` : String(k);
  return out;
}

/** An issue about a field that is absent (zod runs the field's schema on undefined). */
const missing = (iss: RawIssue) => (iss.code === 'invalid_type' || iss.code === 'invalid_value') && iss.input === undefined;

/** Error map of a field schema: 'is required' when absent, else "must be <what>, got <value>". */
export function expected(what: string): ErrorMap {
  return (iss) => (missing(iss) ? 'is required' : `must be ${what}, got ${show(iss.input)}`);
}

/** Error map of a field whose messages depend on the value (`text(value)` for any value that is there). */
export function described(text: (value: unknown) => string): ErrorMap {
  return (iss) => (missing(iss) ? 'is required' : text(iss.input));
}

/**
 * Error map of a strict object with fields `known`. Its unrecognized_keys issue carries the
 * allowed names as JSON in the message, for problemsOf to turn into one problem per unknown
 * field with a suggestion (zod's one issue lists every unknown key of the object at once).
 */
export function objectErrors(known: readonly string[]): ErrorMap {
  return (iss) => {
    if (iss.code === 'unrecognized_keys') return JSON.stringify({ allowed: known });
    return missing(iss) ? 'is required' : `must be an object with fields ${known.join(', ')}, got ${show(iss.input)}`;
  };
}

/** Every issue of a failed parse as ConfigProblems, one per unknown field. */
export function problemsOf(error: z.ZodError): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const iss of error.issues) {
    const path = pathText(iss.path);
    if (iss.code !== 'unrecognized_keys') {
      out.push({ path, message: iss.message });
      continue;
    }
    const allowed = allowedOf(iss.message);
    for (const key of iss.keys) {
      const near = allowed ? closest(key, allowed) : undefined;
      const message = `unknown field${near ? `; did you mean '${near}'?` : ''}${allowed ? ` (allowed: ${allowed.join(', ')})` : ''}`;
      out.push({ path: pathText([...iss.path, key]), message });
    }
  }
  return out;
}

/** The allowed names objectErrors put in an unrecognized_keys message; undefined for any other message. */
function allowedOf(message: string): string[] | undefined {
  try {
    const v: unknown = JSON.parse(message);
    const allowed = (v as { allowed?: unknown } | null)?.allowed;
    return Array.isArray(allowed) && allowed.every((a) => typeof a === 'string') ? allowed : undefined;
  } catch {
    return undefined;
  }
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

/** Levenshtein distance (insertions, deletions, substitutions). */
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
