// RFC 4301 §4.4.1.1 traffic selectors: local/remote address (prefix, range or any),
// next-layer protocol, local/remote port ranges (TCP, UDP, SCTP), ICMP type and code,
// Mobility Header message type. Selectors name no interface: entries are host-wide.
// Text is parsed once, at configuration time, into bytes + masks; per-packet matching
// must never touch a string or allocate.

import { formatAddress, parseAddress } from './addr.js';
import { InvalidSelectorError } from './errors.js';
import { PacketInfo, Proto } from './packet.js';

/** A number or an inclusive [low, high] range. */
export type NumberRange = number | readonly [number, number];

/**
 * A traffic selector, seen from this host: `local` is the source of outbound packets
 * and the destination of inbound ones. Absent fields (or 'any') match everything.
 */
export interface SelectorSpec {
  /** 'any', an address ('2001:db8::1', '192.0.2.1'), a prefix ('2001:db8::/64') or a range ('10.0.0.1-10.0.0.9'). */
  local?: string;
  remote?: string;
  /** Next-layer protocol number (6 TCP, 17 UDP, 132 SCTP, 1 ICMP, 58 ICMPv6, 135 MH...) or 'any'. */
  proto?: number | 'any';
  /** Port or port range; only with proto 6, 17 or 132. */
  localPort?: NumberRange;
  remotePort?: NumberRange;
  /** ICMP/ICMPv6 type and code; only with proto 1 or 58. */
  icmpType?: NumberRange;
  icmpCode?: NumberRange;
  /** Mobility Header message type (the octet at offset 2 of the MH); only with proto 135. */
  mhType?: NumberRange;
}

/** One address selector compiled to octets: (addr & mask) == net, or lo <= addr <= hi. */
class AddressMatch {
  constructor(
    readonly len: number,
    readonly isRange: boolean,
    /** net (prefix) or lo (range). */
    readonly a: Uint8Array,
    /** mask (prefix) or hi (range). */
    readonly b: Uint8Array,
    /** Octets of the mask that are not zero (a prefix never needs to look further). */
    readonly span: number,
  ) {
    let single = true;
    for (let i = 0; i < len && single; i++) single = isRange ? a[i] === b[i] : b[i] === 0xff;
    this.host = single ? a : undefined;
  }

  /** The one address this matches (a full-length prefix or a one-address range), else undefined: what the SPD indexes. */
  readonly host: Uint8Array | undefined;

  matches(p: Uint8Array, off: number, len: number): boolean {
    if (len !== this.len) return false;
    const a = this.a;
    const b = this.b;
    if (!this.isRange) {
      for (let i = 0; i < this.span; i++) if ((p[off + i] & b[i]) !== a[i]) return false;
      return true;
    }
    // Big-endian byte order is numeric order: compare with lo, then with hi.
    let i = 0;
    while (i < len && p[off + i] === a[i]) i++;
    if (i < len && p[off + i] < a[i]) return false;
    i = 0;
    while (i < len && p[off + i] === b[i]) i++;
    return i === len || p[off + i] < b[i];
  }

  toString(): string {
    if (this.isRange) return `${formatAddress(this.a)}-${formatAddress(this.b)}`;
    let bits = 0;
    for (let i = 0; i < this.len; i++) for (let m = this.b[i]; m & 0x80; m = (m << 1) & 0xff) bits++;
    return bits === this.len * 8 ? formatAddress(this.a) : `${formatAddress(this.a)}/${bits}`;
  }
}

