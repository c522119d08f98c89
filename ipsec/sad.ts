// The Security Association Database: SA descriptions (what the control plane hands in),
// validation into runtime SAs (keys imported, selectors compiled, replay window and
// lifetime allocated), and the store keyed by SPI with bundle labels. It holds per-SA
// state (sequence counter, replay window, counts) but never processes packets and
// never raises events.

import { AlgorithmName, createTransform, Transform, TransformFactory } from './algorithms.js';
import { formatAddress, parseAddress } from './addr.js';
import { DuplicateSpiError, InvalidSaError, UnknownSpiError } from './errors.js';
import { IvPool } from './ivpool.js';
import { Lifetime, LifetimeSpec, SaState } from './lifetime.js';
import { DEFAULT_REPLAY_WINDOW, MAX_REPLAY_WINDOW, MIN_REPLAY_WINDOW, ReplayWindow } from './replay.js';
import { Selector, SelectorSpec } from './selector.js';

export type Direction = 'inbound' | 'outbound';
export type Mode = 'transport' | 'tunnel';

/** What addSA takes. Keys are copied; the caller may wipe its buffers afterwards. */
export interface SaSpec {
  /** 256..2^32-1 (0 is never sent and 1-255 are reserved). Unique across the SAD. */
  spi: number;
  direction: Direction;
  mode: Mode;
  /** Tunnel mode: outer source and destination, both IPv4 or both IPv6. Required for outbound tunnel SAs. */
  tunnel?: { src: string; dst: string };
  algorithm: AlgorithmName;
  /** aes-gcm-16: AES key (16, 24 or 32 octets) + 4-octet salt; aes-cbc-*: AES key; null-*: none. */
  encKey?: Uint8Array;
  /** HMAC-SHA-256 key, 32 octets (RFC 4868); none for aes-gcm-16. */
  authKey?: Uint8Array;
  /** Extended (64-bit) sequence numbers. Default false. */
  esn?: boolean;
  /** Inbound: anti-replay window in packets, 32..2^20. Default 1024. */
  replayWindow?: number;
  lifetime?: LifetimeSpec;
  /**
   * The traffic selectors the SA was negotiated for (local = this host). Inbound: a
   * decrypted packet must match one of them. When absent, the selectors of the
   * inbound PROTECT policies that name this SA are used; with neither, nothing passes.
   */
  selectors?: SelectorSpec[];
  /** A label shared by SAs that a PROTECT policy can name instead of an SPI (the newest live one is used, so rekeying needs no policy change). */
  bundle?: string;
  /**
   * The sequence counter to start from: outbound, the last number sent (default 0, so
   * the first packet carries 1); inbound, the highest number already authenticated
   * (default 0). Below 2^32 without ESN, below 2^64 with.
   */
  seq?: bigint | number;
  /** aes-gcm-16 only: 8 octets XORed into the 64-bit sequence number to form the explicit IV (Linux seqiv style). Default zero: IV = sequence number. */
  ivMask?: Uint8Array;
  /** Outbound only: have the owner record sequence numbers, a block at a time, before they are used (see SeqReservation). */
  seqReservation?: SeqReservation;
}

/**
 * Outbound sequence numbers handed out in blocks, so that an owner that keeps its SAs across a
 * restart (manual keys) never sends a number twice: before the first number of each block is used
 * the engine calls reserve(spi, upTo) synchronously, and the owner records `upTo` durably before it
 * returns; after a restart the owner adds the SA with `seq` = the last recorded `upTo`. At most one
 * block is skipped per restart. If reserve throws, the packet is dropped ('internal-error') and the
 * next packet asks again: nothing is sent under a number that was not recorded.
 */
export interface SeqReservation {
  /** Numbers per block, 1..2^31 (a larger block means fewer calls and more numbers skipped on a restart). */
  block: number;
  reserve(spi: number, upTo: bigint): void;
}

/** What getSA / listSAs return: a snapshot, without keys. */
export interface SaInfo {
  spi: number;
  direction: Direction;
  mode: Mode;
  tunnel?: { src: string; dst: string };
  algorithm: AlgorithmName;
  esn: boolean;
  replayWindow?: number;
  lifetime: LifetimeSpec;
  selectors?: SelectorSpec[];
  bundle?: string;
  state: SaState;
  /** Clock value (ms) when the SA was added. */
  addedAt: number;
  /** Packets and payload octets processed (sent for outbound SAs, accepted for inbound ones). */
  packets: number;
  bytes: number;
  /** Outbound: last sequence number sent. Inbound: highest authenticated. */
  seq: bigint;
}

const SPEC_KEYS = ['spi', 'direction', 'mode', 'tunnel', 'algorithm', 'encKey', 'authKey', 'esn', 'replayWindow', 'lifetime', 'selectors', 'bundle', 'seq', 'ivMask', 'seqReservation'];

