// ESP keys for the decode tool: parses "spi=..,alg=..,enc=..,auth=.." specs and JSON key
// files into SA key records. Errors name the field and the fix; never reads other files.
import { existsSync, readFileSync } from 'node:fs';
import { fromHex } from '../common/bytes.js';
import { ALGORITHM_NAMES, type AlgorithmName, type EspKeySpec } from '../ipsec/index.js';

export type EspKey = EspKeySpec;

/** A spec string, or the path of a JSON file holding a list of {spi, algorithm, encKey, authKey, esn}. */
export function parseEspKeys(spec: string): EspKey[] {
  if (!spec.includes('=') && existsSync(spec)) {
    let list: unknown;
    try {
      list = JSON.parse(readFileSync(spec, 'utf8'));
    } catch (e) {
      throw new Error(`--sa ${spec}: not valid JSON (${(e as Error).message})`);
    }
    if (!Array.isArray(list)) throw new Error(`--sa ${spec}: expected a JSON list of SAs`);
    return list.map((o, i) => toKey(o as Record<string, unknown>, `--sa ${spec}[${i}]`));
  }
  const o: Record<string, unknown> = {};
  for (const part of spec.split(',')) {
    const [k, v] = part.split('=', 2);
    if (v === undefined) throw new Error(`--sa: '${part}' is not key=value (keys: spi, alg, enc, auth, esn)`);
    const name = { alg: 'algorithm', enc: 'encKey', auth: 'authKey' }[k.trim()] ?? k.trim();
    o[name] = v.trim();
  }
  return [toKey(o, `--sa ${spec}`)];
}

function toKey(o: Record<string, unknown>, where: string): EspKey {
  const spi = typeof o.spi === 'number' ? o.spi : Number(o.spi);
  if (!Number.isInteger(spi) || spi < 1 || spi > 0xffffffff) {
    throw new Error(`${where}: spi must be an integer 1..0xffffffff (decimal or 0x hex), got ${JSON.stringify(o.spi)}`);
  }
  if (!ALGORITHM_NAMES.includes(o.algorithm as AlgorithmName)) {
    throw new Error(`${where}: alg must be one of ${ALGORITHM_NAMES.join(', ')}, got ${JSON.stringify(o.algorithm)}`);
  }
  const hex = (field: string): Uint8Array | undefined => {
    const v = o[field];
    if (v === undefined || v === '') return undefined;
    if (typeof v !== 'string') throw new Error(`${where}: ${field} must be a hex string`);
    try {
      return fromHex(v);
    } catch (e) {
      throw new Error(`${where}: ${field}: ${(e as Error).message}`);
    }
  };
  const esn = o.esn === true || o.esn === '1' || o.esn === 'true';
  return { spi, algorithm: o.algorithm as AlgorithmName, encKey: hex('encKey'), authKey: hex('authKey'), esn };
}
