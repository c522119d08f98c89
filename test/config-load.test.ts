// Configuration loading: the example files load with their defaults, the result is frozen,
// every kind of bad field gives a ConfigError naming its path, the bad value and what is
// allowed (all problems at once), and the converters feed ha/ and mn/ registration.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { validateRegistrationConfig } from '../ha/registration.js';
import { HomeRegistration } from '../mn/registration.js';
import {
  ConfigError,
  HA_DEFAULTS,
  loadHaConfig,
  loadMnConfig,
  MN_DEFAULTS,
  toHaRegistrationConfig,
  toHomeRegistrationConfig,
} from '../config/index.js';

const HA_FILE = new URL('../config/ha.example.json', import.meta.url).pathname;
const MN_FILE = new URL('../config/mn.example.json', import.meta.url).pathname;

/** A fresh, mutable copy of an example file's JSON. */
function example(file: string): any {
  return JSON.parse(readText(file));
}
function readText(file: string): string {
  return readFileSync(file, 'utf8');
}

/** The problems of a config that must fail to load. */
function problems(fn: () => unknown): { path: string; message: string }[] {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return [...(e as ConfigError).problems];
  }
  throw new Error('loaded, but should have failed');
}

/** The one problem at `path`, asserting it is there. */
function at(list: { path: string; message: string }[], path: string): string {
  const p = list.find((x) => x.path === path);
  expect(p, `no problem at ${path}; got ${JSON.stringify(list)}`).toBeDefined();
  return p!.message;
}

describe('example configs', () => {
  test('the HA example loads, canonical and frozen', () => {
    const c = loadHaConfig(HA_FILE);
    expect(c.homePrefixes).toEqual([{ prefix: '2001:db8:1::', length: 64 }]);
    expect(c.haAddress).toBe('2001:db8:1::1');
    expect(c.ipv4HomePool).toEqual({ prefix: '10.1.0.0', length: 24, reserved: ['10.1.0.1'] });
    expect(c.mobileNodes).toHaveLength(2);
    expect(c.mobileNodes[0].ipv4Hoa).toBe('10.1.0.10');
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.mobileNodes[0].keys.bu.out)).toBe(true);
    expect(() => {
      (c as { udpPort: number }).udpPort = 1;
    }).toThrow(TypeError);
  });

  test('the MN example loads and mirrors the HA keys for its HoA', () => {
    const mn = loadMnConfig(MN_FILE);
    const ha = loadHaConfig(HA_FILE);
    const mine = ha.mobileNodes.find((m) => m.hoa === mn.hoa)!;
    expect(mine.keys.bu.in).toEqual(mn.keys.bu.out);
    expect(mine.keys.bu.out).toEqual(mn.keys.bu.in);
    expect(mine.keys.payload.in).toEqual(mn.keys.payload.out);
    expect(mine.keys.payload.out).toEqual(mn.keys.payload.in);
  });

  test('absent fields take the documented defaults', () => {
    const h = example(HA_FILE);
    for (const k of ['udpPort', 'maxLifetimeSeconds', 'natRefreshSeconds', 'forceUdp']) delete h[k];
    const c = loadHaConfig(h);
    expect(c.udpPort).toBe(4191);
    expect(c.maxLifetimeSeconds).toBe(HA_DEFAULTS.maxLifetimeSeconds);
    expect(c.natRefreshSeconds).toBe(110);
    expect(c.forceUdp).toBe(false);
    const m = example(MN_FILE);
    for (const k of ['udpPort', 'lifetimeSeconds', 'forceUdp', 'ipv4Hoa', 'interfaces', 'haIpv4Address']) delete m[k];
    const mc = loadMnConfig(m);
    expect(mc).toMatchObject({ udpPort: 4191, lifetimeSeconds: MN_DEFAULTS.lifetimeSeconds, forceUdp: false, ipv4Hoa: 'none', interfaces: [] });
    expect(mc.haIpv4Address).toBeUndefined();
  });

  test('loading from a file path; unreadable and non-JSON files are ConfigErrors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dsmip6-config-'));
    const good = join(dir, 'mn.json');
    writeFileSync(good, readText(MN_FILE));
    expect(loadMnConfig(good).hoa).toBe('2001:db8:1::100');
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{ "hoa": ');
    expect(at(problems(() => loadMnConfig(bad)), '')).toMatch(/not valid JSON/);
    expect(at(problems(() => loadMnConfig(join(dir, 'missing.json'))), '')).toMatch(/cannot read/);
    try {
      loadMnConfig(bad);
    } catch (e) {
      expect((e as Error).message).toContain(bad);
    }
  });
});

