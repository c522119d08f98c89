// The state files (common/store.ts, ha/store.ts, mn/store.ts): round trips, WAL with FULL sync,
// clear errors for files that cannot be used, and the point of it all: a process that reserves
// sequence blocks and is killed with SIGKILL mid-stream leaves a high mark at or above every number
// it ever used, so the next process never repeats one.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { StateStore, StateStoreError } from '../common/store.js';
import type { BindingEntry } from '../ha/bcache.js';
import { HaStore } from '../ha/store.js';
import { IpsecEngine } from '../ipsec/index.js';
import type { SaSpec } from '../ipsec/sad.js';
import { MnStore } from '../mn/store.js';
import { bytes, ipv6, toHex, udp } from './fixtures/ipsec-packets.js';

const ROOT = new URL('..', import.meta.url).pathname;
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'dsmip6-store-test-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
const file = (name = 'state') => join(dir, `${name}-${n++}.db`);

const entry = (hoa: string, extra: Partial<BindingEntry> = {}): BindingEntry => ({
  hoa,
  coa: '192.0.2.10',
  udp: true,
  natAddress: '198.51.100.1',
  natPort: 40001,
  ipv4Hoa: '10.0.0.5',
  ipv4PrefixLength: 32,
  sequence: 4711,
  lifetimeSeconds: 400,
  expiresAt: 1_800_000_000_123,
  flags: { H: true, L: false, K: false, F: true, R: false },
  createdAt: 1_799_999_000_000,
  updatedAt: 1_799_999_600_000,
  ...extra,
});

