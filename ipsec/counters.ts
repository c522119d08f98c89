// Drop reasons and the data-plane counters. Every drop the engine makes has exactly
// one reason here and is counted. Never logs, never throws, never resets by itself.

export const DROP_REASONS = Object.freeze([
  /** Outbound or unprotected inbound: no SPD entry matches. */
  'no-policy',
  /** The matching SPD entry says DISCARD. */
  'discard-policy',
  /** Unprotected inbound packet matching a PROTECT entry: the policy requires ESP. */
  'esp-required',
  /** A PROTECT entry names an SA (SPI or bundle) that the SAD does not hold. */
  'no-sa',
  /** Inbound ESP whose SPI names no inbound SA. */
  'unknown-spi',
  /** Duplicate sequence number inside the replay window. */
  'replay',
  /** Sequence number left of the replay window (or 0, or an impossible ESN high half). */
  'outside-window',
  /** The ICV did not verify (tampered, wrong key, wrong ESN high half). */
  'icv-mismatch',
  /** Authenticated, but the padding is not 1, 2, 3, ... or the pad length overruns. */
  'bad-padding',
  /** Inbound SPD check: the decrypted packet is outside the SA's traffic selectors. */
  'policy-mismatch',
  /** The SA is past its hard lifetime. */
  'sa-expired',
  /** The SA's sequence counter would wrap (2^32 without ESN, 2^64 with). */
  'seq-exhausted',
  /** Not a well-formed IPv4/IPv6/ESP packet, a fragment where one cannot be handled, or a mode mismatch. */
  'malformed',
  /** The result would exceed the 65535-octet IP length field. */
  'too-big',
  /** Authenticated ESP with next header 59: a dummy (TFC) packet, dropped silently. */
  'dummy-packet',
  /** An unexpected exception inside the engine (a bug); counted so tests can assert it stays 0. */
  'internal-error',
] as const);

export type DropReason = (typeof DROP_REASONS)[number];

export type DropCounts = Record<DropReason, number>;

export interface Counters {
  /** Outbound packets protected with ESP / passed by BYPASS. */
  outProtected: number;
  outBypassed: number;
  /** Inbound ESP packets accepted / unprotected packets passed by BYPASS. */
  inProtected: number;
  inBypassed: number;
  /** Drops by reason (outbound and inbound together). */
  drops: DropCounts;
  /** Exceptions thrown by event listeners (caught so the data plane never throws). */
  listenerErrors: number;
}

export function newCounters(): Counters {
  const drops = {} as DropCounts;
  for (const r of DROP_REASONS) drops[r] = 0;
  return { outProtected: 0, outBypassed: 0, inProtected: 0, inBypassed: 0, drops, listenerErrors: 0 };
}

export function snapshot(c: Counters): Counters {
  return { ...c, drops: { ...c.drops } };
}
