// Frozen IANA number tables for (DS)MIPv6 (RFC 6275, RFC 5555, RFC 5648 and the
// "Mobile IPv6 parameters" registry). Data only: never logic, never mutated.

function table<T extends Record<string, number>>(t: T): Readonly<T> {
  return Object.freeze(t);
}

/** Reverse lookup: the name of `value` in a frozen table, or undefined. */
export function nameOf(t: Readonly<Record<string, number>>, value: number): string | undefined {
  for (const k in t) if (t[k] === value) return k;
  return undefined;
}

/** IP protocol / IPv6 next-header numbers the project meets. */
export const IpProto = table({
  HOPOPTS: 0,
  ICMP: 1,
  IPV4: 4,
  TCP: 6,
  UDP: 17,
  IPV6: 41,
  ROUTING: 43,
  FRAGMENT: 44,
  ESP: 50,
  AH: 51,
  ICMPV6: 58,
  NONE: 59,
  DSTOPTS: 60,
  MH: 135,
});

/** Mobility Header types (RFC 6275 §6.1.2 and later RFCs). */
export const MhType = table({
  BRR: 0,
  HoTI: 1,
  CoTI: 2,
  HoT: 3,
  CoT: 4,
  BU: 5,
  BA: 6,
  BE: 7,
  FBU: 8,
  FBACK: 9,
  FNA: 10,
  EXPERIMENTAL: 11,
  HA_SWITCH: 12,
  HEARTBEAT: 13,
  HI: 14,
  HACK: 15,
  BINDING_REVOCATION: 16,
});

/** Mobility option types. */
export const MhOptType = table({
  PAD1: 0,
  PADN: 1,
  BINDING_REFRESH_ADVICE: 2,
  ALTERNATE_COA: 3,
  NONCE_INDICES: 4,
  BINDING_AUTH_DATA: 5,
  MOBILE_NETWORK_PREFIX: 6,
  IPV4_HOME_ADDRESS: 29,
  IPV4_ADDRESS_ACK: 30,
  NAT_DETECTION: 31,
  IPV4_COA: 32,
  BINDING_ID: 35,
});

/** IPv6 destination / hop-by-hop option types. */
export const Ipv6OptType = table({
  PAD1: 0,
  PADN: 1,
  HOME_ADDRESS: 0xc9,
});

/** Binding Update flags on the 16-bit word at MH offset 8. */
export const BuFlag = table({
  A: 0x8000,
  H: 0x4000,
  L: 0x2000,
  K: 0x1000,
  M: 0x0800,
  R: 0x0400,
  P: 0x0200,
  F: 0x0100,
  T: 0x0080,
  B: 0x0040,
  S: 0x0020,
  D: 0x0010,
});

/** Binding Acknowledgement flags on the octet at MH offset 7. */
export const BaFlag = table({
  K: 0x80,
  R: 0x40,
  P: 0x20,
  T: 0x10,
  B: 0x08,
  S: 0x04,
  D: 0x02,
});

/** Binding Acknowledgement status (IANA; below 128 is success). */
export const BaStatus = table({
  ACCEPTED: 0,
  ACCEPTED_PREFIX_DISCOVERY: 1,
  REASON_UNSPECIFIED: 128,
  ADMIN_PROHIBITED: 129,
  INSUFFICIENT_RESOURCES: 130,
  HOME_REGISTRATION_NOT_SUPPORTED: 131,
  NOT_HOME_SUBNET: 132,
  NOT_HOME_AGENT_FOR_MN: 133,
  DAD_FAILED: 134,
  SEQUENCE_OUT_OF_WINDOW: 135,
  EXPIRED_HOME_NONCE_INDEX: 136,
  EXPIRED_COA_NONCE_INDEX: 137,
  EXPIRED_NONCES: 138,
  REGISTRATION_TYPE_CHANGE_DISALLOWED: 139,
  INVALID_COA: 174,
});

/** Binding Error status (RFC 6275 §6.1.9). */
export const BeStatus = table({
  UNKNOWN_BINDING_FOR_HAO: 1,
  UNRECOGNIZED_MH_TYPE: 2,
});

/** IPv4 Address Acknowledgement status (RFC 5555 §3.2.1, IANA "DSMIPv6 IPv4 Home Address Option Status Codes"). */
export const Ipv4AckStatus = table({
  SUCCESS: 0,
  FAILURE_UNSPECIFIED: 128,
  ADMIN_PROHIBITED: 129,
  INCORRECT_IPV4_HOA: 130,
  INVALID_IPV4_ADDRESS: 131,
  DYNAMIC_ASSIGNMENT_UNAVAILABLE: 132,
  PREFIX_ALLOCATION_UNAUTHORIZED: 133,
});

/** RFC 5555 constants. */
export const Dsmip = Object.freeze({
  UDP_PORT: 4191,
  /** NATKATIMEOUT, seconds: the recommended NAT keepalive refresh time. */
  NAT_KEEPALIVE_TIMEOUT: 110,
  /** Refresh time meaning "no keepalives needed". */
  NO_REFRESH: 0xffffffff,
});