/** A runtime SA. Fields are read and written by the engine's packet path. */
export class Sa {
  /** Outbound: last sequence number sent, as (hi, lo). */
  seqHi = 0;
  seqLo = 0;
  /**
   * Outbound: numbers left in the reserved block; the packet path asks for a new block when it is 0.
   * Infinity without a SeqReservation (Infinity - 1 stays Infinity), so the per-packet cost is one
   * comparison either way.
   */
  seqBudget = Infinity;
  seqReservation: SeqReservation | undefined = undefined;
  packets = 0;
  /** Inbound selectors derived from the SPD when `selectors` is absent, valid for SPD generation `derivedGen`. */
  derived: readonly Selector[] = [];
  derivedGen = -1;

  private constructor(
    readonly spi: number,
    readonly inbound: boolean,
    readonly tunnel: boolean,
    /** Tunnel endpoints as octets (4 or 16), when given. */
    readonly outerSrc: Uint8Array | undefined,
    readonly outerDst: Uint8Array | undefined,
    readonly algorithm: AlgorithmName,
    readonly transform: Transform,
    readonly esn: boolean,
    readonly replay: ReplayWindow | undefined,
    readonly lifetime: Lifetime,
    readonly selectors: Selector[] | undefined,
    readonly bundle: string | undefined,
    /** Insertion order, so a bundle can prefer its newest SA. */
    readonly serial: number,
  ) {}

  /** Validates a description (InvalidSaError naming the field) and builds the SA. */
  static create(spec: SaSpec, now: number, ivs: IvPool, serial: number, transforms?: TransformFactory): Sa {
    if (typeof spec !== 'object' || spec === null) throw new InvalidSaError('', 'an SA description must be an object');
    for (const k of Object.keys(spec)) {
      if (!SPEC_KEYS.includes(k)) throw new InvalidSaError(k, `unknown SA field; allowed: ${SPEC_KEYS.join(', ')}`);
    }
    const { spi } = spec;
    if (typeof spi !== 'number' || !Number.isInteger(spi) || spi < 256 || spi > 0xffffffff) {
      throw new InvalidSaError('spi', `must be an integer from 256 to 4294967295 (0 is never sent, 1-255 are reserved), got ${JSON.stringify(spi)}`);
    }
    if (spec.direction !== 'inbound' && spec.direction !== 'outbound') {
      throw new InvalidSaError('direction', `must be 'inbound' or 'outbound', got ${JSON.stringify(spec.direction)}`);
    }
    if (spec.mode !== 'transport' && spec.mode !== 'tunnel') {
      throw new InvalidSaError('mode', `must be 'transport' or 'tunnel', got ${JSON.stringify(spec.mode)}`);
    }
    const inbound = spec.direction === 'inbound';
    const tunnel = spec.mode === 'tunnel';
    let outerSrc: Uint8Array | undefined;
    let outerDst: Uint8Array | undefined;
    if (spec.tunnel !== undefined) {
      if (!tunnel) throw new InvalidSaError('tunnel', "only mode 'tunnel' takes tunnel endpoints; leave it out for transport mode");
      const t = spec.tunnel;
      if (typeof t !== 'object' || t === null || typeof t.src !== 'string' || typeof t.dst !== 'string') {
        throw new InvalidSaError('tunnel', 'must be { src, dst } with two IPv4 or two IPv6 addresses as text');
      }
      outerSrc = parseAddress(t.src);
      outerDst = parseAddress(t.dst);
      if (!outerSrc) throw new InvalidSaError('tunnel.src', `'${t.src}' is not an IPv4 or IPv6 address`);
      if (!outerDst) throw new InvalidSaError('tunnel.dst', `'${t.dst}' is not an IPv4 or IPv6 address`);
      if (outerSrc.length !== outerDst.length) throw new InvalidSaError('tunnel', 'src and dst must be of the same family (both IPv4 or both IPv6)');
    } else if (tunnel && !inbound) {
      throw new InvalidSaError('tunnel', 'an outbound tunnel-mode SA needs tunnel: { src, dst } (the outer addresses)');
    }
    if (spec.esn !== undefined && typeof spec.esn !== 'boolean') throw new InvalidSaError('esn', `must be true or false, got ${JSON.stringify(spec.esn)}`);
    const esn = spec.esn === true;
    const transform = createTransform(spec.algorithm, spec.encKey, spec.authKey, esn, spec.ivMask, ivs, transforms);
    let replay: ReplayWindow | undefined;
    if (inbound) {
      const w = spec.replayWindow ?? DEFAULT_REPLAY_WINDOW;
      if (typeof w !== 'number' || !Number.isInteger(w) || w < MIN_REPLAY_WINDOW || w > MAX_REPLAY_WINDOW) {
        throw new InvalidSaError('replayWindow', `must be an integer from ${MIN_REPLAY_WINDOW} to ${MAX_REPLAY_WINDOW} packets (default ${DEFAULT_REPLAY_WINDOW}), got ${JSON.stringify(w)}`);
      }
      replay = new ReplayWindow(w);
    } else if (spec.replayWindow !== undefined) {
      throw new InvalidSaError('replayWindow', 'only inbound SAs have a replay window; leave it out');
    }
    const lifetime = new Lifetime(spec.lifetime ?? {}, now);
    let selectors: Selector[] | undefined;
    if (spec.selectors !== undefined) {
      if (!Array.isArray(spec.selectors)) throw new InvalidSaError('selectors', 'must be an array of selectors');
      selectors = spec.selectors.map((s, i) => Selector.compile(s, `selectors[${i}]`));
    }
    if (spec.bundle !== undefined && (typeof spec.bundle !== 'string' || spec.bundle === '')) {
      throw new InvalidSaError('bundle', `must be a non-empty string, got ${JSON.stringify(spec.bundle)}`);
    }
    let seq = 0n;
    if (spec.seq !== undefined) {
      const max = esn ? 0xffffffffffffffffn : 0xffffffffn;
      const ok = typeof spec.seq === 'bigint' || (typeof spec.seq === 'number' && Number.isSafeInteger(spec.seq));
      if (!ok || BigInt(spec.seq) < 0n || BigInt(spec.seq) > max) {
        throw new InvalidSaError('seq', `must be an integer from 0 to ${max} (${esn ? 'ESN: 2^64-1' : 'no ESN: 2^32-1'}), got ${String(spec.seq)}`);
      }
      seq = BigInt(spec.seq);
    }
    const res = spec.seqReservation;
    if (res !== undefined) {
      if (inbound) throw new InvalidSaError('seqReservation', 'only outbound SAs send sequence numbers; leave it out');
      if (typeof res !== 'object' || res === null || typeof res.reserve !== 'function' || !Number.isInteger(res.block) || res.block < 1 || res.block > 2 ** 31) {
        throw new InvalidSaError('seqReservation', `must be { block: 1..2147483648, reserve(spi, upTo) }, got block ${String((res as { block?: unknown } | null)?.block)}`);
      }
    }
    const sa = new Sa(spi, inbound, tunnel, outerSrc, outerDst, spec.algorithm, transform, esn, replay, lifetime, selectors, spec.bundle, serial);
    if (res !== undefined) {
      sa.seqReservation = res;
      sa.seqBudget = 0;
    }
    if (replay) replay.setTop(seq);
    else {
      sa.seqHi = Number(seq >> 32n);
      sa.seqLo = Number(seq & 0xffffffffn);
    }
    return sa;
  }

