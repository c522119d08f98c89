// The benchmark's workloads: raw node:crypto AES-128-GCM and AES-128-CBC + HMAC-SHA-256
// seal/open (the baseline), and ESP seal/open through the whole IpsecEngine (SPD, SAD,
// replay window) in tunnel and transport mode, all on the same 1400-octet packet; and the
// engine with the native ESP transforms (tunnel/native-esp.ts, OpenSSL EVP contexts kept per
// SA) in tunnel mode, compared with the same raw node:crypto baseline.
// In-memory only: never sends traffic anywhere, never opens a socket, never writes a
// file. Every workload checks its own output once at setup and fails loudly on any
// drop while timed, since a benchmark of dropped packets would measure nothing.

import { createCipheriv, createDecipheriv, createHmac, createSecretKey, timingSafeEqual } from 'node:crypto';
import { IpsecOptions, IpsecResult } from '../ipsec/index.js';
import { nativeEspTransforms } from '../tunnel/native-esp.js';
import { Alg, enginePair, KEYS, Mode, PACKET_SIZE, SPI, udpPacket } from './packets.js';

/** Packets per timed batch, and the number of distinct sealed packets an open workload cycles through (~3 MB). */
export const BATCH = 2048;

export type Op = 'seal' | 'open';

export interface Workload {
  readonly name: string;
  readonly alg: Alg;
  readonly op: Op;
  /** undefined: raw node:crypto (no IP, no mode). */
  readonly mode: Mode | undefined;
  /** The engine with the native ESP transforms (an extra row: the 70% goal is judged on node:crypto's). */
  readonly native: boolean;
  /** Processes n <= BATCH packets and returns a value derived from the outputs (so no work can be skipped). Throws on any failure. */
  batch(n: number): number;
  /** Untimed, before each batch: open workloads start over on their sealed packets with a fresh replay window. */
  reset(): void;
}

const GCM_OPTS = { authTagLength: 16 } as const;

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

// ---- raw node:crypto: the least per-packet work node:crypto allows ----------------

/** RFC 4106-shaped GCM without ESP framing: nonce = salt | 64-bit counter, 8-octet AAD (SPI | seq), 16-octet tag. */
class RawGcm {
  readonly key = createSecretKey(Buffer.from(KEYS.gcmEnc.subarray(0, 16)));
  readonly nonce = Buffer.alloc(12);
  readonly aad = Buffer.alloc(8);
  seq = 0;

  constructor() {
    this.nonce.set(KEYS.gcmEnc.subarray(16), 0);
    this.aad.writeUInt32BE(SPI, 0);
  }

  /** Counter into nonce and AAD, as ESP would. */
  next(): void {
    this.seq = (this.seq + 1) >>> 0;
    this.nonce.writeUInt32BE(this.seq, 8);
    this.aad.writeUInt32BE(this.seq, 4);
  }

  seal(pt: Uint8Array): { ct: Buffer; tag: Buffer } {
    const c = createCipheriv('aes-128-gcm', this.key, this.nonce, GCM_OPTS);
    c.setAAD(this.aad);
    const ct = c.update(pt);
    c.final();
    return { ct, tag: c.getAuthTag() };
  }

  /** Throws when the tag does not verify (final() does). */
  open(ct: Buffer, tag: Buffer): Buffer {
    const d = createDecipheriv('aes-128-gcm', this.key, this.nonce, GCM_OPTS);
    d.setAAD(this.aad);
    d.setAuthTag(tag);
    const pt = d.update(ct);
    d.final();
    return pt;
  }
}

/**
 * Encrypt-then-MAC: AES-128-CBC without cipher padding over the packet padded once to
 * 1408 octets (the length ESP pads it to), HMAC-SHA-256 over IV | ciphertext,
 * truncated to 16 octets. One update() per cipher, no copies: the least node:crypto allows.
 */
