// The native ESP transforms (native/crypto.c through tunnel/native-esp.ts): the scapy known-answer
// vectors of test/ipsec-vectors.test.ts run again through the engine with IpsecOptions.transforms
// (bytes copied from there; their provenance, secdev/scapy test/scapy/layers/ipsec.uts V8/V9 and
// the digest's V10, is documented in that file); a cross-check against the node:crypto transforms
// on random packets for every key length with ESN on and off, in both directions; tampering
// rejected with no plaintext released; bad keys and bad offsets refused.

import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { createTransform, type AlgorithmName, type Transform, type TransformFactory } from '../ipsec/algorithms.js';
import { InvalidSaError, IpsecEngine } from '../ipsec/index.js';
import { IvPool } from '../ipsec/ivpool.js';
import { nativeEspTransforms } from '../tunnel/native-esp.js';
import { EspKind, loadNative, nativeAvailable } from '../tunnel/native.js';
import { concat, esc, hex, ipv4, ipv6, toHex, udp } from './fixtures/ipsec-packets.js';
import { COA4, COA6, harness } from './support/e2e-harness.js';

const NATIVE = nativeAvailable();

/** The native factory, counting the transforms it hands out (so a test knows the native path ran). */
function counted(): { factory: TransformFactory; made: () => number } {
  const inner = nativeEspTransforms();
  let n = 0;
  return {
    factory: (...a) => {
      const t = inner(...a);
      if (t) n++;
      return t;
    },
    made: () => n,
  };
}

// ---- scapy V8 / V9 (AES-GCM-16), V10 (CBC + HMAC, ESN): see test/ipsec-vectors.test.ts ----
const V8_DATA = esc(
  String.raw`\x66\x00\x28\x86\xe9\xdf\xc5\x24\xb0\xbd\xfd\x62\x61\x7e\xd3\x76` +
    String.raw`\x7b\x48\x28\x8e\x76\xaa\xea\x48\xb8\x40\x30\x8a\xce\x50\x71\xbb` +
    String.raw`\xc0\xb2\x47\x71\xd7\xa4\xa0\xcb\x03\x68\xd3\x16\x5a\x7c\x37\x84` +
    String.raw`\x87\xc7\x19\x59\xb4\x7c\x76\xe3\x48\xc0\x90\x4b\xd2\x36\x95\xc1` +
    String.raw`\xb7\xa4\xb6\x7b\x89\xe6\x4f\x10\xae\xdb\x84\x47\x46\x00\xb4\x44` +
    String.raw`\xe6\x6d\x16\x55\x5f\x82\x36\xa5\x49\xf7\x52\x81\x65\x90\x4d\x28` +
    String.raw`\x92\xb2\xe3\xf1\xa4\x02\xd2\x37\xac\x0b\x7a\x10\xcf\x64\x46\xb9`,
);
const V9_DATA = concat(V8_DATA.subarray(0, V8_DATA.length - 16), esc(String.raw`\xfe\x4d\x22\x83\x6a\x81\x0d\x60\x94\xdb\x45\x22\x03\x92\xf6\x94`));
const GCM_KEY = Buffer.from('16bytekey+4bytenonce');
const GCM_IV = V8_DATA.subarray(0, 8);
const xor8 = (a: Uint8Array, b: Uint8Array) => a.map((x, i) => x ^ b[i]);
const gcmPacket = (data: Uint8Array) => ipv4('127.0.0.1', '127.0.0.1', 50, concat(hex('00000222 00000001'), data));

function expectV8Inner(inner: Uint8Array): void {
  // Documented plaintext: inner IPv4 ICMP echo request 10.200.0.1 -> 10.100.0.1, 84 octets.
  expect(inner.length).toBe(84);
  expect(inner[0]).toBe(0x45);
  expect(inner[9]).toBe(1);
  expect([...inner.subarray(12, 20)]).toEqual([10, 200, 0, 1, 10, 100, 0, 1]);
  expect(inner[20]).toBe(8);
}

