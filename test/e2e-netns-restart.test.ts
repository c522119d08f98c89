// End to end on real edges: restarts with the state files (--state; ha/store.ts, mn/store.ts). The
// CN streams UDP to the MN's IPv6 HoA (an echo server there sends every datagram back), the MN is on
// v6net0 (IPv6 CoA). The HA is killed with SIGKILL mid-stream and started again with the same
// config, control socket and state file: the stream resumes with no new registration (the new HA
// restored the binding; it received no BU), and over the capture of the whole run no ESP (SPI,
// sequence number) pair appears twice on any link. Then the MN is killed with SIGKILL and started
// again: it registers at once with a BU sequence newer than its last one, accepted (status 0).
// afterAll destroys the testbed, which kills every daemon and script in it. Needs root.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadMnConfig } from '../config/load.js';
import { mnWiresharkEspSas } from '../config/wireshark.js';
import type { HaStatus } from '../ha/status.js';
import type { MnStatus } from '../mn/status.js';
import { ESP_SEQ_BLOCK } from '../common/store.js';
import { captureLinks, PROJECT, type CaptureFile, type LinkCapture, type Testbed } from '../testbed/index.js';
import { judgeCaptures, quotesPacketInIcmpError, tsharkCommandHint } from './support/capture-judge.js';
import { CLI, ROOT, startDaemons, type Daemons } from './support/daemons.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const P = PROJECT;
const PORT = 7001;
const HA_CONFIG = join(ROOT, 'test/fixtures/e2e-ha.json');
const MN_CONFIG = join(ROOT, 'test/fixtures/e2e-mn.json');

// On the MN: echoes every UDP datagram to its HoA back to where it came from.
const ECHO = `
const s = require('node:dgram').createSocket('udp6');
s.on('message', (m, r) => s.send(m, r.port, r.address));
s.on('error', (e) => { console.log(JSON.stringify({ ev: 'error', err: e.code || e.message })); process.exit(1); });
s.bind(+process.argv[2], process.argv[1], () => console.log(JSON.stringify({ ev: 'listening' })));
`;

// On the CN: a numbered datagram every 5 ms to the MN's HoA; counts the echoes, prints progress.
const STREAM = `
const s = require('node:dgram').createSocket('udp6');
const [host, port] = [process.argv[1], +process.argv[2]];
let sent = 0, echoed = 0;
s.on('message', () => echoed++);
s.on('error', () => {});
setInterval(() => { const b = Buffer.alloc(64); b.writeUInt32BE(sent++); s.send(b, port, host); }, 5);
setInterval(() => console.log(JSON.stringify({ t: Date.now(), sent, echoed })), 100);
`;

