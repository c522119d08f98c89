// The ESP transforms: AES-GCM with a 16-octet ICV (RFC 4106), AES-CBC with
// HMAC-SHA-256-128 (RFC 3602 + RFC 4868), and NULL encryption with HMAC-SHA-256-128
// (for debugging). Each turns ESP plaintext into ciphertext + ICV in place and back,
// using node:crypto, unless the engine was given a TransformFactory that supplies its
// own for an algorithm. Keys are imported once per SA. Must never allocate beyond
// what node:crypto itself returns, never parse IP, never touch SA state, and never
// release plaintext whose ICV did not verify.

import { CipherGCMOptions, CipherGCMTypes, createCipheriv, createDecipheriv, createHmac, createSecretKey, KeyObject, timingSafeEqual } from 'node:crypto';
import { writeU32 } from './bytes.js';
import { InvalidSaError } from './errors.js';
import { IvPool } from './ivpool.js';

export type AlgorithmName = 'aes-gcm-16' | 'aes-cbc-hmac-sha256-128' | 'null-hmac-sha256-128';

export interface AlgorithmInfo {
  /** Explicit IV octets after the ESP header. */
  readonly ivLen: number;
  /** ICV octets after the trailer. */
  readonly icvLen: number;
  /** payload + padding + 2 is a multiple of this (lcm of the cipher block and 4). */
  readonly align: number;
  /** Accepted encryption key lengths (GCM: AES key + 4-octet salt). */
  readonly encKeyLengths: readonly number[];
  /** Accepted integrity key lengths ([] = no separate integrity key). */
  readonly authKeyLengths: readonly number[];
}

export const ALGORITHMS: Readonly<Record<AlgorithmName, AlgorithmInfo>> = Object.freeze({
  'aes-gcm-16': Object.freeze({ ivLen: 8, icvLen: 16, align: 4, encKeyLengths: [20, 28, 36], authKeyLengths: [] }),
  'aes-cbc-hmac-sha256-128': Object.freeze({ ivLen: 16, icvLen: 16, align: 16, encKeyLengths: [16, 24, 32], authKeyLengths: [32] }),
  'null-hmac-sha256-128': Object.freeze({ ivLen: 0, icvLen: 16, align: 4, encKeyLengths: [0], authKeyLengths: [32] }),
});

export const ALGORITHM_NAMES = Object.freeze(Object.keys(ALGORITHMS) as AlgorithmName[]);

/**
 * ESP body layout, from the ESP header at `espOff`:
 *   SPI(4) | seq_lo(4) | IV(ivLen) | ciphertext(ctLen) | ICV(icvLen)
 * ctOff = espOff + 8 + ivLen.
 */
export interface Transform {
  readonly info: AlgorithmInfo;
  /**
   * `out[espOff, espOff+8)` holds SPI and seq_lo, and `out[ctOff, ctOff+ctLen)` the
   * plaintext (payload, padding, pad length, next header). Writes the IV, encrypts
   * in place and writes the ICV.
   */
  seal(out: Uint8Array, espOff: number, ctLen: number, seqHi: number, seqLo: number): void;
  /**
   * Verifies the ICV of the ESP packet at `p[espOff..]` (seq_hi is the inferred high
   * half, used only with ESN) and returns the plaintext as a new buffer, or undefined
   * when the ICV does not verify.
   */
  open(p: Uint8Array, espOff: number, ctLen: number, seqHi: number): Buffer | undefined;
}

/** Where CBC IVs come from: the engine's pool of random octets (IvPool). */
export interface IvSource {
  /** Writes `len` fresh random octets to out[off, off+len). */
  take(out: Uint8Array, off: number, len: number): void;
}

/**
 * Another implementation of some transforms (for example over a native library).
 * Called after createTransform has checked the algorithm and the key lengths; returns
 * a Transform for the algorithms it supports, or undefined to use node:crypto's. A
 * Transform it returns must keep the contract above byte for byte: same wire format,
 * IVs from `ivs` (CBC) or from the sequence number XOR `ivMask` (GCM).
 */
export type TransformFactory = (
  algorithm: AlgorithmName,
  encKey: Uint8Array,
  authKey: Uint8Array,
  esn: boolean,
  /** GCM only: 8 octets (all zero when the SA gave none). */
  ivMask: Uint8Array | undefined,
  ivs: IvSource,
) => Transform | undefined;

const GCM_OPTS: CipherGCMOptions = Object.freeze({ authTagLength: 16 });

/** RFC 4106: nonce = salt(4) | IV(8); AAD = SPI | seq_lo, or SPI | seq_hi | seq_lo with ESN. */
class GcmTransform implements Transform {
  readonly info = ALGORITHMS['aes-gcm-16'];
  private readonly cipher: CipherGCMTypes;
  private readonly key: KeyObject;
  private readonly nonce = Buffer.alloc(12);
  private readonly aad = Buffer.alloc(12);
  private readonly aad8 = Buffer.alloc(8);