const V10 = hex(
  '4500006c000100004032745a0101010102020202' +
    'cf54ccdf 00000001 11223344112233441122334411223344' +
    'f5bda519c9ae64f283f0fc18a8d253eca8b34c2120c8958a97ec9d8e67756da2' +
    '523fce9b5541c57fddf090afc2bfd97e' +
    '8703203953f853eb61482e4c1384d4c8',
);
const V10_SPEC = {
  spi: 0xcf54ccdf,
  mode: 'transport' as const,
  algorithm: 'aes-cbc-hmac-sha256-128' as const,
  encKey: hex('85ee354b4675a9c5d16e3d6f4118043b'),
  authKey: hex('6f79bf94da7dde3c86009934d9258f1b3fc2f5382aca9c9cb8e216eed235f34c'),
  esn: true,
};

describe.skipIf(!NATIVE)('native ESP: known-answer vectors through the engine', () => {
  test('V8 (GCM): inbound decrypts, outbound reproduces the Linux wire bytes', () => {
    const c = counted();
    const rx = new IpsecEngine({ transforms: c.factory });
    rx.addSA({ spi: 0x222, direction: 'inbound', mode: 'tunnel', algorithm: 'aes-gcm-16', encKey: GCM_KEY, selectors: [{}] });
    const r = rx.inbound(gcmPacket(V8_DATA));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expectV8Inner(r.packet);
    const tx = new IpsecEngine({ transforms: c.factory });
    tx.addSA({
      spi: 0x222,
      direction: 'outbound',
      mode: 'tunnel',
      tunnel: { src: '127.0.0.1', dst: '127.0.0.1' },
      algorithm: 'aes-gcm-16',
      encKey: GCM_KEY,
      ivMask: xor8(GCM_IV, hex('0000000000000001')),
    });
    tx.addPolicy({ direction: 'outbound', action: { protect: { spi: 0x222 } } });
    const o = tx.outbound(r.packet);
    expect(o.ok).toBe(true);
    if (o.ok) expect(toHex(o.packet.subarray(20))).toBe(toHex(concat(hex('00000222 00000001'), V8_DATA)));
    expect(c.made()).toBe(2);
  });

  test('V9 (GCM, ESN): seq_hi = 1 decrypts and re-encrypts to the wire bytes; seq_hi = 0 fails', () => {
    const c = counted();
    const rx = new IpsecEngine({ transforms: c.factory });
    rx.addSA({ spi: 0x222, direction: 'inbound', mode: 'tunnel', algorithm: 'aes-gcm-16', encKey: GCM_KEY, esn: true, seq: 1n << 32n, selectors: [{}] });
    const r = rx.inbound(gcmPacket(V9_DATA));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expectV8Inner(r.packet);
    const fresh = new IpsecEngine({ transforms: c.factory });
    fresh.addSA({ spi: 0x222, direction: 'inbound', mode: 'tunnel', algorithm: 'aes-gcm-16', encKey: GCM_KEY, esn: true, selectors: [{}] });
    expect(fresh.inbound(gcmPacket(V9_DATA))).toEqual({ ok: false, reason: 'icv-mismatch' });
    const tx = new IpsecEngine({ transforms: c.factory });
    tx.addSA({
      spi: 0x222,
      direction: 'outbound',
      mode: 'tunnel',
      tunnel: { src: '127.0.0.1', dst: '127.0.0.1' },
      algorithm: 'aes-gcm-16',
      encKey: GCM_KEY,
      esn: true,
      seq: 1n << 32n,
      ivMask: xor8(GCM_IV, hex('0000000100000001')),
    });
    tx.addPolicy({ direction: 'outbound', action: { protect: { spi: 0x222 } } });
    const o = tx.outbound(r.packet);
    expect(o.ok).toBe(true);
    if (o.ok) expect(toHex(o.packet.subarray(20))).toBe(toHex(concat(hex('00000222 00000001'), V9_DATA)));
    expect(c.made()).toBe(3);
  });

  test('V10 (CBC + HMAC-SHA-256-128, ESN): decrypts to "hello world" and re-encrypts to the whole packet', () => {
    const c = counted();
    const rx = new IpsecEngine({ transforms: c.factory });
    rx.addSA({ ...V10_SPEC, direction: 'inbound', seq: 68n << 32n, selectors: [{}] });
    const r = rx.inbound(V10);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.packet.length).toBe(51);
    expect((r.packet[20] << 8) | r.packet[21]).toBe(45012);
    expect(Buffer.from(r.packet.subarray(40)).toString()).toBe('hello world');
    const wrongHi = new IpsecEngine({ transforms: c.factory });
    wrongHi.addSA({ ...V10_SPEC, direction: 'inbound', selectors: [{}] });
    expect(wrongHi.inbound(V10)).toEqual({ ok: false, reason: 'icv-mismatch' });
    const tx = new IpsecEngine({ transforms: c.factory, randomFill: (b) => b.set(hex('11223344'.repeat(b.length / 4))) });
    tx.addSA({ ...V10_SPEC, direction: 'outbound', seq: 68n << 32n });
    tx.addPolicy({ direction: 'outbound', action: { protect: { spi: 0xcf54ccdf } } });
    const o = tx.outbound(r.packet);
    expect(o.ok).toBe(true);
    if (o.ok) expect(toHex(o.packet)).toBe(toHex(V10));
    expect(c.made()).toBe(3);
  });

  test('NULL encryption falls back to node:crypto (the factory declines it)', () => {
    const c = counted();
    const e = new IpsecEngine({ transforms: c.factory });
    e.addSA({ spi: 0x300, direction: 'inbound', mode: 'transport', algorithm: 'null-hmac-sha256-128', authKey: new Uint8Array(32), selectors: [{}] });
    expect(c.made()).toBe(0);
  });
});

