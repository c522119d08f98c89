// Home registration processing at the HA (RFC 6275 §9.5.1 and §10.3.1 in the digest §5.3 order,
// with RFC 5555 IPv4 home address and NAT detection, digest §2.3, §4.2, §4.4). Sans-I/O core:
// (BU, state, config, now) in, BA + binding change out. It must never open a socket, arm a timer,
// read the clock (Date.now) or log; and it must never change the binding cache or the IPv4 pool
// for a BU that it rejects (design invariant: a binding changes only on an accepted BU).
//
// Precondition, checked by the caller before this runs (digest §5.3 steps 1-3): the MH decoded
// with a valid checksum, and the BU came under the MN<->HA ESP SA for exactly `input.hoa` (SPD/PAD
// check). A BU that fails those gets no BA at all, so it never reaches this function.
import { canonicalIp, ip4ToBytes, ip6ToBytes } from '../common/addr.js';
import { BaStatus, Dsmip, Ipv4AckStatus } from '../common/iana.js';
import { LIFETIME_UNIT_SECONDS, MAX_LIFETIME_SECONDS, secondsToLifetime, seqNewer, type BindingAck, type BindingUpdate } from '../common/mh.js';
import { baFlags } from '../common/mhflags.js';
import type { Ipv4AddressAckOption, Ipv4CoaOption, Ipv4HomeAddressOption, MobilityOption, NatDetectionOption } from '../common/mhopts.js';
import { parseIPv6 } from '../ipsec/addr.js';
import type { BindingCache, BindingEntry } from './bcache.js';
import type { Ipv4Pool, PoolResult } from './ipv4pool.js';

export interface HomePrefix {
  prefix: string;
  length: number;
}

export interface HaRegistrationConfig {
  /** IPv6 home prefixes this HA serves; a HoA outside all of them gets 132. */
  homePrefixes: readonly HomePrefix[];
  /** Longest lifetime granted, seconds (>= 4; values above 262 140 are capped by the 16-bit field). */
  maxLifetimeSeconds: number;
  /** Refresh time put in NAT Detection when a NAT is detected. Default 110 (NATKATIMEOUT). */
  natRefreshSeconds?: number;
  /** Local policy: UDP-encapsulate even when no NAT is detected (sets F in NAT Detection). Default false. */
  forceUdp?: boolean;
  /** This HA supports key management mobility (the K flag: the IKE SA survives movement). Default false. */
  keyManagementMobility?: boolean;
  /** Policy hook: false refuses the registration with 129 (administratively prohibited). */
  allowedHoas?: (hoa: string, bu: BindingUpdate) => boolean;
}

export interface HaState {
  cache: BindingCache;
  /** IPv4 home address pool; without one, option 29 is answered with status 129 in option 30. */
  pool?: Ipv4Pool;
}

export interface RegistrationInput {
  /** The home address the ESP SA is for (the HAO, or the IPv6 source at home). */
  hoa: string;
  /** Set when `hoa` is already canonicalIp's text (the caller parsed it once per BU): not parsed again. */
  canonicalHoa?: boolean;
  /** Alternate CoA if present, else the IPv4 CoA option value (DSMIPv6), else the IPv6 source. */
  coa: string;
  /** Outer IPv4 source address and port, when the BU arrived in UDP 4191 over IPv4. */
  outer?: { address: string; port: number };
  bu: BindingUpdate;
}

export type BindingChange = 'created' | 'updated' | 'deleted' | 'none';

export interface RegistrationResult {
  /** The BA status (also ba.status). */
  status: number;
  /** The BA to send back, options included. */
  ba: BindingAck;
  /** Whether to send `ba`: always for a rejection (UMIP practice, digest §5.3), else only when A was set. */
  send: boolean;
  change: BindingChange;
  /** The entry as installed ('created', 'updated') or as it was before removal ('deleted'). */
  entry?: BindingEntry;
  /** The entry before this BU ('updated'), so the caller can tear down what changed (old CoA, NAT mapping). */
  previous?: BindingEntry;
  /** The IPv4 Address Acknowledgement result, when the BU carried option 29 and was accepted. */
  ipv4?: PoolResult;
}