  constructor(
    encKey: Uint8Array,
    private readonly esn: boolean,
    /** IV = 64-bit sequence number XOR this mask (zero: IV = sequence number). Unique either way. */
    private readonly ivMask: Uint8Array,
  ) {
    const keyLen = encKey.length - 4;
    this.cipher = `aes-${keyLen * 8}-gcm` as CipherGCMTypes;
    this.key = createSecretKey(Buffer.from(encKey.subarray(0, keyLen)));
    this.nonce.set(encKey.subarray(keyLen), 0);
  }

  /** Copied into scratch buffers: cheaper than a subarray view per packet. */
  private aadFor(p: Uint8Array, espOff: number, seqHi: number): Uint8Array {
    if (!this.esn) {
      const a = this.aad8;
      for (let i = 0; i < 8; i++) a[i] = p[espOff + i];
      return a;
    }
    const a = this.aad;
    for (let i = 0; i < 4; i++) a[i] = p[espOff + i];
    writeU32(a, 4, seqHi);
    for (let i = 0; i < 4; i++) a[8 + i] = p[espOff + 4 + i];
    return a;
  }

  seal(out: Uint8Array, espOff: number, ctLen: number, seqHi: number, seqLo: number): void {
    const ivOff = espOff + 8;
    const ctOff = ivOff + 8;
    writeU32(out, ivOff, seqHi);
    writeU32(out, ivOff + 4, seqLo);
    const m = this.ivMask;
    const nonce = this.nonce;
    for (let i = 0; i < 8; i++) nonce[4 + i] = out[ivOff + i] ^= m[i];
    const c = createCipheriv(this.cipher, this.key, nonce, GCM_OPTS);
    c.setAAD(this.aadFor(out, espOff, seqHi));
    const ct = c.update(out.subarray(ctOff, ctOff + ctLen));
    ct.copy(out, ctOff);
    c.final();
    c.getAuthTag().copy(out, ctOff + ctLen);
  }

  open(p: Uint8Array, espOff: number, ctLen: number, seqHi: number): Buffer | undefined {
    const ivOff = espOff + 8;
    const ctOff = ivOff + 8;
    const nonce = this.nonce;
    for (let i = 0; i < 8; i++) nonce[4 + i] = p[ivOff + i];
    const d = createDecipheriv(this.cipher, this.key, nonce, GCM_OPTS);
    d.setAAD(this.aadFor(p, espOff, seqHi));
    d.setAuthTag(p.subarray(ctOff + ctLen, ctOff + ctLen + 16));
    const pt = d.update(p.subarray(ctOff, ctOff + ctLen));
    try {
      d.final();
    } catch {
      return undefined;
    }
    return pt;
  }
}

/** HMAC-SHA-256-128 over SPI | seq_lo | IV | ciphertext (| seq_hi with ESN): RFC 4303 §2.2.1 + RFC 4868. */
export class HmacSha256_128 {
  private readonly key: KeyObject;
  private readonly hi = Buffer.alloc(4);

  constructor(
    authKey: Uint8Array,
    private readonly esn: boolean,
  ) {
    if (!authKey.length) throw new InvalidSaError('authKey', 'HMAC-SHA-256 needs a non-empty key');
    this.key = createSecretKey(Buffer.from(authKey));
  }

  /** Full 32-octet HMAC of p[from, to) (| seq_hi). */
  mac(p: Uint8Array, from: number, to: number, seqHi: number): Buffer {
    const h = createHmac('sha256', this.key);
    h.update(p.subarray(from, to));
    if (this.esn) {
      writeU32(this.hi, 0, seqHi);
      h.update(this.hi);
    }
    return h.digest();
  }

  /** Writes the leftmost 16 octets of the HMAC at `at`. */
  sign(out: Uint8Array, from: number, to: number, seqHi: number, at: number): void {
    this.mac(out, from, to, seqHi).copy(out, at, 0, 16);
  }

  /** Constant-time comparison of the leftmost 16 octets with p[at, at+16). */
  verify(p: Uint8Array, from: number, to: number, seqHi: number, at: number): boolean {
    return timingSafeEqual(this.mac(p, from, to, seqHi).subarray(0, 16), p.subarray(at, at + 16));
  }
}

/** RFC 3602 AES-CBC (random IV from the pool, no cipher padding: ESP pads itself) then HMAC-SHA-256-128. */
class CbcHmacTransform implements Transform {
  readonly info = ALGORITHMS['aes-cbc-hmac-sha256-128'];
  private readonly cipher: string;
  private readonly key: KeyObject;
  private readonly auth: HmacSha256_128;

  constructor(
    encKey: Uint8Array,
    authKey: Uint8Array,
    esn: boolean,
    private readonly ivs: IvPool,
  ) {
    this.cipher = `aes-${encKey.length * 8}-cbc`;
    this.key = createSecretKey(Buffer.from(encKey));
    this.auth = new HmacSha256_128(authKey, esn);
  }