// ---- cross-check against the node:crypto transforms ----

interface Case {
  algorithm: AlgorithmName;
  encLen: number;
}
const CASES: Case[] = [
  { algorithm: 'aes-gcm-16', encLen: 20 },
  { algorithm: 'aes-gcm-16', encLen: 28 },
  { algorithm: 'aes-gcm-16', encLen: 36 },
  { algorithm: 'aes-cbc-hmac-sha256-128', encLen: 16 },
  { algorithm: 'aes-cbc-hmac-sha256-128', encLen: 24 },
  { algorithm: 'aes-cbc-hmac-sha256-128', encLen: 32 },
];

/** A deterministic random source, so two IV pools hand out the same IVs. */
function seededFill(seed: number): (b: Uint8Array) => void {
  let x = seed >>> 0 || 1;
  return (b) => {
    for (let i = 0; i < b.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      b[i] = x & 0xff;
    }
  };
}

function pair(c: Case, esn: boolean, seed: number): { js: Transform; nat: Transform } {
  const enc = randomBytes(c.encLen);
  const auth = c.algorithm === 'aes-gcm-16' ? undefined : randomBytes(32);
  const mask = c.algorithm === 'aes-gcm-16' ? randomBytes(8) : undefined;
  const js = createTransform(c.algorithm, enc, auth, esn, mask, new IvPool(seededFill(seed)));
  const nat = createTransform(c.algorithm, enc, auth, esn, mask, new IvPool(seededFill(seed)), nativeEspTransforms());
  return { js, nat };
}

/** An ESP body at `espOff` of a buffer with room around it: SPI, seq_lo, IV space, plaintext, ICV space. */
function espFrame(t: Transform, espOff: number, ctLen: number, seqLo: number): Buffer {
  const b = Buffer.alloc(espOff + 8 + t.info.ivLen + ctLen + t.info.icvLen + 7);
  randomBytes(espOff).copy(b, 0);
  b.writeUInt32BE(0x1000 + espOff, espOff);
  b.writeUInt32BE(seqLo, espOff + 4);
  randomBytes(ctLen).copy(b, espOff + 8 + t.info.ivLen);
  return b;
}