/** Throws RangeError naming the field and the fix when the config cannot work. */
export function validateRegistrationConfig(c: HaRegistrationConfig): void {
  if (!Array.isArray(c.homePrefixes)) throw new RangeError('homePrefixes: must be an array of { prefix, length }');
  for (const p of c.homePrefixes) {
    ip6ToBytes(p.prefix, 'homePrefixes.prefix');
    if (!Number.isInteger(p.length) || p.length < 0 || p.length > 128) throw new RangeError(`homePrefixes.length: must be 0..128, got ${String(p.length)}`);
  }
  if (!(c.maxLifetimeSeconds >= LIFETIME_UNIT_SECONDS) || !Number.isFinite(c.maxLifetimeSeconds)) {
    throw new RangeError(`maxLifetimeSeconds: must be a finite number >= ${LIFETIME_UNIT_SECONDS}, got ${String(c.maxLifetimeSeconds)}`);
  }
  const r = c.natRefreshSeconds;
  if (r !== undefined && (!Number.isInteger(r) || r < 1 || r >= Dsmip.NO_REFRESH)) {
    throw new RangeError(`natRefreshSeconds: must be an integer 1..${Dsmip.NO_REFRESH - 1} (0 and 0xFFFFFFFF have special meanings), got ${String(r)}`);
  }
}

/** A home prefix's octets, parsed once per prefix text (asked for every BU). */
const parsedPrefixes = new WeakMap<HomePrefix, { text: string; bytes: Uint8Array }>();
function prefixBytes(p: HomePrefix): Uint8Array {
  const m = parsedPrefixes.get(p);
  if (m !== undefined && m.text === p.prefix) return m.bytes;
  const bytes = ip6ToBytes(p.prefix, 'homePrefixes.prefix');
  parsedPrefixes.set(p, { text: p.prefix, bytes });
  return bytes;
}

/** Answers of inHomePrefixes per prefix list, valid while the list holds the same prefixes (checked per call, no allocation). */
const homeAnswers = new WeakMap<readonly HomePrefix[], { saved: HomePrefix[]; answers: Map<string, boolean> }>();
/** HoAs remembered per prefix list at most; when full the memo starts again (a flood of HoAs costs a parse each, as before). */
const HOME_ANSWERS_CAP = 65536;

/** True when `hoa` lies inside one of `prefixes`. */
export function inHomePrefixes(hoa: string, prefixes: readonly HomePrefix[]): boolean {
  let m = homeAnswers.get(prefixes);
  if (m === undefined || !samePrefixes(m.saved, prefixes)) {
    m = { saved: prefixes.map((p) => ({ prefix: p.prefix, length: p.length })), answers: new Map() };
    homeAnswers.set(prefixes, m);
  }
  const known = m.answers.get(hoa);
  if (known !== undefined) return known;
  const v = inPrefixes(hoa, prefixes);
  if (m.answers.size >= HOME_ANSWERS_CAP) m.answers.clear();
  m.answers.set(hoa, v);
  return v;
}

function samePrefixes(a: readonly HomePrefix[], b: readonly HomePrefix[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i].prefix !== b[i].prefix || a[i].length !== b[i].length) return false;
  return true;
}

function inPrefixes(hoa: string, prefixes: readonly HomePrefix[]): boolean {
  // ipsec/'s parser (plain string scanning) first; ip6addr's only for what it refuses, to throw as before.
  const a = parseIPv6(hoa) ?? ip6ToBytes(hoa, 'hoa');
  return prefixes.some((p) => {
    const b = prefixBytes(p);
    const full = p.length >> 3;
    for (let i = 0; i < full; i++) if (a[i] !== b[i]) return false;
    const rest = p.length & 7;
    if (rest === 0) return true;
    const mask = (0xff << (8 - rest)) & 0xff;
    return (a[full] & mask) === (b[full] & mask);
  });
}

function isIpv4Text(s: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(s);
}

/** A dotted quad already in canonical form (0..255, no leading zeros): what ip4ToBytes(...).join('.') returns unchanged. */
const CANONICAL_IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** Canonical text of an IPv4 or IPv6 address, so CoA == HoA and C == outer compare values, not spellings. */
function canon(addr: string): string {
  if (CANONICAL_IPV4_RE.test(addr)) return addr;
  return isIpv4Text(addr) ? ip4ToBytes(addr).join('.') : canonicalIp(addr);
}

function findOpt<K extends MobilityOption['kind']>(opts: readonly MobilityOption[], kind: K): Extract<MobilityOption, { kind: K }> | undefined {
  // A loop, not find(): no closure per call (asked twice per BU).
  for (const o of opts) if (o.kind === kind) return o as Extract<MobilityOption, { kind: K }>;
  return undefined;
}

