// Public surface of the IPsec module: the engine, its control-plane types and errors,
// the drop reasons, and the pure building blocks (selectors, replay window, address
// parsing) for callers and tests. Re-exports only; must never hold logic.

export { IpsecEngine } from './ipsec.js';
export type { IpsecOptions, IpsecResult, IpsecEvent, SaListener } from './ipsec.js';
export type { SaSpec, SaInfo, Direction, Mode, SeqReservation } from './sad.js';
export type { PolicySpec, PolicyInfo, PolicyAction, PolicyDirection } from './spd.js';
export type { SelectorSpec, NumberRange } from './selector.js';
export { Selector } from './selector.js';
export type { LifetimeSpec, SaState } from './lifetime.js';
export { ALGORITHMS, ALGORITHM_NAMES, HmacSha256_128 } from './algorithms.js';
export { openEsp } from './esp.js';
export type { EspKeySpec, EspOpenResult } from './esp.js';
export type { AlgorithmName, AlgorithmInfo, Transform, TransformFactory, IvSource } from './algorithms.js';
export { DROP_REASONS } from './counters.js';
export type { DropReason, DropCounts, Counters } from './counters.js';
export { ReplayWindow, ReplayVerdict, inferSeqHi, DEFAULT_REPLAY_WINDOW, MIN_REPLAY_WINDOW, MAX_REPLAY_WINDOW } from './replay.js';
export { parseAddress, parseIPv4, parseIPv6, formatAddress } from './addr.js';
export { PacketInfo, parsePacket, Proto } from './packet.js';
export type { RandomFill } from './ivpool.js';
export {
  IpsecError,
  InvalidSaError,
  DuplicateSpiError,
  UnknownSpiError,
  InvalidSelectorError,
  InvalidPolicyError,
  DuplicatePolicyError,
  UnknownPolicyError,
} from './errors.js';
