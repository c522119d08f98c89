// pcap reader/writer, judged by Wireshark's own tools: text2pcap writes files we read,
// capinfos and tshark read files we write.
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { LinkType, PcapError, readPcap, writePcap } from '../common/pcap.js';
import { fromHex } from '../common/bytes.js';
import { hexdump, run, tempDir, writeTemp } from './support/tools.js';

// Scapy inet6.uts "MIP6MH_BRR" (digest §9 V5): an IPv6 packet carrying a Binding Refresh Request.
const BRR = fromHex(
  '6000000000088740 20010db8000000000000000000000001 20010db8000000000000000000000002 3b00000068fb0000',
);

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('pcap', () => {
  it('reads a file written by text2pcap (raw IPv6 link type)', () => {
    const hex = writeTemp(tmp.dir, 'brr.txt', hexdump(BRR) + hexdump(BRR));
    const file = `${tmp.dir}/brr.pcap`;
    // -F pcap: classic pcap; -l 101: LINKTYPE_RAW; the dump holds two copies, one packet.
    run('text2pcap', ['-q', '-F', 'pcap', '-l', '101', hex, file]);
    const recs = readPcap(readFileSync(file));
    expect(recs.length).toBeGreaterThanOrEqual(1);
    expect(recs[0].linkType).toBe(LinkType.RAW);
    expect(Buffer.from(recs[0].data.subarray(0, BRR.length))).toEqual(BRR);
  });

  it('writes a file capinfos and tshark read', () => {
    const file = writeTemp(tmp.dir, 'ours.pcap', writePcap([{ data: BRR }, { data: BRR, time: 1.5 }]));
    const info = run('capinfos', ['-c', '-E', '-T', '-m', file]);
    expect(info).toMatch(/,2\s*$/m); // 2 packets
    const types = run('tshark', ['-r', file, '-T', 'fields', '-e', 'mip6.mhtype']);
    expect(types.trim().split('\n')).toEqual(['0', '0']);
  });

  it('rejects pcapng with a hint, and truncated records with PcapError', () => {
    const ng = `${tmp.dir}/brr.pcapng`;
    run('text2pcap', ['-q', '-n', '-l', '101', writeTemp(tmp.dir, 'one.txt', hexdump(BRR)), ng]);
    expect(() => readPcap(readFileSync(ng))).toThrow(/editcap/);
    const ours = writePcap([{ data: BRR }]);
    for (let cut = 1; cut < ours.length; cut++) {
      const partial = ours.subarray(0, cut);
      if (cut === 24) expect(readPcap(partial)).toEqual([]);
      else expect(() => readPcap(partial)).toThrow(PcapError);
    }
  });
});
