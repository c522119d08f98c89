// Known-answer tests for the ipsec module: RFC 4231 HMAC-SHA-256, and the ESP vectors
// of scapy's test/scapy/layers/ipsec.uts (V8, V9, V10 of the digest).
//
// Confirmation against the real file (secdev/scapy test/scapy/layers/ipsec.uts, read
// through the code index at commit 09c2f0748a7d8b7e7996bb6e3c2247539fcdd266):
//  - V8 "IPv4 / ESP - Transport - AES-GCM - NULL" (ref packet generated with Linux 4.4,
//    `ip xfrm ... mode tunnel aead 'rfc4106(gcm(aes))' 0x3136...6365 128`): CONFIRMED,
//    bytes below copied from the file.
//  - V9 "IPv4 / ESP - Transport - AES-GCM - NULL -- ESN" (same data, last 16 octets
//    fe4d2283...f694): CONFIRMED, bytes copied from the file. The file itself only asserts
//    that the reference decrypts to something with an ICMP layer.
//  - V10 (AES-CBC + HMAC-SHA-256-128 with ESN, esn=68): NOT FOUND in the stored versions of
//    the file (no 'esn=68', no SPI 0xcf54ccdf, no 'f5bda519' anywhere in the index). The bytes
//    come from the digest only; the test below shows they are self-consistent (the ICV
//    verifies only with seq_hi = 68 and the plaintext is a well-formed TCP segment), not
//    that scapy produced them.

import { createDecipheriv, createHmac } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { HmacSha256_128, IpsecEngine, openEsp } from '../ipsec/index.js';
import { concat, esc, hex, ipv4, toHex } from './fixtures/ipsec-packets.js';

describe('RFC 4231 HMAC-SHA-256 (through the ESP HMAC-SHA-256-128 code)', () => {
  // RFC 4231 §4.2, §4.3, §4.7.
  const cases = [
    {
      name: 'test case 1',
      key: hex('0b'.repeat(20)),
      data: Buffer.from('Hi There'),
      mac: 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7',
    },
    {
      name: 'test case 2',
      key: Buffer.from('Jefe'),
      data: Buffer.from('what do ya want for nothing?'),
      mac: '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    },
    {
      name: 'test case 6 (key longer than the block)',
      key: hex('aa'.repeat(131)),
      data: Buffer.from('Test Using Larger Than Block-Size Key - Hash Key First'),
      mac: '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const h = new HmacSha256_128(c.key, false);
      // Full 32-octet output.
      expect(toHex(h.mac(c.data, 0, c.data.length, 0))).toBe(c.mac);
      // The ESP truncation (RFC 4868: leftmost 128 bits), written after the data as an ICV.
      const buf = Buffer.concat([c.data, Buffer.alloc(16)]);
      h.sign(buf, 0, c.data.length, 0, c.data.length);
      expect(toHex(buf.subarray(c.data.length))).toBe(c.mac.slice(0, 32));
      expect(h.verify(buf, 0, c.data.length, 0, c.data.length)).toBe(true);
      buf[buf.length - 1] ^= 1;
      expect(h.verify(buf, 0, c.data.length, 0, c.data.length)).toBe(false);
    });
  }
});

// scapy ipsec.uts, "IPv4 / ESP - Transport - AES-GCM - NULL", `ref` packet (ESP data after SPI and seq).
const V8_DATA = esc(
  String.raw`\x66\x00\x28\x86\xe9\xdf\xc5\x24\xb0\xbd\xfd\x62\x61\x7e\xd3\x76` +
    String.raw`\x7b\x48\x28\x8e\x76\xaa\xea\x48\xb8\x40\x30\x8a\xce\x50\x71\xbb` +
    String.raw`\xc0\xb2\x47\x71\xd7\xa4\xa0\xcb\x03\x68\xd3\x16\x5a\x7c\x37\x84` +
    String.raw`\x87\xc7\x19\x59\xb4\x7c\x76\xe3\x48\xc0\x90\x4b\xd2\x36\x95\xc1` +
    String.raw`\xb7\xa4\xb6\x7b\x89\xe6\x4f\x10\xae\xdb\x84\x47\x46\x00\xb4\x44` +
    String.raw`\xe6\x6d\x16\x55\x5f\x82\x36\xa5\x49\xf7\x52\x81\x65\x90\x4d\x28` +
    String.raw`\x92\xb2\xe3\xf1\xa4\x02\xd2\x37\xac\x0b\x7a\x10\xcf\x64\x46\xb9`,
);
// scapy ipsec.uts, "IPv4 / ESP - Transport - AES-GCM - NULL -- ESN": same, except the last row (the ICV).
const V9_DATA = concat(
  V8_DATA.subarray(0, V8_DATA.length - 16),
  esc(String.raw`\xfe\x4d\x22\x83\x6a\x81\x0d\x60\x94\xdb\x45\x22\x03\x92\xf6\x94`),
);
// Key '0x3136627974656b65792b34627974656e6f6e6365' from the file's `ip xfrm` comment.
const GCM_KEY = Buffer.from('16bytekey+4bytenonce');
const GCM_IV = V8_DATA.subarray(0, 8);

