// The home agent's state file (common/store.ts plus a bindings table): each binding cache entry with
// the UDP endpoint its BU came from, written on every binding change, so a restarted HA forwards
// for its mobile nodes at once, without waiting for them to register again. It must never be written
// per packet, never decide which binding is valid (an entry is stored as the cache holds it; the
// agent drops expired ones on restore), and never skip a row it cannot read without saying so.
// BindingWriter makes the daemon's writes on a worker thread (its own connection to the same WAL
// file), so the fsync of a binding change never stalls the event loop and the data path; it must
// never reorder the writes it is given nor drop one that was asked before close() (which drains).
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { BindingEntry } from './bcache.js';
import { StateStore, type StateStoreOptions } from '../common/store.js';
import type Database from 'better-sqlite3';

/** The default state file of `dsmip6 ha`. */
export const HA_STATE_FILE = '/var/lib/dsmip6/ha.db';

export interface SavedBinding {
  entry: BindingEntry;
  /** Where UDP goes for an IPv4 CoA without a NAT (the outer source of the last accepted BU). */
  udpEndpoint?: { addr: string; port: number };
}

const BINDINGS = `CREATE TABLE IF NOT EXISTS bindings (
  hoa TEXT PRIMARY KEY,
  coa TEXT NOT NULL,
  nat_address TEXT,
  nat_port INTEGER,
  ipv4_hoa TEXT,
  udp_addr TEXT,
  udp_port INTEGER,
  expires_at INTEGER NOT NULL,
  entry TEXT NOT NULL
) STRICT`;

const PUT = `INSERT INTO bindings (hoa, coa, nat_address, nat_port, ipv4_hoa, udp_addr, udp_port, expires_at, entry) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (hoa) DO UPDATE SET coa = excluded.coa, nat_address = excluded.nat_address, nat_port = excluded.nat_port, ipv4_hoa = excluded.ipv4_hoa,
    udp_addr = excluded.udp_addr, udp_port = excluded.udp_port, expires_at = excluded.expires_at, entry = excluded.entry`;
const DEL = 'DELETE FROM bindings WHERE hoa = ?';

type PutRow = [string, string, string | null, number | null, string | null, string | null, number | null, number, string];

/** The PUT parameters of a binding (the queryable columns are for operators; `entry` is what is restored). */
function putRow(entry: BindingEntry, udpEndpoint?: { addr: string; port: number }): PutRow {
  return [
    entry.hoa,
    entry.coa,
    entry.natAddress ?? null,
    entry.natPort ?? null,
    entry.ipv4Hoa ?? null,
    udpEndpoint?.addr ?? null,
    udpEndpoint?.port ?? null,
    Math.round(entry.expiresAt),
    JSON.stringify(entry),
  ];
}

interface Row {
  hoa: string;
  udp_addr: string | null;
  udp_port: number | null;
  entry: string;
}

export class HaStore extends StateStore {
  private readonly put: Database.Statement<unknown[]>;
  private readonly del: Database.Statement<[string]>;

  constructor(file: string, private readonly opts: StateStoreOptions = {}) {
    super(file, 'ha', { ...opts, schema: [BINDINGS] });
    this.put = this.db.prepare(PUT);
    this.del = this.db.prepare(DEL);
  }

  /** Inserts or replaces the binding of entry.hoa; committed and fsynced when this returns. */
  saveBinding(entry: BindingEntry, udpEndpoint?: { addr: string; port: number }): void {
    this.put.run(...putRow(entry, udpEndpoint));
  }

  deleteBinding(hoa: string): void {
    this.del.run(hoa);
  }