function compileAddress(text: string, field: string): AddressMatch | undefined {
  if (typeof text !== 'string') throw new InvalidSelectorError(field, `must be a string (an address, a prefix 'a/len', a range 'a-b' or 'any'), got ${typeof text}`);
  const t = text.trim();
  if (t === '' || t === 'any') return undefined;
  const dash = t.indexOf('-');
  if (dash >= 0) {
    const lo = parseAddress(t.slice(0, dash).trim());
    const hi = parseAddress(t.slice(dash + 1).trim());
    if (!lo || !hi || lo.length !== hi.length) {
      throw new InvalidSelectorError(field, `'${text}' is not a range of two IPv4 or two IPv6 addresses ('lo-hi')`);
    }
    let i = 0;
    while (i < lo.length && lo[i] === hi[i]) i++;
    if (i < lo.length && lo[i] > hi[i]) throw new InvalidSelectorError(field, `range '${text}' has its low end above its high end`);
    return new AddressMatch(lo.length, true, lo, hi, lo.length);
  }
  const slash = t.indexOf('/');
  const addr = parseAddress(slash >= 0 ? t.slice(0, slash) : t);
  if (!addr) throw new InvalidSelectorError(field, `'${text}' is not an IPv4 or IPv6 address, prefix ('addr/len'), range ('lo-hi') or 'any'`);
  const max = addr.length * 8;
  let bits = max;
  if (slash >= 0) {
    const lenText = t.slice(slash + 1);
    if (!/^[0-9]{1,3}$/.test(lenText) || Number(lenText) > max) {
      throw new InvalidSelectorError(field, `prefix length in '${text}' must be an integer from 0 to ${max}`);
    }
    bits = Number(lenText);
  }
  const mask = new Uint8Array(addr.length);
  for (let i = 0; i < addr.length; i++) {
    const take = Math.max(0, Math.min(8, bits - 8 * i));
    mask[i] = (0xff00 >> take) & 0xff;
    if ((addr[i] & ~mask[i]) !== 0) {
      throw new InvalidSelectorError(field, `'${text}' has bits set beyond its /${bits} prefix; write the network address instead`);
    }
  }
  return new AddressMatch(addr.length, false, addr, mask, Math.ceil(bits / 8));
}

function compileRange(v: NumberRange | undefined, field: string, max: number): [number, number] | undefined {
  if (v === undefined) return undefined;
  const ok = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= max;
  if (ok(v)) return [v, v];
  if (Array.isArray(v) && v.length === 2 && ok(v[0]) && ok(v[1]) && v[0] <= v[1]) return [v[0], v[1]];
  throw new InvalidSelectorError(field, `must be an integer 0..${max} or a range [low, high] with low <= high, got ${JSON.stringify(v)}`);
}

const PORT_PROTOS = [Proto.TCP, Proto.UDP, Proto.SCTP];
const ICMP_PROTOS = [Proto.ICMP, Proto.ICMPV6];

/** A selector ready for per-packet matching. Unused numeric bounds are [0, 65535] with the `has*` flag off. */
export class Selector {
  private constructor(
    readonly local: AddressMatch | undefined,
    readonly remote: AddressMatch | undefined,
    /** -1 = any. */
    readonly proto: number,
    readonly localPort: [number, number] | undefined,
    readonly remotePort: [number, number] | undefined,
    readonly icmpType: [number, number] | undefined,
    readonly icmpCode: [number, number] | undefined,
    readonly mhType: [number, number] | undefined,
  ) {}