class RawCbc {
  readonly enc = createSecretKey(Buffer.from(KEYS.cbcEnc));
  readonly auth = createSecretKey(Buffer.from(KEYS.cbcAuth));
  /** A counter IV: fine for a benchmark (the engine draws random ones from a pre-filled pool, equally cheap per packet). */
  readonly iv = Buffer.alloc(16);
  seq = 0;

  next(): void {
    this.seq = (this.seq + 1) >>> 0;
    this.iv.writeUInt32BE(this.seq, 12);
  }

  /** pt: a multiple of 16 octets. */
  seal(pt: Uint8Array): { ct: Buffer; tag: Buffer } {
    const c = createCipheriv('aes-128-cbc', this.enc, this.iv);
    c.setAutoPadding(false);
    const ct = c.update(pt);
    c.final();
    const h = createHmac('sha256', this.auth);
    h.update(this.iv);
    h.update(ct);
    return { ct, tag: h.digest().subarray(0, 16) };
  }

  open(ct: Buffer, tag: Buffer): Buffer {
    const h = createHmac('sha256', this.auth);
    h.update(this.iv);
    h.update(ct);
    if (!timingSafeEqual(h.digest().subarray(0, 16), tag)) throw new Error('bench: raw CBC ICV mismatch');
    const d = createDecipheriv('aes-128-cbc', this.enc, this.iv);
    d.setAutoPadding(false);
    const pt = d.update(ct);
    d.final();
    return pt;
  }
}

/** What the raw cipher encrypts: the packet, padded for CBC to a whole number of blocks (1408 octets) as ESP pads it. */
function rawInput(alg: Alg): Uint8Array {
  const pkt = udpPacket();
  if (alg === 'gcm') return pkt;
  const padded = new Uint8Array(Math.ceil((PACKET_SIZE + 2) / 16) * 16);
  padded.set(pkt, 0);
  return padded;
}

type RawCipher = RawGcm | RawCbc;

function rawCipher(alg: Alg): RawCipher {
  return alg === 'gcm' ? new RawGcm() : new RawCbc();
}

function rawSeal(alg: Alg): Workload {
  const c = rawCipher(alg);
  const pkt = rawInput(alg);
  c.next();
  const probe = c.seal(pkt);
  if (!same(c.open(probe.ct, probe.tag), pkt)) throw new Error(`bench: raw ${alg} round trip differs`);
  return {
    name: `raw-${alg}-seal`,
    alg,
    op: 'seal',
    mode: undefined,
    native: false,
    reset() {},
    batch(n) {
      let s = 0;
      for (let i = 0; i < n; i++) {
        c.next();
        const r = c.seal(pkt);
        s += r.ct.length + r.tag[0];
      }
      return s;
    },
  };
}

function rawOpen(alg: Alg): Workload {
  const c = rawCipher(alg);
  const pkt = rawInput(alg);
  // Sealed once, untimed, with counters 1..BATCH; open replays the same counters.
  const cts: Buffer[] = [];
  const tags: Buffer[] = [];
  for (let i = 0; i < BATCH; i++) {
    c.next();
    const r = c.seal(pkt);
    cts.push(r.ct);
    tags.push(r.tag);
  }
  c.seq = 0;
  c.next();
  if (!same(c.open(cts[0], tags[0]), pkt)) throw new Error(`bench: raw ${alg} open differs`);
  return {
    name: `raw-${alg}-open`,
    alg,
    op: 'open',
    mode: undefined,
    native: false,
    reset() {
      c.seq = 0;
    },
    batch(n) {
      let s = 0;
      for (let i = 0; i < n; i++) {
        c.next();
        s += c.open(cts[i], tags[i]).length;
      }
      return s;
    },
  };
}

// ---- the engine: outbound()/inbound() exactly as a caller uses them -----------------

function okPacket(r: IpsecResult, what: string): Uint8Array {
  if (!r.ok) throw new Error(`bench: ${what} dropped: ${r.reason}`);
  return r.packet;
}

