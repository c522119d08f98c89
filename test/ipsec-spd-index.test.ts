// The SPD's lookup index (ipsec/spd.ts DirectionIndex) against the plain ordered scan it replaced:
// for random policy sets (host, prefix, range and 'any' addresses; protocols, ports, MH types;
// inserts at random positions and removals) and random packets, lookup() must return exactly the
// first entry in SPD order whose direction and selector match (RFC 4301 §4.4.1). The reference
// scan here uses only Selector.matches and the entry order, not the index.

import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { PacketInfo, parsePacket } from '../ipsec/packet.js';
import { Spd, type Policy, type PolicySpec } from '../ipsec/spd.js';
import type { SelectorSpec } from '../ipsec/selector.js';
import { ipv4, ipv6, mh, tcp, udp, icmp } from './fixtures/ipsec-packets.js';

// Few addresses, so that policies and packets often name the same ones (and bucket hashes collide with misses).
const V6 = ['2001:db8::1', '2001:db8::2', '2001:db8::3', '2001:db8:1::1', '2001:db8:1::2', 'fe80::1'];
const V6_NETS = ['2001:db8::/64', '2001:db8::/126', '2001:db8:1::/48', '::/0', '2001:db8::1-2001:db8::2', '2001:db8::2-2001:db8::2'];
const V4 = ['192.0.2.1', '192.0.2.2', '198.51.100.7', '10.0.0.1'];
const V4_NETS = ['192.0.2.0/24', '192.0.2.0/30', '10.0.0.0/8', '192.0.2.1-192.0.2.2', '10.0.0.1-10.0.0.1'];

const v6Addr = fc.constantFrom(...V6);
const v4Addr = fc.constantFrom(...V4);
const range = (max: number) => fc.oneof(fc.integer({ min: 0, max }), fc.tuple(fc.integer({ min: 0, max }), fc.integer({ min: 0, max })).map(([a, b]) => [Math.min(a, b), Math.max(a, b)] as [number, number]));

function selectorOf(v6: boolean): fc.Arbitrary<SelectorSpec | undefined> {
  const addr = fc.oneof(
    { weight: 5, arbitrary: v6 ? v6Addr : v4Addr },
    { weight: 2, arbitrary: fc.constantFrom(...(v6 ? V6_NETS : V4_NETS)) },
    { weight: 2, arbitrary: fc.constant('any') },
    { weight: 2, arbitrary: fc.constant(undefined) },
  );
  const ports = fc.record({ proto: fc.constantFrom(6, 17), localPort: fc.option(range(5), { nil: undefined }), remotePort: fc.option(range(5), { nil: undefined }) });
  const mhs = fc.record({ proto: fc.constant(135), mhType: fc.option(range(7), { nil: undefined }) });
  const icmps = fc.record({ proto: fc.constant(v6 ? 58 : 1), icmpType: fc.option(range(3), { nil: undefined }) });
  const rest = fc.oneof(fc.constant({}), fc.record({ proto: fc.constantFrom(6, 17, 135, 58, 1) }), ports, mhs, icmps);
  return fc.option(
    fc.tuple(addr, addr, rest).map(([local, remote, r]) => {
      const s: Record<string, unknown> = { ...r };
      if (local !== undefined) s.local = local;
      if (remote !== undefined) s.remote = remote;
      for (const k of Object.keys(s)) if (s[k] === undefined) delete s[k];
      return s as SelectorSpec;
    }),
    { nil: undefined, freq: 8 },
  );
}

const policy: fc.Arbitrary<PolicySpec> = fc.boolean().chain((v6) =>
  fc.record({
    direction: fc.constantFrom('outbound' as const, 'inbound' as const, 'both' as const),
    selector: selectorOf(v6),
    action: fc.constantFrom('bypass' as const, 'discard' as const, { protect: { spi: 0x1000 } }),
  }).map((p) => {
    if (p.selector === undefined) delete (p as { selector?: unknown }).selector;
    return p as PolicySpec;
  }),
);

/** An edit of the SPD: an insert at a position (a fraction of the length) or a removal (of the k-th entry). */
const edit = fc.oneof(
  { weight: 4, arbitrary: fc.record({ add: policy, at: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }) }) },
  { weight: 1, arbitrary: fc.record({ removeAt: fc.double({ min: 0, max: 1, noNaN: true }) }) },
);

const packet: fc.Arbitrary<Uint8Array> = fc.boolean().chain((v6) => {
  const a = v6 ? fc.oneof(v6Addr, fc.constant('2001:db8::9')) : fc.oneof(v4Addr, fc.constant('203.0.113.9'));
  const upper = fc.oneof(
    fc.tuple(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 6 })).map(([s, d]) => ({ nh: 17, body: udp(s, d, new Uint8Array(4)) })),
    fc.tuple(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 6 })).map(([s, d]) => ({ nh: 6, body: tcp(s, d, new Uint8Array(0)) })),
    fc.integer({ min: 0, max: 8 }).map((t) => ({ nh: 135, body: mh(t) })),
    fc.integer({ min: 0, max: 4 }).map((t) => ({ nh: v6 ? 58 : 1, body: icmp(t, 0) })),
  );
  return fc.tuple(a, a, upper).map(([src, dst, u]) => (v6 ? ipv6(src, dst, u.nh, u.body) : ipv4(src, dst, u.nh, u.body)));
});

