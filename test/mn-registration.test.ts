// Tests of the MN home-registration core (mn/registration.ts) with a fake clock: timers are
// "fired" by calling handle({kind:'timer'}, t) at the deadline the core asked for; nothing sleeps.
// Expected times and sequence numbers are written out from the RFC 6275 §11.8 / RFC 5555 §4.3
// rules in the brief (1.5 s or 1 s first timeout, doubling to 32 s, seq+1 per BU), never taken
// from the code under test's output.
import { describe, expect, it } from 'vitest';
import { decodeMobilityHeader, encodeMobilityHeader, type BindingAck, type BindingUpdate } from '../common/mh.js';
import { baFlags } from '../common/mhflags.js';
import type { MobilityOption } from '../common/mhopts.js';
import type { CareOfAddress } from '../mn/bul.js';
import { HomeRegistration, type HomeRegistrationConfig, type RegistrationAction } from '../mn/registration.js';

const HOA = '2001:db8:1::100';
const HA = '2001:db8:1::1';
const COA6: CareOfAddress = { family: 6, address: '2001:db8:99::5' };
const COA6B: CareOfAddress = { family: 6, address: '2001:db8:77::9' };
const COA4: CareOfAddress = { family: 4, address: '198.51.100.7' };

type Sent = Extract<RegistrationAction, { kind: 'send-bu' }>;
interface Stamped {
  t: number;
  a: RegistrationAction;
}

function mk(over: Partial<HomeRegistrationConfig> = {}, seq = 1000): HomeRegistration {
  return new HomeRegistration({ hoa: HOA, ha: HA, lifetimeSeconds: 400, randomSeq: () => seq, ...over });
}

/** Fires every timer the core asks for up to and including `until`, returning what it did and when. */
function runUntil(reg: HomeRegistration, until: number): Stamped[] {
  const log: Stamped[] = [];
  for (let guard = 0; guard < 10000; guard++) {
    const t = reg.nextTimer();
    if (t === null || t > until) return log;
    for (const a of reg.handle({ kind: 'timer' }, t)) log.push({ t, a });
  }
  throw new Error('timer loop did not settle');
}

const sends = (log: Stamped[]): { t: number; bu: BindingUpdate; s: Sent }[] =>
  log.filter((x) => x.a.kind === 'send-bu').map((x) => ({ t: x.t, bu: (x.a as Sent).bu, s: x.a as Sent }));
const sendsOf = (acts: RegistrationAction[]): Sent[] => acts.filter((a): a is Sent => a.kind === 'send-bu');
const kinds = (acts: RegistrationAction[]): string[] => acts.map((a) => a.kind);

function ba(sequence: number, status = 0, lifetime = 100, options: MobilityOption[] = []): { kind: 'ba'; ba: BindingAck } {
  return { kind: 'ba', ba: { kind: 'BA', status, flags: baFlags(), sequence, lifetime, options } };
}

/** Starts on COA and gets the first BU accepted at time `at` (BU sent at 0). */
function registered(reg: HomeRegistration, coa: CareOfAddress = COA6, at = 100, lifetime = 100, options: MobilityOption[] = []): BindingUpdate {
  reg.handle({ kind: 'coa-changed', coa }, 0);
  const [s] = sendsOf(reg.handle({ kind: 'start' }, 0));
  const acts = reg.handle(ba(s.bu.sequence, 0, lifetime, options), at);
  expect(kinds(acts)).toContain('registered');
  return s.bu;
}