/** scapy's `IP() / ESP(spi=0x222, data=..., seq=1)`: IP() defaults to 127.0.0.1 -> 127.0.0.1. */
function gcmPacket(data: Uint8Array): Uint8Array {
  return ipv4('127.0.0.1', '127.0.0.1', 50, concat(hex('00000222 00000001'), data));
}

function xor8(a: Uint8Array, b: Uint8Array): Uint8Array {
  return a.map((x, i) => x ^ b[i]);
}

/** Independent RFC 4106 decryption with node:crypto alone (nonce = salt | IV). */
function gcmDecrypt(data: Uint8Array, aad: Uint8Array): Buffer {
  const d = createDecipheriv('aes-128-gcm', GCM_KEY.subarray(0, 16), Buffer.concat([GCM_KEY.subarray(16), data.subarray(0, 8)]), { authTagLength: 16 });
  d.setAAD(aad);
  d.setAuthTag(data.subarray(data.length - 16));
  const pt = d.update(data.subarray(8, data.length - 16));
  d.final();
  return pt;
}

function expectV8Inner(inner: Uint8Array): void {
  // Documented plaintext: inner IPv4 ICMP echo request 10.200.0.1 -> 10.100.0.1, 84 octets.
  expect(inner.length).toBe(84);
  expect(inner[0]).toBe(0x45);
  expect((inner[2] << 8) | inner[3]).toBe(84);
  expect(inner[9]).toBe(1);
  expect([...inner.subarray(12, 16)]).toEqual([10, 200, 0, 1]);
  expect([...inner.subarray(16, 20)]).toEqual([10, 100, 0, 1]);
  expect(inner[20]).toBe(8);
}

describe('scapy V8: AES-GCM-16, Linux-generated, tunnel mode (confirmed against ipsec.uts)', () => {
  test('inbound decrypts to the documented plaintext', () => {
    const e = new IpsecEngine();
    e.addSA({ spi: 0x222, direction: 'inbound', mode: 'tunnel', algorithm: 'aes-gcm-16', encKey: GCM_KEY, selectors: [{}] });
    const r = e.inbound(gcmPacket(V8_DATA));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.spi).toBe(0x222);
    expectV8Inner(r.packet);
    // Independent check of the trailer: pad 01 02, pad length 2, next header 4 (IPv4).
    const pt = gcmDecrypt(V8_DATA, hex('00000222 00000001'));
    expect(toHex(pt.subarray(84))).toBe('01020204');
    expect(toHex(pt.subarray(0, 84))).toBe(toHex(r.packet));
  });

  test('re-encrypting with the same IV reproduces the wire bytes', () => {
    const inner = gcmDecrypt(V8_DATA, hex('00000222 00000001')).subarray(0, 84);
    const e = new IpsecEngine();
    // Linux's seqiv IV = sequence number XOR a per-SA mask; with seq 1 the mask is IV ^ 1.
    e.addSA({
      spi: 0x222,
      direction: 'outbound',
      mode: 'tunnel',
      tunnel: { src: '127.0.0.1', dst: '127.0.0.1' },
      algorithm: 'aes-gcm-16',
      encKey: GCM_KEY,
      ivMask: xor8(GCM_IV, hex('0000000000000001')),
    });
    e.addPolicy({ direction: 'outbound', action: { protect: { spi: 0x222 } } });
    const r = e.outbound(inner);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(toHex(r.packet.subarray(20))).toBe(toHex(concat(hex('00000222 00000001'), V8_DATA)));
    expect(toHex(r.packet.subarray(12, 20))).toBe('7f0000017f000001');
    expect(r.packet[9]).toBe(50);
  });
});

