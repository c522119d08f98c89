// Nothing outlives a testbed run (root only): sweep removes a leaked namespace whose owner is
// dead and keeps one whose owner lives; a process that ends without destroy() (normal exit,
// SIGTERM) tears its testbed down at exit; one killed by SIGKILL leaves leftovers (and an orphan
// process in them) that the next create() sweeps; a run held like `testbed up` makes survives
// its owner and sweep until removed. Child processes run the testbed module transpiled from the
// TypeScript sources here, so the test does not depend on a build. Each test uses its own
// prefix, so test files running in parallel never sweep each other's runs.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listRuns, removeRun, sweep, Testbed, type TopologySpec } from '../testbed/index.js';
import { DEFAULT_STATE_DIR, statePath, writeState } from '../testbed/state.js';
import { tempDir } from './support/tools.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const here = dirname(fileURLToPath(import.meta.url));

const SMALL: TopologySpec = {
  name: 'small',
  hosts: [{ name: 'a' }, { name: 'b' }],
  links: [{ a: { host: 'a', ifname: 'e0', addresses: ['10.77.0.1/24'] }, b: { host: 'b', ifname: 'e0', addresses: ['10.77.0.2/24'] } }],
};

function namespacesOf(runId: string): string[] {
  return readdirSync('/run/netns').filter((n) => n.startsWith(`${runId}-`));
}

function deadPid(): number {
  const r = spawnSync('true');
  return r.pid!;
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return cond();
}

