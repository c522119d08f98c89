// `dsmip6 decode`: prints the layers of packets given as hex or in a pcap file, as text or
// JSON, opening ESP with keys given on the command line. Reads files; never writes any.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { fromHex } from '../common/bytes.js';
import { dissect, type Dissection, type EspOpener } from '../common/dissect.js';
import { LinkType, readPcap } from '../common/pcap.js';
import { parseEspKeys, type EspKey } from './esp-keys.js';
import { openEsp } from '../ipsec/index.js';

export function registerDecode(program: Command): void {
  program
    .command('decode')
    .summary('show the layers of packets (hex or pcap), decrypting ESP with given keys')
    .description(
      // One string per paragraph: commander wraps to the terminal, so a hard line break mid-sentence would show.
      'Prints each packet layer by layer: IPv4, UDP (port 4191 carries a whole IP packet, RFC 5555), IPv6 with its ' +
        'extension headers (Home Address option, type 2 routing header), ESP, and the Mobility Header with its ' +
        'options, verifying checksums. A decoding error is printed as the last layer with the octet it occurred at.\n\n' +
        'Packets are raw IPv4 or IPv6 (hex arguments) or the records of a classic pcap file (raw IP, Ethernet or ' +
        'Linux cooked). Exit status: 0 when every packet decoded, 2 when any had an error, 1 on bad usage or files.',
    )
    .argument('[hex...]', 'packets as hex (white space and ":" ignored)')
    .option('--pcap <file>', 'read packets from a classic pcap file')
    .option('--json', 'print one JSON object per packet instead of text')
    .option(
      '--sa <spec>',
      'an ESP key to decrypt with, repeatable: "spi=0x1000,alg=aes-gcm-16,enc=0x<key+salt>" or ' +
        '"spi=...,alg=aes-cbc-hmac-sha256-128,enc=0x..,auth=0x..[,esn=1]", or a JSON file holding a list of ' +
        '{spi, algorithm, encKey, authKey, esn}',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  dsmip6 decode 6000000000088740200...\n' +
        '  dsmip6 decode --pcap capture.pcap --sa keys.json --json',
    )
    .action((hex: string[], opts: { pcap?: string; json?: boolean; sa: string[] }) => {
      const packets: { data: Uint8Array; linkType: number; label: string }[] = [];
      hex.forEach((h, i) => {
        try {
          packets.push({ data: fromHex(h), linkType: LinkType.RAW, label: `#${i + 1}` });
        } catch (e) {
          throw new Error(`argument ${i + 1}: ${(e as Error).message}`);
        }
      });
      if (opts.pcap) {
        const file = readFileSync(opts.pcap);
        readPcap(file).forEach((r, i) => packets.push({ data: r.data, linkType: r.linkType, label: `#${i + 1}` }));
      }
      if (packets.length === 0) throw new Error('no packets: give hex arguments or --pcap FILE (see --help)');
      const keys = opts.sa.flatMap((s) => parseEspKeys(s));
      const opener = keys.length ? makeOpener(keys) : undefined;
      let failed = 0;
      for (const p of packets) {
        const d = dissect(p.data, p.linkType, opener);
        if (d.error) failed++;
        process.stdout.write(opts.json ? JSON.stringify({ packet: p.label, ...d }) + '\n' : formatText(p.label, p.data.length, d));
      }
      if (failed) process.exitCode = 2;
    });
}

function makeOpener(keys: EspKey[]): EspOpener {
  const bySpi = new Map(keys.map((k) => [k.spi, k]));
  return (esp) => {
    const spi = ((esp[0] << 24) >>> 0) + ((esp[1] << 16) | (esp[2] << 8) | esp[3]);
    const key = bySpi.get(spi);
    if (!key) return undefined;
    const r = openEsp(key, esp);
    return 'error' in r ? r : { ...r, sa: key.algorithm };
  };
}

export function formatText(label: string, length: number, d: Dissection): string {
  const lines = [`packet ${label} (${length} octets)`];
  for (const l of d.layers) lines.push(`  ${l.summary}`);
  if (d.error) lines.push(`  ! ${d.error.kind}: ${d.error.message}`);
  return lines.join('\n') + '\n';
}
