// Runs tshark over a pcap with ESP decryption and DSMIPv6's UDP 4191 decoded as IPv6, and
// returns each packet's fields flattened to name -> values. tshark is the independent judge.
import { execFile, execFileSync } from 'node:child_process';

export type Fields = Map<string, string[]>;

/**
 * Like tsharkFields, without blocking the event loop (a test's child processes keep running), and
 * with the ESP options given whole (config/wireshark.ts tsharkEspArgs) plus any `extraArgs`.
 */
export function tsharkFieldsAsync(pcapPath: string, espArgs: readonly string[] = [], extraArgs: readonly string[] = []): Promise<Fields[]> {
  const args = ['-r', pcapPath, '-T', 'json', '--no-duplicate-keys', '-d', 'udp.port==4191,ipv6', ...espArgs, ...extraArgs];
  return new Promise((resolve, reject) => {
    execFile('tshark', args, { encoding: 'utf8', maxBuffer: 512 << 20 }, (err, out, stderr) => {
      if (err) return reject(new Error(`tshark ${args.join(' ')}: ${err.message}\n${stderr}`));
      try {
        const packets = JSON.parse(out) as { _source: { layers: unknown } }[];
        resolve(packets.map((p) => flatten(p._source.layers, new Map())));
      } catch (e) {
        reject(new Error(`tshark ${pcapPath}: output is not JSON: ${(e as Error).message}`));
      }
    });
  });
}

/** `-o uat:esp_sa:` records (Wireshark's esp_sa format) enable ESP decryption and ICV checks. */
export function tsharkFields(pcapPath: string, espSa: readonly string[] = []): Fields[] {
  const args = ['-r', pcapPath, '-T', 'json', '--no-duplicate-keys', '-d', 'udp.port==4191,ipv6'];
  if (espSa.length) {
    args.push('-o', 'esp.enable_encryption_decode:TRUE', '-o', 'esp.enable_authentication_check:TRUE');
    for (const sa of espSa) args.push('-o', `uat:esp_sa:${sa}`);
  }
  const out = execFileSync('tshark', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 512 << 20 });
  const packets = JSON.parse(out) as { _source: { layers: unknown } }[];
  return packets.map((p) => flatten(p._source.layers, new Map()));
}

function flatten(o: unknown, acc: Fields): Fields {
  if (Array.isArray(o)) {
    for (const x of o) flatten(x, acc);
  } else if (o !== null && typeof o === 'object') {
    for (const [k, v] of Object.entries(o)) {
      const values = acc.get(k) ?? [];
      acc.set(k, values);
      if (typeof v === 'string') values.push(v);
      else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) values.push(...(v as string[]));
      else flatten(v, acc);
    }
  }
  return acc;
}

/** Expert infos of severity warning or error, and malformed-packet markers, as readable text. */
export function problems(f: Fields): string[] {
  const out: string[] = [];
  for (const [k, v] of f) if (k.startsWith('_ws.malformed')) out.push(`${k} ${v.join(' ')}`);
  const sev = f.get('_ws.expert.severity') ?? [];
  const msg = f.get('_ws.expert.message') ?? [];
  sev.forEach((s, i) => {
    // 6291456 = PI_WARN, 8388608 = PI_ERROR (epan/proto.h); notes and chats are not problems.
    if (Number(s) >= 6291456) out.push(`expert ${s}: ${msg[i] ?? ''}`);
  });
  return out;
}