describe('scapy V9: AES-GCM-16 with ESN (confirmed against ipsec.uts)', () => {
  test('only seq_hi = 1 authenticates (independent node:crypto check)', () => {
    expect(() => gcmDecrypt(V9_DATA, hex('00000222 00000001'))).toThrow();
    expect(gcmDecrypt(V9_DATA, hex('00000222 00000001 00000001')).subarray(0, 84)).toEqual(gcmDecrypt(V8_DATA, hex('00000222 00000001')).subarray(0, 84));
  });

  test('inbound with the replay top at 2^32 infers seq_hi = 1 and decrypts', () => {
    const e = new IpsecEngine();
    e.addSA({ spi: 0x222, direction: 'inbound', mode: 'tunnel', algorithm: 'aes-gcm-16', encKey: GCM_KEY, esn: true, seq: 1n << 32n, selectors: [{}] });
    const r = e.inbound(gcmPacket(V9_DATA));
    expect(r.ok).toBe(true);
    if (r.ok) expectV8Inner(r.packet);
    expect(e.getSA(0x222)!.seq).toBe((1n << 32n) + 1n);
  });

  test('a fresh ESN SA infers seq_hi = 0 and the ICV fails', () => {
    const e = new IpsecEngine();
    e.addSA({ spi: 0x222, direction: 'inbound', mode: 'tunnel', algorithm: 'aes-gcm-16', encKey: GCM_KEY, esn: true, selectors: [{}] });
    expect(e.inbound(gcmPacket(V9_DATA))).toEqual({ ok: false, reason: 'icv-mismatch' });
  });

  test('re-encrypting with the same IV reproduces the wire bytes', () => {
    const inner = gcmDecrypt(V8_DATA, hex('00000222 00000001')).subarray(0, 84);
    const e = new IpsecEngine();
    e.addSA({
      spi: 0x222,
      direction: 'outbound',
      mode: 'tunnel',
      tunnel: { src: '127.0.0.1', dst: '127.0.0.1' },
      algorithm: 'aes-gcm-16',
      encKey: GCM_KEY,
      esn: true,
      seq: 1n << 32n, // last sent: the next packet is (seq_hi 1, seq_lo 1)
      ivMask: xor8(GCM_IV, hex('0000000100000001')),
    });
    e.addPolicy({ direction: 'outbound', action: { protect: { spi: 0x222 } } });
    const r = e.outbound(inner);
    expect(r.ok).toBe(true);
    if (r.ok) expect(toHex(r.packet.subarray(20))).toBe(toHex(concat(hex('00000222 00000001'), V9_DATA)));
  });
});