/** The reference: the first entry in SPD order for the direction whose selector matches. */
function scan(entries: readonly Policy[], p: Uint8Array, info: PacketInfo, inbound: boolean): Policy | undefined {
  for (const e of entries) {
    if (e.direction === (inbound ? 'outbound' : 'inbound')) continue;
    if (e.selector.matches(p, info, inbound)) return e;
  }
  return undefined;
}

function apply(spd: Spd, edits: readonly ({ add: PolicySpec; at: number | undefined } | { removeAt: number })[]): void {
  for (const e of edits) {
    const n = spd.all().length;
    if ('add' in e) spd.add(e.add, e.at === undefined ? undefined : Math.floor(e.at * n));
    else if (n > 0) spd.remove(spd.all()[Math.min(n - 1, Math.floor(e.removeAt * n))]!.id);
  }
}

describe('SPD lookup index', () => {
  test('agrees with the ordered scan on random policy sets and packets, through inserts and removals', () => {
    const info = new PacketInfo();
    fc.assert(
      fc.property(fc.array(edit, { maxLength: 40 }), fc.array(edit, { maxLength: 8 }), fc.array(packet, { minLength: 1, maxLength: 20 }), (edits, later, packets) => {
        const spd = new Spd();
        apply(spd, edits);
        for (const round of [0, 1]) {
          // Round 1: the index built for round 0 must follow the later changes.
          if (round === 1) apply(spd, later);
          for (const p of packets) {
            expect(parsePacket(p, info)).toBe(true);
            for (const inbound of [false, true]) expect(spd.lookup(p, info, inbound)?.id).toBe(scan(spd.all(), p, info, inbound)?.id);
          }
        }
      }),
      { numRuns: 1500 },
    );
  });

  test('first match in SPD order wins across buckets: a later host entry never beats an earlier prefix entry', () => {
    const spd = new Spd();
    spd.add({ id: 'host-late', direction: 'both', selector: { remote: '2001:db8::1' }, action: 'discard' });
    spd.add({ id: 'prefix-early', direction: 'both', selector: { remote: '2001:db8::/64' }, action: 'bypass' }, 0);
    spd.add({ id: 'local-host', direction: 'both', selector: { local: '2001:db8::2' }, action: 'bypass' }, 1);
    const info = new PacketInfo();
    const p = ipv6('2001:db8::2', '2001:db8::1', 17, udp(1, 2, new Uint8Array(4)));
    parsePacket(p, info);
    // Outbound: local = source 2001:db8::2, remote = destination 2001:db8::1; all three match, position 0 wins.
    expect(spd.lookup(p, info, false)?.id).toBe('prefix-early');
    spd.remove('prefix-early');
    expect(spd.lookup(p, info, false)?.id).toBe('local-host');
    spd.remove('local-host');
    expect(spd.lookup(p, info, false)?.id).toBe('host-late');
    // Inbound, the same packet: local = destination 2001:db8::1, remote = source 2001:db8::2: no host entry matches.
    expect(spd.lookup(p, info, true)).toBeUndefined();
  });

  test('inboundProtecting: the selectors of the inbound PROTECT entries naming an SPI or bundle, in SPD order', () => {
    const spd = new Spd();
    spd.add({ id: 'a', direction: 'inbound', selector: { remote: '2001:db8::1' }, action: { protect: { spi: 300 } } });
    spd.add({ id: 'b', direction: 'outbound', selector: { remote: '2001:db8::2' }, action: { protect: { spi: 300 } } });
    spd.add({ id: 'c', direction: 'both', selector: { remote: '2001:db8::3' }, action: { protect: { bundle: 'x' } } });
    spd.add({ id: 'd', direction: 'both', selector: { remote: '2001:db8::4' }, action: { protect: { spi: 300 } } }, 0);
    spd.add({ id: 'e', direction: 'inbound', selector: { remote: '2001:db8::5' }, action: 'bypass' });
    const remotes = (spi: number, bundle?: string) => spd.inboundProtecting(spi, bundle).map((s) => s.describe().remote);
    expect(remotes(300)).toEqual(['2001:db8::4', '2001:db8::1']);
    expect(remotes(300, 'x')).toEqual(['2001:db8::4', '2001:db8::1', '2001:db8::3']);
    expect(remotes(301, 'x')).toEqual(['2001:db8::3']);
    expect(remotes(301)).toEqual([]);
    spd.remove('d');
    expect(remotes(300)).toEqual(['2001:db8::1']);
  });
});
