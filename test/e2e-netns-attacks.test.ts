// Hostile Binding Updates through the real stack: `dsmip6 ha` and `dsmip6 mn` in the testbed, the
// MN registered from its IPv6 CoA (v6net0). The test then sends, from the MN's network, BUs that
// must change nothing:
//   - a replay: a BU the MN really sent, captured on ar6's link and sent again byte for byte;
//   - a tampered copy of it (one octet of the ciphertext flipped);
//   - a BU for the other MN's home address (2001:db8:1::200, served by the same HA), protected
//     with this MN's own BU SA and its keys (a valid ICV, a fresh sequence number);
//   - a BU with no ESP at all;
//   - behind valid ESP (this MN's SA and keys, sequence numbers past anything it sent): a BU whose
//     sequence number equals the cache's (BA 135 back, nothing else), a Mobility Header with a bad
//     checksum, and a BU with a truncated option (both dropped as bu-malformed).
// Each time the HA's binding cache (read over its control socket, as `dsmip6 status` does) must be
// the same before and after, no BA may come back, and the drop must be counted under its reason.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IpProto } from '../common/iana.js';
import { encodeIpv6, haoDestOpts } from '../common/ipv6.js';
import { encodeMobilityHeader, mhChecksum, type BindingUpdate } from '../common/mh.js';
import { buFlags } from '../common/mhflags.js';
import { loadMnConfig } from '../config/load.js';
import { mnKeying } from '../config/keying.js';
import type { HaStatus } from '../ha/status.js';
import { IpsecEngine } from '../ipsec/index.js';
import { PROJECT } from '../testbed/index.js';
import { toCareOf } from '../tunnel/mip6.js';
import { openMipPacketIo, type NativeMipPacketIo } from '../tunnel/mipio-native.js';
import { startDaemons, type Daemons } from './support/daemons.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const P = PROJECT;
const MN_CONFIG = 'test/fixtures/e2e-mn.json';
const OTHER_HOA = '2001:db8:1::200'; // the second MN of test/fixtures/e2e-ha.json
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!isRoot)('hostile BUs through the real stack leave the binding cache alone (root)', () => {
  let d: Daemons | undefined;
  /** Taps on ar6 (a tap sees what arrives): the MN's BUs on its MN-facing link (HAO), the HA's BAs on its upstream link (RH2). */
  const watches: NativeMipPacketIo[] = [];
  /** In the MN's namespace: a raw IPv6 socket to send whole packets from the CoA. */
  let inject: NativeMipPacketIo | undefined;
  const seen: Buffer[] = [];
  const cfg = loadMnConfig(MN_CONFIG);
  const buSpi = cfg.keys.bu.out.spi;
  const baSpi = cfg.keys.bu.in.spi;

  const espSpiAfterHao = (p: Buffer): number | undefined => (p[6] === IpProto.DSTOPTS && p[40] === IpProto.ESP ? p.readUInt32BE(40 + 8 * (p[41] + 1)) : undefined);
  const espSpiAfterRh2 = (p: Buffer): number | undefined => (p[6] === IpProto.ROUTING && p[40] === IpProto.ESP ? p.readUInt32BE(40 + 8 * (p[41] + 1)) : undefined);
  const bas = () => seen.filter((p) => espSpiAfterRh2(p) === baSpi).length;

  async function status(): Promise<HaStatus> {
    return (await d!.status('ha')) as HaStatus;
  }
  /** The cache as it must stay: everything but the seconds left, which run down on their own. */
  const cacheOf = (s: HaStatus) => s.bindings.map(({ lifetimeRemainingS: _left, ...b }) => b);

  /** Sends `packet` from the MN's network and checks that nothing changed and `reason` was counted. */
  async function expectRejected(packet: Uint8Array, reason: string): Promise<void> {
    const before = await status();
    const basBefore = bas();
    expect(inject!.send([packet])).toBe(1);
    await d!.waitFor(`the HA to count '${reason}'`, async () => ((await status()).counters.drops[reason] ?? 0) > (before.counters.drops[reason] ?? 0), 5000);
    await sleep(300); // a BA, if one were sent, would be back by now
    const after = await status();
    expect(cacheOf(after)).toEqual(cacheOf(before));
    expect(after.bindings.map((b) => b.hoa)).not.toContain(OTHER_HOA);
    expect(after.counters.buReceived, 'the BU must not reach registration').toBe(before.counters.buReceived);
    expect(bas(), 'no BA may answer it').toBe(basBefore);
  }

  beforeAll(async () => {
    d = await startDaemons({
      mnStartIface: P.mn.ifaces.v6net,
      beforeMn: async (tb) => {
        for (const ifname of [P.ar6.lanIf, P.ar6.upIf]) {
          const w = openMipPacketIo({ ifname, netns: `/run/netns/${tb.nsName('ar6')}` });
          w.onBatch((ps) => ps.forEach((p) => seen.push(Buffer.from(p))));
          watches.push(w);
        }
      },
    });
    inject = openMipPacketIo({ ifname: P.mn.ifaces.v6net, netns: `/run/netns/${d.tb.nsName('mn')}` });
    await d.waitForLog('ha', `binding created: ${P.mn.hoa6} -> ${P.mn.coa6}`);
    await d.waitFor('the BA on ar6', () => bas() > 0);
  });

  afterAll(async () => {
    for (const w of watches) w.close();
    inject?.close();
    await d?.destroy();
  });

  it('the MN is registered and its BU was seen on the wire', async () => {
    const s = await status();
    expect(s.bindings.map((b) => [b.hoa, b.coa])).toEqual([[P.mn.hoa6, P.mn.coa6]]);
    expect(seen.some((p) => espSpiAfterHao(p) === buSpi)).toBe(true);
  });

  it('a replayed BU (the same bytes again) is dropped as a replay', async () => {
    const bu = seen.find((p) => espSpiAfterHao(p) === buSpi)!;
    await expectRejected(bu, 'ipsec-in:replay');
  });

  it('a tampered BU (a fresh sequence number, one ciphertext octet flipped) fails the ICV', async () => {
    // A duplicate sequence number is refused as a replay before the ICV is even computed (RFC 4303
    // §3.4.3), so the tampered copy also gets a sequence number the HA has not seen.
    const bu = Buffer.from(seen.find((p) => espSpiAfterHao(p) === buSpi)!);
    const esp = 40 + 8 * (bu[41] + 1);
    bu.writeUInt32BE(bu.readUInt32BE(esp + 4) + 1000, esp + 4);
    bu[bu.length - 20] ^= 0x01; // inside the ciphertext, before the 16-octet ICV
    await expectRejected(bu, 'ipsec-in:icv-mismatch');
  });

  it("a BU for another MN's home address under this MN's SA fails the SA's selectors", async () => {
    // This MN's own BU SA and keys, with a sequence number far past anything it sent, and a policy
    // that sends BUs from the other HoA through it: the ICV is good, the selectors are not.
    const engine = new IpsecEngine();
    const mine = mnKeying(cfg).sas.find((s) => s.spi === buSpi)!;
    engine.addSA({ ...mine, seq: 1_000_000 });
    engine.addPolicy({ direction: 'outbound', selector: { local: OTHER_HOA, remote: cfg.haAddress, proto: IpProto.MH }, action: { protect: { spi: buSpi } } });
    const bu: BindingUpdate = { kind: 'BU', sequence: 7, flags: buFlags({ A: true, H: true }), lifetime: 100, options: [] };
    const pseudo = { src: OTHER_HOA, dst: cfg.haAddress };
    const sealed = engine.outbound(encodeIpv6({ header: pseudo, upperProtocol: IpProto.MH, upper: encodeMobilityHeader(bu, pseudo) }));
    if (!sealed.ok) throw new Error(`could not seal: ${sealed.reason}`);
    const t = toCareOf(sealed.packet, P.mn.coa6);
    if (!t.ok || t.via !== 'ipv6') throw new Error('could not add the HAO');
    await expectRejected(t.packet, 'ipsec-in:policy-mismatch');
  });

  it('a BU without ESP is refused by the security policy', async () => {
    const s = await status();
    const seq = (s.bindings[0].sequence + 1) & 0xffff; // newer than the cache's: only IPsec can stop it
    const bu: BindingUpdate = { kind: 'BU', sequence: seq, flags: buFlags({ A: true, H: true }), lifetime: 100, options: [] };
    const pseudo = { src: P.mn.hoa6, dst: cfg.haAddress };
    const plain = encodeIpv6({
      header: { src: P.mn.coa6, dst: cfg.haAddress },
      extensions: [haoDestOpts(P.mn.hoa6)],
      upperProtocol: IpProto.MH,
      upper: encodeMobilityHeader(bu, pseudo),
    });
    await expectRejected(plain, 'ipsec-in:esp-required');
  });
  describe('behind valid ESP (this MN\'s keys)', () => {
    /** One engine with this MN's BU SA far past its own sequence numbers (and past the HoA-theft test's 1 000 000). */
    let sealer: IpsecEngine | undefined;
    function seal(mh: Uint8Array): Uint8Array {
      if (!sealer) {
        sealer = new IpsecEngine();
        const mine = mnKeying(cfg).sas.find((s) => s.spi === buSpi)!;
        sealer.addSA({ ...mine, seq: 2_000_000 });
        sealer.addPolicy({ direction: 'outbound', selector: { local: P.mn.hoa6, remote: cfg.haAddress, proto: IpProto.MH }, action: { protect: { spi: buSpi } } });
      }
      const sealed = sealer.outbound(encodeIpv6({ header: { src: P.mn.hoa6, dst: cfg.haAddress }, upperProtocol: IpProto.MH, upper: mh }));
      if (!sealed.ok) throw new Error(`could not seal: ${sealed.reason}`);
      const t = toCareOf(sealed.packet, P.mn.coa6);
      if (!t.ok || t.via !== 'ipv6') throw new Error('could not add the HAO');
      return t.packet;
    }
    const pseudo = () => ({ src: P.mn.hoa6, dst: cfg.haAddress });

    it('a BU with the sequence number the cache holds is answered 135 and changes nothing', async () => {
      const before = await status();
      const seq = before.bindings[0].sequence;
      const basBefore = bas();
      const bu: BindingUpdate = { kind: 'BU', sequence: seq, flags: buFlags({ A: true, H: true }), lifetime: 100, options: [] };
      expect(inject!.send([seal(encodeMobilityHeader(bu, pseudo()))])).toBe(1);
      await d!.waitFor('the HA to answer 135', async () => ((await status()).counters.buRejected[135] ?? 0) > (before.counters.buRejected[135] ?? 0), 5000);
      await d!.waitFor('the 135 BA on the wire', () => bas() > basBefore, 5000);
      const after = await status();
      expect(cacheOf(after)).toEqual(cacheOf(before));
      expect(after.counters.buAccepted).toBe(before.counters.buAccepted);
    });

    it('a Mobility Header with a bad checksum is dropped as bu-malformed', async () => {
      const bu: BindingUpdate = { kind: 'BU', sequence: ((await status()).bindings[0].sequence + 10) & 0xffff, flags: buFlags({ A: true, H: true }), lifetime: 100, options: [] };
      const mh = Uint8Array.from(encodeMobilityHeader(bu, pseudo()));
      mh[4] ^= 0x5a;
      await expectRejected(seal(mh), 'bu-malformed');
    });

    it('a BU with a truncated option (Alternate CoA, length 16, 10 octets left) is dropped as bu-malformed', async () => {
      const seq = ((await status()).bindings[0].sequence + 20) & 0xffff;
      const mh = new Uint8Array(24);
      mh.set([IpProto.NONE, 2, 5, 0, 0, 0, seq >> 8, seq & 0xff, 0xa0, 0, 0, 25, 3, 16, 0x20, 0x01, 0x0d, 0xb8]);
      const c = mhChecksum(mh, P.mn.hoa6, cfg.haAddress);
      mh[4] = c >> 8;
      mh[5] = c & 0xff;
      await expectRejected(seal(mh), 'bu-malformed');
    });
  });
});
