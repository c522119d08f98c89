// MobileNode (mn/node.ts) clamps the MSS of TCP SYNs through the tunnel so that full-size segments
// fit a 1500-octet path once sealed (AES-GCM payload SAs of mn.example.json) and tunnelled: 1374-octet
// inner packets behind the NAT (UDP 4191), 1402 on an IPv6 CoA (worked out in tunnel-mss.test.ts).
// Both directions: the MN's own SYN(-ACK) towards the CN, and the CN's SYN before it reaches the
// MN's applications. Over the in-memory fakes of e2e-fake.test.ts.
import { describe, expect, it } from 'vitest';
import { ip6ToBytes } from '../common/addr.js';
import { finish, ipv6PseudoSum, sumWords } from '../common/checksum.js';
import { until } from './support/until.js';
import { CN6, COA4, COA6, HOA, harness } from './support/e2e-harness.js';

/** An IPv6 TCP SYN (flags 0x02) or SYN-ACK (0x12) with one MSS option, checksum filled in. */
function syn(src: string, dst: string, mss: number, flags = 0x02): Uint8Array {
  const p = new Uint8Array(40 + 24);
  p[0] = 0x60;
  p[5] = 24;
  p[6] = 6;
  p[7] = 64;
  p.set(ip6ToBytes(src), 8);
  p.set(ip6ToBytes(dst), 24);
  p.set([0x9c, 0x40, 0x14, 0x51, 0, 0, 0, 1, 0, 0, 0, 0, 0x60, flags, 0xff, 0xff, 0, 0, 0, 0, 2, 4, mss >> 8, mss & 0xff], 40);
  const c = finish(sumWords(p, 40, 24, ipv6PseudoSum(p.subarray(8, 24), p.subarray(24, 40), 24, 6)));
  p[56] = c >> 8;
  p[57] = c & 0xff;
  return p;
}
const mssOf = (p: Uint8Array): number => (p[62] << 8) | p[63];
const checksumOk = (p: Uint8Array): boolean => finish(sumWords(p, 40, p.length - 40, ipv6PseudoSum(p.subarray(8, 24), p.subarray(24, 40), p.length - 40, 6))) === 0;

describe('MobileNode: TCP MSS clamping', () => {
  it('behind the NAT: SYNs both ways get MSS 1314 (1374-octet inner packets), checksums right', async () => {
    const h = harness();
    h.mn.moveTo(COA4);
    h.mn.start();
    await h.registered(COA4);
    const c0 = h.atCn.length;
    h.apps.write([syn(HOA, CN6, 1340, 0x12)]);
    await until(() => h.atCn.length > c0, 2000, 'SYN-ACK at the CN');
    expect(mssOf(h.atCn[c0])).toBe(1314);
    expect(checksumOk(h.atCn[c0])).toBe(true);
    const a0 = h.atApps.length;
    h.cn.write([syn(CN6, HOA, 1440)]);
    await until(() => h.atApps.length > a0, 2000, 'SYN at the MN');
    expect(mssOf(h.atApps[a0])).toBe(1314);
    expect(checksumOk(h.atApps[a0])).toBe(true);
    expect(h.mn.counters.mssClamped).toBe(2);
    h.close();
  });

  it('on an IPv6 CoA: 1402-octet inner packets, so MSS 1340 passes unchanged and 1440 becomes 1342', async () => {
    const h = harness();
    h.mn.moveTo(COA6);
    h.mn.start();
    await h.registered(COA6);
    const c0 = h.atCn.length;
    h.apps.write([syn(HOA, CN6, 1340, 0x12), syn(HOA, CN6, 1440)]);
    await until(() => h.atCn.length > c0 + 1, 2000, 'two SYNs at the CN');
    expect(h.atCn.slice(c0).map(mssOf)).toEqual([1340, 1342]);
    expect(h.atCn.slice(c0).every(checksumOk)).toBe(true);
    expect(h.mn.counters.mssClamped).toBe(1);
    h.close();
  });
});