describe.skipIf(!NATIVE)('native ESP: cross-check with node:crypto on random packets', () => {
  for (const c of CASES) {
    for (const esn of [false, true]) {
      test(`${c.algorithm} encKey ${c.encLen} octets, ESN ${esn ? 'on' : 'off'}`, () => {
        const { js, nat } = pair(c, esn, 7 + c.encLen);
        expect(nat.constructor.name).toMatch(/^Native/);
        expect(js.constructor.name).not.toMatch(/^Native/);
        for (let i = 0; i < 60; i++) {
          const align = js.info.align;
          const ctLen = align * (1 + ((i * 37) % Math.floor(1500 / align)));
          const espOff = (i * 13) % 61;
          const seqHi = esn ? (i * 0x9e3779b1) >>> 0 : 0;
          const seqLo = (i * 0x85ebca6b + 1) >>> 0;
          const a = espFrame(js, espOff, ctLen, seqLo);
          const b = Buffer.from(a);
          const plain = Buffer.from(a.subarray(espOff + 8 + js.info.ivLen, espOff + 8 + js.info.ivLen + ctLen));
          js.seal(a, espOff, ctLen, seqHi, seqLo);
          nat.seal(b, espOff, ctLen, seqHi, seqLo);
          // Same keys, same IV source: the sealed packets are identical, octets around them untouched.
          expect(toHex(b)).toBe(toHex(a));
          // Each opens the other's packet, to the same plaintext.
          const byNat = nat.open(a, espOff, ctLen, seqHi);
          const byJs = js.open(b, espOff, ctLen, seqHi);
          expect(byNat && toHex(byNat)).toBe(toHex(plain));
          expect(byJs && toHex(byJs)).toBe(toHex(plain));
          // The input of open is never written.
          expect(toHex(b)).toBe(toHex(a));
          if (esn) expect(nat.open(a, espOff, ctLen, (seqHi + 1) >>> 0)).toBeUndefined();
        }
      });
    }
  }

  test('GCM ciphertext matches an independent node:crypto RFC 4106 encryption', () => {
    const key = randomBytes(16);
    const salt = randomBytes(4);
    const nat = createTransform('aes-gcm-16', Buffer.concat([key, salt]), undefined, false, undefined, new IvPool(), nativeEspTransforms());
    const f = espFrame(nat, 0, 64, 5);
    const pt = Buffer.from(f.subarray(16, 80));
    nat.seal(f, 0, 64, 0, 5);
    // IV with a zero mask = the 64-bit sequence number; AAD = SPI | seq_lo.
    expect(toHex(f.subarray(8, 16))).toBe('0000000000000005');
    const c = createCipheriv('aes-128-gcm', key, Buffer.concat([salt, f.subarray(8, 16)]), { authTagLength: 16 });
    c.setAAD(f.subarray(0, 8));
    const ct = Buffer.concat([c.update(pt), c.final()]);
    expect(toHex(f.subarray(16, 80))).toBe(toHex(ct));
    expect(toHex(f.subarray(80, 96))).toBe(toHex(c.getAuthTag()));
  });
});

