// `dsmip6 status` as an operator runs it: the compiled CLI (dist/, build first) against a
// ControlServer started in this process with canned home agent / mobile node answers, in --json
// and table mode, and with no daemon at all. The child runs asynchronously so that this process's
// event loop stays free to answer it.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ControlServer, type ControlRequest } from '../common/control.js';
import type { HaStatus } from '../ha/status.js';
import type { MnStatus } from '../mn/status.js';
import { tempDir } from './support/tools.js';

const tmp = tempDir('dsmip6-cli-status-');
afterAll(() => tmp.cleanup());

function status(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile('node', ['dist/cli/main.js', 'status', ...args], { encoding: 'utf8', timeout: 20_000 }, (e, out, err) => {
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : -1) : 0, out, err });
    });
  });
}

const ipsec = {
  counters: { outProtected: 3, outBypassed: 0, inProtected: 4, inBypassed: 0, drops: { replay: 2 }, listenerErrors: 0 },
  sas: [{ spi: 0x1001, direction: 'inbound', mode: 'transport', algorithm: 'aes-cbc-hmac-sha256-128', state: 'mature', packets: 4, bytes: 400, seq: '4' }],
} as unknown as HaStatus['ipsec'];

const HA_ANSWER: HaStatus = {
  role: 'ha',
  bindings: [
    { hoa: '2001:db8:1::100', coa: '2001:db8:6::100', coaFamily: 6, transport: 'ipv6', natDetected: false, ipv4Hoa: '10.1.0.10', sequence: 1000, lifetimeSeconds: 3600, lifetimeRemainingS: 3590, flags: 'H' },
    { hoa: '2001:db8:1::200', coa: '192.168.1.20', coaFamily: 4, transport: 'udp', natDetected: true, natAddress: '198.51.100.7', natPort: 17152, sequence: 7, lifetimeSeconds: 600, lifetimeRemainingS: 59, flags: 'HF' },
  ],
  counters: { buReceived: 2, buAccepted: 2, buRejected: {}, baSent: 2, toMobile: 5, fromMobile: 6, drops: { 'no-binding': 1 } },
  ipsec,
};

const MN_ANSWER: MnStatus = {
  role: 'mn',
  hoa: '2001:db8:1::100',
  ha: '2001:db8:1::1',
  ipv4Hoa: '10.1.0.10',
  state: 'registered',
  atHome: false,
  coa: '192.168.1.20',
  registeredCoa: '192.168.1.20',
  transport: 'udp',
  nat: { detected: true, forceUdp: false, refreshS: 110 },
  sequence: 1001,
  outstandingSequence: null,
  lifetimeGrantedS: 3600,
  lifetimeRemainingS: 3500,
  refreshInS: 10,
  counters: { buSent: 2, baReceived: 2, failed: {}, toHa: 9, fromHa: 8, drops: {} },
  ipsec,
};

async function withServer<T>(answer: unknown, f: (path: string) => Promise<T>): Promise<T> {
  const path = join(tmp.dir, `${Math.random().toString(36).slice(2)}.sock`);
  const seen: ControlRequest[] = [];
  const srv = await ControlServer.listen(path, (req) => {
    seen.push(req);
    return answer;
  });
  try {
    return await f(path);
  } finally {
    await srv.close();
    expect(seen.every((r) => r.cmd === 'status')).toBe(true);
  }
}

describe('dsmip6 status', () => {
  it('--json prints the daemon\'s answer as one JSON line', async () => {
    const r = await withServer(HA_ANSWER, (p) => status('--socket', p, '--json'));
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(r.out)).toEqual(HA_ANSWER);
  });

  it('home agent tables: one row per binding with HoA, CoA, transport, NAT, IPv4 HoA, seq and lifetime; counters; SAs', async () => {
    const r = await withServer(HA_ANSWER, (p) => status('--socket', p));
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[0]).toBe('home agent: 2 binding(s)');
    expect(lines[1]).toMatch(/^HOA\s+COA\s+TRANSPORT\s+NAT\s+IPV4 HOA\s+SEQ\s+LIFETIME LEFT$/);
    expect(lines[2]).toMatch(/^2001:db8:1::100\s+2001:db8:6::100\s+ipv6\s+no\s+10\.1\.0\.10\s+1000\s+59m50s\/1h00m$/);
    expect(lines[3]).toMatch(/^2001:db8:1::200\s+192\.168\.1\.20\s+udp\s+198\.51\.100\.7:17152\s+-\s+7\s+59s\/10m00s$/);
    expect(r.out).toMatch(/^counters: buReceived 2, buAccepted 2, baSent 2, toMobile 5, fromMobile 6, drops\.no-binding 1$/m);
    expect(r.out).toMatch(/^0x1001\s+inbound\s+transport\s+aes-cbc-hmac-sha256-128\s+mature\s+4\s+400$/m);
    expect(r.out).toMatch(/^IPsec counters: outProtected 3, inProtected 4, drops\.replay 2$/m);
  });

  it('mobile node: a key/value block and counters', async () => {
    const r = await withServer(MN_ANSWER, (p) => status('--socket', p, '--mn'));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^mobile node$/m);
    expect(r.out).toMatch(/^home address:\s+2001:db8:1::100$/m);
    expect(r.out).toMatch(/^IPv4 home address:\s+10\.1\.0\.10$/m);
    expect(r.out).toMatch(/^state:\s+registered$/m);
    expect(r.out).toMatch(/^registered CoA:\s+192\.168\.1\.20$/m);
    expect(r.out).toMatch(/^NAT:\s+detected, keepalive every 110s$/m);
    expect(r.out).toMatch(/^sequence:\s+1001$/m);
    expect(r.out).toMatch(/^lifetime left:\s+58m20s of 1h00m$/m);
    expect(r.out).toMatch(/^counters: buSent 2, baReceived 2, toHa 9, fromHa 8$/m);
  });

  it('no socket: exit 1 with the path and what to do', async () => {
    const path = join(tmp.dir, 'missing.sock');
    const r = await status('--socket', path);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toBe(`dsmip6: no daemon listening on ${path} — is dsmip6 ha (or mn) running? pass --socket\n`);
  });

  it('--help names every option and the default sockets', async () => {
    const r = await status('--help');
    expect(r.code).toBe(0);
    for (const o of ['--socket <path>', '--ha', '--mn', '--json', '--timeout <ms>', '/run/dsmip6/ha.sock', '/run/dsmip6/mn.sock']) expect(r.out).toContain(o);
    const both = await status('--ha', '--mn');
    expect(both).toMatchObject({ code: 1, err: expect.stringContaining('--ha or --mn, not both') });
  });
});
