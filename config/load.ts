// Loading: a JSON file (or an already parsed object) in, a frozen HaConfig or MnConfig out,
// validated by the zod schemas of schema.ts, or one ConfigError listing every problem; and
// the converters from those to the option objects of ha/registration.ts and
// mn/registration.ts. It must never start anything, touch the network, or hand out a config
// that did not validate.

import { readFileSync } from 'node:fs';
import type { HaRegistrationConfig } from '../ha/registration.js';
import type { HomeRegistrationConfig } from '../mn/registration.js';
import { parseIPv6, formatAddress } from '../ipsec/addr.js';
import { haConfigSchema, mnConfigSchema, type HaConfig, type MnConfig } from './schema.js';
import type { z } from 'zod';
import { ConfigError, problemsOf } from './messages.js';

function load<T>(schema: z.ZodType<T>, source: string | object): T {
  let value: unknown = source;
  let name: string | undefined;
  if (typeof source === 'string') {
    name = source;
    let text: string;
    try {
      text = readFileSync(source, 'utf8');
    } catch (e) {
      throw new ConfigError([{ path: '', message: `cannot read the file: ${(e as Error).message}` }], name);
    }
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw new ConfigError([{ path: '', message: `not valid JSON: ${(e as Error).message}` }], name);
    }
  }
  const r = schema.safeParse(value);
  if (!r.success) throw new ConfigError(problemsOf(r.error), name);
  return deepFreeze(r.data);
}

/** Deep-freezes plain objects and arrays (Uint8Arrays cannot be frozen and are left alone). */
function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !ArrayBuffer.isView(v) && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

/** Reads and validates the HA configuration (a JSON file path, or the parsed object). Throws ConfigError. */
export function loadHaConfig(source: string | object): HaConfig {
  return load(haConfigSchema, source);
}

/** Reads and validates the MN configuration (a JSON file path, or the parsed object). Throws ConfigError. */
export function loadMnConfig(source: string | object): MnConfig {
  return load(mnConfigSchema, source);
}

/**
 * Options for ha/registration.ts. Manual keying cannot follow the MN (RFC 4877: K = 0), so
 * keyManagementMobility is false; only configured HoAs may register (129 otherwise).
 */
export function toHaRegistrationConfig(c: HaConfig): HaRegistrationConfig {
  const hoas = new Set(c.mobileNodes.map((m) => m.hoa));
  return {
    homePrefixes: c.homePrefixes.map((p) => ({ prefix: p.prefix, length: p.length })),
    maxLifetimeSeconds: c.maxLifetimeSeconds,
    natRefreshSeconds: c.natRefreshSeconds,
    forceUdp: c.forceUdp,
    keyManagementMobility: false,
    allowedHoas: (hoa) => {
      // Asked per BU with a canonical HoA: the set holds the config's canonical texts, so a hit needs no parse.
      if (hoas.has(hoa)) return true;
      const a = parseIPv6(hoa);
      return a !== undefined && hoas.has(formatAddress(a));
    },
  };
}

/** Options for mn/registration.ts's HomeRegistration (timers and the sequence source keep their defaults there). */
export function toHomeRegistrationConfig(c: MnConfig): HomeRegistrationConfig {
  const out: HomeRegistrationConfig = { hoa: c.hoa, ha: c.haAddress, lifetimeSeconds: c.lifetimeSeconds, forceUdp: c.forceUdp };
  if (c.ipv4Hoa !== 'none') out.ipv4Hoa = c.ipv4Hoa;
  return out;
}