describe('first registration', () => {
  it('sends A|H, K clear, lifetime in 4-s units, over IPv6 from the CoA, with a random first sequence', () => {
    const reg = mk({ lifetimeSeconds: 1003 }, 4242);
    expect(reg.handle({ kind: 'coa-changed', coa: COA6 }, 0)).toEqual([]); // not started yet
    const acts = reg.handle({ kind: 'start' }, 0);
    const [s] = sendsOf(acts);
    expect(s.bu.sequence).toBe(4242);
    expect(s.bu.flags.A && s.bu.flags.H).toBe(true);
    expect(s.bu.flags.K || s.bu.flags.F || s.bu.flags.L).toBe(false);
    expect(s.bu.lifetime).toBe(250); // floor(1003 / 4)
    expect(s.bu.options).toEqual([]);
    expect(s.coa).toEqual(COA6);
    expect(s.transport).toBe('ipv6');
    expect(acts).toContainEqual({ kind: 'arm-timer', at: 1500 });
    expect(reg.bul.state).toBe('registering');
  });

  it('a timer that fires before the deadline arms it again and the retransmission still goes out', () => {
    // The edge's setTimeout may run a millisecond early by the wall clock; the spent timer must
    // be replaced, or the BU is never retransmitted.
    const reg = mk({}, 7);
    reg.handle({ kind: 'coa-changed', coa: COA6 }, 0);
    reg.handle({ kind: 'start' }, 0);
    expect(reg.handle({ kind: 'timer' }, 1499)).toEqual([{ kind: 'arm-timer', at: 1500 }]);
    const [s] = sendsOf(reg.handle({ kind: 'timer' }, 1500));
    expect(s.bu.sequence).toBe(8);
  });

  it('sets F when configured to force UDP', () => {
    const reg = mk({ forceUdp: true });
    reg.handle({ kind: 'coa-changed', coa: COA6 }, 0);
    expect(sendsOf(reg.handle({ kind: 'start' }, 0))[0].bu.flags.F).toBe(true);
  });

  it('retransmits at gaps of 1.5, 3, 6, 12, 24, 32, 32, 32 s with a new, larger sequence each time', () => {
    const reg = mk({}, 1000);
    reg.handle({ kind: 'coa-changed', coa: COA6 }, 0);
    reg.handle({ kind: 'start' }, 0);
    const s = sends(runUntil(reg, 142500));
    // 0 +1.5 +3 +6 +12 +24 +32 +32 +32
    expect(s.map((x) => x.t)).toEqual([1500, 4500, 10500, 22500, 46500, 78500, 110500, 142500]);
    expect(s.map((x) => x.bu.sequence)).toEqual([1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008]);
    expect(reg.nextTimer()).toBe(174500);
    // Late BA for an older BU (1005) is not the outstanding one: ignored.
    expect(kinds(reg.handle(ba(1005), 143000))).toEqual([]);
    const acts = reg.handle(ba(1008), 143000);
    expect(acts).toContainEqual({ kind: 'registered', coa: COA6, lifetime: 400 });
  });

  it('wraps the sequence number 65535 -> 0 across retransmissions and accepts the BA for 0', () => {
    const reg = mk({}, 65534);
    reg.handle({ kind: 'coa-changed', coa: COA6 }, 0);
    expect(sendsOf(reg.handle({ kind: 'start' }, 0))[0].bu.sequence).toBe(65534);
    const s = sends(runUntil(reg, 10500));
    expect(s.map((x) => x.bu.sequence)).toEqual([65535, 0, 1]);
    expect(kinds(reg.handle(ba(0), 10600))).toEqual([]); // 0 is no longer outstanding
    expect(kinds(reg.handle(ba(1), 10600))).toContain('registered');
  });

  it('ignores a BA whose sequence is not the outstanding one, then accepts the right one', () => {
    const reg = mk({}, 7);
    reg.handle({ kind: 'coa-changed', coa: COA6 }, 0);
    reg.handle({ kind: 'start' }, 0);
    expect(reg.handle(ba(8), 100)).toEqual([]);
    expect(reg.handle(ba(6), 100)).toEqual([]);
    expect(reg.bul.state).toBe('registering');
    expect(reg.nextTimer()).toBe(1500);
    expect(kinds(reg.handle(ba(7), 200))).toContain('registered');
    expect(reg.bul.state).toBe('registered');
  });

  it('status 135: sequence := BA.sequence + 1, resent at once, then accepted', () => {
    const reg = mk({}, 100);
    reg.handle({ kind: 'coa-changed', coa: COA6 }, 0);
    reg.handle({ kind: 'start' }, 0);
    const acts = reg.handle(ba(5000, 135, 0), 300);
    const [s] = sendsOf(acts);
    expect(s.bu.sequence).toBe(5001);
    expect(reg.bul.lastSentSeq).toBe(5001);
    expect(kinds(reg.handle(ba(100), 400))).toEqual([]); // the superseded BU
    const ok = reg.handle(ba(5001), 400);
    expect(kinds(ok)).toContain('registered');
  });

  it('a failure status (>= 128) reports failed and retries after MAX_BINDACK_TIMEOUT with a new sequence', () => {
    const reg = mk({}, 10);
    reg.handle({ kind: 'coa-changed', coa: COA6 }, 0);
    reg.handle({ kind: 'start' }, 0);
    const acts = reg.handle(ba(10, 129, 0), 500);
    expect(acts).toContainEqual({ kind: 'failed', status: 129 });
    expect(acts).toContainEqual({ kind: 'arm-timer', at: 32500 });
    const s = sends(runUntil(reg, 32500 + 32000));
    expect(s.map((x) => [x.t, x.bu.sequence])).toEqual([
      [32500, 11],
      [64500, 12],
    ]);
  });

  it('with no CoA it sends nothing and waits; a CoA then starts the registration at once', () => {
    const reg = mk({}, 50);
    expect(reg.handle({ kind: 'start' }, 0)).toEqual([]);
    expect(reg.nextTimer()).toBeNull();
    const acts = reg.handle({ kind: 'coa-changed', coa: COA6 }, 5000);
    expect(sendsOf(acts)[0].bu.sequence).toBe(50);
    expect(reg.nextTimer()).toBe(6500); // still a first registration
  });
});