describe.skipIf(!isRoot)('e2e in namespaces: kill -9 and restart with the state files (root)', () => {
  let d: (Daemons & { states: Record<'ha' | 'mn', string> }) | undefined;
  let tb: Testbed | undefined;
  let cap: LinkCapture | undefined;
  let files: CaptureFile[] | undefined;
  let pcapDir: string | undefined;
  let failed = false;
  /** The HA / MN now running (the first ones are d.ha / d.mn; restarts replace them). */
  let ha: ChildProcess | undefined;
  let mn: ChildProcess | undefined;
  const logs = { ha2: '', mn2: '', echo: '', stream: '' };
  let echoed = 0;
  const mnCfg = loadMnConfig(MN_CONFIG);
  /** The HA's outbound payload SA: HA -> MN data (the MN's keys.payload.in). */
  const HA_DATA_SPI = mnCfg.keys.payload.in.spi;

  const dump = () => `\n${d?.dumpLogs() ?? ''}\n--- restarted ha ---\n${logs.ha2}\n--- restarted mn ---\n${logs.mn2}\n--- echo ---\n${logs.echo}`;

  async function waitFor(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await ok())) {
      if (Date.now() > deadline) throw new Error(`timeout waiting for ${what}${dump()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  function collect(c: ChildProcess, key: keyof typeof logs): void {
    c.stdout?.on('data', (b: Buffer) => (logs[key] += b.toString()));
    c.stderr?.on('data', (b: Buffer) => (logs[key] += b.toString()));
  }

  async function kill9(c: ChildProcess): Promise<void> {
    if (c.exitCode === null && c.signalCode === null) {
      const gone = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await gone;
    }
    expect(c.signalCode).toBe('SIGKILL');
  }

  /** The same command line startDaemons used (config, control socket), and the run's state file. */
  function respawn(name: 'ha' | 'mn'): ChildProcess {
    const c = tb!.spawn(name, [process.execPath, CLI, name, '--config', name === 'ha' ? HA_CONFIG : MN_CONFIG, '--socket', d!.sockets[name], '--state', d!.states[name]]);
    collect(c, name === 'ha' ? 'ha2' : 'mn2');
    return c;
  }

  const haStatus = () => d!.status('ha') as Promise<HaStatus>;
  const mnStatus = () => d!.status('mn') as Promise<MnStatus>;

  beforeAll(async () => {
    pcapDir = mkdtempSync(join(tmpdir(), 'dsmip6-e2e-restart-pcap-'));
    d = await startDaemons({
      mnStartIface: P.mn.ifaces.v6net,
      prefix: 'rst',
      beforeMn: async (t) => {
        cap = await captureLinks(t, pcapDir!);
      },
    });
    tb = d.tb;
    ha = d.ha;
    mn = d.mn;
  });

  afterAll(async () => {
    try {
      files ??= cap ? await cap.stop().catch(() => []) : [];
    } finally {
      await d?.destroy();
      if (pcapDir && !failed && !process.env.E2E_KEEP_PCAPS) rmSync(pcapDir, { recursive: true, force: true });
      else if (pcapDir) process.stderr.write(`e2e-netns-restart: link captures kept in ${pcapDir}\n`);
    }
  });

  beforeEach(({ onTestFailed }) => {
    onTestFailed(() => {
      failed = true;
    });
  });

  it('registers from v6net0 and the CN streams UDP to the HoA through the HA', async () => {
    await d!.waitForLog('ha', `binding created: ${P.mn.hoa6} -> ${P.mn.coa6} `, { timeoutMs: 20_000 });
    const echo = tb!.spawn('mn', [process.execPath, '-e', ECHO, P.mn.hoa6, String(PORT)]);
    collect(echo, 'echo');
    await waitFor('echo server', () => logs.echo.includes('"listening"'));
    const stream = tb!.spawn('cn', [process.execPath, '-e', STREAM, P.mn.hoa6, String(PORT)]);
    stream.stdout?.on('data', (b: Buffer) => {
      for (const line of b.toString().split('\n')) {
        const m = /"echoed":(\d+)/.exec(line);
        if (m) echoed = Number(m[1]);
      }
    });
    await waitFor('200 echoes', () => echoed >= 200);
  });

  it('kill -9 the HA mid-stream, start it again: the stream resumes with no new registration', async () => {
    const before = await haStatus();
    const mnBefore = await mnStatus();
    expect(before.bindings.map((b) => b.coa)).toEqual([P.mn.coa6]);
    const seqBefore = before.ipsec.sas.find((s) => s.spi === HA_DATA_SPI)!.seq;
    expect(Number(seqBefore)).toBeGreaterThan(0);
    expect(Number(seqBefore)).toBeLessThan(ESP_SEQ_BLOCK); // so the first block is what the restart skips

    await kill9(ha!);
    // The stream stops: nothing forwards to the HoA.
    await new Promise((r) => setTimeout(r, 500));
    const stalled = echoed;
    await new Promise((r) => setTimeout(r, 1000));
    expect(echoed - stalled, 'echoes while the HA is dead').toBeLessThan(5);

    ha = respawn('ha');
    await waitFor('the restarted HA', () => logs.ha2.includes('ha: started'));
    expect(logs.ha2).toContain(`binding restored: ${P.mn.hoa6} -> ${P.mn.coa6} `);
    const resumedFrom = echoed;
    await waitFor('the stream to resume through the restarted HA', () => echoed >= resumedFrom + 200, 15_000);

    const after = await haStatus();
    // The binding came from the state file, not from a BU: the new HA received none.
    expect(after.counters.buReceived, dump()).toBe(0);
    expect(after.bindings).toEqual([expect.objectContaining({ hoa: P.mn.hoa6, coa: P.mn.coa6, sequence: before.bindings[0].sequence })]);
    expect(logs.ha2).not.toMatch(/binding (created|updated)/);
    // Nor did the MN send one.
    const mnAfter = await mnStatus();
    expect(mnAfter.counters.buSent).toBe(mnBefore.counters.buSent);
    expect(mnAfter.sequence).toBe(mnBefore.sequence);
    // The HA's outbound data SA went on after the reserved block, not from 1.
    const seqAfter = after.ipsec.sas.find((s) => s.spi === HA_DATA_SPI)!.seq;
    expect(Number(seqAfter)).toBeGreaterThan(ESP_SEQ_BLOCK);
    // The home link was taken over: the route into the new TUN and the proxy entry are there.
    expect((await tb!.exec('ha', ['ip', '-6', 'route', 'show', `${P.mn.hoa6}/128`])).stdout).toContain('dsmip6ha0');
    expect((await tb!.exec('ha', ['ip', '-6', 'neigh', 'show', 'proxy'])).stdout).toContain(P.mn.hoa6);
  });

  it('kill -9 the MN, start it again: it registers at once with a newer BU sequence, accepted', async () => {
    const haBefore = await haStatus();
    const lastSeq = haBefore.bindings[0].sequence;
    const accepted = haBefore.counters.buAccepted;
    await kill9(mn!);
    mn = respawn('mn');
    await waitFor('the HA to accept a BU', async () => (await haStatus()).counters.buAccepted > accepted, 20_000);
    const haAfter = await haStatus();
    const newSeq = haAfter.bindings[0].sequence;
    // Newer in RFC 6275 §9.5.1 terms (mod 2^16, within half the space), and no 135 (or any) rejection.
    expect(((newSeq - lastSeq) & 0xffff) > 0 && ((newSeq - lastSeq) & 0xffff) < 0x8000, `BU sequence ${newSeq} after ${lastSeq}`).toBe(true);
    expect(haAfter.counters.buRejected, dump()).toEqual({});
    await waitFor('the restarted MN to be registered', async () => (await mnStatus()).registeredCoa === P.mn.coa6, 10_000);
    const s = await mnStatus();
    expect(s.counters.failed).toEqual({});
    expect(s.sequence).toBe(newSeq);
    // The MN's ESP counters continued too: its BU SA is past the block the restart skipped.
    const buOut = s.ipsec.sas.find((x) => x.spi === mnCfg.keys.bu.out.spi)!;
    expect(Number(buOut.seq)).toBeGreaterThan(ESP_SEQ_BLOCK);
    // And the stream flows again (the echo server stayed, bound to the HoA the new TUN carries again).
    const from = echoed;
    await waitFor('the stream to flow after the MN restart', () => echoed >= from + 100, 15_000);
  });

  it('on the wire of the whole run: no ESP (SPI, sequence number) twice on any link', async () => {
    files = await cap!.stop();
    const sas = mnWiresharkEspSas(mnCfg);
    const facts = (await judgeCaptures(files, sas)).filter((p) => !quotesPacketInIcmpError(p));
    const seen = new Map<string, string>();
    const dups: string[] = [];
    let esp = 0;
    const maxSeq = new Map<number, number>();
    for (const p of facts) {
      for (const e of p.esp) {
        esp++;
        const k = `${p.link}|${e.spi}|${e.seq}`;
        const prev = seen.get(k);
        if (prev !== undefined) dups.push(`${p.link}: spi 0x${e.spi.toString(16)} seq ${e.seq} in frames ${prev} and ${p.frame}`);
        else seen.set(k, String(p.frame));
        if (p.link.includes(`mn/${P.mn.ifaces.v6net}`)) maxSeq.set(e.spi, Math.max(maxSeq.get(e.spi) ?? 0, e.seq));
      }
    }
    const hint = `pcaps: ${pcapDir}\nby hand: ${tsharkCommandHint(files[0]?.file ?? '', sas)}`;
    expect(dups, hint).toEqual([]);
    expect(esp).toBeGreaterThan(1000);
    // Not vacuous: the HA's data SA was seen past the block the restart skipped.
    expect(maxSeq.get(HA_DATA_SPI) ?? 0, hint).toBeGreaterThan(ESP_SEQ_BLOCK);
  });
});
