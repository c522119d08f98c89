// The mobile node's state file (common/store.ts plus the BU sequence number): the BU sequence is
// reserved in blocks like the ESP counters, so a restarted MN sends a BU the home agent finds newer
// than anything it accepted before (RFC 6275 §9.5.1) and registers at once. It must never be
// written per BU (only once per block) and never make up a sequence number: without a saved one the
// state machine's own random start is used.
import { StateStore, type StateStoreOptions } from '../common/store.js';

/** The default state file of `dsmip6 mn`. */
export const MN_STATE_FILE = '/var/lib/dsmip6/mn.db';

/**
 * BU sequence numbers reserved per write. Far below half the 16-bit space (32768), so the first
 * BU after a restart, at most this far past the last one sent, is still "newer" at the HA.
 */
export const BU_SEQ_BLOCK = 32;

const BU_SEQ = 'CREATE TABLE IF NOT EXISTS bu_seq (id INTEGER PRIMARY KEY CHECK (id = 1), high INTEGER NOT NULL CHECK (high BETWEEN 0 AND 65535)) STRICT';

export class MnStore extends StateStore {
  constructor(file: string, opts: StateStoreOptions = {}) {
    super(file, 'mn', { ...opts, schema: [BU_SEQ] });
  }

  /** The last reserved BU sequence number (every BU sent carried one at or "before" it, mod 2^16), or undefined. */
  buSeqHighMark(): number | undefined {
    return this.db.prepare<[], { high: number }>('SELECT high FROM bu_seq WHERE id = 1').get()?.high;
  }

  /** Records the BU high mark (0..65535); committed and fsynced when this returns. */
  reserveBuSeq(upTo: number): void {
    this.db.prepare('INSERT INTO bu_seq (id, high) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET high = excluded.high').run(upTo & 0xffff);
  }

  /** The first BU sequence number to use after a restart: one past the high mark, or undefined (no saved state). */
  nextBuSeq(): number | undefined {
    const h = this.buSeqHighMark();
    return h === undefined ? undefined : (h + 1) & 0xffff;
  }
}