describe('refresh and NAT keepalive', () => {
  it('refreshes at 80% of the granted lifetime, counted from when the BU was sent', () => {
    const reg = mk({}, 300);
    registered(reg, COA6, 100, 100); // 400 s granted for the BU sent at 0
    expect(reg.bul.expiresAt).toBe(400000);
    expect(reg.nextTimer()).toBe(320000);
    const s = sends(runUntil(reg, 320000));
    expect(s.map((x) => [x.t, x.bu.sequence, x.bu.lifetime])).toEqual([[320000, 301, 100]]);
    expect(reg.nextTimer()).toBe(321000); // re-registration timeout 1 s
    expect(kinds(reg.handle(ba(301), 320050))).toContain('registered');
    expect(reg.bul.expiresAt).toBe(720000);
    expect(reg.nextTimer()).toBe(640000);
  });

  it('refreshes sooner when the Binding Refresh Advice says so', () => {
    const reg = mk({}, 1);
    registered(reg, COA6, 200, 100, [{ kind: 'BindingRefreshAdvice', refreshInterval: 25 }]);
    expect(reg.nextTimer()).toBe(200 + 100000); // 25 * 4 s after the BA
  });

  it('lets the binding expire when refresh BUs get no answer, and keeps trying', () => {
    const reg = mk({ lifetimeSeconds: 40 }, 20);
    registered(reg, COA6, 100, 10); // 40 s from 0; refresh at 32 s
    const log = runUntil(reg, 47000);
    // refresh 32 s, then +1, +2, +4 (39 s), expiry at 40 s, then +8 (47 s)
    expect(sends(log).map((x) => [x.t, x.bu.sequence])).toEqual([
      [32000, 21],
      [33000, 22],
      [35000, 23],
      [39000, 24],
      [47000, 25],
    ]);
    expect(log.filter((x) => x.a.kind === 'expired').map((x) => x.t)).toEqual([40000]);
    expect(reg.bul.expiresAt).toBeNull();
    expect(kinds(reg.handle(ba(25, 0, 10), 47100))).toContain('registered');
  });

  it('behind a NAT sends a keepalive BU every refresh time from the BA, over UDP', () => {
    const reg = mk({}, 900);
    registered(reg, COA4, 100, 100, [{ kind: 'NatDetection', f: false, refreshTime: 20 }]);
    expect(reg.bul.nat).toEqual({ natDetected: true, refreshTimeSeconds: 20, forceUdp: false });
    expect(reg.nextTimer()).toBe(20100);
    const [k1] = sends(runUntil(reg, 20100));
    expect([k1.t, k1.bu.sequence, k1.s.transport]).toEqual([20100, 901, 'udp4']);
    const acts = reg.handle(ba(901, 0, 100, [{ kind: 'NatDetection', f: false, refreshTime: 20 }]), 20150);
    const r = acts.find((a) => a.kind === 'registered');
    expect(r).toMatchObject({ nat: { natDetected: true, refreshTimeSeconds: 20 } });
    expect(reg.nextTimer()).toBe(40150);
  });

  it('refresh time 0xFFFFFFFF means no NAT and no keepalives', () => {
    const reg = mk({}, 1);
    registered(reg, COA4, 100, 100, [{ kind: 'NatDetection', f: false, refreshTime: 0xffffffff }]);
    expect(reg.bul.nat.natDetected).toBe(false);
    expect(reg.nextTimer()).toBe(320000);
  });
});

