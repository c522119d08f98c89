// tshark as the independent judge of our wire format: packets built only by our encoders
// and ipsec/ (every MH type, each DSMIPv6 option, ESP-GCM and ESP-CBC in transport and
// tunnel mode, HAO, RH2, a BU in UDP 4191) are dissected by Wireshark's dissectors with
// ESP decryption from our keys; every expected field must have the expected value, every
// ICV must verify, and nothing may be malformed. Our own `dsmip6 decode` must agree.
import { afterAll, describe, expect, it } from 'vitest';
import { writePcap } from '../common/pcap.js';
import { dissect } from '../common/dissect.js';
import { buildSamplePackets, sampleOpener, wiresharkEspSa } from './support/sample.js';
import { tsharkFields, problems } from './support/tshark.js';
import { tempDir, writeTemp } from './support/tools.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const packets = buildSamplePackets();
const pcap = writeTemp(tmp.dir, 'sample.pcap', writePcap(packets.map((p) => ({ data: p.data }))));
const judged = tsharkFields(pcap, wiresharkEspSa());

describe('tshark judges our packets', () => {
  it('sees every packet', () => {
    expect(judged.length).toBe(packets.length);
  });

  packets.forEach((p, i) => {
    it(`${p.name}: fields as built, nothing malformed`, () => {
      const f = judged[i];
      for (const [field, want] of Object.entries(p.expect)) {
        const got = f.get(field);
        expect(got, `${p.name}: tshark has no ${field}`).toBeDefined();
        if (Array.isArray(want)) expect(got).toEqual(want);
        else expect(got, `${p.name}: ${field}`).toContain(want);
      }
      expect(problems(f)).toEqual([]);
      if (f.has('esp.spi')) {
        expect(f.get('esp.decrypted_data')?.length, `${p.name}: tshark did not decrypt`).toBe(1);
        expect(f.get('esp.icv_good')).toEqual(['1']);
      }
    });
  });

  it('covers every RFC 6275 MH type and each DSMIPv6 option', () => {
    const all = (name: string) => judged.flatMap((f) => f.get(name) ?? []);
    expect(new Set(all('mip6.mhtype'))).toEqual(new Set(['0', '1', '2', '3', '4', '5', '6', '7']));
    for (const opt of ['mip6.ipv4ha.preflen', 'mip6.ipv4aa.sts', 'mip6.natd.refresh_t', 'mip6.ipv4coa.addr', 'mip6.bi.bid']) {
      expect(all(opt).length, opt).toBeGreaterThan(0);
    }
  });

  it('our own dissector decodes and decrypts the same capture without error', () => {
    const opener = sampleOpener();
    for (const p of packets) {
      const d = dissect(p.data, undefined, opener);
      expect(d.error, p.name).toBeUndefined();
      const summaries = d.layers.map((l) => l.summary).join('\n');
      expect(summaries, p.name).not.toMatch(/BAD|no key/);
    }
  });
});
