// `dsmip6 decode` as a user runs it: the compiled CLI (scripts/test.sh builds first) on
// hex, on the sample capture with its keys, with --json, and with bad input.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { writePcap } from '../common/pcap.js';
import { buildSamplePackets, SAMPLE_SAS } from './support/sample.js';

const CLI = 'dist/cli/main.js';
const PCAP = 'test/fixtures/dsmip6-sample.pcap';
const KEYS = 'test/fixtures/dsmip6-sample.sa.json';

function decode(...args: string[]) {
  const r = spawnSync('node', [CLI, 'decode', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

// Scapy inet6.uts "MIP6MH_BU - build (default values)" (digest §9 V1): IPv6 + HAO + BU.
const V1 = '6000000000283c40 00000000000000000000000000000001 00000000000000000000000000000001 870201020000c910 00000000000000000000000000000000 3b010500ee600000d000000301020000';

describe('dsmip6 decode', () => {
  it('the committed sample capture is what test/support/sample.ts builds', () => {
    const pcap = writePcap(buildSamplePackets().map((p) => ({ data: p.data })));
    const keys = JSON.stringify(SAMPLE_SAS, null, 2) + '\n';
    if (process.env.UPDATE_FIXTURES) {
      writeFileSync(PCAP, pcap);
      writeFileSync(KEYS, keys);
    }
    expect(readFileSync(PCAP).equals(pcap)).toBe(true);
    expect(readFileSync(KEYS, 'utf8')).toBe(keys);
  });

  it('shows a Scapy BU vector layer by layer with its checksum verified', () => {
    const r = decode(V1);
    expect(r.code).toBe(0);
    expect(r.out).toContain('IPv6 ::1 > ::1 next DSTOPTS');
    expect(r.out).toContain('DestOpts PadN(2), HAO ::');
    expect(r.out).toMatch(/MH BU \(Binding Update\) seq 0, flags AHK, lifetime 3 \(12 s\).*checksum ok/);
  });

  it('decrypts the sample capture with its keys', () => {
    const r = decode('--pcap', PCAP, '--sa', KEYS);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/ESP spi 0x00001001 seq 1 decrypted \(aes-gcm-16\), next MH/);
    expect(r.out).toMatch(/ESP spi 0x00001002 seq 1 decrypted \(aes-cbc-hmac-sha256-128\), next MH/);
    expect(r.out).toContain('UDP 40000 > 4191');
    expect(r.out).toContain('IPv4 CoA 198.51.100.7');
    expect(r.out).toContain('NAT Detection F refresh 110 s');
    expect(r.out).not.toMatch(/BAD|no key|!/);
  });

  it('without keys it shows ESP as opaque, and with a wrong key it says the ICV failed', () => {
    expect(decode('--pcap', PCAP).out).toMatch(/ESP spi 0x00001001 seq 1, \d+ octets \(no key\)/);
    const wrong = decode('--pcap', PCAP, '--sa', `spi=0x1001,alg=aes-gcm-16,enc=0x${'00'.repeat(20)}`);
    expect(wrong.out).toMatch(/ESP spi 0x00001001 seq 1: .*(icv|ICV|integrity)/);
  });

  it('--json gives one object per packet with named fields', () => {
    const r = decode('--json', '--pcap', PCAP, '--sa', KEYS);
    const lines = r.out.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.length).toBe(buildSamplePackets().length);
    const bu = lines.find((l) => l.layers.some((x: { layer: string; fields: { type?: string } }) => x.layer === 'MH' && x.fields.type === 'BU'));
    const mh = bu.layers.find((x: { layer: string }) => x.layer === 'MH');
    expect(mh.fields.sequence).toBe(0x1234);
    expect(mh.fields.checksum).toBe('ok');
  });

  it('names the problem in bad input', () => {
    const odd = decode('abc');
    expect(odd.code).toBe(1);
    expect(odd.err).toMatch(/argument 1: not a hex string/);
    const short = decode(V1.replace(/ /g, '').slice(0, 100));
    expect(short.code).toBe(2);
    expect(short.out).toMatch(/TruncatedError: IPv6 payload at octet 40/);
    const badSa = decode('--sa', 'spi=0x1001,alg=rot13,enc=00', V1);
    expect(badSa.code).toBe(1);
    expect(badSa.err).toMatch(/alg must be one of aes-gcm-16/);
    const none = decode();
    expect(none.code).toBe(1);
    expect(none.err).toMatch(/no packets/);
  });

  it('--help describes the options it has', () => {
    const r = spawnSync('node', [CLI, 'decode', '--help'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    for (const opt of ['--pcap <file>', '--json', '--sa <spec>']) expect(r.stdout).toContain(opt);
  });
});
