// The daemons' embedded state file (SQLite through better-sqlite3, WAL): what must survive a restart,
// `kill -9` included — the high mark of each outbound SA's sequence numbers (common to HA and MN),
// plus the tables ha/store.ts and mn/store.ts add. It must never be written per packet (only when a
// block of sequence numbers is reserved, or when the caller's state changes), never let a sequence
// number be used before its high mark is on disk (synchronous=FULL: a commit is fsynced before it
// returns), and never open a file it cannot read as if it were empty: a corrupt, foreign or newer
// file is a StateStoreError naming the file and the fix, and a missing one is reported to the log.
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { IpsecEngine } from '../ipsec/ipsec.js';
import type { SaSpec, SeqReservation } from '../ipsec/index.js';

/** Schema version in PRAGMA user_version; bump it with a migration when a table changes. */
export const SCHEMA_VERSION = 1;

/**
 * Outbound ESP sequence numbers reserved per write. A busy SA writes (and fsyncs, on the packet
 * path) once per this many packets: at 100 000 packets/s that is under 2 a second. A restart skips
 * at most this many of the 2^32 numbers an SA has without ESN, so 65 536 restarts to use them up.
 */
export const ESP_SEQ_BLOCK = 65_536;

export type StoreRole = 'ha' | 'mn';

/** The state file cannot be used; the message names the file and what to do. */
export class StateStoreError extends Error {
  override readonly name = 'StateStoreError';
  constructor(
    readonly file: string,
    message: string,
    cause?: unknown,
  ) {
    super(`state file ${file}: ${message}`);
    if (cause !== undefined) (this as { cause?: unknown }).cause = cause;
  }
}

export interface StateStoreOptions {
  /** Told what the store found or did at open (first start, schema created). */
  log?: (line: string) => void;
  /** Extra tables of the role (CREATE TABLE IF NOT EXISTS ...), run in the schema transaction. */
  schema?: readonly string[];
}

/** Opens (creating when absent) the state file for `role`; StateStoreError when it is unusable. */
export class StateStore {
  readonly db: Database.Database;
  /** True when the file did not exist before this open (nothing was restored from it). */
  readonly created: boolean;
  private readonly getSeq: Database.Statement<[number], { high: string }>;
  private readonly putSeq: Database.Statement<[number, string]>;

  constructor(
    readonly file: string,
    readonly role: StoreRole,
    opts: StateStoreOptions = {},
  ) {
    const log = opts.log ?? (() => {});
    // Without the file the outbound ESP counters start at 1 again: with manual keys the peer drops
    // those packets as replays until it restarts too. The operator has to know that before choosing.
    const replays = 'drops our ESP as replays until our counter passes the last number it saw, or it restarts';
    const lost = role === 'ha' ? `every mobile node must register again, and each ${replays}` : `the home agent ${replays}`;
    const fix = `move it away to start with no saved state (${lost}), or give another file with --state`;
    const dir = dirname(file);
    if (!existsSync(dir)) {
      try {
        // Keys are not in here, but bindings and counters are the daemon's business only.
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        chmodSync(dir, 0o700);
      } catch (e) {
        throw new StateStoreError(file, `cannot create its directory ${dir}: ${(e as Error).message}`, e);
      }
    }
    this.created = !existsSync(file);
    let db: Database.Database;
    try {
      // Created 0600 here, not by SQLite with the umask: its -wal and -shm files copy these permissions.
      if (this.created) closeSync(openSync(file, 'a', 0o600));
      db = new Database(file);
    } catch (e) {
      throw new StateStoreError(file, `cannot open it (${(e as Error).message}); check its permissions, or ${fix}`, e);
    }
    try {
      // A garbage file opens fine and fails at the first read: check it whole before trusting it.
      const check = db.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new Error(`integrity check: ${String(check)}`);
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') throw new Error(`journal_mode is ${String(mode)}, not wal`);
      // FULL: a commit returns only after the WAL is fsynced, so a reserved high mark is durable
      // before the first number of its block is used (NORMAL may lose the last commits on power loss).
      db.pragma('synchronous = FULL');
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) throw new StateStoreError(file, `schema version ${version} is newer than this program's (${SCHEMA_VERSION}); run the newer dsmip6 again, or ${fix}`);
      db.transaction(() => {
        db.exec('CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT');
        db.exec('CREATE TABLE IF NOT EXISTS sa_seq (spi INTEGER PRIMARY KEY, high TEXT NOT NULL) STRICT');
        for (const s of opts.schema ?? []) db.exec(s);
        const row = db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'role'").get();
        if (row === undefined) db.prepare("INSERT INTO meta (key, value) VALUES ('role', ?)").run(role);
        else if (row.value !== role) throw new StateStoreError(file, `it is a ${row.value} state file, not a ${role} one; give this daemon its own file with --state`);
        if (version < SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
      })();
    } catch (e) {
      db.close();
      if (e instanceof StateStoreError) throw e;
      throw new StateStoreError(file, `unreadable (${(e as Error).message}); ${fix}`, e);
    }
    this.db = db;
    try {
      chmodSync(file, 0o600);
    } catch {
      // Not ours to fix (e.g. a read-only bind mount of a file we can still write through).
    }
    this.getSeq = db.prepare<[number], { high: string }>('SELECT high FROM sa_seq WHERE spi = ?');
    this.putSeq = db.prepare<[number, string]>('INSERT INTO sa_seq (spi, high) VALUES (?, ?) ON CONFLICT (spi) DO UPDATE SET high = excluded.high');
    log(this.created ? `state file ${file} created: no saved state (a first start, or the file was removed)` : `state file ${file} opened (WAL)`);
  }

  /** The last reserved outbound sequence number of this SPI (every number sent is at or below it), or undefined. */
  seqHighMark(spi: number): bigint | undefined {
    const r = this.getSeq.get(spi);
    return r === undefined ? undefined : BigInt(r.high);
  }

  /** Records a new high mark; the write is committed and fsynced when this returns. */
  reserveSeq(spi: number, upTo: bigint): void {
    this.putSeq.run(spi, upTo.toString());
  }

  /** A SeqReservation for ipsec/ that records each block here before it is used. */
  seqReservation(block = ESP_SEQ_BLOCK): SeqReservation {
    return { block, reserve: (spi, upTo) => this.reserveSeq(spi, upTo) };
  }

  /**
   * Re-adds each outbound SA of `specs` (already in `engine`, as config/keying.ts built them) so its
   * counter continues after the recorded high mark and reserves its blocks here. Call it before
   * any packet goes out: removing and re-adding an SA with the same keys is then invisible.
   * Returns spi -> the sequence number the SA continues after.
   */
  continueOutboundSequences(engine: IpsecEngine, specs: readonly SaSpec[], block = ESP_SEQ_BLOCK): Map<number, bigint> {
    const out = new Map<number, bigint>();
    for (const spec of specs) {
      if (spec.direction !== 'outbound') continue;
      const seq = this.seqHighMark(spec.spi) ?? 0n;
      engine.removeSA(spec.spi);
      engine.addSA({ ...spec, seq, seqReservation: this.seqReservation(block) });
      out.set(spec.spi, seq);
    }
    return out;
  }

  /** Idempotent. The WAL is checkpointed into the main file by SQLite on close. */
  close(): void {
    if (this.db.open) this.db.close();
  }
}
