// The configuration of the home agent and of the mobile node: the typed objects the daemons
// run from, every default stated once (HA_DEFAULTS, MN_DEFAULTS, LOG_DEFAULTS) and handed to
// the schemas' .default(), and the zod schemas that check a parsed JSON value into them
// (field checks, addresses in one spelling, then cross-field rules: HoAs inside the home
// prefixes, distinct SPIs, key lengths that fit the algorithm, reserved pool addresses inside
// the pool). It must never read files, touch the network or the IPsec engine, and never
// accept a field it does not know (every object is strict).

import { ALGORITHMS, ALGORITHM_NAMES, type AlgorithmName } from '../ipsec/algorithms.js';
import { formatAddress, parseIPv4, parseIPv6 } from '../ipsec/addr.js';
import { z } from 'zod';
import { described, expected, objectErrors, pathText, show } from './messages.js';
import { LOG_DEFAULTS, LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../common/log.js';
import { parseListen } from '../common/metrics.js';

// ---- defaults -------------------------------------------------------------------------

/** Defaults of the HA configuration (used when the field is absent). */
export const HA_DEFAULTS = Object.freeze({
  /** RFC 5555 UDP encapsulation port. */
  udpPort: 4191,
  /** Longest binding lifetime granted, seconds. */
  maxLifetimeSeconds: 3600,
  /** NAT keepalive refresh put in the NAT Detection option (RFC 5555 NATKATIMEOUT). */
  natRefreshSeconds: 110,
  /** UDP-encapsulate even with no NAT. */
  forceUdp: false,
});

/** Defaults of the MN configuration. */
export const MN_DEFAULTS = Object.freeze({
  udpPort: 4191,
  /** Binding lifetime requested, seconds. */
  lifetimeSeconds: 3600,
  forceUdp: false,
  /** No IPv4 home address. */
  ipv4Hoa: 'none' as const,
  /** Empty: watch every interface but loopback. */
  interfaces: Object.freeze([]) as readonly string[],
});

// ---- types ----------------------------------------------------------------------------

/** The `log` block of either file. Absent: every field at its default. */
export interface LogConfig {
  /** 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'. Default LOG_DEFAULTS.level ('info'). */
  readonly level: LogLevel;
  /** 'auto' (pretty on a terminal, JSON lines otherwise), 'json' or 'pretty'. Default LOG_DEFAULTS.format ('auto'). */
  readonly format: LogFormat;
}

/** The `metrics` block of either file. Absent: no metrics server. */
export interface MetricsConfig {
  /** Where GET /metrics (Prometheus text format) is served, 'host:port' or '[v6]:port', e.g. '127.0.0.1:9101'. No default: the block is opt-in. */
  readonly listen: string;
}

/** One direction of a manually keyed ESP SA, as written in the file. Keys stay hex text here (frozen config). */
export interface SaKeys {
  /** 256..4294967295; unique among all SPIs this host holds. */
  readonly spi: number;
  /** One of the ipsec/ algorithm names: 'aes-gcm-16', 'aes-cbc-hmac-sha256-128', 'null-hmac-sha256-128'. */
  readonly algorithm: AlgorithmName;
  /** Hex; length fixed by the algorithm (aes-gcm-16: AES key + 4-octet salt = 20/28/36 octets; aes-cbc: 16/24/32; null: absent or ''). */
  readonly encKey?: string;
  /** Hex; HMAC-SHA-256 key, 32 octets; absent for aes-gcm-16. */
  readonly authKey?: string;
}

/** An SA pair, seen from the host whose file this is: `out` protects what it sends, `in` what it receives. The peer's file holds the mirror (its `in` is this `out`). */
export interface SaPair {
  readonly out: SaKeys;
  readonly in: SaKeys;
}

/** Manual keys for one MN<->HA pair (RFC 3776/4877 with manual keying, so K = 0). */
export interface MobilityKeys {
  /** Transport-mode ESP for BU (MN->HA) and BA (HA->MN). */
  readonly bu: SaPair;
  /** Tunnel-mode ESP (HoA<->HA) for all traffic of the home addresses, IPv6 and IPv4. */
  readonly payload: SaPair;
}

/** An IPv6 or IPv4 prefix, canonical text. */
export interface Prefix {
  readonly prefix: string;
  readonly length: number;
}

export interface HaMobileNode {
  /** The MN's IPv6 home address; inside one of homePrefixes. */
  readonly hoa: string;
  /** A static IPv4 home address (inside ipv4HomePool when that is set). Absent: none, or one from the pool. */
  readonly ipv4Hoa?: string;
  readonly keys: MobilityKeys;
}

export interface HaConfig {
  /** IPv6 home prefixes served, written 'addr/len'. At least one. */
  readonly homePrefixes: readonly Prefix[];
  /** The HA's own IPv6 address (on the home link, inside a home prefix). */
  readonly haAddress: string;
  /** The HA's IPv4 address, for IPv4 care-of addresses (DSMIPv6). Absent: IPv6 care-of addresses only. */
  readonly haIpv4Address?: string;
  /** The IPv4 home address pool, 'a.b.c.d/len', and addresses never handed out. Absent: no IPv4 home addresses from a pool. */
  readonly ipv4HomePool?: { readonly prefix: string; readonly length: number; readonly reserved: readonly string[] };
  /** Interface names, used for I/O only (never in an IPsec selector, design Req #2). */
  readonly interfaces: { readonly homeLink: string; readonly public: string };
  /** Default HA_DEFAULTS.udpPort (4191). */
  readonly udpPort: number;
  /** Default HA_DEFAULTS.maxLifetimeSeconds (3600). 4..262140. */
  readonly maxLifetimeSeconds: number;
  /** Default HA_DEFAULTS.natRefreshSeconds (110). */
  readonly natRefreshSeconds: number;
  /** Default HA_DEFAULTS.forceUdp (false). */
  readonly forceUdp: boolean;
  /** The MNs this HA serves, each with its manual keys. */
  readonly mobileNodes: readonly HaMobileNode[];
  /** Logging; absent: LOG_DEFAULTS. The command line's --log-level / --log-format override it. */
  readonly log?: LogConfig;
  /** Prometheus metrics; absent: none. The command line's --metrics overrides it. */
  readonly metrics?: MetricsConfig;
}

export interface MnConfig {
  /** The MN's IPv6 home address. */
  readonly hoa: string;
  /** The HA's IPv6 address. */
  readonly haAddress: string;
  /** The HA's IPv4 address (needed to register from an IPv4 care-of address). Absent: IPv6 only. */
  readonly haIpv4Address?: string;
  /** Default MN_DEFAULTS.udpPort (4191). */
  readonly udpPort: number;
  /** Default MN_DEFAULTS.lifetimeSeconds (3600). 4..262140. */
  readonly lifetimeSeconds: number;
  /** Default MN_DEFAULTS.forceUdp (false). */
  readonly forceUdp: boolean;
  /** 'dynamic' (ask the HA for one), a dotted quad (ask for that one), or 'none'. Default MN_DEFAULTS.ipv4Hoa ('none'). */
  readonly ipv4Hoa: 'dynamic' | 'none' | string;
  /** Interfaces to watch for care-of addresses. Default MN_DEFAULTS.interfaces ([]: all but loopback). */
  readonly interfaces: readonly string[];
  readonly keys: MobilityKeys;
  /** Logging; absent: LOG_DEFAULTS. The command line's --log-level / --log-format override it. */
  readonly log?: LogConfig;
  /** Prometheus metrics; absent: none. The command line's --metrics overrides it. */
  readonly metrics?: MetricsConfig;
}

// ---- field schemas --------------------------------------------------------------------
// Every field schema passes its own error map (messages.ts), so each zod issue names the bad
// value and what is allowed. Checks on a value abort its schema, and the cross-field rules run
// only when everything beneath them parsed (`whenValid`), as one broken field must not also
// be reported as a cross-field mistake.

/** Runs a superRefine only when nothing beneath it has a problem. */
const whenValid = { when: (p: { issues: readonly unknown[] }) => p.issues.length === 0 };

/** A string whose further check returns a message for a bad value (undefined when good). */
function checkedString(what: string, check: (s: string) => string | undefined) {
  return z.string({ error: expected(what) }).check((ctx) => {
    const message = check(ctx.value);
    if (message !== undefined) ctx.issues.push({ code: 'custom', message, input: ctx.value, continue: false });
  });
}

/** An address, stored in one spelling (canonical text), so comparisons compare values. */
function address(family: 4 | 6) {
  const parse = family === 6 ? parseIPv6 : parseIPv4;
  const bad =
    family === 6 ? (s: string) => `'${s}' is not an IPv6 address (e.g. '2001:db8::1')` : (s: string) => `'${s}' is not an IPv4 address (dotted quad, e.g. '192.0.2.1')`;
  return checkedString(`an IPv${family} address as text`, (s) => (parse(s) ? undefined : bad(s))).transform((s) => formatAddress(parse(s)!));
}
const ipv6 = () => address(6);
const ipv4 = () => address(4);

/** 'address/length' with no bits set beyond the length, into a canonical Prefix. */
function prefix(family: 4 | 6) {
  const parse = family === 6 ? parseIPv6 : parseIPv4;
  const eg = family === 6 ? '2001:db8:1::/64' : '10.1.0.0/24';
  const max = family === 6 ? 128 : 32;
  return z
    .string({ error: described((v) => `must be an IPv${family} prefix 'address/length' (e.g. '${eg}'), got ${show(v)}`) })
    .transform((v, ctx): Prefix => {
      const slash = v.indexOf('/');
      const a = slash > 0 ? parse(v.slice(0, slash)) : undefined;
      const lenText = slash > 0 ? v.slice(slash + 1) : '';
      if (!a || !/^[0-9]{1,3}$/.test(lenText) || Number(lenText) > max) {
        ctx.addIssue({ code: 'custom', input: v, message: `'${v}' is not an IPv${family} prefix: write 'address/length' with length 0..${max} (e.g. '${eg}')` });
        return z.NEVER;
      }
      const length = Number(lenText);
      const net = a.map((b, i) => b & ((0xff00 >> Math.max(0, Math.min(8, length - 8 * i))) & 0xff));
      if (net.some((b, i) => b !== a[i])) {
        ctx.addIssue({ code: 'custom', input: v, message: `'${v}' has bits set beyond /${length}; write '${formatAddress(net)}/${length}'` });
        return z.NEVER;
      }
      return { prefix: formatAddress(a), length };
    });
}

function inPrefix(addr: string, p: Prefix): boolean {
  const a = (p.prefix.includes(':') ? parseIPv6 : parseIPv4)(addr);
  const n = (p.prefix.includes(':') ? parseIPv6 : parseIPv4)(p.prefix);
  if (!a || !n || a.length !== n.length) return false;
  for (let i = 0; i < a.length; i++) {
    const take = Math.max(0, Math.min(8, p.length - 8 * i));
    const m = (0xff00 >> take) & 0xff;
    if ((a[i] & m) !== (n[i] & m)) return false;
  }
  return true;
}

/** An integer in min..max; `what` says what the bounds mean. */
function int(min: number, max: number, what?: string) {
  const error = described((v) => `must be an integer from ${min} to ${max}${what ? ` (${what})` : ''}, got ${show(v)}`);
  return z.number({ error }).int({ error, abort: true }).min(min, { error, abort: true }).max(max, { error, abort: true });
}

const bool = () => z.boolean({ error: expected('true or false') });

/** One of `values`, naming them all when the value is not. */
function oneOf<const T extends readonly string[]>(values: T) {
  return z.enum(values, { error: described((v) => `must be one of ${values.map((x) => `'${x}'`).join(', ')}, got ${show(v)}`) });
}

/** An array of `item`, at least `min` long. */
function array<T extends z.ZodType>(item: T, min = 0) {
  const s = z.array(item, { error: expected('an array') });
  return min === 0 ? s : s.min(min, { error: (iss) => `must hold at least ${min} entr${min === 1 ? 'y' : 'ies'}, got ${(iss.input as unknown[]).length}` });
}

/** An object with exactly the fields of `shape`: an unknown field is refused, naming the closest known one. */
function object<S extends z.ZodRawShape>(shape: S) {
  return z.strictObject(shape, { error: objectErrors(Object.keys(shape)) });
}

const ifname = () =>
  checkedString('an interface name', (s) => (/^[A-Za-z0-9_.:@-]{1,15}$/.test(s) ? undefined : `'${s}' is not an interface name (1-15 characters: letters, digits, _ . : @ -)`));

const logConfig = object({
  level: oneOf(LOG_LEVELS).default(LOG_DEFAULTS.level),
  format: oneOf(LOG_FORMATS).default(LOG_DEFAULTS.format),
} satisfies Record<keyof LogConfig, z.ZodType>);

const metricsConfig = object({
  listen: checkedString("'host:port'", (s) => {
    const r = parseListen(s);
    return typeof r === 'string' ? r : undefined;
  }),
} satisfies Record<keyof MetricsConfig, z.ZodType>);

const hexKey = () =>
  checkedString('a key in hex', (s) => (/^([0-9a-fA-F]{2})*$/.test(s) ? undefined : `must be an even number of hex digits (no '0x', no separators), got ${show(s)}`));

const saKeys = object({
  spi: int(256, 0xffffffff, '0 is never sent and 1-255 are reserved'),
  algorithm: oneOf(ALGORITHM_NAMES),
  encKey: hexKey().optional(),
  authKey: hexKey().optional(),
} satisfies Record<keyof SaKeys, z.ZodType>).superRefine((k, ctx) => {
  // Key lengths that fit the algorithm.
  const info = ALGORITHMS[k.algorithm];
  const check = (field: 'encKey' | 'authKey', lengths: readonly number[]) => {
    const octets = (k[field] ?? '').length / 2;
    if (lengths.includes(octets)) return;
    const allowed = lengths.filter((n) => n > 0).map((n) => `${n} octets (${2 * n} hex digits)`);
    const fix = allowed.length === 0 ? `leave it out: ${k.algorithm} takes none` : `must be ${allowed.join(' or ')} for ${k.algorithm}`;
    ctx.addIssue({ code: 'custom', path: [field], input: k[field], message: `${fix}, got ${octets} octets` });
  };
  check('encKey', info.encKeyLengths);
  check('authKey', info.authKeyLengths.length ? info.authKeyLengths : [0]);
}, whenValid);

const saPair = object({ out: saKeys, in: saKeys } satisfies Record<keyof SaPair, z.ZodType>);
const mobilityKeys = object({ bu: saPair, payload: saPair } satisfies Record<keyof MobilityKeys, z.ZodType>);

type Spi = { spi: number; path: (string | number)[] };

/** The four SPIs of a key block with their paths (below `path`, the path of the block's owner). */
function spisOf(keys: MobilityKeys, path: (string | number)[]): Spi[] {
  const out: Spi[] = [];
  for (const pair of ['bu', 'payload'] as const) {
    for (const dir of ['out', 'in'] as const) out.push({ spi: keys[pair][dir].spi, path: [...path, 'keys', pair, dir, 'spi'] });
  }
  return out;
}

/** Every SPI appears once among those this host holds (outbound and inbound share one SAD keyed by SPI). */
function distinctSpis(all: Spi[], ctx: z.RefinementCtx): void {
  const seen = new Map<number, Spi['path']>();
  for (const s of all) {
    const first = seen.get(s.spi);
    if (first !== undefined) {
      ctx.addIssue({ code: 'custom', path: s.path, input: s.spi, message: `SPI ${s.spi} is already used at ${pathText(first)}; every SPI this host holds must be distinct` });
    } else seen.set(s.spi, s.path);
  }
}

const LIFETIME_MAX = 262140;

const haMobileNode = object({ hoa: ipv6(), ipv4Hoa: ipv4().optional(), keys: mobilityKeys } satisfies Record<keyof HaMobileNode, z.ZodType>);

/** The IPv4 home pool: its prefix, and reserved addresses (inside it) never handed out. */
const ipv4Pool = object({ prefix: prefix(4), reserved: array(ipv4()).default(() => []) })
  .superRefine((pool, ctx) => {
    const { prefix: p, reserved } = pool;
    reserved.forEach((a, i) => {
      if (!inPrefix(a, p)) ctx.addIssue({ code: 'custom', path: ['reserved', i], input: a, message: `${a} is outside the pool ${p.prefix}/${p.length}; list only addresses inside it` });
    });
  }, whenValid)
  .transform((pool) => ({ prefix: pool.prefix.prefix, length: pool.prefix.length, reserved: pool.reserved }));

const haShape = {
  homePrefixes: array(prefix(6), 1),
  haAddress: ipv6(),
  haIpv4Address: ipv4().optional(),
  ipv4HomePool: ipv4Pool.optional(),
  interfaces: object({ homeLink: ifname(), public: ifname() } satisfies Record<keyof HaConfig['interfaces'], z.ZodType>),
  udpPort: int(1, 65535).default(HA_DEFAULTS.udpPort),
  maxLifetimeSeconds: int(4, LIFETIME_MAX, 'seconds; the BA field counts 4-s units').default(HA_DEFAULTS.maxLifetimeSeconds),
  natRefreshSeconds: int(1, 0xfffffffe, 'seconds').default(HA_DEFAULTS.natRefreshSeconds),
  forceUdp: bool().default(HA_DEFAULTS.forceUdp),
  mobileNodes: array(haMobileNode),
  log: logConfig.optional(),
  metrics: metricsConfig.optional(),
} satisfies Record<keyof HaConfig, z.ZodType>;

/** Schema of the HA file: the fields, then the cross-field rules. */
export const haConfigSchema: z.ZodType<HaConfig> = object(haShape).superRefine((c, ctx) => {
  const inHome = (a: string) => c.homePrefixes.some((p) => inPrefix(a, p));
  const list = c.homePrefixes.map((p) => `${p.prefix}/${p.length}`).join(', ');
  const problem = (path: (string | number)[], input: unknown, message: string) => ctx.addIssue({ code: 'custom', path, input, message });
  if (!inHome(c.haAddress)) problem(['haAddress'], c.haAddress, `${c.haAddress} is not inside a home prefix (${list}); the HA sits on the home link`);
  const hoas = new Map<string, number>();
  const v4 = new Map<string, number>();
  const spis: Spi[] = [];
  c.mobileNodes.forEach((mn, i) => {
    const path = ['mobileNodes', i];
    if (!inHome(mn.hoa)) problem([...path, 'hoa'], mn.hoa, `${mn.hoa} is not inside a home prefix (${list})`);
    if (mn.hoa === c.haAddress) problem([...path, 'hoa'], mn.hoa, `${mn.hoa} is the HA's own address`);
    if (hoas.has(mn.hoa)) problem([...path, 'hoa'], mn.hoa, `${mn.hoa} is already mobileNodes[${hoas.get(mn.hoa)}].hoa; each MN needs its own`);
    else hoas.set(mn.hoa, i);
    if (mn.ipv4Hoa !== undefined) {
      if (v4.has(mn.ipv4Hoa)) problem([...path, 'ipv4Hoa'], mn.ipv4Hoa, `${mn.ipv4Hoa} is already mobileNodes[${v4.get(mn.ipv4Hoa)}].ipv4Hoa`);
      else v4.set(mn.ipv4Hoa, i);
      const pool = c.ipv4HomePool;
      if (pool && !inPrefix(mn.ipv4Hoa, pool)) problem([...path, 'ipv4Hoa'], mn.ipv4Hoa, `${mn.ipv4Hoa} is outside ipv4HomePool ${pool.prefix}/${pool.length}`);
    }
    spis.push(...spisOf(mn.keys, path));
  });
  distinctSpis(spis, ctx);
}, whenValid);

const mnIpv4Hoa = z.union([z.enum(['dynamic', 'none']), ipv4()], { error: expected("'dynamic', 'none' or an IPv4 address (e.g. '10.1.0.10')") });

const mnShape = {
  hoa: ipv6(),
  haAddress: ipv6(),
  haIpv4Address: ipv4().optional(),
  udpPort: int(1, 65535).default(MN_DEFAULTS.udpPort),
  lifetimeSeconds: int(4, LIFETIME_MAX, 'seconds; the BU field counts 4-s units').default(MN_DEFAULTS.lifetimeSeconds),
  forceUdp: bool().default(MN_DEFAULTS.forceUdp),
  ipv4Hoa: mnIpv4Hoa.default(MN_DEFAULTS.ipv4Hoa),
  interfaces: array(ifname()).default(() => [...MN_DEFAULTS.interfaces]),
  keys: mobilityKeys,
  log: logConfig.optional(),
  metrics: metricsConfig.optional(),
} satisfies Record<keyof MnConfig, z.ZodType>;

/** Schema of the MN file: the fields, then the cross-field rules. */
export const mnConfigSchema: z.ZodType<MnConfig> = object(mnShape).superRefine((c, ctx) => {
  if (c.hoa === c.haAddress) ctx.addIssue({ code: 'custom', path: ['haAddress'], input: c.haAddress, message: `is the home address ${c.hoa}; give the HA's own address` });
  distinctSpis(spisOf(c.keys, []), ctx);
}, whenValid);
