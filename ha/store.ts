// The home agent's state file (common/store.ts plus a bindings table): each binding cache entry with
// the UDP endpoint its BU came from, written on every binding change, so a restarted HA forwards
// for its mobile nodes at once, without waiting for them to register again. It must never be written
// per packet, never decide which binding is valid (an entry is stored as the cache holds it; the
// agent drops expired ones on restore), and never skip a row it cannot read without saying so.
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
    this.put = this.db.prepare(
      `INSERT INTO bindings (hoa, coa, nat_address, nat_port, ipv4_hoa, udp_addr, udp_port, expires_at, entry) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (hoa) DO UPDATE SET coa = excluded.coa, nat_address = excluded.nat_address, nat_port = excluded.nat_port, ipv4_hoa = excluded.ipv4_hoa,
         udp_addr = excluded.udp_addr, udp_port = excluded.udp_port, expires_at = excluded.expires_at, entry = excluded.entry`,
    );
    this.del = this.db.prepare('DELETE FROM bindings WHERE hoa = ?');
  }

  /** Inserts or replaces the binding of entry.hoa (the queryable columns are for operators; `entry` is what is restored). */
  saveBinding(entry: BindingEntry, udpEndpoint?: { addr: string; port: number }): void {
    this.put.run(
      entry.hoa,
      entry.coa,
      entry.natAddress ?? null,
      entry.natPort ?? null,
      entry.ipv4Hoa ?? null,
      udpEndpoint?.addr ?? null,
      udpEndpoint?.port ?? null,
      Math.round(entry.expiresAt),
      JSON.stringify(entry),
    );
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
