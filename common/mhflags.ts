// Binding Update / Binding Acknowledgement flag words <-> named booleans (RFC 6275 §6.1.7-8
// and later RFCs, masks from iana.ts). Pure bit arithmetic: never validates semantics, never throws.
import { BaFlag, BuFlag } from './iana.js';

/** The twelve assigned BU flags (16-bit word at MH offset 8); the low 4 bits are reserved. */
export interface BuFlags {
  A: boolean;
  H: boolean;
  L: boolean;
  K: boolean;
  M: boolean;
  R: boolean;
  P: boolean;
  F: boolean;
  T: boolean;
  B: boolean;
  S: boolean;
  D: boolean;
}

/** The seven assigned BA flags (octet at MH offset 7); the lowest bit is reserved. */
export interface BaFlags {
  K: boolean;
  R: boolean;
  P: boolean;
  T: boolean;
  B: boolean;
  S: boolean;
  D: boolean;
}

export const BU_FLAG_NAMES = ['A', 'H', 'L', 'K', 'M', 'R', 'P', 'F', 'T', 'B', 'S', 'D'] as const;
export const BA_FLAG_NAMES = ['K', 'R', 'P', 'T', 'B', 'S', 'D'] as const;
/** Reserved bits of the BU flag word (sent as 0, kept on decode so re-encoding is byte-exact). */
export const BU_FLAGS_RESERVED_MASK = 0x000f;
/** Reserved bit of the BA flag octet. */
export const BA_FLAGS_RESERVED_MASK = 0x01;

/** A full BuFlags with the named flags set, e.g. buFlags({ A: true, H: true, K: true }). */
export function buFlags(set: Partial<BuFlags> = {}): BuFlags {
  const f = {} as BuFlags;
  for (const n of BU_FLAG_NAMES) f[n] = set[n] === true;
  return f;
}

export function baFlags(set: Partial<BaFlags> = {}): BaFlags {
  const f = {} as BaFlags;
  for (const n of BA_FLAG_NAMES) f[n] = set[n] === true;
  return f;
}

export function buFlagsFromWord(word: number): BuFlags {
  const f = {} as BuFlags;
  for (const n of BU_FLAG_NAMES) f[n] = (word & BuFlag[n]) !== 0;
  return f;
}

/** The assigned bits only; the caller ORs in any reserved bits. */
export function buFlagsToWord(flags: BuFlags): number {
  let w = 0;
  for (const n of BU_FLAG_NAMES) if (flags[n]) w |= BuFlag[n];
  return w;
}

export function baFlagsFromOctet(octet: number): BaFlags {
  const f = {} as BaFlags;
  for (const n of BA_FLAG_NAMES) f[n] = (octet & BaFlag[n]) !== 0;
  return f;
}

export function baFlagsToOctet(flags: BaFlags): number {
  let o = 0;
  for (const n of BA_FLAG_NAMES) if (flags[n]) o |= BaFlag[n];
  return o;
}
