// The configuration of the home agent and of the mobile node: the typed objects the daemons
// run from, every default stated next to its field, and the schemas that check a parsed JSON
// value into them (field checks, then cross-field rules: HoAs inside the home prefixes,
// distinct SPIs, key lengths that fit the algorithm). It must never read files, touch the
// network or the IPsec engine, and never accept a field it does not know.

import { ALGORITHMS, ALGORITHM_NAMES, type AlgorithmName } from '../ipsec/algorithms.js';
import { formatAddress, parseIPv4, parseIPv6 } from '../ipsec/addr.js';
import { array, bool, Ctx, either, int, INVALID, join, object, oneOf, optional, required, Schema, show, str, withDefault } from './validate.js';
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

const ipv6 = (): Schema<string> =>
  canon(str('an IPv6 address as text', (s) => (parseIPv6(s) ? undefined : `'${s}' is not an IPv6 address (e.g. '2001:db8::1')`)), parseIPv6);
const ipv4 = (): Schema<string> =>
  canon(str('an IPv4 address as text', (s) => (parseIPv4(s) ? undefined : `'${s}' is not an IPv4 address (dotted quad, e.g. '192.0.2.1')`)), parseIPv4);

/** Stores addresses in one spelling, so comparisons compare values. */
function canon(s: Schema<string>, parse: (t: string) => Uint8Array | undefined): Schema<string> {
  return { parse: (v, path, ctx) => {
    const r = s.parse(v, path, ctx);
    return typeof r === 'string' ? formatAddress(parse(r)!) : r;
  } };
}

