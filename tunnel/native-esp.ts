// ESP transforms over the native addon's OpenSSL EVP contexts (native/crypto.c): AES-GCM-16 and
// AES-CBC + HMAC-SHA-256-128, keyed once per SA, for IpsecOptions.transforms. Same wire format and
// contract as ipsec/algorithms.ts's node:crypto transforms (the tests cross-check them); NULL
// encryption stays on node:crypto. Must never release plaintext whose ICV did not verify, never
// choose IVs (CBC IVs come from the engine's pool), and never hide a failure to load the addon.

import type { AlgorithmInfo, IvSource, Transform, TransformFactory } from '../ipsec/index.js';
import { ALGORITHMS } from '../ipsec/index.js';
import { EspKind, loadNative, type NativeBinding, type NativeEspContext } from './native.js';

class NativeGcm implements Transform {
  readonly info: AlgorithmInfo = ALGORITHMS['aes-gcm-16'];
  private readonly ctx: NativeEspContext;

  constructor(
    private readonly n: NativeBinding,
    encKey: Uint8Array,
    esn: boolean,
    ivMask: Uint8Array | undefined,
  ) {
    this.ctx = n.espNew(EspKind.GCM, encKey, null, esn, ivMask ?? null);
  }

  seal(out: Uint8Array, espOff: number, ctLen: number, seqHi: number, seqLo: number): void {
    this.n.espSeal(this.ctx, out, espOff, ctLen, seqHi, seqLo);
  }

  open(p: Uint8Array, espOff: number, ctLen: number, seqHi: number): Buffer | undefined {
    // From Buffer's pool (cheap for packet sizes); wiped by the addon when the ICV fails.
    const pt = Buffer.allocUnsafe(ctLen);
    return this.n.espOpen(this.ctx, p, espOff, ctLen, seqHi, pt) ? pt : undefined;
  }
}

class NativeCbcHmac implements Transform {
  readonly info: AlgorithmInfo = ALGORITHMS['aes-cbc-hmac-sha256-128'];
  private readonly ctx: NativeEspContext;

  constructor(
    private readonly n: NativeBinding,
    encKey: Uint8Array,
    authKey: Uint8Array,
    esn: boolean,
    private readonly ivs: IvSource,
  ) {
    this.ctx = n.espNew(EspKind.CBC_HMAC, encKey, authKey, esn, null);
  }

  seal(out: Uint8Array, espOff: number, ctLen: number, seqHi: number, seqLo: number): void {
    this.ivs.take(out, espOff + 8, 16);
    this.n.espSeal(this.ctx, out, espOff, ctLen, seqHi, seqLo);
  }

  open(p: Uint8Array, espOff: number, ctLen: number, seqHi: number): Buffer | undefined {
    const pt = Buffer.allocUnsafe(ctLen);
    return this.n.espOpen(this.ctx, p, espOff, ctLen, seqHi, pt) ? pt : undefined;
  }
}

/**
 * The TransformFactory for IpsecOptions.transforms: native GCM and CBC-HMAC, node:crypto for the
 * rest. Loads the addon now, so a missing addon is a NativeAddonError here, not at the first SA.
 */
export function nativeEspTransforms(binding: NativeBinding = loadNative()): TransformFactory {
  if (typeof binding.espNew !== 'function') {
    throw new TypeError('the loaded native addon has no ESP functions (built before native/crypto.c?); rebuild it with `npm run build:addon`');
  }
  return (algorithm, encKey, authKey, esn, ivMask, ivs) => {
    switch (algorithm) {
      case 'aes-gcm-16':
        return new NativeGcm(binding, encKey, esn, ivMask);
      case 'aes-cbc-hmac-sha256-128':
        return new NativeCbcHmac(binding, encKey, authKey, esn, ivs);
      default:
        return undefined;
    }
  };
}

/**
 * The native factory, or undefined with the reason when the addon cannot be loaded or
 * DSMIP6_NATIVE_ESP=0 turns it off (daemons log the reason once and use node:crypto).
 */
export function tryNativeEspTransforms(): { transforms?: TransformFactory; reason?: string } {
  if (process.env.DSMIP6_NATIVE_ESP === '0') return { reason: 'turned off by DSMIP6_NATIVE_ESP=0' };
  try {
    return { transforms: nativeEspTransforms() };
  } catch (e) {
    return { reason: (e as Error).message };
  }
}