describe('HaStore', () => {
  test('bindings round-trip through a reopen, with their UDP endpoints; delete removes one', () => {
    const f = file('ha');
    const lines: string[] = [];
    const a = new HaStore(f, { log: (l) => lines.push(l) });
    expect(a.created).toBe(true);
    expect(lines.join('\n')).toMatch(/created: no saved state \(a first start, or the file was removed\)/);
    const e1 = entry('2001:db8:1::10');
    const e2 = entry('2001:db8:1::20', { coa: '2001:db8:99::2', udp: false, natAddress: undefined, natPort: undefined, ipv4Hoa: undefined, ipv4PrefixLength: undefined });
    delete e2.natAddress;
    delete e2.natPort;
    delete e2.ipv4Hoa;
    delete e2.ipv4PrefixLength;
    a.saveBinding(e1, { addr: '192.0.2.10', port: 4191 });
    a.saveBinding(e2);
    a.saveBinding({ ...e1, sequence: 4712 }, { addr: '192.0.2.10', port: 4191 });
    a.close();
    const b = new HaStore(f);
    expect(b.created).toBe(false);
    expect(b.loadBindings()).toEqual([
      { entry: { ...e1, sequence: 4712 }, udpEndpoint: { addr: '192.0.2.10', port: 4191 } },
      { entry: e2 },
    ]);
    b.deleteBinding(e1.hoa);
    expect(b.loadBindings().map((s) => s.entry.hoa)).toEqual([e2.hoa]);
    b.close();
  });

  test('WAL journal, synchronous FULL, schema version 1, file 0600 in a directory created 0700', () => {
    const sub = join(dir, `fresh-${n++}`, 'nested');
    const f = join(sub, 'ha.db');
    const s = new HaStore(f);
    expect(s.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(s.db.pragma('synchronous', { simple: true })).toBe(2);
    expect(s.db.pragma('user_version', { simple: true })).toBe(1);
    s.close();
    expect(statSync(sub).mode & 0o777).toBe(0o700);
    expect(statSync(f).mode & 0o777).toBe(0o600);
  });

  test('in a directory that already exists, the file and its WAL are still 0600', () => {
    const f = file('perm');
    const s = new HaStore(f);
    s.saveBinding(entry('2001:db8:1::10'));
    expect(statSync(f).mode & 0o777).toBe(0o600);
    expect(statSync(`${f}-wal`).mode & 0o777).toBe(0o600);
    s.close();
  });

  test('a row that does not parse is left out and logged, the others load', () => {
    const f = file('ha');
    const s = new HaStore(f);
    s.saveBinding(entry('2001:db8:1::10'));
    s.db.prepare("INSERT INTO bindings (hoa, coa, expires_at, entry) VALUES ('2001:db8:1::30', 'x', 0, '{not json')").run();
    s.close();
    const lines: string[] = [];
    const t = new HaStore(f, { log: (l) => lines.push(l) });
    expect(t.loadBindings().map((b) => b.entry.hoa)).toEqual(['2001:db8:1::10']);
    expect(lines.join('\n')).toMatch(/binding of 2001:db8:1::30 unreadable .* must register again/);
    t.close();
  });
});

describe('unusable files: StateStoreError naming the file and the fix', () => {
  test('garbage', () => {
    const f = file('garbage');
    writeFileSync(f, Buffer.alloc(8192, 0x5a));
    const err = (() => {
      try {
        new HaStore(f);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(StateStoreError);
    expect((err as StateStoreError).file).toBe(f);
    expect((err as Error).message).toContain(f);
    expect((err as Error).message).toMatch(/unreadable.*move it away/);
  });

  test('a database with damaged pages', () => {
    const f = file('damaged');
    const s = new HaStore(f);
    for (let i = 0; i < 200; i++) s.saveBinding(entry(`2001:db8:1::${(i + 1).toString(16)}`, { ipv4Hoa: undefined }));
    s.close();
    // Overwrite the middle of the file (the table's pages), keeping the header valid.
    const db = readFileSync(f);
    db.fill(0xa5, 4096 * 2, db.length - 100);
    writeFileSync(f, db);
    expect(() => new HaStore(f)).toThrow(StateStoreError);
  });

  test("another role's file", () => {
    const f = file('role');
    new MnStore(f).close();
    expect(() => new HaStore(f)).toThrow(/is a mn state file, not a ha one; .*--state/);
  });

  test('a newer schema', () => {
    const f = file('newer');
    new MnStore(f).close();
    const db = new Database(f);
    db.pragma('user_version = 99');
    db.close();
    expect(() => new MnStore(f)).toThrow(/schema version 99 is newer than this program's \(1\)/);
  });

  test('a directory that cannot be created', () => {
    const blocker = file('blocker');
    writeFileSync(blocker, 'a file, not a directory');
    expect(() => new HaStore(join(blocker, 'sub', 'ha.db'))).toThrow(/cannot create its directory/);
  });
});

describe('MnStore', () => {
  test('the BU high mark round-trips and the next BU goes one past it, mod 2^16', () => {
    const f = file('mn');
    const a = new MnStore(f);
    expect(a.nextBuSeq()).toBeUndefined();
    a.reserveBuSeq(1234);
    a.close();
    const b = new MnStore(f);
    expect(b.buSeqHighMark()).toBe(1234);
    expect(b.nextBuSeq()).toBe(1235);
    b.reserveBuSeq(0xffff);
    expect(b.nextBuSeq()).toBe(0);
    b.close();
  });
});

describe('continueOutboundSequences', () => {
  const KEY = bytes(20, 1);
  const specs: SaSpec[] = [
    { spi: 0x1001, direction: 'outbound', mode: 'transport', algorithm: 'aes-gcm-16', encKey: KEY },
    { spi: 0x1002, direction: 'inbound', mode: 'transport', algorithm: 'aes-gcm-16', encKey: KEY },
  ];
  const A = '2001:db8::a';
  const B = '2001:db8::b';
  const run = (s: StateStore, packets: number): number[] => {
    const e = new IpsecEngine();
    for (const sp of specs) e.addSA(sp);
    e.addPolicy({ id: 'out', direction: 'outbound', selector: { local: A, remote: B }, action: { protect: { spi: 0x1001 } } });
    s.continueOutboundSequences(e, specs, 10);
    const seqs: number[] = [];
    for (let i = 0; i < packets; i++) {
      const r = e.outbound(ipv6(A, B, 17, udp(1, 2, bytes(4))));
      if (!r.ok) throw new Error(r.reason);
      seqs.push(Number.parseInt(toHex(r.packet.subarray(44, 48)), 16));
    }
    // The inbound SA is left as it was.
    expect(e.getSA(0x1002)!.direction).toBe('inbound');
    return seqs;
  };

  test('a second run continues after the first one\'s high mark', () => {
    const f = file('seq');
    const a = new MnStore(f);
    expect(run(a, 25)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(a.seqHighMark(0x1001)).toBe(30n);
    expect(a.seqHighMark(0x1002)).toBeUndefined();
    a.close();
    const b = new MnStore(f);
    expect(run(b, 3)).toEqual([31, 32, 33]);
    b.close();
  });
});

describe('SIGKILL mid-stream', () => {
  let outDir: string;
  beforeAll(() => {
    // The child runs our compiled store and engine: compile just those into a private directory
    // under node_modules (so `better-sqlite3` resolves), independent of dist/ and its freshness.
    const cache = join(ROOT, 'node_modules', '.cache');
    mkdirSync(cache, { recursive: true });
    outDir = mkdtempSync(join(cache, 'dsmip6-store-test-'));
    const r = spawnSync(
      join(ROOT, 'node_modules/.bin/tsc'),
      ['--outDir', outDir, '--rootDir', ROOT, '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--esModuleInterop', '--skipLibCheck', '--types', 'node', join(ROOT, 'common/store.ts'), join(ROOT, 'ipsec/index.ts')],
      { cwd: ROOT, encoding: 'utf8' },
    );
    writeFileSync(join(outDir, 'package.json'), '{"type":"module"}\n');
    if (!existsSync(join(outDir, 'common/store.js'))) throw new Error(`tsc failed (${r.status}):\n${r.stdout}${r.stderr}`);
  }, 120_000);
  afterAll(() => rmSync(outDir, { recursive: true, force: true }));

  test('the high mark left on disk covers every number the killed process reported using', async () => {
    const f = file('killed');
    // Reserve blocks of 64 through the engine as fast as it goes, reporting the last number used
    // after every packet; killed after it has gone through a good number of blocks.
    const child = `
      import { StateStore } from ${JSON.stringify(join(outDir, 'common/store.js'))};
      import { IpsecEngine } from ${JSON.stringify(join(outDir, 'ipsec/index.js'))};
      const s = new StateStore(${JSON.stringify(f)}, 'mn');
      const e = new IpsecEngine();
      const spec = { spi: 0x1001, direction: 'outbound', mode: 'transport', algorithm: 'null-hmac-sha256-128', authKey: new Uint8Array(32) };
      e.addSA(spec);
      e.addPolicy({ id: 'out', direction: 'outbound', selector: {}, action: { protect: { spi: 0x1001 } } });
      s.continueOutboundSequences(e, [spec], 64);
      const p = new Uint8Array(48); p[0] = 0x60; p[5] = 8; p[6] = 17; p[7] = 64; p[23] = 1; p[39] = 2;
      // A stdout pipe is written asynchronously: yield between batches so the lines reach the parent.
      for (;;) {
        let out = '';
        for (let i = 0; i < 25; i++) {
          const r = e.outbound(p);
          if (!r.ok) throw new Error(r.reason);
          out += new DataView(r.packet.buffer, r.packet.byteOffset).getUint32(44) + '\\n';
        }
        process.stdout.write(out);
        await new Promise((r) => setImmediate(r));
      }
    `;
    const reported: number[] = [];
    const proc = spawn(process.execPath, ['--input-type=module', '-e', child], { stdio: ['ignore', 'pipe', 'pipe'] });
    let partial = '';
    let stderr = '';
    proc.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    await new Promise<void>((resolve, reject) => {
      proc.stdout.on('data', (b: Buffer) => {
        const parts = (partial + b.toString()).split('\n');
        partial = parts.pop()!;
        for (const x of parts) reported.push(Number(x));
        // Well into the stream: many blocks reserved and still writing.
        if (reported.length >= 5000 && proc.exitCode === null && !proc.killed) {
          proc.kill('SIGKILL');
          resolve();
        }
      });
      proc.once('exit', (code, sig) => (sig === 'SIGKILL' ? resolve() : reject(new Error(`child exited ${code}: ${stderr}`))));
    });
    await new Promise((r) => (proc.exitCode !== null || proc.signalCode !== null ? r(null) : proc.once('exit', r)));
    expect(proc.signalCode).toBe('SIGKILL');
    const max = Math.max(...reported);
    expect(max).toBeGreaterThan(64 * 10);
    // Reopen after the kill: the WAL is replayed, the file checks out, and the mark covers `max`.
    const s = new StateStore(f, 'mn');
    const mark = s.seqHighMark(0x1001)!;
    expect(mark).toBeGreaterThanOrEqual(BigInt(max));
    // At most one block (plus what was sent and not yet read from the pipe) beyond.
    expect(mark % 64n).toBe(0n);
    // The next run starts after the mark: no number reported before can come again.
    const e = new IpsecEngine();
    const spec: SaSpec = { spi: 0x1001, direction: 'outbound', mode: 'transport', algorithm: 'null-hmac-sha256-128', authKey: new Uint8Array(32) };
    e.addSA(spec);
    s.continueOutboundSequences(e, [spec], 64);
    expect(e.getSA(0x1001)!.seq).toBe(mark);
    s.close();
  });
});