function prefix(family: 4 | 6): Schema<Prefix> {
  const parse = family === 6 ? parseIPv6 : parseIPv4;
  const eg = family === 6 ? '2001:db8:1::/64' : '10.1.0.0/24';
  return {
    parse(v, path, ctx) {
      if (typeof v !== 'string') {
        ctx.add(path, `must be an IPv${family} prefix 'address/length' (e.g. '${eg}'), got ${show(v)}`);
        return INVALID;
      }
      const slash = v.indexOf('/');
      const a = slash > 0 ? parse(v.slice(0, slash)) : undefined;
      const lenText = slash > 0 ? v.slice(slash + 1) : '';
      const max = family === 6 ? 128 : 32;
      if (!a || !/^[0-9]{1,3}$/.test(lenText) || Number(lenText) > max) {
        ctx.add(path, `'${v}' is not an IPv${family} prefix: write 'address/length' with length 0..${max} (e.g. '${eg}')`);
        return INVALID;
      }
      const length = Number(lenText);
      const net = a.map((b, i) => b & ((0xff00 >> Math.max(0, Math.min(8, length - 8 * i))) & 0xff));
      if (net.some((b, i) => b !== a[i])) {
        ctx.add(path, `'${v}' has bits set beyond /${length}; write '${formatAddress(net)}/${length}'`);
        return INVALID;
      }
      return { prefix: formatAddress(a), length };
    },
  };
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

const ifname = () =>
  str('an interface name', (s) => (/^[A-Za-z0-9_.:@-]{1,15}$/.test(s) ? undefined : `'${s}' is not an interface name (1-15 characters: letters, digits, _ . : @ -)`));

const logConfig = object<LogConfig>({
  level: withDefault(oneOf(LOG_LEVELS), LOG_DEFAULTS.level),
  format: withDefault(oneOf(LOG_FORMATS), LOG_DEFAULTS.format),
});

const metricsConfig = object<MetricsConfig>({
  listen: required(str("'host:port'", (s) => {
    const r = parseListen(s);
    return typeof r === 'string' ? r : undefined;
  })),
});

const hexKey = () =>
  str('a key in hex', (s) => (/^([0-9a-fA-F]{2})*$/.test(s) ? undefined : `must be an even number of hex digits (no '0x', no separators), got ${show(s)}`));

const saKeys: Schema<SaKeys> = object<SaKeys>(
  {
    spi: required(int(256, 0xffffffff, '0 is never sent and 1-255 are reserved')),
    algorithm: required(oneOf(ALGORITHM_NAMES)),
    encKey: optional(hexKey()),
    authKey: optional(hexKey()),
  },
  (k, path, ctx) => {
    const info = ALGORITHMS[k.algorithm];
    const check = (field: 'encKey' | 'authKey', lengths: readonly number[]) => {
      const octets = (k[field] ?? '').length / 2;
      if (lengths.includes(octets)) return;
      const allowed = lengths.filter((n) => n > 0).map((n) => `${n} octets (${2 * n} hex digits)`);
      const fix = allowed.length === 0 ? `leave it out: ${k.algorithm} takes none` : `must be ${allowed.join(' or ')} for ${k.algorithm}`;
      ctx.add(join(path, field), `${fix}, got ${octets} octets`);
    };
    check('encKey', info.encKeyLengths);
    check('authKey', info.authKeyLengths.length ? info.authKeyLengths : [0]);
  },
);

const saPair = object<SaPair>({ out: required(saKeys), in: required(saKeys) });
const mobilityKeys = object<MobilityKeys>({ bu: required(saPair), payload: required(saPair) });

/** The four SPIs of a key block with their paths. */
function spisOf(keys: MobilityKeys, path: string): { spi: number; path: string }[] {
  const out: { spi: number; path: string }[] = [];
  for (const pair of ['bu', 'payload'] as const) {
    for (const dir of ['out', 'in'] as const) out.push({ spi: keys[pair][dir].spi, path: `${join(path, 'keys')}.${pair}.${dir}.spi` });
  }
  return out;
}

/** Every SPI appears once among those this host holds (outbound and inbound share one SAD keyed by SPI). */
function distinctSpis(all: { spi: number; path: string }[], ctx: Ctx): void {
  const seen = new Map<number, string>();
  for (const s of all) {
    const first = seen.get(s.spi);
    if (first !== undefined) ctx.add(s.path, `SPI ${s.spi} is already used at ${first}; every SPI this host holds must be distinct`);
    else seen.set(s.spi, s.path);
  }
}

const LIFETIME_MAX = 262140;

const haMobileNode = object<HaMobileNode>({ hoa: required(ipv6()), ipv4Hoa: optional(ipv4()), keys: required(mobilityKeys) });

const ipv4Pool = object<{ prefix: string; reserved: string[] }>({ prefix: required(str()), reserved: withDefault(array(ipv4()), []) });

/** Schema of the HA file. */
export const haConfigSchema: Schema<HaConfig> = object<HaConfig>(
  {
    homePrefixes: required(array(prefix(6), 1)),
    haAddress: required(ipv6()),
    haIpv4Address: optional(ipv4()),
    ipv4HomePool: optional({
      parse(v, path, ctx) {
        const r = ipv4Pool.parse(v, path, ctx);
        if (typeof r !== 'object') return r;
        const p = prefix(4).parse(r.prefix, join(path, 'prefix'), ctx);
        if (typeof p !== 'object') return p;
        let bad = false;
        r.reserved.forEach((a, i) => {
          if (!inPrefix(a, p)) {
            ctx.add(`${join(path, 'reserved')}[${i}]`, `${a} is outside the pool ${p.prefix}/${p.length}; list only addresses inside it`);
            bad = true;
          }
        });
        return bad ? INVALID : { prefix: p.prefix, length: p.length, reserved: r.reserved };
      },
    }),
    interfaces: required(object<HaConfig['interfaces']>({ homeLink: required(ifname()), public: required(ifname()) })),
    udpPort: withDefault(int(1, 65535), HA_DEFAULTS.udpPort),
    maxLifetimeSeconds: withDefault(int(4, LIFETIME_MAX, 'seconds; the BA field counts 4-s units'), HA_DEFAULTS.maxLifetimeSeconds),
    natRefreshSeconds: withDefault(int(1, 0xfffffffe, 'seconds'), HA_DEFAULTS.natRefreshSeconds),
    forceUdp: withDefault(bool(), HA_DEFAULTS.forceUdp),
    mobileNodes: required(array(haMobileNode)),
    log: optional(logConfig),
    metrics: optional(metricsConfig),
  },
  (c, _path, ctx) => {
    const inHome = (a: string) => c.homePrefixes.some((p) => inPrefix(a, p));
    const list = c.homePrefixes.map((p) => `${p.prefix}/${p.length}`).join(', ');
    if (!inHome(c.haAddress)) ctx.add('haAddress', `${c.haAddress} is not inside a home prefix (${list}); the HA sits on the home link`);
    const hoas = new Map<string, number>();
    const v4 = new Map<string, number>();
    const spis: { spi: number; path: string }[] = [];
    c.mobileNodes.forEach((mn, i) => {
      const path = `mobileNodes[${i}]`;
      if (!inHome(mn.hoa)) ctx.add(`${path}.hoa`, `${mn.hoa} is not inside a home prefix (${list})`);
      if (mn.hoa === c.haAddress) ctx.add(`${path}.hoa`, `${mn.hoa} is the HA's own address`);
      if (hoas.has(mn.hoa)) ctx.add(`${path}.hoa`, `${mn.hoa} is already mobileNodes[${hoas.get(mn.hoa)}].hoa; each MN needs its own`);
      else hoas.set(mn.hoa, i);
      if (mn.ipv4Hoa !== undefined) {
        if (v4.has(mn.ipv4Hoa)) ctx.add(`${path}.ipv4Hoa`, `${mn.ipv4Hoa} is already mobileNodes[${v4.get(mn.ipv4Hoa)}].ipv4Hoa`);
        else v4.set(mn.ipv4Hoa, i);
        const pool = c.ipv4HomePool;
        if (pool && !inPrefix(mn.ipv4Hoa, pool)) ctx.add(`${path}.ipv4Hoa`, `${mn.ipv4Hoa} is outside ipv4HomePool ${pool.prefix}/${pool.length}`);
      }
      spis.push(...spisOf(mn.keys, path));
    });
    distinctSpis(spis, ctx);
  },
);

const mnIpv4Hoa: Schema<string> = either(oneOf(['dynamic', 'none'] as const), ipv4(), "'dynamic', 'none' or an IPv4 address (e.g. '10.1.0.10')");

/** Schema of the MN file. */
export const mnConfigSchema: Schema<MnConfig> = object<MnConfig>(
  {
    hoa: required(ipv6()),
    haAddress: required(ipv6()),
    haIpv4Address: optional(ipv4()),
    udpPort: withDefault(int(1, 65535), MN_DEFAULTS.udpPort),
    lifetimeSeconds: withDefault(int(4, LIFETIME_MAX, 'seconds; the BU field counts 4-s units'), MN_DEFAULTS.lifetimeSeconds),
    forceUdp: withDefault(bool(), MN_DEFAULTS.forceUdp),
    ipv4Hoa: withDefault(mnIpv4Hoa, MN_DEFAULTS.ipv4Hoa as string),
    interfaces: withDefault(array(ifname()), [...MN_DEFAULTS.interfaces]),
    keys: required(mobilityKeys),
    log: optional(logConfig),
    metrics: optional(metricsConfig),
  },
  (c, _path, ctx) => {
    if (c.hoa === c.haAddress) ctx.add('haAddress', `is the home address ${c.hoa}; give the HA's own address`);
    distinctSpis(spisOf(c.keys, ''), ctx);
  },
);