describe('movement and return home', () => {
  it('IPv6 -> IPv4 (option 32 over udp4, 1 s backoff) -> home (deregistration)', () => {
    const reg = mk({}, 2000);
    const first = registered(reg, COA6);
    expect(first.options.find((o) => o.kind === 'Ipv4Coa')).toBeUndefined();

    const a1 = reg.handle({ kind: 'coa-changed', coa: COA4 }, 10000);
    const [s1] = sendsOf(a1);
    expect(s1.bu.sequence).toBe(2001);
    expect(s1.transport).toBe('udp4');
    expect(s1.coa).toEqual(COA4);
    expect(s1.bu.options).toContainEqual({ kind: 'Ipv4Coa', address: '198.51.100.7' });
    expect(reg.nextTimer()).toBe(11000);
    const retx = sends(runUntil(reg, 14000));
    expect(retx.map((x) => [x.t, x.bu.sequence, x.s.transport])).toEqual([
      [11000, 2002, 'udp4'],
      [13000, 2003, 'udp4'],
    ]);
    // A BA over IPv4 without option 31: no NAT, and the node is told so (its NAT state may have said otherwise before).
    expect(reg.handle(ba(2003), 14000)).toContainEqual({ kind: 'registered', coa: COA4, lifetime: 400, nat: { natDetected: false, forceUdp: false } });

    const a2 = reg.handle({ kind: 'coa-changed', coa: null, home: true }, 20000);
    const [d] = sendsOf(a2);
    expect(d.bu.sequence).toBe(2004);
    expect(d.bu.lifetime).toBe(0);
    expect(d.bu.flags.A && d.bu.flags.H).toBe(true);
    expect(d.coa).toEqual({ family: 6, address: HOA });
    expect(d.transport).toBe('ipv6');
    expect(d.bu.options).toEqual([]);
    expect(reg.bul.state).toBe('deregistering');
    expect(reg.handle(ba(2004, 0, 0), 20100)).toEqual([{ kind: 'deregistered' }]);
    expect(reg.bul.state).toBe('at-home');
    expect(reg.nextTimer()).toBeNull();
  });

  it('a new IPv6 CoA while registering restarts the backoff at 1 s with a new sequence', () => {
    const reg = mk({}, 60);
    reg.handle({ kind: 'coa-changed', coa: COA6 }, 0);
    reg.handle({ kind: 'start' }, 0);
    runUntil(reg, 4500); // seq 61 at 1.5 s, 62 at 4.5 s
    const [s] = sendsOf(reg.handle({ kind: 'coa-changed', coa: COA6B }, 5000));
    expect([s.bu.sequence, s.coa.address]).toEqual([63, COA6B.address]);
    expect(sends(runUntil(reg, 8000)).map((x) => [x.t, x.bu.sequence])).toEqual([
      [6000, 64],
      [8000, 65],
    ]);
    expect(kinds(reg.handle(ba(62), 8100))).toEqual([]); // BA for the old CoA's BU
    expect(reg.handle(ba(65), 8100)).toContainEqual({ kind: 'registered', coa: COA6B, lifetime: 400 });
  });

  it('re-registration after movement retransmits at gaps of 1, 2, 4, 8, 16, 32, 32 s', () => {
    const reg = mk({}, 500);
    registered(reg, COA6, 100, 100);
    reg.handle({ kind: 'coa-changed', coa: COA6B }, 50000); // seq 501
    const s = sends(runUntil(reg, 50000 + 127000));
    // 50 s +1 +2 +4 +8 +16 +32 +32 +32
    expect(s.map((x) => x.t)).toEqual([51000, 53000, 57000, 65000, 81000, 113000, 145000, 177000]);
    expect(s.map((x) => x.bu.sequence)).toEqual([502, 503, 504, 505, 506, 507, 508, 509]);
    expect(s.every((x) => x.s.coa.address === COA6B.address)).toBe(true);
  });

  it('retransmits the deregistration, ignores a BA for an older sequence, and ends at home', () => {
    const reg = mk({}, 65535);
    registered(reg, COA6); // seq 65535 accepted
    const [d] = sendsOf(reg.handle({ kind: 'coa-changed', coa: null, home: true }, 1000));
    expect(d.bu.sequence).toBe(0);
    const r = sends(runUntil(reg, 4000));
    expect(r.map((x) => [x.t, x.bu.sequence, x.bu.lifetime, x.s.coa.address])).toEqual([
      [2000, 1, 0, HOA],
      [4000, 2, 0, HOA],
    ]);
    expect(reg.handle(ba(1, 0, 0), 4100)).toEqual([]);
    expect(reg.handle(ba(2, 0, 0), 4100)).toEqual([{ kind: 'deregistered' }]);
    // Leaving home again is a first registration (the HA holds no binding): 1.5 s.
    const again = reg.handle({ kind: 'coa-changed', coa: COA4 }, 9000);
    expect(sendsOf(again)[0].bu.sequence).toBe(3);
    expect(reg.nextTimer()).toBe(10500);
  });

  it('losing every CoA stops the BUs; the binding still expires', () => {
    const reg = mk({}, 1);
    registered(reg, COA6, 100, 100);
    // No BU; the only deadline left is the binding's expiry (400 s after the BU sent at 0).
    expect(reg.handle({ kind: 'coa-changed', coa: null }, 1000)).toEqual([{ kind: 'arm-timer', at: 400000 }]);
    expect(reg.bul.state).toBe('idle');
    const log = runUntil(reg, 500000);
    expect(sends(log)).toEqual([]);
    expect(log.map((x) => [x.t, x.a.kind])).toEqual([[400000, 'expired']]);
  });

  it('starting at home sends nothing', () => {
    const reg = mk();
    reg.handle({ kind: 'coa-changed', coa: null, home: true }, 0);
    expect(reg.handle({ kind: 'start' }, 0)).toEqual([]);
    expect(reg.bul.state).toBe('at-home');
  });
});