describe('bad fields name their path, the bad value and what is allowed', () => {
  test('wrong type', () => {
    const h = example(HA_FILE);
    h.udpPort = '4191';
    h.forceUdp = 'yes';
    h.mobileNodes = {};
    const list = problems(() => loadHaConfig(h));
    expect(at(list, 'udpPort')).toMatch(/integer from 1 to 65535.*"4191"/);
    expect(at(list, 'forceUdp')).toMatch(/true or false.*"yes"/);
    expect(at(list, 'mobileNodes')).toMatch(/must be an array/);
    expect(list).toHaveLength(3);
  });

  test('bad address, in a nested path', () => {
    const h = example(HA_FILE);
    h.mobileNodes[1].hoa = '2001:db8:1::zz';
    h.haIpv4Address = '192.0.2';
    const list = problems(() => loadHaConfig(h));
    expect(at(list, 'mobileNodes[1].hoa')).toMatch(/'2001:db8:1::zz' is not an IPv6 address/);
    expect(at(list, 'haIpv4Address')).toMatch(/'192.0.2' is not an IPv4 address/);
  });

  test('bad prefixes: syntax, length, host bits (with the fix)', () => {
    const h = example(HA_FILE);
    h.homePrefixes = ['2001:db8:1::', '2001:db8:2::/129', '2001:db8:3::1/64'];
    h.ipv4HomePool.prefix = '10.1.0.0/33';
    const list = problems(() => loadHaConfig(h));
    expect(at(list, 'homePrefixes[0]')).toMatch(/'address\/length'/);
    expect(at(list, 'homePrefixes[1]')).toMatch(/length 0\.\.128/);
    expect(at(list, 'homePrefixes[2]')).toMatch(/write '2001:db8:3::\/64'/);
    expect(at(list, 'ipv4HomePool.prefix')).toMatch(/length 0\.\.32/);
  });

  test('addresses outside their prefix, duplicates', () => {
    const h = example(HA_FILE);
    h.mobileNodes[0].hoa = '2001:db8:9::100';
    h.mobileNodes[1].ipv4Hoa = '10.2.0.5';
    h.ipv4HomePool.reserved = ['10.9.9.9'];
    let list = problems(() => loadHaConfig(h));
    expect(at(list, 'ipv4HomePool.reserved[0]')).toMatch(/outside the pool 10.1.0.0\/24/);
    const h2 = example(HA_FILE);
    h2.mobileNodes[0].hoa = '2001:db8:9::100';
    h2.mobileNodes[1].ipv4Hoa = '10.2.0.5';
    list = problems(() => loadHaConfig(h2));
    expect(at(list, 'mobileNodes[0].hoa')).toMatch(/not inside a home prefix \(2001:db8:1::\/64\)/);
    expect(at(list, 'mobileNodes[1].ipv4Hoa')).toMatch(/outside ipv4HomePool/);
    const h3 = example(HA_FILE);
    h3.mobileNodes[1].hoa = '2001:DB8:1:0::100'; // same value, other spelling
    expect(at(problems(() => loadHaConfig(h3)), 'mobileNodes[1].hoa')).toMatch(/already mobileNodes\[0\]\.hoa/);
  });

  test('unknown algorithm lists the allowed names', () => {
    const m = example(MN_FILE);
    m.keys.bu.out.algorithm = 'aes-gcm';
    expect(at(problems(() => loadMnConfig(m)), 'keys.bu.out.algorithm')).toMatch(/one of 'aes-gcm-16', 'aes-cbc-hmac-sha256-128', 'null-hmac-sha256-128', got "aes-gcm"/);
  });

  test('key lengths that do not fit the algorithm, and non-hex keys', () => {
    const h = example(HA_FILE);
    h.mobileNodes[1].keys.bu.out.encKey = h.mobileNodes[1].keys.bu.out.encKey.slice(0, 30); // 15 octets for AES-CBC
    h.mobileNodes[1].keys.bu.in.authKey = undefined; // CBC needs one
    h.mobileNodes[1].keys.payload.out.authKey = '00'.repeat(32); // GCM takes none
    h.mobileNodes[1].keys.payload.in.encKey = 'xyz';
    const list = problems(() => loadHaConfig(h));
    expect(at(list, 'mobileNodes[1].keys.bu.out.encKey')).toMatch(/must be 16 octets \(32 hex digits\) or 24 octets .* or 32 octets .* for aes-cbc-hmac-sha256-128, got 15 octets/);
    expect(at(list, 'mobileNodes[1].keys.bu.in.authKey')).toMatch(/must be 32 octets.*got 0 octets/);
    expect(at(list, 'mobileNodes[1].keys.payload.out.authKey')).toMatch(/leave it out: aes-gcm-16 takes none/);
    expect(at(list, 'mobileNodes[1].keys.payload.in.encKey')).toMatch(/even number of hex digits/);
  });

  test('SPIs: range, and duplicates within an MN and across MNs', () => {
    const h = example(HA_FILE);
    h.mobileNodes[0].keys.bu.out.spi = 255;
    h.mobileNodes[1].keys.payload.in.spi = h.mobileNodes[0].keys.payload.in.spi;
    let list = problems(() => loadHaConfig(h));
    expect(at(list, 'mobileNodes[0].keys.bu.out.spi')).toMatch(/integer from 256 to 4294967295.*reserved.*got 255/);
    const h2 = example(HA_FILE);
    h2.mobileNodes[1].keys.payload.in.spi = h2.mobileNodes[0].keys.payload.in.spi;
    list = problems(() => loadHaConfig(h2));
    expect(at(list, 'mobileNodes[1].keys.payload.in.spi')).toMatch(/already used at mobileNodes\[0\]\.keys\.payload\.in\.spi/);
    const m = example(MN_FILE);
    m.keys.payload.out.spi = m.keys.bu.in.spi;
    expect(at(problems(() => loadMnConfig(m)), 'keys.payload.out.spi')).toMatch(/already used at keys\.bu\.in\.spi/);
  });

  test('unknown fields are rejected, naming the closest known field', () => {
    const h = example(HA_FILE);
    h.maxLifetimeSecond = 100;
    h.mobileNodes[0].keys.bu.out.encKye = 'aa';
    h.interfaces.homelink = h.interfaces.homeLink;
    delete h.interfaces.homeLink;
    h.colour = 'blue';
    const list = problems(() => loadHaConfig(h));
    expect(at(list, 'maxLifetimeSecond')).toMatch(/unknown field; did you mean 'maxLifetimeSeconds'\?/);
    expect(at(list, 'mobileNodes[0].keys.bu.out.encKye')).toMatch(/did you mean 'encKey'/);
    expect(at(list, 'interfaces.homelink')).toMatch(/did you mean 'homeLink'/);
    expect(at(list, 'colour')).toMatch(/^unknown field \(allowed: homePrefixes, haAddress/);
    expect(at(list, 'interfaces.homeLink')).toMatch(/is required/);
  });

  test('range checks and enumerations on the MN', () => {
    const m = example(MN_FILE);
    m.lifetimeSeconds = 3;
    m.ipv4Hoa = 'auto';
    m.interfaces = ['eth0', 'this-name-is-way-too-long'];
    m.haAddress = m.hoa;
    const list = problems(() => loadMnConfig(m));
    expect(at(list, 'lifetimeSeconds')).toMatch(/from 4 to 262140.*got 3/);
    expect(at(list, 'ipv4Hoa')).toMatch(/'dynamic', 'none' or an IPv4 address.*"auto"/);
    expect(at(list, 'interfaces[1]')).toMatch(/not an interface name/);
    // Cross-field rules run only once the fields themselves are valid.
    expect(list.find((p) => p.path === 'haAddress')).toBeUndefined();
    const m2 = example(MN_FILE);
    m2.haAddress = m2.hoa;
    expect(at(problems(() => loadMnConfig(m2)), 'haAddress')).toMatch(/is the home address/);
  });

  test('the error message lists every problem, one per line', () => {
    const m = example(MN_FILE);
    m.hoa = 5;
    m.keys = null;
    try {
      loadMnConfig(m);
      throw new Error('loaded');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const msg = (e as Error).message;
      expect(msg).toMatch(/2 problems/);
      expect(msg).toContain('  hoa: must be an IPv6 address as text, got 5');
      expect(msg).toContain('  keys: must be an object with fields bu, payload, got null');
    }
  });

  test('a non-object top level', () => {
    expect(at(problems(() => loadHaConfig([] as unknown as object)), '')).toMatch(/must be an object/);
  });
});

describe('converters', () => {
  test('HA registration config validates and allows only configured HoAs', () => {
    const r = toHaRegistrationConfig(loadHaConfig(HA_FILE));
    expect(() => validateRegistrationConfig(r)).not.toThrow();
    expect(r).toMatchObject({ homePrefixes: [{ prefix: '2001:db8:1::', length: 64 }], maxLifetimeSeconds: 3600, natRefreshSeconds: 110, forceUdp: false, keyManagementMobility: false });
    const bu = {} as never;
    expect(r.allowedHoas!('2001:DB8:1::100', bu)).toBe(true);
    expect(r.allowedHoas!('2001:db8:1::300', bu)).toBe(false);
  });

  test('MN registration options start a HomeRegistration', () => {
    const c = loadMnConfig(MN_FILE);
    const o = toHomeRegistrationConfig(c);
    expect(o).toEqual({ hoa: '2001:db8:1::100', ha: '2001:db8:1::1', lifetimeSeconds: 3600, forceUdp: false, ipv4Hoa: '10.1.0.10' });
    expect(() => new HomeRegistration(o)).not.toThrow();
    const m = example(MN_FILE);
    m.ipv4Hoa = 'none';
    expect(toHomeRegistrationConfig(loadMnConfig(m)).ipv4Hoa).toBeUndefined();
    m.ipv4Hoa = 'dynamic';
    expect(toHomeRegistrationConfig(loadMnConfig(m)).ipv4Hoa).toBe('dynamic');
  });
});