  /** Validates and compiles; throws InvalidSelectorError naming the field. `field` prefixes the names. */
  static compile(spec: SelectorSpec | undefined, field = 'selector'): Selector {
    const s = spec ?? {};
    if (typeof s !== 'object' || s === null) throw new InvalidSelectorError(field, 'must be an object with optional local, remote, proto, localPort, remotePort, icmpType, icmpCode, mhType');
    const known = ['local', 'remote', 'proto', 'localPort', 'remotePort', 'icmpType', 'icmpCode', 'mhType'];
    for (const k of Object.keys(s)) {
      if (!known.includes(k)) throw new InvalidSelectorError(`${field}.${k}`, `unknown selector field; allowed: ${known.join(', ')} (selectors name no interface)`);
    }
    let proto = -1;
    if (s.proto !== undefined && s.proto !== 'any') {
      if (typeof s.proto !== 'number' || !Number.isInteger(s.proto) || s.proto < 0 || s.proto > 255) {
        throw new InvalidSelectorError(`${field}.proto`, `must be a protocol number 0..255 or 'any', got ${JSON.stringify(s.proto)}`);
      }
      proto = s.proto;
    }
    const lp = compileRange(s.localPort, `${field}.localPort`, 65535);
    const rp = compileRange(s.remotePort, `${field}.remotePort`, 65535);
    const it = compileRange(s.icmpType, `${field}.icmpType`, 255);
    const ic = compileRange(s.icmpCode, `${field}.icmpCode`, 255);
    const mh = compileRange(s.mhType, `${field}.mhType`, 255);
    if ((lp || rp) && !PORT_PROTOS.includes(proto as never)) {
      throw new InvalidSelectorError(`${field}.${lp ? 'localPort' : 'remotePort'}`, `ports need proto 6 (TCP), 17 (UDP) or 132 (SCTP), proto is ${proto < 0 ? 'any' : proto}`);
    }
    if ((it || ic) && !ICMP_PROTOS.includes(proto as never)) {
      throw new InvalidSelectorError(`${field}.${it ? 'icmpType' : 'icmpCode'}`, `ICMP type/code need proto 1 (ICMP) or 58 (ICMPv6), proto is ${proto < 0 ? 'any' : proto}`);
    }
    if (mh && proto !== Proto.MH) {
      throw new InvalidSelectorError(`${field}.mhType`, `an MH type needs proto 135 (Mobility Header), proto is ${proto < 0 ? 'any' : proto}`);
    }
    const local = s.local === undefined ? undefined : compileAddress(s.local, `${field}.local`);
    const remote = s.remote === undefined ? undefined : compileAddress(s.remote, `${field}.remote`);
    if (local && remote && local.len !== remote.len) {
      throw new InvalidSelectorError(`${field}.remote`, 'local and remote must be of the same family (both IPv4 or both IPv6)');
    }
    return new Selector(local, remote, proto, lp, rp, it, ic, mh);
  }

  /** Does the parsed packet match? `inbound` maps local/remote to destination/source. */
  matches(p: Uint8Array, info: PacketInfo, inbound: boolean): boolean {
    if (this.local && !this.local.matches(p, inbound ? info.dstOff : info.srcOff, info.addrLen)) return false;
    if (this.remote && !this.remote.matches(p, inbound ? info.srcOff : info.dstOff, info.addrLen)) return false;
    if (this.proto >= 0 && info.proto !== this.proto) return false;
    // Unknown fields (-1: truncated header, non-initial fragment) match only 'any'.
    if (this.localPort && !within(inbound ? info.dport : info.sport, this.localPort)) return false;
    if (this.remotePort && !within(inbound ? info.sport : info.dport, this.remotePort)) return false;
    if (this.icmpType && !within(info.icmpType, this.icmpType)) return false;
    if (this.icmpCode && !within(info.icmpCode, this.icmpCode)) return false;
    if (this.mhType && !within(info.mhType, this.mhType)) return false;
    return true;
  }

  /** Normalized description (canonical address text), for listings. */
  describe(): SelectorSpec {
    const out: { -readonly [K in keyof SelectorSpec]: SelectorSpec[K] } = {};
    out.local = this.local ? this.local.toString() : 'any';
    out.remote = this.remote ? this.remote.toString() : 'any';
    out.proto = this.proto < 0 ? 'any' : this.proto;
    const r = (v: [number, number]): NumberRange => (v[0] === v[1] ? v[0] : [v[0], v[1]]);
    if (this.localPort) out.localPort = r(this.localPort);
    if (this.remotePort) out.remotePort = r(this.remotePort);
    if (this.icmpType) out.icmpType = r(this.icmpType);
    if (this.icmpCode) out.icmpCode = r(this.icmpCode);
    if (this.mhType) out.mhType = r(this.mhType);
    return out;
  }
}

function within(v: number, r: [number, number]): boolean {
  return v >= r[0] && v <= r[1];
}
