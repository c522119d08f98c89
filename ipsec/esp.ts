// ESP framing (RFC 4303 §2): ciphertext length for a payload, the trailer (padding
// 1, 2, 3, ..., pad length, next header) written and checked, and a stateless
// openEsp() for diagnostics (decoders, capture tools). Never keeps state between
// calls (no replay window: that is the engine's job) and never throws on any input.

import { ALGORITHMS, AlgorithmName, AlgorithmInfo, createTransform } from './algorithms.js';
import { readU32 } from './bytes.js';
import { IvPool } from './ivpool.js';

/** Plaintext length (payload + padding + 2) for a payload of `payLen` octets. */
export function ctLength(info: AlgorithmInfo, payLen: number): number {
  const align = info.align;
  return payLen + 2 + ((align - ((payLen + 2) % align)) % align);
}

/** Writes padding 1, 2, 3, ... then pad length and next header after a payload ending at `at`; `ctEnd` is where the plaintext ends. */
export function writeTrailer(out: Uint8Array, at: number, ctEnd: number, nh: number): void {
  const padLen = ctEnd - 2 - at;
  let i = at;
  for (let k = 1; k <= padLen; k++) out[i++] = k;
  out[i++] = padLen;
  out[i] = nh;
}

/** Payload length of a decrypted plaintext of `ctLen` octets, or -1 when the padding is not 1, 2, 3, ... or overruns. */
export function checkTrailer(pt: Uint8Array, ctLen: number): number {
  const padLen = pt[ctLen - 2];
  if (padLen > ctLen - 2) return -1;
  const payLen = ctLen - 2 - padLen;
  for (let k = 0; k < padLen; k++) if (pt[payLen + k] !== k + 1) return -1;
  return payLen;
}

/** Plaintext length of an ESP packet of `espLen` octets (from the SPI to the end), or -1 when no valid packet has that length. */
export function ctLengthOf(info: AlgorithmInfo, espLen: number): number {
  const ctLen = espLen - 8 - info.ivLen - info.icvLen;
  return ctLen >= info.align && ctLen % info.align === 0 ? ctLen : -1;
}

/** Keys for openEsp. */
export interface EspKeySpec {
  spi: number;
  algorithm: AlgorithmName;
  encKey?: Uint8Array;
  authKey?: Uint8Array;
  esn?: boolean;
}

export type EspOpenResult =
  | { nextHeader: number; payload: Uint8Array; spi: number; seq: number; padLength: number }
  | { error: string };

const NO_IVS = new IvPool(() => {
  throw new Error('openEsp never encrypts');
}, 16);

/**
 * Verifies and decrypts one ESP packet (`esp` runs from the SPI to the end of the IP
 * payload) with the given keys, without any SA state: no replay check. With ESN the
 * high half of the sequence number is not on the wire; pass it as `seqHi` (default 0).
 * A dummy packet comes back with next header 59.
 */
export function openEsp(key: EspKeySpec, esp: Uint8Array, seqHi = 0): EspOpenResult {
  try {
    if (!(esp instanceof Uint8Array) || esp.length < 8) return { error: 'malformed: shorter than the 8-octet ESP header' };
    const info = ALGORITHMS[key.algorithm];
    if (!info) return { error: `unknown algorithm ${JSON.stringify(key.algorithm)}` };
    const spi = readU32(esp, 0);
    if (spi !== key.spi >>> 0) return { error: `SPI 0x${spi.toString(16)} is not the key's 0x${(key.spi >>> 0).toString(16)}` };
    let transform;
    try {
      transform = createTransform(key.algorithm, key.encKey, key.authKey, key.esn === true, undefined, NO_IVS);
    } catch (e) {
      return { error: `bad key: ${(e as Error).message}` };
    }
    const ctLen = ctLengthOf(info, esp.length);
    if (ctLen < 0) return { error: `malformed: ${esp.length} octets is no valid ${key.algorithm} ESP length` };
    const pt = transform.open(esp, 0, ctLen, seqHi >>> 0);
    if (!pt) return { error: `icv-mismatch: the ICV does not verify (wrong key${key.esn ? ', or wrong ESN seq_hi' : ''}, or tampered)` };
    const payLen = checkTrailer(pt, ctLen);
    if (payLen < 0) return { error: 'bad-padding: the padding is not 1, 2, 3, ... (wrong key or algorithm?)' };
    return { nextHeader: pt[ctLen - 1], payload: pt.subarray(0, payLen), spi, seq: readU32(esp, 4), padLength: ctLen - 2 - payLen };
  } catch (e) {
    return { error: `internal error: ${String(e)}` };
  }
}