/** The engine options of an engine workload: node:crypto, or the native transforms. */
function engineOptions(native: boolean): IpsecOptions {
  return native ? { transforms: nativeEspTransforms() } : {};
}

function espSeal(alg: Alg, mode: Mode, native: boolean): Workload {
  const { tx, rx } = enginePair(alg, mode, engineOptions(native));
  const pkt = udpPacket();
  if (!same(okPacket(rx.inbound(okPacket(tx.outbound(pkt), 'seal probe')), 'open probe'), pkt)) throw new Error(`bench: esp ${alg} ${mode} round trip differs`);
  return {
    name: `${native ? 'native' : 'esp'}-${alg}-seal-${mode}`,
    alg,
    op: 'seal',
    mode,
    native,
    reset() {},
    batch(n) {
      let s = 0;
      for (let i = 0; i < n; i++) {
        const r = tx.outbound(pkt);
        if (!r.ok) throw new Error(`bench: outbound dropped: ${r.reason}`);
        s += r.packet.length;
      }
      return s;
    },
  };
}

function espOpen(alg: Alg, mode: Mode, native: boolean): Workload {
  const { tx, rx, rxSpec } = enginePair(alg, mode, engineOptions(native));
  const pkt = udpPacket();
  // Sequence numbers 1..BATCH, sealed once, untimed. Re-adding the inbound SA resets its
  // replay window, so every batch is accepted in full (the replay check still runs).
  const wires: Uint8Array[] = [];
  for (let i = 0; i < BATCH; i++) wires.push(okPacket(tx.outbound(pkt), 'seal for open'));
  if (!same(okPacket(rx.inbound(wires[0]), 'open probe'), pkt)) throw new Error(`bench: esp ${alg} ${mode} open differs`);
  return {
    name: `${native ? 'native' : 'esp'}-${alg}-open-${mode}`,
    alg,
    op: 'open',
    mode,
    native,
    reset() {
      rx.removeSA(SPI);
      rx.addSA(rxSpec);
    },
    batch(n) {
      let s = 0;
      for (let i = 0; i < n; i++) {
        const r = rx.inbound(wires[i]);
        if (!r.ok) throw new Error(`bench: inbound dropped: ${r.reason}`);
        s += r.packet.length;
      }
      return s;
    },
  };
}

/**
 * Every workload name, in the order reported (each raw baseline before the engine variants compared
 * with it; the native-transform row last in its group).
 */
export const WORKLOAD_NAMES = [
  'raw-gcm-seal', 'esp-gcm-seal-tunnel', 'esp-gcm-seal-transport', 'native-gcm-seal-tunnel',
  'raw-gcm-open', 'esp-gcm-open-tunnel', 'esp-gcm-open-transport', 'native-gcm-open-tunnel',
  'raw-cbc-seal', 'esp-cbc-seal-tunnel', 'esp-cbc-seal-transport', 'native-cbc-seal-tunnel',
  'raw-cbc-open', 'esp-cbc-open-tunnel', 'esp-cbc-open-transport', 'native-cbc-open-tunnel',
] as const;

export type WorkloadName = (typeof WORKLOAD_NAMES)[number];

export function isWorkloadName(s: string): s is WorkloadName {
  return (WORKLOAD_NAMES as readonly string[]).includes(s);
}

export function createWorkload(name: WorkloadName): Workload {
  const [kind, alg, op, mode] = name.split('-') as ['raw' | 'esp' | 'native', Alg, Op, Mode | undefined];
  if (kind === 'raw') return op === 'seal' ? rawSeal(alg) : rawOpen(alg);
  const native = kind === 'native';
  return op === 'seal' ? espSeal(alg, mode!, native) : espOpen(alg, mode!, native);
}

/** The raw baseline an engine workload is compared with. */
export function baselineOf(w: Workload): WorkloadName {
  return `raw-${w.alg}-${w.op}` as WorkloadName;
}
