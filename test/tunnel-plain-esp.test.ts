// plainEspDevice (tunnel/plain-esp.ts) over the fake MipPacketIo pair: whole plain-ESP packets
// both ways when receiving, send-only when the caller reads the MipPacketIo itself, nothing after
// close(). The fake applies the same filter as the kernel tap (isMipPacket), so a packet that is
// not plain ESP (nor HAO / RH2) never arrives.
import { describe, expect, it } from 'vitest';
import { encodeIpv6 } from '../common/ipv6.js';
import { fakeMipPacketIoPair } from '../tunnel/fake-mipio.js';
import { plainEspDevice } from '../tunnel/plain-esp.js';

const esp = (seq: number): Uint8Array => {
  const body = new Uint8Array(24);
  new DataView(body.buffer).setUint32(0, 0x1001);
  new DataView(body.buffer).setUint32(4, seq);
  return Uint8Array.from(encodeIpv6({ header: { src: '2001:db8:1::100', dst: '2001:db8:1::1' }, upperProtocol: 50, upper: body }));
};
const tick = () => new Promise((r) => setTimeout(r, 20));

describe('plainEspDevice', () => {
  it('receive: true carries plain ESP both ways, and other packets are not delivered', async () => {
    const [a, b] = fakeMipPacketIoPair();
    const da = plainEspDevice(a, { receive: true });
    const got: Uint8Array[] = [];
    da.onBatch((ps) => got.push(...ps.map((p) => Uint8Array.from(p))));
    expect(b.send([esp(1), esp(2)])).toBe(2);
    const udp = encodeIpv6({ header: { src: '2001:db8:1::100', dst: '2001:db8:1::1' }, upperProtocol: 17, upper: new Uint8Array(8) });
    b.send([udp]);
    await tick();
    expect(got).toEqual([esp(1), esp(2)]);
    const back: Uint8Array[] = [];
    b.onBatch((ps) => back.push(...ps.map((p) => Uint8Array.from(p))));
    expect(da.write([esp(3)])).toBe(1);
    await tick();
    expect(back).toEqual([esp(3)]);
    da.close();
    expect(da.write([esp(4)])).toBe(0);
  });

  it('receive: false never takes the MipPacketIo handler from its owner', async () => {
    const [a, b] = fakeMipPacketIoPair();
    const owner: Uint8Array[] = [];
    a.onBatch((ps) => owner.push(...ps));
    const d = plainEspDevice(a, { receive: false });
    d.onBatch(() => {
      throw new Error('must not be called');
    });
    b.send([esp(1)]);
    await tick();
    expect(owner).toHaveLength(1);
    d.close();
    b.send([esp(2)]);
    await tick();
    expect(owner).toHaveLength(2); // closing the send-only view left the owner's handler alone
  });
});
