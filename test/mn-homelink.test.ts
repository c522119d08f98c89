// The MN's home-address guard (mn/homelink.ts guardRuleset) on a real kernel: two namespaces on a
// veth, the "MN" holding the HoA and the IPv4 HoA, a peer holding the HA address and another one.
// While guarded the MN's kernel answers no Neighbor Solicitation for the HoA (except the HA's) and
// no ARP request for the IPv4 HoA, so a ping from the other address fails; the HA's NS still
// passes (it must resolve the MN to deliver the deregistration BA). Unguarded, both work again.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GUARD_TABLE, guardRuleset } from '../mn/homelink.js';
import { runNft } from '../tunnel/nft.js';
import { Testbed } from '../testbed/index.js';

const NATIVE = process.getuid?.() === 0 && spawnSync('ip', ['netns', 'list'], { stdio: 'ignore' }).status === 0;
const HOA = 'fd00:7::100';
const HA = 'fd00:7::1';
const OTHER = 'fd00:7::50';
const HOA4 = '10.77.0.100';
const OTHER4 = '10.77.0.50';

describe.skipIf(!NATIVE)('home-address guard (nftables, root)', () => {
  let tb: Testbed;
  let mnNs = '';
  const guard = (ifnames: string[]) => runNft({ ifname: 'g0', netns: mnNs }, 'guard', ['-f', '-'], guardRuleset({ hoa: HOA, hoa4: HOA4, ha: HA }, ifnames));
  const ping = async (argv: string[]) => (await tb.exec('g-peer', ['ping', '-c', '1', '-W', '1', ...argv])).code;
  const flush = async () => {
    await tb.exec('g-peer', ['ip', '-6', 'neigh', 'flush', 'dev', 'p0']);
    await tb.exec('g-peer', ['ip', '-4', 'neigh', 'flush', 'dev', 'p0']);
  };

  beforeAll(async () => {
    tb = await Testbed.create(
      {
        hosts: [{ name: 'g-mn' }, { name: 'g-peer' }],
        links: [
          {
            a: { host: 'g-mn', ifname: 'g0', addresses: [`${HOA}/64`, `${HOA4}/24`] },
            b: { host: 'g-peer', ifname: 'p0', addresses: [`${HA}/64`, `${OTHER}/64`, `${OTHER4}/24`] },
          },
        ],
      },
      { prefix: 'd6hg' },
    );
    mnNs = `/run/netns/${tb.nsName('g-mn')}`;
  });
  afterAll(async () => {
    await tb?.destroy();
  });

  it('the ruleset names only its own table, one chain per interface; none deletes it', () => {
    const text = guardRuleset({ hoa: HOA, hoa4: HOA4, ha: HA }, ['g0', 'eth1']);
    expect(text).toContain(`table netdev ${GUARD_TABLE} {`);
    expect(text.match(/hook ingress device/g)).toHaveLength(2);
    expect(text).toContain('0xfd000007000000000000000000000100'); // the HoA as the NS target
    expect(guardRuleset({ hoa: HOA, ha: HA }, [])).not.toContain('chain');
    expect(() => guardRuleset({ hoa: HOA, ha: HA }, ['bad"if'])).toThrow(RangeError);
  });

  it('guarded: no answer for the HoA to anyone but the HA; unguarded: answers again', async () => {
    guard(['g0']);
    guard(['g0']); // idempotent
    await flush();
    expect(await ping(['-6', '-I', OTHER, HOA]), 'NS from another address must go unanswered').not.toBe(0);
    expect(await ping(['-4', '-I', OTHER4, HOA4]), 'ARP for the IPv4 HoA must go unanswered').not.toBe(0);
    await flush();
    expect(await ping(['-6', '-I', HA, HOA]), 'the HA still resolves the MN').toBe(0);
    const listing = (await tb.exec('g-mn', ['nft', 'list', 'table', 'netdev', GUARD_TABLE], { check: true })).stdout;
    const nsRule = listing.split('\n').find((l) => l.includes('NS for the HoA')) ?? '';
    expect(Number(/counter packets (\d+)/.exec(nsRule)?.[1]), nsRule).toBeGreaterThan(0);

    guard([]);
    await flush();
    expect(await ping(['-6', '-I', OTHER, HOA])).toBe(0);
    expect(await ping(['-4', '-I', OTHER4, HOA4])).toBe(0);
    expect((await tb.exec('g-mn', ['nft', 'list', 'ruleset'], { check: true })).stdout).not.toContain(GUARD_TABLE);
  });
});