describe.skipIf(!isRoot)('testbed cleanup (root)', () => {
  const tmp = tempDir('dsmip6-testbed-');
  let moduleUrl: string;
  const children: ChildProcess[] = [];
  const extraNs: string[] = [];

  beforeAll(() => {
    // The testbed module as plain ESM JavaScript for child processes (it imports only node: modules).
    const out = join(tmp.dir, 'testbed');
    mkdirSync(out);
    writeFileSync(join(tmp.dir, 'package.json'), '{"type":"module"}\n');
    const src = join(here, '..', 'testbed');
    for (const f of readdirSync(src).filter((n) => n.endsWith('.ts'))) {
      const js = ts.transpileModule(readFileSync(join(src, f), 'utf8'), {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      }).outputText;
      writeFileSync(join(out, f.replace(/\.ts$/, '.js')), js);
    }
    moduleUrl = `file://${join(out, 'index.js')}`;
  });

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const p of ['dtbs', 'dtbk', 'dtbx', 'dtbh']) {
      for (const r of listRuns(p)) await removeRun(r);
    }
    for (const ns of extraNs) if (existsSync(`/run/netns/${ns}`)) spawnSync('ip', ['netns', 'del', ns]);
    tmp.cleanup();
  });

  /** Starts a node child that builds SMALL with `prefix`, then runs `after` (JS, with `tb` in scope); resolves with its first stdout line, parsed. */
  function child(prefix: string, after: string, hold = false): Promise<{ proc: ChildProcess; info: { runId: string; sleeper: number } }> {
    const code = `
      import { Testbed } from ${JSON.stringify(moduleUrl)};
      const tb = await Testbed.create(${JSON.stringify(SMALL)}, { prefix: ${JSON.stringify(prefix)}, hold: ${hold} });
      const sleeper = tb.spawn('a', ['sleep', '60'], { stdio: 'ignore' });
      console.log(JSON.stringify({ runId: tb.runId, sleeper: sleeper.pid }));
      ${after}
    `;
    const proc = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(proc);
    return new Promise((resolve, reject) => {
      let out = '';
      let err = '';
      const t = setTimeout(() => reject(new Error(`child did not report: ${err}`)), 15_000);
      proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      proc.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const nl = out.indexOf('\n');
        if (nl >= 0) {
          clearTimeout(t);
          resolve({ proc, info: JSON.parse(out.slice(0, nl)) as { runId: string; sleeper: number } });
        }
      });
      proc.once('exit', (c, s) => {
        clearTimeout(t);
        reject(new Error(`child exited (${c ?? s}) before reporting: ${err}`));
      });
    });
  }

  const exitOf = (p: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> =>
    p.exitCode !== null || p.signalCode !== null ? Promise.resolve({ code: p.exitCode, signal: p.signalCode }) : new Promise((r) => p.once('exit', (code, signal) => r({ code, signal })));

  it('sweep removes a leaked namespace of a dead owner, with the process left in it, and keeps a live owner\'s', async () => {
    const dead = `dtbs-${deadPid()}-0-leak`;
    const live = `dtbs-${process.pid}-99999-leak`;
    extraNs.push(dead, live);
    for (const ns of [dead, live]) expect(spawnSync('ip', ['netns', 'add', ns]).status).toBe(0);
    const orphan = spawn('ip', ['netns', 'exec', dead, 'sleep', '60'], { stdio: 'ignore' });
    children.push(orphan);
    await new Promise((r) => setTimeout(r, 100));

    const r = await sweep('dtbs');
    expect(r.removed).toContain(dead.replace(/-leak$/, ''));
    expect(r.kept.map((k) => k.runId)).toContain(live.replace(/-leak$/, ''));
    expect(r.errors).toEqual([]);
    expect(existsSync(`/run/netns/${dead}`)).toBe(false);
    expect(existsSync(`/run/netns/${live}`)).toBe(true);
    expect((await exitOf(orphan)).signal).toBe('SIGKILL');
  });

  it('a SIGKILLed owner leaves its namespaces, which the next create() sweeps (orphans too)', async () => {
    const { proc, info } = await child('dtbk', 'setInterval(() => {}, 1000);');
    proc.kill('SIGKILL');
    expect((await exitOf(proc)).signal).toBe('SIGKILL');
    // Nothing could run: the leftovers are there, with the orphaned sleep still inside.
    expect(namespacesOf(info.runId).sort()).toEqual([`${info.runId}-a`, `${info.runId}-b`]);
    expect(existsSync(statePath(DEFAULT_STATE_DIR, info.runId))).toBe(true);
    expect(existsSync(`/proc/${info.sleeper}`)).toBe(true);

    const tb = await Testbed.create(SMALL, { prefix: 'dtbk' });
    try {
      expect(namespacesOf(info.runId)).toEqual([]);
      expect(existsSync(statePath(DEFAULT_STATE_DIR, info.runId))).toBe(false);
      expect(await until(() => !existsSync(`/proc/${info.sleeper}`), 2000)).toBe(true);
      expect((await tb.exec('a', ['ping', '-c', '1', '-W', '1', '10.77.0.2'])).code).toBe(0);
    } finally {
      await tb.destroy();
    }
    expect(namespacesOf(tb.runId)).toEqual([]);
  });

  it('an owner that exits without destroy(), normally or by SIGTERM, tears its testbed down at exit', async () => {
    const normal = await child('dtbx', 'process.exit(0);');
    expect((await exitOf(normal.proc)).code).toBe(0);
    expect(namespacesOf(normal.info.runId)).toEqual([]);
    expect(existsSync(statePath(DEFAULT_STATE_DIR, normal.info.runId))).toBe(false);

    const termed = await child('dtbx', 'setInterval(() => {}, 1000);');
    termed.proc.kill('SIGTERM');
    // Our handler cleans up, then lets the signal end the process as it would have.
    expect((await exitOf(termed.proc)).signal).toBe('SIGTERM');
    expect(namespacesOf(termed.info.runId)).toEqual([]);
    expect(existsSync(statePath(DEFAULT_STATE_DIR, termed.info.runId))).toBe(false);
    expect(await until(() => !existsSync(`/proc/${termed.info.sleeper}`), 2000)).toBe(true);
  });

  it('a held run (as `testbed up` makes) outlives its owner and sweep, until removed', async () => {
    const held = await child('dtbh', 'process.exit(0);', true);
    await exitOf(held.proc);
    expect(namespacesOf(held.info.runId)).toHaveLength(2);
    const s = await sweep('dtbh');
    expect(s.removed).toEqual([]);
    expect(s.kept).toEqual([{ runId: held.info.runId, reason: expect.stringMatching(/held/) }]);
    const [info] = listRuns('dtbh');
    expect(info).toMatchObject({ runId: held.info.runId, held: true, ownerAlive: false });
    expect(await removeRun(info)).toEqual([]);
    expect(namespacesOf(held.info.runId)).toEqual([]);
    expect(listRuns('dtbh')).toEqual([]);
  });

  it('a recycled pid does not pass for the owner: the record\'s start time decides', async () => {
    // A record claiming this very process but with another start time: its owner is gone.
    const runId = `dtbs-${process.pid}-99998`;
    writeState(DEFAULT_STATE_DIR, {
      version: 1,
      runId,
      prefix: 'dtbs',
      pid: process.pid,
      pidStart: '1',
      held: false,
      created: new Date().toISOString(),
      topology: 'fake',
      namespaces: { a: `${runId}-a` },
      spec: SMALL,
    });
    expect(spawnSync('ip', ['netns', 'add', `${runId}-a`]).status).toBe(0);
    extraNs.push(`${runId}-a`);
    const r = await sweep('dtbs');
    expect(r.removed).toContain(runId);
    expect(existsSync(`/run/netns/${runId}-a`)).toBe(false);
  });
});