describe.skipIf(!NATIVE)('native ESP: tampering and bad input', () => {
  for (const c of CASES) {
    test(`${c.algorithm} ${c.encLen}: any flipped bit (header, IV, ciphertext, ICV) is rejected`, () => {
      const { nat } = pair(c, true, 3);
      const ctLen = 96;
      const f = espFrame(nat, 4, ctLen, 9);
      nat.seal(f, 4, ctLen, 2, 9);
      const end = 4 + 8 + nat.info.ivLen + ctLen + nat.info.icvLen;
      expect(nat.open(f, 4, ctLen, 2)).toBeDefined();
      for (let at = 4; at < end; at += 3) {
        const bit = 1 << (at % 8);
        f[at] ^= bit;
        expect(nat.open(f, 4, ctLen, 2), `bit flipped at ${at}`).toBeUndefined();
        f[at] ^= bit;
      }
    });

    test(`${c.algorithm} ${c.encLen}: a failed open leaves no plaintext in the output buffer`, () => {
      const n = loadNative();
      const enc = randomBytes(c.encLen);
      const gcm = c.algorithm === 'aes-gcm-16';
      const ctx = n.espNew(gcm ? EspKind.GCM : EspKind.CBC_HMAC, enc, gcm ? null : randomBytes(32), false, null);
      const ctLen = 64;
      const ivLen = gcm ? 8 : 16;
      const f = Buffer.alloc(8 + ivLen + ctLen + 16);
      f.fill(0x41, 8 + ivLen, 8 + ivLen + ctLen);
      n.espSeal(ctx, f, 0, ctLen, 0, 1);
      const dst = Buffer.alloc(ctLen, 0xee);
      expect(n.espOpen(ctx, f, 0, ctLen, 0, dst)).toBe(true);
      expect(dst.every((x) => x === 0x41)).toBe(true);
      f[f.length - 1] ^= 0x80; // the ICV
      dst.fill(0xee);
      expect(n.espOpen(ctx, f, 0, ctLen, 0, dst)).toBe(false);
      expect(dst.every((x) => x === 0)).toBe(true);
      f[f.length - 1] ^= 0x80;
      f[8 + ivLen] ^= 1; // the first ciphertext octet
      dst.fill(0xee);
      expect(n.espOpen(ctx, f, 0, ctLen, 0, dst)).toBe(false);
      expect(dst.every((x) => x === 0)).toBe(true);
    });
  }

  test('bad key lengths are refused clearly, by the engine and by the addon itself', () => {
    const e = new IpsecEngine({ transforms: nativeEspTransforms() });
    expect(() => e.addSA({ spi: 0x400, direction: 'inbound', mode: 'transport', algorithm: 'aes-gcm-16', encKey: new Uint8Array(21) })).toThrow(InvalidSaError);
    const n = loadNative();
    expect(() => n.espNew(EspKind.GCM, new Uint8Array(21), null, false, null)).toThrow(/aes-gcm-16 needs an encKey of 20, 28 or 36 octets/);
    expect(() => n.espNew(EspKind.GCM, new Uint8Array(3), null, false, null)).toThrow(RangeError);
    expect(() => n.espNew(EspKind.GCM, new Uint8Array(3), null, false, null)).toThrow(expect.objectContaining({ code: 'ERR_DSMIP6_ESP_KEY' }));
    expect(() => n.espNew(EspKind.GCM, new Uint8Array(20), null, false, new Uint8Array(7))).toThrow(/ivMask of 8 octets/);
    expect(() => n.espNew(EspKind.CBC_HMAC, new Uint8Array(20), new Uint8Array(32), false, null)).toThrow(/encKey of 16, 24 or 32 octets/);
    expect(() => n.espNew(EspKind.CBC_HMAC, new Uint8Array(16), new Uint8Array(31), false, null)).toThrow(/authKey of 32 octets/);
    expect(() => n.espNew(EspKind.CBC_HMAC, new Uint8Array(16), null, false, null)).toThrow(/authKey of 32 octets/);
    expect(() => n.espNew(9, new Uint8Array(16), null, false, null)).toThrow(/kind must be/);
  });

  test('offsets past the buffer and foreign objects are refused, not read', () => {
    const n = loadNative();
    const ctx = n.espNew(EspKind.GCM, new Uint8Array(20), null, false, null);
    const f = new Uint8Array(8 + 8 + 32 + 16);
    expect(() => n.espSeal(ctx, f, 0, 32, 0, 1)).not.toThrow();
    expect(() => n.espSeal(ctx, f, 1, 32, 0, 1)).toThrow(RangeError);
    expect(() => n.espSeal(ctx, f, 0, 48, 0, 1)).toThrow(RangeError);
    expect(() => n.espOpen(ctx, f, 0, 0xffffffff, 0, new Uint8Array(64))).toThrow(RangeError);
    expect(() => n.espOpen(ctx, f, 0, 32, 0, new Uint8Array(31))).toThrow(TypeError);
    expect(() => n.espSeal({} as never, f, 0, 32, 0, 1)).toThrow(TypeError);
    const cbc = n.espNew(EspKind.CBC_HMAC, new Uint8Array(16), new Uint8Array(32), false, null);
    expect(() => n.espSeal(cbc, new Uint8Array(8 + 16 + 24 + 16), 0, 24, 0, 1)).toThrow(/multiple of 16/);
  });
});

