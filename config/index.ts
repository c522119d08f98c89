// Public surface of the configuration module: loaders, the config types and defaults,
// ConfigError, the registration converters and manual keying. Re-exports only; must never
// hold logic.

export { loadHaConfig, loadMnConfig, toHaRegistrationConfig, toHomeRegistrationConfig } from './load.js';
export { HA_DEFAULTS, MN_DEFAULTS, haConfigSchema, mnConfigSchema } from './schema.js';
export type { HaConfig, MnConfig, HaMobileNode, MobilityKeys, SaPair, SaKeys, Prefix } from './schema.js';
export { ConfigError } from './messages.js';
export type { ConfigProblem } from './messages.js';
export { mnKeying, haKeying, mnIpv4HoaPolicies, haIpv4HoaPolicies, applyKeying, insertPolicies, POLICY_IDS } from './keying.js';
export type { Keying } from './keying.js';