describe('IPv4 home address (RFC 5555 options 29 and 30)', () => {
  it('requests 0.0.0.0/32 and reports the address assigned in option 30, then uses it', () => {
    const reg = mk({ ipv4Hoa: 'dynamic' }, 10);
    reg.handle({ kind: 'coa-changed', coa: COA4 }, 0);
    const [s] = sendsOf(reg.handle({ kind: 'start' }, 0));
    expect(s.bu.options).toEqual([
      { kind: 'Ipv4HomeAddress', prefixLength: 32, p: false, address: '0.0.0.0' },
      { kind: 'Ipv4Coa', address: '198.51.100.7' },
    ]);
    const acts = reg.handle(
      ba(10, 0, 100, [
        { kind: 'Ipv4AddressAck', status: 0, prefixLength: 32, address: '192.0.2.10' },
        { kind: 'NatDetection', f: false, refreshTime: 0xffffffff },
      ]),
      50,
    );
    expect(acts).toContainEqual({
      kind: 'registered',
      coa: COA4,
      lifetime: 400,
      ipv4Hoa: '192.0.2.10',
      nat: { natDetected: false, forceUdp: false },
    });
    const [r] = sends(runUntil(reg, 320000));
    expect(r.bu.options[0]).toEqual({ kind: 'Ipv4HomeAddress', prefixLength: 32, p: false, address: '192.0.2.10' });
  });

  it('a configured address goes in option 29; a failed option 30 gives no IPv4 HoA', () => {
    const reg = mk({ ipv4Hoa: '192.0.2.77' }, 10);
    reg.handle({ kind: 'coa-changed', coa: COA6 }, 0);
    const [s] = sendsOf(reg.handle({ kind: 'start' }, 0));
    expect(s.bu.options).toEqual([{ kind: 'Ipv4HomeAddress', prefixLength: 32, p: false, address: '192.0.2.77' }]);
    const acts = reg.handle(ba(10, 0, 100, [{ kind: 'Ipv4AddressAck', status: 130, prefixLength: 32, address: '0.0.0.0' }]), 50);
    const r = acts.find((a) => a.kind === 'registered');
    expect(r).toBeDefined();
    expect(r).not.toHaveProperty('ipv4Hoa');
    expect(reg.bul.ipv4Hoa?.lastStatus).toBe(130);
  });

  it('every BU it emits encodes and decodes back unchanged with the common codec', () => {
    const reg = mk({ ipv4Hoa: 'dynamic', forceUdp: true }, 65535);
    reg.handle({ kind: 'coa-changed', coa: COA4 }, 0);
    const all = [...sendsOf(reg.handle({ kind: 'start' }, 0)), ...sends(runUntil(reg, 5000)).map((x) => x.s)];
    for (const s of all) {
      const bytes = encodeMobilityHeader(s.bu);
      const m = decodeMobilityHeader(bytes).message as BindingUpdate;
      // The encoder pads to 8 octets; the padding is not part of what the core asked for.
      expect({ ...m, options: m.options.filter((o) => o.kind !== 'PadN' && o.kind !== 'Pad1') }).toEqual(s.bu);
    }
  });
});