describe.skipIf(!NATIVE)('native ESP: engines talk to each other both ways', () => {
  for (const c of CASES) {
    for (const esn of [false, true]) {
      test(`${c.algorithm} ${c.encLen} ESN ${esn ? 'on' : 'off'}: node:crypto <-> native, tunnel mode over IPv6`, () => {
        const spec = {
          mode: 'tunnel' as const,
          algorithm: c.algorithm,
          encKey: randomBytes(c.encLen),
          ...(c.algorithm === 'aes-gcm-16' ? {} : { authKey: randomBytes(32) }),
          esn,
        };
        const native = nativeEspTransforms();
        const mk = (transforms: TransformFactory | undefined, spi: number) => {
          const tx = new IpsecEngine(transforms ? { transforms } : {});
          tx.addSA({ ...spec, spi, direction: 'outbound', tunnel: { src: '2001:db8::1', dst: '2001:db8::2' } });
          tx.addPolicy({ direction: 'outbound', action: { protect: { spi } } });
          const rx = new IpsecEngine(transforms ? { transforms } : {});
          rx.addSA({ ...spec, spi, direction: 'inbound', selectors: [{}] });
          return { tx, rx };
        };
        const a = mk(undefined, 0x500);
        const b = mk(native, 0x500);
        for (let i = 0; i < 20; i++) {
          const inner = i % 2
            ? ipv4('10.0.0.1', '10.0.0.2', 17, udp(1000 + i, 53, randomBytes(i * 67)))
            : ipv6('2001:db8:1::1', '2001:db8:2::1', 17, udp(2000, 4000 + i, randomBytes(1 + i * 61)));
          const [from, to] = i % 3 ? [a, b] : [b, a];
          const o = from.tx.outbound(inner);
          expect(o.ok).toBe(true);
          if (!o.ok) return;
          const r = to.rx.inbound(o.packet);
          expect(r.ok, JSON.stringify(r)).toBe(true);
          if (r.ok) expect(toHex(r.packet)).toBe(toHex(inner));
          // Replayed: the window catches it before the transform.
          expect(to.rx.inbound(o.packet)).toEqual({ ok: false, reason: 'replay' });
        }
      });
    }
  }
});

describe.skipIf(!NATIVE)('native ESP: HomeAgent + MobileNode over the fakes, as the daemons wire them', () => {
  test('BU/BA (CBC-HMAC) and data (GCM) on the native transforms, IPv6 and NATed IPv4 CoAs', async () => {
    const seen = new Set<string>();
    const inner = nativeEspTransforms();
    const h = harness({
      espTransforms: (algorithm, ...rest) => {
        const t = inner(algorithm, ...rest);
        if (t) seen.add(algorithm);
        return t;
      },
    });
    try {
      h.mn.moveTo(COA6);
      h.mn.start();
      await h.registered(COA6);
      await h.pingPong('v6 native');
      h.mn.moveTo(COA4);
      await h.registered(COA4);
      await h.pingPong('v4 native');
      expect(h.ha.counters.drops).toEqual({});
      expect(h.mn.counters.drops).toEqual({});
      expect([...seen].sort()).toEqual(['aes-cbc-hmac-sha256-128', 'aes-gcm-16']);
    } finally {
      h.close();
    }
  });
});

describe('native ESP: what the daemons get', () => {
  test('DSMIP6_NATIVE_ESP=0 turns the native transforms off with a reason; otherwise they load when the addon does', async () => {
    const { tryNativeEspTransforms } = await import('../tunnel/native-esp.js');
    const saved = process.env.DSMIP6_NATIVE_ESP;
    try {
      process.env.DSMIP6_NATIVE_ESP = '0';
      expect(tryNativeEspTransforms()).toEqual({ reason: expect.stringMatching(/DSMIP6_NATIVE_ESP=0/) });
      delete process.env.DSMIP6_NATIVE_ESP;
      const r = tryNativeEspTransforms();
      expect(typeof r.transforms === 'function').toBe(NATIVE);
    } finally {
      if (saved === undefined) delete process.env.DSMIP6_NATIVE_ESP;
      else process.env.DSMIP6_NATIVE_ESP = saved;
    }
  });
});
