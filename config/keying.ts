// Manual keying: from a validated config, the SAs and SPD entries for ipsec/, laid out as
// RFC 3776/4877 do (digest §6), for the MN and, mirrored, for the HA. It must never name an
// interface or a care-of address in a selector or an SA (design Req #2, and the CoA rewrite
// sits below IPsec in tunnel/, so nothing here changes when the MN moves), and never read
// files or keep state.
//
// SPD, in order (first match wins), MN side; the HA holds the mirror (local = HA or any,
// remote = HoA):
//   1. bypass ICMPv6 130-137 and 143 (MLD, RS/RA/NS/NA/Redirect): neighbour discovery on
//      any link must work in the clear, also for the home address when at home.
//   2. BU   out  local=HoA remote=HA proto=135 mhType=5 -> ESP transport (keys.bu.out)
//      BA   in   local=HoA remote=HA proto=135 mhType=6 -> ESP transport (keys.bu.in)
//      (MN and HA each send only one of the two, so each direction names one MH type.)
//   3. data out  local=HoA  (any remote, any proto)   -> ESP tunnel HoA->HA (keys.payload.out)
//      data in   local=HoA                            -> ESP tunnel HA->HoA (keys.payload.in)
//      and the same two for the IPv4 HoA, inner IPv4 in the same IPv6 tunnel SA pair.
//   4. discard any other Mobility Header: an MH that no SA covers is never processed.
//   5. final: bypass. Traffic that is not of a home address (the HA's own management, the
//      MN's care-of-address traffic, DHCP, the encapsulated packets tunnel/ emits) passes
//      as is; everything of a home address was caught by 3, and inbound cleartext there is
//      dropped by the engine ('esp-required'), so the bypass cannot carry spoofed HoA data.
// Inbound SAs carry no selectors of their own: the engine derives them from the inbound
// PROTECT entries naming their SPI, so adding a dynamic IPv4 HoA later is one policy pair.

import type { IpsecEngine } from '../ipsec/ipsec.js';
import type { SaSpec } from '../ipsec/sad.js';
import type { PolicySpec } from '../ipsec/spd.js';
import type { HaConfig, HaMobileNode, MnConfig, MobilityKeys, SaKeys } from './schema.js';

/** IANA numbers used in selectors. */
const MH = 135;
const ICMPV6 = 58;
const MH_BU = 5;
const MH_BA = 6;

/** What ipsec/ is given: SAs, and policies in SPD order. */
export interface Keying {
  readonly sas: readonly SaSpec[];
  readonly policies: readonly PolicySpec[];
}

/** Ids of the shared entries (the guard is where later per-HoA entries are inserted before). */
export const POLICY_IDS = Object.freeze({ nd: 'bypass-nd', mldv2: 'bypass-mldv2', mhGuard: 'discard-other-mh', final: 'bypass-rest' });

const head: readonly PolicySpec[] = Object.freeze([
  { id: POLICY_IDS.nd, direction: 'both', selector: { proto: ICMPV6, icmpType: [130, 137] }, action: 'bypass' },
  { id: POLICY_IDS.mldv2, direction: 'both', selector: { proto: ICMPV6, icmpType: 143 }, action: 'bypass' },
]);
const tail: readonly PolicySpec[] = Object.freeze([
  { id: POLICY_IDS.mhGuard, direction: 'both', selector: { proto: MH }, action: 'discard' },
  { id: POLICY_IDS.final, direction: 'both', action: 'bypass' },
]);

function hexBytes(hex: string | undefined): Uint8Array | undefined {
  return hex ? Uint8Array.from(Buffer.from(hex, 'hex')) : undefined;
}

function sa(k: SaKeys, direction: 'inbound' | 'outbound', tunnel?: { src: string; dst: string }): SaSpec {
  const s: SaSpec = { spi: k.spi, direction, mode: tunnel ? 'tunnel' : 'transport', algorithm: k.algorithm };
  if (tunnel) s.tunnel = tunnel;
  const enc = hexBytes(k.encKey);
  const auth = hexBytes(k.authKey);
  if (enc) s.encKey = enc;
  if (auth) s.authKey = auth;
  return s;
}

/** The four SAs of one MN<->HA pair, from `self`'s point of view (keys as in self's file). */
function pairSas(keys: MobilityKeys, self: string, peer: string): SaSpec[] {
  return [
    sa(keys.bu.out, 'outbound'),
    sa(keys.bu.in, 'inbound'),
    sa(keys.payload.out, 'outbound', { src: self, dst: peer }),
    sa(keys.payload.in, 'inbound', { src: peer, dst: self }),
  ];
}

