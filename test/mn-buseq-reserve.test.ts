// The BU sequence reservation of the MN's registration state machine (HomeRegistration
// .seqReservation, fed by mn/store.ts in mn/daemon.ts): one reserve() per block, before the first BU
// of the block is returned; a 135 BA that moves the sequence off the block starts a new one there;
// the 16-bit wrap is followed; and a "restarted" machine that starts after the recorded mark sends a
// BU newer (RFC 6275 §9.5.1) than every BU the first one sent.

import { describe, expect, it } from 'vitest';
import type { BindingUpdate } from '../common/mh.js';
import { baFlags } from '../common/mhflags.js';
import type { CareOfAddress } from '../mn/bul.js';
import { HomeRegistration, type RegistrationAction } from '../mn/registration.js';

const COA: CareOfAddress = { family: 6, address: '2001:db8:99::5' };
type Sent = Extract<RegistrationAction, { kind: 'send-bu' }>;
const bus = (acts: RegistrationAction[]): BindingUpdate[] => acts.filter((a): a is Sent => a.kind === 'send-bu').map((a) => a.bu);

function mk(first: number, log: string[], block = 4): HomeRegistration {
  const reg = new HomeRegistration({ hoa: '2001:db8:1::100', ha: '2001:db8:1::1', lifetimeSeconds: 400, randomSeq: () => first });
  reg.seqReservation = { block, reserve: (upTo) => log.push(`reserve ${upTo}`) };
  return reg;
}

/** Starts and lets every BU go unanswered: each retransmission takes the next number. */
function sendN(reg: HomeRegistration, n: number, log: string[]): void {
  reg.handle({ kind: 'coa-changed', coa: COA }, 0);
  for (const bu of bus(reg.handle({ kind: 'start' }, 0))) log.push(`bu ${bu.sequence}`);
  for (let i = 1; i < n; i++) {
    const t = reg.nextTimer()!;
    for (const bu of bus(reg.handle({ kind: 'timer' }, t))) log.push(`bu ${bu.sequence}`);
  }
}

const newer = (a: number, b: number) => ((a - b) & 0xffff) > 0 && ((a - b) & 0xffff) < 0x8000;

describe('HomeRegistration.seqReservation', () => {
  it('reserves each block before its first BU, once per block, across the 16-bit wrap', () => {
    const log: string[] = [];
    sendN(mk(65533, log), 7, log);
    expect(log).toEqual(['reserve 0', 'bu 65533', 'bu 65534', 'bu 65535', 'bu 0', 'reserve 4', 'bu 1', 'bu 2', 'bu 3']);
  });

  it('a 135 BA moves the sequence off the block: a new block starts at the HA\'s number + 1', () => {
    const log: string[] = [];
    const reg = mk(100, log);
    reg.handle({ kind: 'coa-changed', coa: COA }, 0);
    const [bu] = bus(reg.handle({ kind: 'start' }, 0));
    log.push(`bu ${bu.sequence}`);
    const acts = reg.handle({ kind: 'ba', ba: { kind: 'BA', status: 135, flags: baFlags(), sequence: 5000, lifetime: 0, options: [] } }, 10);
    for (const b of bus(acts)) log.push(`bu ${b.sequence}`);
    expect(log).toEqual(['reserve 103', 'bu 100', 'reserve 5004', 'bu 5001']);
  });

  it('a machine started after the recorded mark sends a BU newer than all the first one sent', () => {
    const log: string[] = [];
    const first = mk(65530, log, 32);
    sendN(first, 9, log);
    const sent = log.filter((l) => l.startsWith('bu ')).map((l) => Number(l.slice(3)));
    const mark = Number(log.filter((l) => l.startsWith('reserve ')).pop()!.slice(8));
    // What mn/store.ts nextBuSeq() gives the restarted daemon.
    const log2: string[] = [];
    const again = mk((mark + 1) & 0xffff, log2, 32);
    sendN(again, 1, log2);
    const next = Number(log2.find((l) => l.startsWith('bu '))!.slice(3));
    for (const s of sent) expect(newer(next, s), `${next} newer than ${s}`).toBe(true);
  });

  it('with reserveAfterSend: the next block is asked for halfway through the current one, before any of its numbers is used', () => {
    const log: string[] = [];
    const reg = mk(100, log);
    reg.seqReservation!.reserveAfterSend = (upTo) => log.push(`ahead ${upTo}`);
    sendN(reg, 9, log);
    // Block 4 from 100: reserve(103) before BU 100; with 2 numbers left after BU 101, 104..107
    // are asked for (written after BU 101 leaves), with 2 left after BU 105, 108..111.
    expect(log).toEqual(['reserve 103', 'bu 100', 'ahead 107', 'bu 101', 'bu 102', 'bu 103', 'bu 104', 'ahead 111', 'bu 105', 'bu 106', 'bu 107', 'bu 108']);
    // The property: each BU's number is covered by a mark asked for before the handle() that returned the previous BU ended.
    let durable = -1;
    let pending = -1;
    for (const l of log) {
      const [what, n] = [l.split(' ')[0], Number(l.split(' ')[1])];
      if (what === 'reserve') durable = n;
      else if (what === 'ahead') pending = n;
      else {
        expect(n).toBeLessThanOrEqual(durable);
        if (pending > durable) durable = pending; // written once this BU has left
      }
    }
  });

  it('without a reservation nothing is asked', () => {
    const reg = new HomeRegistration({ hoa: '2001:db8:1::100', ha: '2001:db8:1::1', lifetimeSeconds: 400, randomSeq: () => 9 });
    reg.handle({ kind: 'coa-changed', coa: COA }, 0);
    expect(bus(reg.handle({ kind: 'start' }, 0)).map((b) => b.sequence)).toEqual([9]);
  });
});
