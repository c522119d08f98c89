// BindingWriter (ha/store.ts): the daemon's binding writes on a worker thread, on a second
// connection to the state file. Each write settles once committed, in the order asked; close()
// writes everything asked before it; the main connection's sequence reservations go on meanwhile.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import type { BindingEntry } from '../ha/bcache.js';
import { BindingWriter, HaStore } from '../ha/store.js';

const dir = mkdtempSync(join(tmpdir(), 'dsmip6-store-writer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = () => join(dir, `ha-${n++}.db`);

const entry = (hoa: string, sequence: number, coa = '2001:db8:6::100'): BindingEntry => ({
  hoa,
  coa,
  udp: false,
  sequence,
  lifetimeSeconds: 400,
  expiresAt: 1_800_000_000_000 + sequence,
  flags: { H: true, L: false, K: false, F: false, R: false },
  createdAt: 1_799_999_000_000,
  updatedAt: 1_799_999_600_000,
});

describe('BindingWriter', () => {
  test('a settled save is in the file for a new connection; saves and deletes of one HoA keep their order', async () => {
    const f = file();
    const store = new HaStore(f);
    const w = new BindingWriter(f);
    await w.save(entry('2001:db8:1::10', 1), { addr: '192.0.2.10', port: 4191 });
    let other = new HaStore(f);
    expect(other.loadBindings()).toEqual([{ entry: entry('2001:db8:1::10', 1), udpEndpoint: { addr: '192.0.2.10', port: 4191 } }]);
    other.close();
    // Not awaited one by one: they queue, and land in order.
    const ps = [
      w.save(entry('2001:db8:1::10', 2)),
      w.delete('2001:db8:1::10'),
      w.save(entry('2001:db8:1::10', 3, '2001:db8:6::101')),
      w.save(entry('2001:db8:1::20', 7)),
      w.delete('2001:db8:1::20'),
    ];
    await Promise.all(ps);
    other = new HaStore(f);
    expect(other.loadBindings().map((b) => [b.entry.hoa, b.entry.sequence, b.entry.coa])).toEqual([['2001:db8:1::10', 3, '2001:db8:6::101']]);
    other.close();
    await w.close();
    store.close();
  });

  test('close() writes every change asked before it, even when none was awaited', async () => {
    const f = file();
    const store = new HaStore(f);
    const w = new BindingWriter(f);
    const settled: number[] = [];
    for (let i = 1; i <= 300; i++) void w.save(entry(`2001:db8:1::${i.toString(16)}`, i)).then(() => settled.push(i));
    await w.close();
    await expect(w.save(entry('2001:db8:1::ffff', 1))).rejects.toThrow(/closed/);
    store.close();
    const again = new HaStore(f);
    expect(again.loadBindings().length).toBe(300);
    again.close();
    expect(settled.length).toBe(300);
    expect(settled).toEqual([...settled].sort((a, b) => a - b));
  });

  test('the main connection reserves sequence numbers while the worker writes (no SQLITE_BUSY)', async () => {
    const f = file();
    const store = new HaStore(f);
    const w = new BindingWriter(f);
    const ps: Promise<void>[] = [];
    for (let i = 1; i <= 200; i++) {
      ps.push(w.save(entry('2001:db8:1::10', i)));
      store.reserveSeq(0x2001, BigInt(i) * 65_536n);
      if (i % 20 === 0) await new Promise((r) => setImmediate(r));
    }
    await Promise.all(ps);
    expect(store.seqHighMark(0x2001)).toBe(200n * 65_536n);
    expect(store.loadBindings().map((b) => b.entry.sequence)).toEqual([200]);
    await w.close();
    store.close();
  });
});