  /** Every stored binding, expired ones included (the agent decides). A row that does not parse is logged and left out. */
  loadBindings(): SavedBinding[] {
    const out: SavedBinding[] = [];
    for (const r of this.db.prepare<[], Row>('SELECT hoa, udp_addr, udp_port, entry FROM bindings ORDER BY hoa').all()) {
      let entry: BindingEntry;
      try {
        entry = JSON.parse(r.entry) as BindingEntry;
        if (typeof entry !== 'object' || entry === null || entry.hoa !== r.hoa || typeof entry.coa !== 'string' || typeof entry.expiresAt !== 'number' || typeof entry.sequence !== 'number' || typeof entry.flags !== 'object') {
          throw new Error('fields missing or of the wrong type');
        }
      } catch (e) {
        this.opts.log?.(`state file ${this.file}: binding of ${r.hoa} unreadable (${(e as Error).message}); left out, that mobile node must register again`);
        continue;
      }
      out.push({ entry, ...(r.udp_addr !== null && r.udp_port !== null ? { udpEndpoint: { addr: r.udp_addr, port: r.udp_port } } : {}) });
    }
    return out;
  }
}

/**
 * The worker's code (CommonJS, run with eval: a separate file would not load from the TypeScript
 * sources the tests run). One connection, synchronous=FULL like the main one; the messages queued
 * when it wakes are written in one transaction (one fsync) in the order they were posted, then each
 * is answered by its id. A busy timeout covers the main connection's sequence-number reservations.
 */
const WORKER = `
const { parentPort, workerData, receiveMessageOnPort } = require('node:worker_threads');
const Database = require(workerData.sqlite);
const db = new Database(workerData.file, { timeout: workerData.busyMs });
db.pragma('synchronous = FULL');
const put = db.prepare(workerData.put);
const del = db.prepare(workerData.del);
const writeAll = db.transaction((ms) => { for (const m of ms) { if (m.row) put.run(...m.row); else del.run(m.hoa); } });
parentPort.on('message', (first) => {
  if (first === 'close') { db.close(); parentPort.close(); return; }
  const ms = [first];
  let closing = false;
  for (let n; (n = receiveMessageOnPort(parentPort)) !== undefined; ) { if (n.message === 'close') { closing = true; break; } ms.push(n.message); }
  let error;
  try { writeAll(ms); } catch (e) { error = String(e && e.message || e); }
  parentPort.postMessage({ ids: ms.map((m) => m.id), error });
  if (closing) { db.close(); parentPort.close(); }
});
`;

/**
 * Binding writes on a worker thread, for the daemon: save() and delete() return at once with a
 * promise that settles when the write is committed and fsynced (or failed), in the order asked.
 * ESP sequence reservations stay on the main connection (StateStore.reserveSeq): synchronous.
 */
export class BindingWriter {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  private failed: Error | undefined;
  private closing: Promise<void> | undefined;

  constructor(readonly file: string, opts: { busyMs?: number } = {}) {
    const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER, { eval: true, workerData: { sqlite, file, busyMs: opts.busyMs ?? 5000, put: PUT, del: DEL } });
    this.worker.on('message', (m: { ids: number[]; error?: string }) => {
      for (const id of m.ids) {
        const w = this.waiting.get(id);
        this.waiting.delete(id);
        if (m.error === undefined) w?.resolve();
        else w?.reject(new Error(m.error));
      }
    });
    const fail = (e: Error): void => {
      this.failed ??= e;
      for (const w of this.waiting.values()) w.reject(e);
      this.waiting.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', () => fail(new Error('the state file writer stopped')));
  }

  /** Inserts or replaces the binding of entry.hoa; settles when that is on disk. */
  save(entry: BindingEntry, udpEndpoint?: { addr: string; port: number }): Promise<void> {
    return this.post({ row: putRow(entry, udpEndpoint) });
  }

  delete(hoa: string): Promise<void> {
    return this.post({ hoa });
  }

  /** Writes still to be confirmed. */
  get pending(): number {
    return this.waiting.size;
  }

  private post(m: { row: PutRow } | { hoa: string }): Promise<void> {
    if (this.closing) return Promise.reject(new Error('the state file writer is closed'));
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, ...m });
    });
  }

  /** Idempotent: every write asked before it is on disk (or failed) when this resolves, and the worker is gone. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      if (this.failed) return void this.worker.terminate().then(() => resolve(), () => resolve());
      this.worker.once('exit', () => resolve());
      this.worker.postMessage('close');
    });
    return this.closing;
  }
}
