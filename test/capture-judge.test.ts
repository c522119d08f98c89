// The capture judge and the Wireshark keys of config/wireshark.ts, on the committed sample capture
// (test/fixtures/dsmip6-sample.pcap, keys in dsmip6-sample.sa.json): with the right keys tshark
// decrypts and every check passes where it should; with a wrong key the judge reports bad ICVs,
// and the checks do fail on packets that break their rule. The esp_sa file works as a profile's.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadMnConfig } from '../config/load.js';
import { espSaUatFile, espSaUatRecord, mnWiresharkEspSas } from '../config/wireshark.js';
import type { SaKeys } from '../config/schema.js';
import { checkEspGood, checkIpv4CoaBus, checkIpv6CoaSignalling, checkNatDetection, checkNoErrors, judgeCaptures, MH_BA, MH_BU } from './support/capture-judge.js';
import { tempDir } from './support/tools.js';

const PCAP = 'test/fixtures/dsmip6-sample.pcap';
const SAMPLE = JSON.parse(readFileSync('test/fixtures/dsmip6-sample.sa.json', 'utf8')) as SaKeys[];
const COA6 = '2001:db8:6::100';
const tmp = tempDir('dsmip6-judge-');
afterAll(() => tmp.cleanup());

/** The sample's SAs as an MN config: BU 0x1001, BA 0x1002, and its two HA->CoA tunnel SAs as payload in (0x1003) and out (0x1004). */
function sampleConfig(over: { buOutKey?: string } = {}) {
  const [bu, ba, t1, t2] = SAMPLE;
  return loadMnConfig({
    hoa: '2001:db8:1::100',
    haAddress: '2001:db8:1::1',
    keys: { bu: { out: { ...bu, ...(over.buOutKey ? { encKey: over.buOutKey } : {}) }, in: ba }, payload: { out: t2, in: t1 } },
  });
}

const run = (sas = mnWiresharkEspSas(sampleConfig())) => judgeCaptures([{ file: PCAP, link: 'sample' }], sas);