  info(): SaInfo {
    const lt = this.lifetime;
    const out: SaInfo = {
      spi: this.spi,
      direction: this.inbound ? 'inbound' : 'outbound',
      mode: this.tunnel ? 'tunnel' : 'transport',
      algorithm: this.algorithm,
      esn: this.esn,
      lifetime: { ...lt.spec },
      state: lt.state,
      addedAt: lt.addedAt,
      packets: this.packets,
      bytes: lt.bytes,
      seq: this.replay ? this.replay.top : (BigInt(this.seqHi) << 32n) | BigInt(this.seqLo),
    };
    if (this.outerSrc && this.outerDst) out.tunnel = { src: formatAddress(this.outerSrc), dst: formatAddress(this.outerDst) };
    if (this.replay) out.replayWindow = this.replay.size;
    if (this.selectors) out.selectors = this.selectors.map((s) => s.describe());
    if (this.bundle !== undefined) out.bundle = this.bundle;
    return out;
  }

}

/** SAs by SPI, and bundle label -> SAs in insertion order. */
export class Sad {
  private readonly bySpi = new Map<number, Sa>();
  private readonly bundles = new Map<string, Sa[]>();

  add(sa: Sa): void {
    if (this.bySpi.has(sa.spi)) throw new DuplicateSpiError(sa.spi);
    this.bySpi.set(sa.spi, sa);
    if (sa.bundle !== undefined) {
      const list = this.bundles.get(sa.bundle);
      if (list) list.push(sa);
      else this.bundles.set(sa.bundle, [sa]);
    }
  }

  remove(spi: number): Sa {
    const sa = this.bySpi.get(spi);
    if (!sa) throw new UnknownSpiError(spi);
    this.bySpi.delete(spi);
    if (sa.bundle !== undefined) {
      const list = this.bundles.get(sa.bundle)!;
      list.splice(list.indexOf(sa), 1);
      if (list.length === 0) this.bundles.delete(sa.bundle);
    }
    return sa;
  }

  get(spi: number): Sa | undefined {
    return this.bySpi.get(spi);
  }

  /** SAs labelled `bundle`, oldest first (do not modify). */
  bundle(bundle: string): readonly Sa[] | undefined {
    return this.bundles.get(bundle);
  }

  all(): IterableIterator<Sa> {
    return this.bySpi.values();
  }
}