  seal(out: Uint8Array, espOff: number, ctLen: number, seqHi: number): void {
    const ivOff = espOff + 8;
    const ctOff = ivOff + 16;
    this.ivs.take(out, ivOff, 16);
    const c = createCipheriv(this.cipher, this.key, out.subarray(ivOff, ctOff));
    c.setAutoPadding(false);
    const ct = c.update(out.subarray(ctOff, ctOff + ctLen));
    ct.copy(out, ctOff);
    const rest = c.final();
    if (rest.length > 0) rest.copy(out, ctOff + ct.length);
    this.auth.sign(out, espOff, ctOff + ctLen, seqHi, ctOff + ctLen);
  }

  open(p: Uint8Array, espOff: number, ctLen: number, seqHi: number): Buffer | undefined {
    const ivOff = espOff + 8;
    const ctOff = ivOff + 16;
    // Encrypt-then-MAC: nothing is decrypted before the ICV verifies.
    if (!this.auth.verify(p, espOff, ctOff + ctLen, seqHi, ctOff + ctLen)) return undefined;
    const d = createDecipheriv(this.cipher, this.key, p.subarray(ivOff, ctOff));
    d.setAutoPadding(false);
    const pt = d.update(p.subarray(ctOff, ctOff + ctLen));
    const rest = d.final();
    return rest.length === 0 ? pt : Buffer.concat([pt, rest]);
  }
}

/** NULL encryption (RFC 2410) with HMAC-SHA-256-128: integrity only, the payload travels in clear. */
class NullHmacTransform implements Transform {
  readonly info = ALGORITHMS['null-hmac-sha256-128'];
  private readonly auth: HmacSha256_128;

  constructor(authKey: Uint8Array, esn: boolean) {
    this.auth = new HmacSha256_128(authKey, esn);
  }

  seal(out: Uint8Array, espOff: number, ctLen: number, seqHi: number): void {
    const ctOff = espOff + 8;
    this.auth.sign(out, espOff, ctOff + ctLen, seqHi, ctOff + ctLen);
  }

  open(p: Uint8Array, espOff: number, ctLen: number, seqHi: number): Buffer | undefined {
    const ctOff = espOff + 8;
    if (!this.auth.verify(p, espOff, ctOff + ctLen, seqHi, ctOff + ctLen)) return undefined;
    // A copy, so the result never aliases the caller's input buffer.
    return Buffer.from(p.subarray(ctOff, ctOff + ctLen));
  }
}

function isBytes(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array;
}

/** Validates the algorithm and keys (InvalidSaError naming the field) and imports the keys. */
export function createTransform(
  algorithm: unknown,
  encKey: unknown,
  authKey: unknown,
  esn: boolean,
  ivMask: unknown,
  ivs: IvPool,
  factory?: TransformFactory,
): Transform {
  if (typeof algorithm !== 'string' || !(algorithm in ALGORITHMS)) {
    throw new InvalidSaError('algorithm', `must be one of ${ALGORITHM_NAMES.join(', ')}, got ${JSON.stringify(algorithm)}`);
  }
  const name = algorithm as AlgorithmName;
  const info = ALGORITHMS[name];
  const enc = encKey === undefined ? new Uint8Array(0) : encKey;
  if (!isBytes(enc) || !info.encKeyLengths.includes(enc.length)) {
    const what = name === 'aes-gcm-16' ? 'AES key + 4-octet salt' : name === 'aes-cbc-hmac-sha256-128' ? 'AES key' : 'no key (NULL encryption)';
    throw new InvalidSaError('encKey', `${name} needs a Uint8Array of ${info.encKeyLengths.join(' or ')} octets (${what}), got ${isBytes(enc) ? `${enc.length} octets` : typeof enc}`);
  }
  const auth = authKey === undefined ? new Uint8Array(0) : authKey;
  const authLens = info.authKeyLengths.length ? info.authKeyLengths : [0];
  if (!isBytes(auth) || !authLens.includes(auth.length)) {
    throw new InvalidSaError('authKey', info.authKeyLengths.length
      ? `${name} needs a Uint8Array of ${info.authKeyLengths.join(' or ')} octets (HMAC-SHA-256 key, RFC 4868), got ${isBytes(auth) ? `${auth.length} octets` : typeof auth}`
      : `${name} is an AEAD and takes no authKey; leave it out`);
  }
  if (ivMask !== undefined && (name !== 'aes-gcm-16' || !isBytes(ivMask) || ivMask.length !== 8)) {
    throw new InvalidSaError('ivMask', 'only aes-gcm-16 takes an ivMask, and it must be a Uint8Array of 8 octets');
  }
  const mask = name !== 'aes-gcm-16' ? undefined : ivMask === undefined ? new Uint8Array(8) : Uint8Array.from(ivMask as Uint8Array);
  const other = factory?.(name, enc, auth, esn, mask, ivs);
  if (other) return other;
  switch (name) {
    case 'aes-gcm-16':
      return new GcmTransform(enc, esn, mask!);
    case 'aes-cbc-hmac-sha256-128':
      return new CbcHmacTransform(enc, auth, esn, ivs);
    case 'null-hmac-sha256-128':
      return new NullHmacTransform(auth, esn);
  }
}
