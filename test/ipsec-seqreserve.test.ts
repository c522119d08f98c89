// Outbound sequence number reservation (SaSpec.seqReservation): the engine asks its owner to record
// each block of numbers before the first of them goes out, never per packet otherwise, and an SA
// re-added with `seq` = the last recorded mark continues past everything the old one could have sent.

import { describe, expect, test } from 'vitest';
import { InvalidSaError, IpsecEngine, IpsecResult } from '../ipsec/index.js';
import type { SeqReservation } from '../ipsec/sad.js';
import { bytes, ipv6, toHex, udp } from './fixtures/ipsec-packets.js';

const readU32Hex = (p: Uint8Array, off: number): string => toHex(p.subarray(off, off + 4));

const A = '2001:db8::a';
const B = '2001:db8::b';
const SPI = 0x1001;
const KEY = bytes(20, 1);

/** An engine with one outbound GCM SA for A->B, reserving into `log`. */
function engine(log: string[], opts: { block: number; seq?: bigint; esn?: boolean; fail?: () => boolean }): { e: IpsecEngine; marks: bigint[] } {
  const marks: bigint[] = [];
  const res: SeqReservation = {
    block: opts.block,
    reserve: (spi, upTo) => {
      log.push(`reserve ${spi.toString(16)} ${upTo}`);
      if (opts.fail?.()) throw new Error('disk full');
      marks.push(upTo);
    },
  };
  const e = new IpsecEngine();
  e.addSA({ spi: SPI, direction: 'outbound', mode: 'transport', algorithm: 'aes-gcm-16', encKey: KEY, seqReservation: res, ...(opts.seq !== undefined ? { seq: opts.seq } : {}), ...(opts.esn ? { esn: true } : {}) });
  e.addPolicy({ id: 'out', direction: 'outbound', selector: { local: A, remote: B }, action: { protect: { spi: SPI } } });
  return { e, marks };
}

const pkt = () => ipv6(A, B, 17, udp(4000, 5000, bytes(10)));

/** Sends one packet, logging the sequence number it carried (ESP right after the 40-octet header). */
function send(e: IpsecEngine, log: string[]): IpsecResult {
  const r = e.outbound(pkt());
  if (r.ok) log.push(`send ${BigInt('0x' + readU32Hex(r.packet, 44))}`);
  return r;
}

describe('SaSpec.seqReservation', () => {
  test('the owner hears of each block before its first number is used, and only then', () => {
    const log: string[] = [];
    const { e } = engine(log, { block: 4 });
    for (let i = 0; i < 9; i++) send(e, log);
    expect(log).toEqual([
      'reserve 1001 4', 'send 1', 'send 2', 'send 3', 'send 4',
      'reserve 1001 8', 'send 5', 'send 6', 'send 7', 'send 8',
      'reserve 1001 12', 'send 9',
    ]);
  });

  test('no call per packet: 10 000 packets with a block of 1000 make 10 calls', () => {
    const log: string[] = [];
    const { e, marks } = engine(log, { block: 1000 });
    for (let i = 0; i < 10_000; i++) expect(e.outbound(pkt()).ok).toBe(true);
    expect(marks).toEqual(Array.from({ length: 10 }, (_, i) => BigInt((i + 1) * 1000)));
    expect(e.getSA(SPI)!.seq).toBe(10_000n);
  });

  test('restart: an SA added with seq = the last recorded mark never repeats a number', () => {
    const log: string[] = [];
    const sent = new Set<bigint>();
    let mark = 0n;
    for (let run = 0; run < 5; run++) {
      // Each "process" sends a different number of packets, then dies without telling anyone.
      const { e, marks } = engine(log, { block: 16, seq: mark });
      for (let i = 0; i < 7 + run * 11; i++) {
        const r = e.outbound(pkt());
        expect(r.ok).toBe(true);
        const seq = BigInt('0x' + readU32Hex((r as { packet: Uint8Array }).packet, 44));
        expect(sent.has(seq), `sequence ${seq} sent twice`).toBe(false);
        expect(seq).toBeLessThanOrEqual(marks[marks.length - 1]);
        sent.add(seq);
      }
      mark = marks[marks.length - 1];
    }
    expect(sent.size).toBe(7 + 18 + 29 + 40 + 51);
  });

  test('a packet that fails to encapsulate uses no number and no block', () => {
    const log: string[] = [];
    const { e } = engine(log, { block: 2 });
    send(e, log);
    const big = ipv6(A, B, 17, udp(4000, 5000, bytes(65_500)));
    expect(e.outbound(big)).toEqual({ ok: false, reason: 'too-big' });
    send(e, log);
    send(e, log);
    expect(log).toEqual(['reserve 1001 2', 'send 1', 'send 2', 'reserve 1001 4', 'send 3']);
  });

  test('a reservation that throws drops the packet (nothing unrecorded is sent); the next packet asks again', () => {
    const log: string[] = [];
    let failures = 2;
    const { e } = engine(log, { block: 3, fail: () => failures-- > 0 });
    expect(send(e, log)).toEqual({ ok: false, reason: 'internal-error' });
    expect(send(e, log)).toEqual({ ok: false, reason: 'internal-error' });
    send(e, log);
    expect(log).toEqual(['reserve 1001 3', 'reserve 1001 3', 'reserve 1001 3', 'send 1']);
    expect(e.counters().drops['internal-error']).toBe(2);
  });

  test('the block is capped at the largest number the SA may send', () => {
    const log: string[] = [];
    const { e } = engine(log, { block: 100, seq: 0xfffffffdn });
    send(e, log);
    send(e, log);
    expect(e.outbound(pkt())).toEqual({ ok: false, reason: 'seq-exhausted' });
    expect(log).toEqual(['reserve 1001 4294967295', 'send 4294967294', 'send 4294967295']);
    const log2: string[] = [];
    const esn = engine(log2, { block: 100, seq: 0xfffffffen, esn: true });
    expect(esn.e.outbound(pkt()).ok).toBe(true);
    expect(esn.marks).toEqual([0xfffffffen + 100n]);
  });

  test('invalid reservations are refused with InvalidSaError naming the field', () => {
    const e = new IpsecEngine();
    const base = { spi: SPI, mode: 'transport' as const, algorithm: 'aes-gcm-16' as const, encKey: KEY };
    expect(() => e.addSA({ ...base, direction: 'inbound', seqReservation: { block: 4, reserve: () => {} } })).toThrow(InvalidSaError);
    expect(() => e.addSA({ ...base, direction: 'outbound', seqReservation: { block: 0, reserve: () => {} } })).toThrow(/seqReservation/);
    expect(() => e.addSA({ ...base, direction: 'outbound', seqReservation: { block: 1.5, reserve: () => {} } })).toThrow(/seqReservation/);
    expect(e.listSAs()).toEqual([]);
  });

  test('without a reservation nothing changes (no callback, counter as before)', () => {
    const e = new IpsecEngine();
    e.addSA({ spi: SPI, direction: 'outbound', mode: 'transport', algorithm: 'aes-gcm-16', encKey: KEY, seq: 41 });
    e.addPolicy({ id: 'out', direction: 'outbound', selector: { local: A, remote: B }, action: { protect: { spi: SPI } } });
    const r = e.outbound(pkt());
    expect(r.ok && readU32Hex(r.packet, 44)).toBe('0000002a');
  });
});
