// Shared start-up of the end-to-end tests on real edges: the product's testbed/daemons.ts (a
// PROJECT_TOPOLOGY testbed with `dsmip6 ha` and `dsmip6 mn`, logs, waits, sockets, captures,
// teardown) run on the compiled CLI in dist/ (rebuilt only when older than the sources), with the
// configs test/fixtures/e2e-{ha,mn}.json by default. A thin wrapper: it must never hold daemon logic
// of its own, never build when dist/ is fresh, and never assert: tests do.
//
//   const d = await startDaemons({ mnStartIface: 'v6net0' });
//   try { await d.waitForLog('ha', /binding created/); } finally { await d.destroy(); }
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemons as startProductDaemons, type DaemonName, type Daemons, type DaemonsOptions } from '../../testbed/daemons.js';

export type { Capture, DaemonName, Daemons, LogLine, LogMatch, MnIface } from '../../testbed/daemons.js';

/** The project root (this file is test/support/daemons.ts). */
export const ROOT = new URL('../..', import.meta.url).pathname;
export const CLI = join(ROOT, 'dist/cli/main.js');
/** Source trees whose .ts files dist/cli/main.js is built from (directly or through imports). */
export const SOURCE_DIRS = ['cli', 'mn', 'ha', 'common', 'tunnel', 'ipsec', 'config', 'testbed', 'native', 'demo'] as const;

/** Newest modification time (ms) of any .ts under the source trees (0 when there is none). */
export function newestSourceMtime(root = ROOT, dirs: readonly string[] = SOURCE_DIRS): number {
  let newest = 0;
  const walk = (dir: string): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules' && e.name !== 'build') walk(p);
      } else if (e.name.endsWith('.ts')) {
        newest = Math.max(newest, statSync(p).mtimeMs);
      }
    }
  };
  for (const d of dirs) walk(join(root, d));
  return newest;
}

/** True when `target` (default dist/cli/main.js) is missing or older than the newest source .ts. */
export function distIsStale(target = CLI): boolean {
  if (!existsSync(target)) return true;
  return statSync(target).mtimeMs < newestSourceMtime();
}

/**
 * Builds dist/ with tsc when it is stale (see distIsStale); returns whether it built. Other
 * engineers' type errors elsewhere do not stop tsc from emitting, so only a missing output fails.
 */
export function ensureBuilt(target = CLI): boolean {
  if (!distIsStale(target)) return false;
  const r = spawnSync(join(ROOT, 'node_modules/.bin/tsc'), ['-p', join(ROOT, 'tsconfig.json')], { cwd: ROOT, encoding: 'utf8' });
  if (!existsSync(target)) throw new Error(`tsc did not produce ${target} (exit ${r.status}):\n${r.stdout}${r.stderr}`);
  return true;
}

export interface StartOptions extends Omit<DaemonsOptions, 'cli' | 'haConfig' | 'mnConfig' | 'socketDir'> {
  /** Config files, relative to the project root; defaults test/fixtures/e2e-{ha,mn}.json. */
  haConfig?: string;
  mnConfig?: string;
}

/**
 * Builds dist/ when stale, then testbed/daemons.ts startDaemons: the testbed, the HA (waits for
 * "ha: started"), opts.beforeMn, then the MN with only opts.mnStartIface up (default v6net0).
 */
export async function startDaemons(opts: StartOptions = {}): Promise<Daemons & { readonly states: Record<DaemonName, string> }> {
  ensureBuilt();
  // Each run its own state files (the daemons' --state, given through its environment variable so
  // testbed/daemons.ts needs no option): runs side by side must not restore each other's bindings.
  const stateDir = mkdtempSync(join(tmpdir(), 'dsmip6-e2e-state-'));
  const states: Record<DaemonName, string> = { ha: join(stateDir, 'ha.db'), mn: join(stateDir, 'mn.db') };
  let d: Daemons;
  try {
    d = await startProductDaemons({
      ...opts,
      extraEnv: { DSMIP6_HA_STATE: states.ha, DSMIP6_MN_STATE: states.mn, ...(opts.extraEnv ?? {}) },
      cli: CLI,
      haConfig: join(ROOT, opts.haConfig ?? 'test/fixtures/e2e-ha.json'),
      mnConfig: join(ROOT, opts.mnConfig ?? 'test/fixtures/e2e-mn.json'),
    });
  } catch (e) {
    rmSync(stateDir, { recursive: true, force: true });
    throw e;
  }
  const destroy = d.destroy.bind(d);
  return Object.assign(d, {
    states,
    destroy: async () => {
      await destroy();
      rmSync(stateDir, { recursive: true, force: true });
    },
  });
}
