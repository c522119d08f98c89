// Benchmark fixtures: the 1400-octet IPv6/UDP packet every variant processes, fixed
// keys, and the engine pairs (sender + receiver) for tunnel and transport mode.
// Benchmark data only: never sends anything anywhere, never opens a socket or file,
// and its fixed keys must never be used to protect real traffic.

import { AlgorithmName, IpsecEngine, IpsecOptions, parseAddress, SaSpec } from '../ipsec/index.js';

/** Octets of every input packet (IPv6 header + UDP header + data): a full-size packet under a 1500 MTU after ESP. */
export const PACKET_SIZE = 1400;

export const SPI = 0x1001;

/** Inner hosts (tunnel) or the two ends (transport), and the tunnel endpoints. */
export const HOST_A = '2001:db8:1::10';
export const HOST_B = '2001:db8:2::20';
export const OUTER_A = '2001:db8::a';
export const OUTER_B = '2001:db8::b';

export type Alg = 'gcm' | 'cbc';
export type Mode = 'tunnel' | 'transport';

/** Deterministic filler: octet i is (seed + i * 31) & 0xff (not all zeros, so nothing compresses or short-cuts). */
export function filler(len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = (seed + i * 31) & 0xff;
  return b;
}

function addr(text: string): Uint8Array {
  const a = parseAddress(text);
  if (!a) throw new Error(`bench: bad address ${text}`);
  return a;
}

/** IPv6 (next header UDP, hop limit 64) + UDP 4000 -> 5000 + data, PACKET_SIZE octets in all. UDP checksum left zero: nothing here checks it. */
export function udpPacket(src = HOST_A, dst = HOST_B, size = PACKET_SIZE): Uint8Array {
  const p = new Uint8Array(size);
  const payloadLen = size - 40;
  p[0] = 0x60;
  p[4] = payloadLen >> 8;
  p[5] = payloadLen & 0xff;
  p[6] = 17;
  p[7] = 64;
  p.set(addr(src), 8);
  p.set(addr(dst), 24);
  p[40] = 4000 >> 8;
  p[41] = 4000 & 0xff;
  p[42] = 5000 >> 8;
  p[43] = 5000 & 0xff;
  p[44] = payloadLen >> 8;
  p[45] = payloadLen & 0xff;
  p.set(filler(size - 48, 3), 48);
  return p;
}

/** GCM: AES-128 key + 4-octet salt (RFC 4106). CBC: AES-128 key, HMAC-SHA-256 key (RFC 4868). */
export const KEYS = {
  gcmEnc: filler(20, 1),
  cbcEnc: filler(16, 2),
  cbcAuth: filler(32, 3),
} as const;

const ALGORITHM: Record<Alg, AlgorithmName> = { gcm: 'aes-gcm-16', cbc: 'aes-cbc-hmac-sha256-128' };

export interface EnginePair {
  /** A: protects A -> B traffic (outbound SA + PROTECT policy). */
  tx: IpsecEngine;
  /** B: receives it (inbound SA with selectors, inbound PROTECT policy). */
  rx: IpsecEngine;
  /** The inbound SA's description, to re-add it (a fresh replay window) between open batches. */
  rxSpec: SaSpec;
}

/**
 * Two engines configured as a real deployment would be: A's SPD sends UDP from A to B
 * through the SA; B's SA accepts it only within the same selector. Tunnel mode is
 * IPv6-in-IPv6 between OUTER_A and OUTER_B. `options` go to both engines (e.g. the
 * native ESP transforms as IpsecOptions.transforms).
 */
export function enginePair(alg: Alg, mode: Mode, options: IpsecOptions = {}): EnginePair {
  const keys = alg === 'gcm' ? { encKey: KEYS.gcmEnc } : { encKey: KEYS.cbcEnc, authKey: KEYS.cbcAuth };
  const base = { spi: SPI, mode, algorithm: ALGORITHM[alg], ...keys };
  const tx = new IpsecEngine(options);
  const rx = new IpsecEngine(options);
  tx.addSA({ ...base, direction: 'outbound', ...(mode === 'tunnel' ? { tunnel: { src: OUTER_A, dst: OUTER_B } } : {}) });
  tx.addPolicy({ direction: 'outbound', selector: { local: HOST_A, remote: HOST_B, proto: 17 }, action: { protect: { spi: SPI } } });
  const rxSpec: SaSpec = {
    ...base,
    direction: 'inbound',
    ...(mode === 'tunnel' ? { tunnel: { src: OUTER_A, dst: OUTER_B } } : {}),
    selectors: [{ local: HOST_B, remote: HOST_A, proto: 17 }],
  };
  rx.addSA(rxSpec);
  rx.addPolicy({ direction: 'inbound', selector: { local: HOST_B, remote: HOST_A, proto: 17 }, action: { protect: { spi: SPI } } });
  return { tx, rx, rxSpec };
}