describe('digest V10: AES-CBC + HMAC-SHA-256-128 with ESN (digest only, not found in ipsec.uts)', () => {
  const V10 = hex(
    '4500006c000100004032745a0101010102020202' +
      'cf54ccdf 00000001 11223344112233441122334411223344' +
      'f5bda519c9ae64f283f0fc18a8d253eca8b34c2120c8958a97ec9d8e67756da2' +
      '523fce9b5541c57fddf090afc2bfd97e' +
      '8703203953f853eb61482e4c1384d4c8',
  );
  const encKey = hex('85ee354b4675a9c5d16e3d6f4118043b');
  const authKey = hex('6f79bf94da7dde3c86009934d9258f1b3fc2f5382aca9c9cb8e216eed235f34c');
  const spec = {
    spi: 0xcf54ccdf,
    mode: 'transport' as const,
    algorithm: 'aes-cbc-hmac-sha256-128' as const,
    encKey,
    authKey,
    esn: true,
  };

  test('the ICV is HMAC(SPI|seq|IV|ct|seq_hi=68) truncated (independent node:crypto check)', () => {
    const esp = V10.subarray(20);
    const mac = (tail: Uint8Array) => createHmac('sha256', authKey).update(esp.subarray(0, esp.length - 16)).update(tail).digest().subarray(0, 16);
    expect(toHex(mac(hex('00000044')))).toBe('8703203953f853eb61482e4c1384d4c8');
    expect(toHex(mac(new Uint8Array(0)))).not.toBe('8703203953f853eb61482e4c1384d4c8');
  });

  test('inbound with the replay top at 68 * 2^32 decrypts to TCP 45012 -> 80 "hello world"', () => {
    const e = new IpsecEngine();
    e.addSA({ ...spec, direction: 'inbound', seq: 68n << 32n, selectors: [{ local: '2.2.2.2', remote: '1.1.1.1', proto: 6, localPort: 80 }] });
    const r = e.inbound(V10);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const p = r.packet;
    expect(p.length).toBe(20 + 20 + 11);
    expect(p[9]).toBe(6);
    expect((p[2] << 8) | p[3]).toBe(51);
    expect((p[20] << 8) | p[21]).toBe(45012);
    expect((p[22] << 8) | p[23]).toBe(80);
    expect(Buffer.from(p.subarray(40)).toString()).toBe('hello world');
    // Independent check of the trailer: pad 01..0f, pad length 15, next header 6.
    const d = createDecipheriv('aes-128-cbc', encKey, V10.subarray(28, 44)).setAutoPadding(false);
    const pt = Buffer.concat([d.update(V10.subarray(44, 92)), d.final()]);
    expect(toHex(pt.subarray(31))).toBe('0102030405060708090a0b0c0d0e0f' + '0f06');
  });

  test('without seq_hi = 68 the ICV fails', () => {
    const e = new IpsecEngine();
    e.addSA({ ...spec, direction: 'inbound', selectors: [{}] });
    expect(e.inbound(V10)).toEqual({ ok: false, reason: 'icv-mismatch' });
  });

  test('re-encrypting with the same IV reproduces the whole packet', () => {
    const rx = new IpsecEngine();
    rx.addSA({ ...spec, direction: 'inbound', seq: 68n << 32n, selectors: [{}] });
    const plain = rx.inbound(V10);
    expect(plain.ok).toBe(true);
    if (!plain.ok) return;
    // The IV pool is filled from the injected random source: make it the vector's IV.
    const tx = new IpsecEngine({ randomFill: (b) => b.set(hex('11223344'.repeat(b.length / 4))) });
    tx.addSA({ ...spec, direction: 'outbound', seq: 68n << 32n });
    tx.addPolicy({ direction: 'outbound', action: { protect: { spi: 0xcf54ccdf } } });
    const r = tx.outbound(plain.packet);
    expect(r.ok).toBe(true);
    if (r.ok) expect(toHex(r.packet)).toBe(toHex(V10));
  });
});

describe('openEsp: stateless opening for diagnostics, on the same vectors', () => {
  const gcm = { spi: 0x222, algorithm: 'aes-gcm-16' as const, encKey: GCM_KEY };
  test('V8 and V9 (seq_hi given by the caller)', () => {
    const v8 = openEsp(gcm, concat(hex('00000222 00000001'), V8_DATA));
    expect('error' in v8).toBe(false);
    if ('error' in v8) return;
    expect(v8).toMatchObject({ nextHeader: 4, spi: 0x222, seq: 1, padLength: 2 });
    expectV8Inner(v8.payload);
    expect(openEsp({ ...gcm, esn: true }, concat(hex('00000222 00000001'), V9_DATA), 1)).toMatchObject({ nextHeader: 4 });
    expect(openEsp({ ...gcm, esn: true }, concat(hex('00000222 00000001'), V9_DATA))).toEqual({ error: expect.stringMatching(/^icv-mismatch.*ESN seq_hi/) });
  });
  test('errors are values, never exceptions', () => {
    expect(openEsp(gcm, hex('0000022200'))).toEqual({ error: expect.stringMatching(/^malformed/) });
    expect(openEsp({ ...gcm, spi: 0x333 }, concat(hex('00000222 00000001'), V8_DATA))).toEqual({ error: expect.stringMatching(/SPI 0x222/) });
    expect(openEsp({ ...gcm, encKey: new Uint8Array(3) }, concat(hex('00000222 00000001'), V8_DATA))).toEqual({ error: expect.stringMatching(/^bad key: encKey/) });
    expect(openEsp({ ...gcm, algorithm: 'rot13' as never }, concat(hex('00000222 00000001'), V8_DATA))).toEqual({ error: expect.stringMatching(/unknown algorithm/) });
    expect(openEsp(gcm, concat(hex('00000222 00000001'), V8_DATA.subarray(1)))).toEqual({ error: expect.stringMatching(/^malformed/) });
    for (let i = 0; i < 2000; i++) {
      const junk = Uint8Array.from({ length: i % 200 }, (_, k) => (k * 131 + i * 7) & 255);
      if (junk.length >= 4) junk.set(hex('00000222'), 0);
      const r = openEsp(gcm, junk);
      expect('error' in r).toBe(true);
    }
  });
});