function makeBa(status: number, sequence: number, lifetime: number, k: boolean, options: MobilityOption[]): BindingAck {
  return { kind: 'BA', status, flags: baFlags({ K: k }), sequence, lifetime, options };
}

/**
 * Processes one authenticated home-registration BU. Checks in the digest §5.3 order:
 * H clear -> 131; existing entry with different H/R -> 139; sequence not newer -> 135 (BA carries
 * the entry's last accepted sequence); deregistration (Lifetime 0 or CoA == HoA): no entry -> 133,
 * else delete; HoA not on a served prefix -> 132; policy -> 129; new entry in a full cache -> 130.
 * Then the lifetime is clamped, option 29 is served from the pool, NAT detection decides the
 * UDP/NAT fields, and the entry is installed. All decisions are made before anything is written.
 */
export function processHomeRegistration(input: RegistrationInput, state: HaState, config: HaRegistrationConfig, now: number): RegistrationResult {
  const { bu } = input;
  const hoa = input.canonicalHoa === true ? input.hoa : canonicalIp(input.hoa);
  const coa = canon(input.coa);
  const cache = state.cache;
  // The stored entry itself, not a copy: nothing here changes it, and set() below stores a new object,
  // so the `previous` (or deleted `entry`) handed back is no longer one the cache holds.
  const entry = cache.peekKey(hoa);
  const kmm = bu.flags.K && config.keyManagementMobility === true;

  const reject = (status: number, sequence: number = bu.sequence): RegistrationResult => ({
    status,
    // Lifetime 0 and no K: nothing was granted (RFC 6275 §6.1.8: K only when the binding is accepted).
    ba: makeBa(status, sequence, 0, false, []),
    send: true,
    change: 'none',
  });

  // §5.3 step 4: this node is an HA and only takes home registrations; a BU without H is a
  // correspondent registration, which it does not do (no return routability here).
  if (!bu.flags.H) return reject(BaStatus.HOME_REGISTRATION_NOT_SUPPORTED);

  // §5.3 step 6.
  if (entry) {
    if (entry.flags.H !== bu.flags.H || entry.flags.R !== bu.flags.R) return reject(BaStatus.REGISTRATION_TYPE_CHANGE_DISALLOWED);
    // The 135 BA carries the last accepted sequence so that the MN can resync to it + 1 (§5.1).
    if (!seqNewer(bu.sequence, entry.sequence)) return reject(BaStatus.SEQUENCE_OUT_OF_WINDOW, entry.sequence);
  }

  // §5.3 step 7.
  if (bu.lifetime === 0 || coa === hoa) {
    if (!entry) return reject(BaStatus.NOT_HOME_AGENT_FOR_MN);
    const removed = cache.delete(hoa) ?? entry;
    state.pool?.release(hoa);
    return { status: BaStatus.ACCEPTED, ba: makeBa(BaStatus.ACCEPTED, bu.sequence, 0, kmm, []), send: true, change: 'deleted', entry: removed };
  }

  // §5.3 steps 8-9.
  if (!inHomePrefixes(hoa, config.homePrefixes)) return reject(BaStatus.NOT_HOME_SUBNET);
  if (config.allowedHoas && !config.allowedHoas(hoa, bu)) return reject(BaStatus.ADMIN_PROHIBITED);

  // §5.3 step 10: min(requested, local maximum), in whole 4-s units (secondsToLifetime rounds
  // down, so the grant never exceeds either bound, and caps at the field's 0xFFFF).
  const maxSeconds = Math.min(config.maxLifetimeSeconds, MAX_LIFETIME_SECONDS);
  const units = secondsToLifetime(Math.min(bu.lifetime * LIFETIME_UNIT_SECONDS, maxSeconds));

  // §5.3 step 11: a new entry needs room; a refresh of an existing one does not.
  if (!entry && cache.isFull()) return reject(BaStatus.INSUFFICIENT_RESOURCES);

  // ---- Accepted from here on: decide everything, then commit. ----
  const options: MobilityOption[] = [];

  // RFC 5555 IPv4 home address: a failure goes into option 30 only; the IPv6 binding stands.
  const v4req: Ipv4HomeAddressOption | undefined = findOpt(bu.options, 'Ipv4HomeAddress');
  let ipv4: PoolResult | undefined;
  if (v4req) {
    if (!state.pool) {
      ipv4 = { status: Ipv4AckStatus.ADMIN_PROHIBITED, address: v4req.address, prefixLength: 0 };
    } else {
      // P and the requested length count only in new requests (digest §2.3): a refresh of the
      // address already held is a plain /32 request.
      const refresh = entry?.ipv4Hoa !== undefined && (v4req.address === '0.0.0.0' || v4req.address === entry.ipv4Hoa);
      ipv4 = refresh ? state.pool.check(hoa, v4req.address) : state.pool.check(hoa, v4req.address, v4req.prefixLength, v4req.p);
    }
    const ack: Ipv4AddressAckOption = { kind: 'Ipv4AddressAck', status: ipv4.status, prefixLength: ipv4.prefixLength, address: ipv4.address };
    options.push(ack);
  }

  // RFC 5555 §4.2 NAT detection: only the outer source of this authenticated BU is trusted, and
  // only now that the BU is accepted (a stale or refused BU never moves the NAT mapping).
  let udp = false;
  let nat: { address: string; port: number } | undefined;
  if (input.outer) {
    // canon is a function of the text alone: the same text as the CoA's (no NAT, the usual case) is not scanned again.
    const outerAddr = input.outer.address === input.coa ? coa : canon(input.outer.address);
    const c: Ipv4CoaOption | undefined = findOpt(bu.options, 'Ipv4Coa');
    let natOpt: NatDetectionOption | undefined;
    // Without an IPv4 CoA option there is nothing to compare the outer source with; a BU that came
    // over IPv4 must then be answered at its outer address, which is what NAT handling does.
    if (!c || (c.address === input.coa ? coa : canon(c.address)) !== outerAddr) {
      nat = { address: outerAddr, port: input.outer.port };
      udp = true;
      natOpt = { kind: 'NatDetection', f: false, refreshTime: config.natRefreshSeconds ?? Dsmip.NAT_KEEPALIVE_TIMEOUT };
    } else {
      udp = bu.flags.F || config.forceUdp === true;
      // No NAT: the option is only needed to tell the MN that this HA forces UDP (F); otherwise it
      // is left out, and its absence tells the MN there is no NAT (RFC 5555 §4.2; issue 5 wants
      // NAT Detection on BAs behind a NAT only).
      if (config.forceUdp === true) natOpt = { kind: 'NatDetection', f: true, refreshTime: Dsmip.NO_REFRESH };
    }
    if (natOpt) options.push(natOpt);
  }

  const next: BindingEntry = {
    hoa,
    coa,
    udp,
    sequence: bu.sequence,
    lifetimeSeconds: units * LIFETIME_UNIT_SECONDS,
    expiresAt: now + units * LIFETIME_UNIT_SECONDS * 1000,
    flags: { H: bu.flags.H, L: bu.flags.L, K: bu.flags.K, F: bu.flags.F, R: bu.flags.R },
    createdAt: entry?.createdAt ?? now,
    updatedAt: now,
  };
  if (nat) {
    next.natAddress = nat.address;
    next.natPort = nat.port;
  }
  // A failed or absent IPv4 request keeps whatever IPv4 HoA the binding already had.
  const ipv4Hoa = ipv4?.status === Ipv4AckStatus.SUCCESS ? ipv4.address : entry?.ipv4Hoa;
  if (ipv4Hoa !== undefined) {
    next.ipv4Hoa = ipv4Hoa;
    next.ipv4PrefixLength = ipv4?.status === Ipv4AckStatus.SUCCESS ? ipv4.prefixLength : entry?.ipv4PrefixLength ?? 32;
  }

  // Commit: the pool first (allocate frees the owner's previous address if it moved), then the cache.
  if (ipv4?.status === Ipv4AckStatus.SUCCESS && state.pool && v4req) {
    state.pool.allocate(hoa, ipv4.address);
  }
  cache.setKey(next);

  const result: RegistrationResult = {
    status: BaStatus.ACCEPTED,
    ba: makeBa(BaStatus.ACCEPTED, bu.sequence, units, kmm, options),
    send: bu.flags.A,
    change: entry ? 'updated' : 'created',
    // What the cache stored is a copy of `next` (its HoA already canonical); `next` itself is nobody else's.
    entry: next,
  };
  if (entry) result.previous = entry;
  if (ipv4) result.ipv4 = ipv4;
  return result;
}

/** Expires bindings at `now` and releases their IPv4 home addresses; returns the expired entries. */
export function expireBindings(state: HaState, now: number): BindingEntry[] {
  const gone = state.cache.expire(now);
  for (const e of gone) state.pool?.release(e.hoa);
  return gone;
}