/** Payload entries for one home address (IPv6 or IPv4); `side` says whether the HoA is local (MN) or remote (HA). */
function payloadPolicies(side: 'mn' | 'ha', hoa6: string, addr: string, keys: MobilityKeys): PolicySpec[] {
  const sel = side === 'mn' ? { local: addr } : { remote: addr };
  const tag = `${side}:${hoa6}:payload:${addr}`;
  return [
    { id: `${tag}:out`, direction: 'outbound', selector: sel, action: { protect: { spi: keys.payload.out.spi } } },
    { id: `${tag}:in`, direction: 'inbound', selector: sel, action: { protect: { spi: keys.payload.in.spi } } },
  ];
}

/**
 * The MN's SAs and SPD. `ipv4Hoa` is the IPv4 home address in use: the configured static one
 * by default; with ipv4Hoa 'dynamic', pass the address the BA granted (or add it later with
 * mnIpv4HoaPolicies + insertPolicies).
 */
export function mnKeying(c: MnConfig, opts: { ipv4Hoa?: string } = {}): Keying {
  const k = c.keys;
  const id = `mn:${c.hoa}`;
  const policies: PolicySpec[] = [
    ...head,
    { id: `${id}:bu`, direction: 'outbound', selector: { local: c.hoa, remote: c.haAddress, proto: MH, mhType: MH_BU }, action: { protect: { spi: k.bu.out.spi } } },
    { id: `${id}:ba`, direction: 'inbound', selector: { local: c.hoa, remote: c.haAddress, proto: MH, mhType: MH_BA }, action: { protect: { spi: k.bu.in.spi } } },
    ...payloadPolicies('mn', c.hoa, c.hoa, k),
  ];
  const v4 = opts.ipv4Hoa ?? (c.ipv4Hoa !== 'dynamic' && c.ipv4Hoa !== 'none' ? c.ipv4Hoa : undefined);
  if (v4 !== undefined) policies.push(...mnIpv4HoaPolicies(c, v4));
  policies.push(...tail);
  return deepFreezeKeying({ sas: pairSas(k, c.hoa, c.haAddress), policies });
}

/** The MN's entries for an IPv4 home address (e.g. one the HA granted dynamically). */
export function mnIpv4HoaPolicies(c: MnConfig, ipv4Hoa: string): PolicySpec[] {
  return payloadPolicies('mn', c.hoa, ipv4Hoa, c.keys);
}

/** The HA's SAs and SPD for every configured MN (static IPv4 HoAs included). */
export function haKeying(c: HaConfig): Keying {
  const sas: SaSpec[] = [];
  const policies: PolicySpec[] = [...head];
  for (const mn of c.mobileNodes) {
    const k = mn.keys;
    const id = `ha:${mn.hoa}`;
    sas.push(...pairSas(k, c.haAddress, mn.hoa));
    policies.push(
      { id: `${id}:bu`, direction: 'inbound', selector: { local: c.haAddress, remote: mn.hoa, proto: MH, mhType: MH_BU }, action: { protect: { spi: k.bu.in.spi } } },
      { id: `${id}:ba`, direction: 'outbound', selector: { local: c.haAddress, remote: mn.hoa, proto: MH, mhType: MH_BA }, action: { protect: { spi: k.bu.out.spi } } },
      ...payloadPolicies('ha', mn.hoa, mn.hoa, k),
    );
    if (mn.ipv4Hoa !== undefined) policies.push(...haIpv4HoaPolicies(mn, mn.ipv4Hoa));
  }
  policies.push(...tail);
  return deepFreezeKeying({ sas, policies });
}

/** The HA's entries for an MN's IPv4 home address (e.g. one just granted from the pool). */
export function haIpv4HoaPolicies(mn: HaMobileNode, ipv4Hoa: string): PolicySpec[] {
  return payloadPolicies('ha', mn.hoa, ipv4Hoa, mn.keys);
}

/** Adds a keying's SAs, then its policies in order at the end of the SPD. ipsec/ errors propagate (e.g. DuplicateSpiError). */
export function applyKeying(engine: IpsecEngine, keying: Keying): void {
  for (const s of keying.sas) engine.addSA(s);
  for (const p of keying.policies) engine.addPolicy(p);
}

/** Inserts per-HoA entries (e.g. a dynamic IPv4 HoA's) just before the MH guard, so they come before the final bypass. */
export function insertPolicies(engine: IpsecEngine, policies: readonly PolicySpec[]): void {
  const list = engine.listPolicies();
  const guard = list.find((p) => p.id === POLICY_IDS.mhGuard);
  let pos = guard ? guard.index : list.length;
  for (const p of policies) engine.addPolicy(p, pos++);
}

function deepFreezeKeying(k: { sas: SaSpec[]; policies: PolicySpec[] }): Keying {
  // Key buffers stay mutable (a Uint8Array cannot be frozen); the engine copies them.
  for (const s of k.sas) {
    if (s.tunnel) Object.freeze(s.tunnel);
    Object.freeze(s);
  }
  return Object.freeze({ sas: Object.freeze(k.sas), policies: Object.freeze(k.policies) });
}