describe('Wireshark esp_sa records from an MN config', () => {
  it('gives the four SAs, HA side pinned, MN side "*"', () => {
    const sas = mnWiresharkEspSas(loadMnConfig('test/fixtures/e2e-mn.json'));
    expect(sas.map(espSaUatRecord)).toEqual([
      '"IPv6","*","2001:db8:1::1","0x00001001","AES-CBC [RFC3602]","0x1f262d343b424950575e656c737a8188","HMAC-SHA-256-128 [RFC4868]","0x3e454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb02091017"',
      '"IPv6","2001:db8:1::1","*","0x00001002","AES-CBC [RFC3602]","0x3e454c535a61686f767d848b9299a0a7","HMAC-SHA-256-128 [RFC4868]","0x5d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f36"',
      '"IPv6","*","2001:db8:1::1","0x00001003","AES-GCM with 16 octet ICV [RFC4106]","0x5d646b727980878e959ca3aab1b8bfc6cdd4dbe2","NULL",""',
      '"IPv6","2001:db8:1::1","*","0x00001004","AES-GCM with 16 octet ICV [RFC4106]","0x7c838a91989fa6adb4bbc2c9d0d7dee5ecf3fa01","NULL",""',
    ]);
    expect(sas.map((s) => s.role)).toEqual(['bu', 'ba', 'payload-to-ha', 'payload-to-mn']);
  });

  it('the esp_sa file decrypts when it is a profile\'s (no -o uat: given)', () => {
    const home = join(tmp.dir, 'home');
    mkdirSync(join(home, '.config', 'wireshark'), { recursive: true });
    writeFileSync(join(home, '.config', 'wireshark', 'esp_sa'), espSaUatFile(mnWiresharkEspSas(sampleConfig())));
    const out = execFileSync(
      'tshark',
      ['-r', PCAP, '-d', 'udp.port==4191,ipv6', '-o', 'esp.enable_encryption_decode:TRUE', '-o', 'esp.enable_authentication_check:TRUE', '-T', 'fields', '-e', 'esp.spi', '-e', 'esp.icv_good', '-Y', 'esp'],
      { encoding: 'utf8', env: { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, '.config') }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const good = out.trim().split('\n').filter((l) => l.endsWith('\t1')).map((l) => l.split('\t')[0]);
    expect(good).toEqual(['0x00001001', '0x00001002', '0x00001003', '0x00001001']);
  });
});

describe('capture judge on the sample capture', () => {
  it('right keys: decrypted, ICVs good, MH inside ESP seen; the pinned HA side really is matched', async () => {
    const facts = await run();
    expect(facts.length).toBe(13);
    expect(checkNoErrors(facts)).toEqual([]);
    const esp = facts.filter((p) => p.esp.length);
    expect(esp.map((p) => p.esp[0].icv)).toEqual(['good', 'good', 'good', 'unchecked', 'good']);
    // 0x1004 is configured as payload to the HA (dst pinned to it), but the sample sends it from the
    // HA: no record matches, so tshark must not have used the key.
    expect(checkEspGood(facts)).toEqual(['sample #12 (raw:ipv6:esp 2001:db8:1::1 > 2001:db8:6::100): ESP spi 0x1004 icv unchecked, not decrypted']);
    const bu = facts.find((p) => p.mhType === MH_BU && p.hao)!;
    expect(bu).toMatchObject({ outerSrc: COA6, ipVersions: [6], afterEsp: ['mipv6'] });
    const ba = facts.find((p) => p.mhType === MH_BA && p.rh2)!;
    expect(ba).toMatchObject({ outerDst: COA6, esp: [{ spi: 0x1002, icv: 'good', decrypted: true }] });
    const udp = facts.find((p) => p.udp4191)!;
    expect(udp).toMatchObject({ ipVersions: [4, 6], mhType: MH_BU, ipv4CoaAddr: '198.51.100.7', udp: { src: 40000, dst: 4191 } });
    expect(udp.mhOptions).toContain('ipv4coa');
    const data = facts.find((p) => p.esp[0]?.spi === 0x1003)!;
    expect(data.afterEsp.slice(0, 2)).toEqual(['ipv6', 'udp']);
    expect(checkIpv6CoaSignalling(facts, COA6)).toEqual([]);
    expect(checkIpv4CoaBus(facts)).toEqual([]);
  });

  it('a wrong key yields bad ICVs, and the checks name packets that break their rule', async () => {
    const facts = await run(mnWiresharkEspSas(sampleConfig({ buOutKey: '00'.repeat(20) })));
    const bad = checkEspGood(facts);
    expect(bad.filter((v) => /spi 0x1001 icv bad/.test(v)).length).toBe(2);
    // The sample's cleartext BA carries NAT Detection though it goes to no NAT.
    expect(checkNatDetection(facts, [])).toEqual([expect.stringMatching(/#8 .*BA not behind a NAT with the NAT Detection option/)]);
    // Judged as if the HoA were a CoA: the cleartext BU from it has no HAO, the BA to it no RH2.
    expect(checkIpv6CoaSignalling(facts, '2001:db8:1::100')).toEqual([
      expect.stringMatching(/#7 .*BU from the IPv6 CoA without a Home Address option/),
      expect.stringMatching(/#8 .*BA to the IPv6 CoA without a type 2 routing header/),
    ]);
    // Undecrypted, the UDP BU is no BU to the judge (so the e2e test counts BUs too); decrypted, as if
    // it had lost its IPv4 CoA option.
    expect(facts.find((p) => p.udp4191)?.mhType).toBeUndefined();
    const stripped = (await run()).map((p) => (p.udp4191 ? { ...p, mhOptions: [] } : p));
    expect(checkIpv4CoaBus(stripped)).toEqual([expect.stringMatching(/#13 .*without the IPv4 Care-of Address option/)]);
  });
});
