// The systemd units (systemd/dsmip6-{ha,mn}.service) are well-formed: `systemd-analyze verify`
// accepts them (with ExecStart pointed at this clone's bin/dsmip6.js, since /usr/local/bin/dsmip6
// is not installed here), and independently of systemd, their ExecStart names a real subcommand
// with options its --help lists, the paths it passes are the ones the hardening makes writable, and
// the capability set is the network one.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureBuilt, ROOT } from './support/daemons.js';

const INSTALLED = '/usr/local/bin/dsmip6';

/** Section -> key -> values (a key may repeat). Comments and blank lines skipped; no line continuations in our units. */
function parseUnit(text: string): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {};
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const s = /^\[([A-Za-z]+)\]$/.exec(line);
    if (s) {
      section = s[1];
      out[section] ??= {};
      continue;
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (!kv || section === '') throw new Error(`not a key=value line in a section: ${raw}`);
    (out[section][kv[1]] ??= []).push(kv[2]);
  }
  return out;
}

const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

describe.each(['ha', 'mn'] as const)('systemd/dsmip6-%s.service', (role) => {
  const file = join(ROOT, `systemd/dsmip6-${role}.service`);
  const text = readFileSync(file, 'utf8');
  const unit = parseUnit(text);

  it('ExecStart runs `dsmip6 ROLE` with options its --help lists, on the paths the unit provides', () => {
    const svc = unit.Service;
    expect(svc.ExecStart).toHaveLength(1);
    const argv = svc.ExecStart[0].split(/\s+/);
    expect(argv[0]).toBe(INSTALLED);
    expect(argv[1]).toBe(role);
    ensureBuilt();
    const help = spawnSync(process.execPath, [join(ROOT, 'dist/cli/main.js'), role, '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    const opts = new Map<string, string>();
    for (let i = 2; i < argv.length; i += 2) {
      expect(argv[i]).toMatch(/^--[a-z-]+$/);
      expect(help.stdout, `${argv[i]} is not an option of dsmip6 ${role}`).toContain(`${argv[i]} <`);
      opts.set(argv[i], argv[i + 1]);
    }
    expect(opts.get('--config')).toBe(`/etc/dsmip6/${role}.json`);
    expect(opts.get('--socket')).toBe(`/run/dsmip6/${role}.sock`);
    expect(opts.get('--state')).toBe(`/var/lib/dsmip6/${role}.db`);
    // ProtectSystem=strict leaves only these writable: /run/dsmip6 and /var/lib/dsmip6.
    expect(svc.RuntimeDirectory).toEqual(['dsmip6']);
    expect(svc.StateDirectory).toEqual(['dsmip6']);
    expect(svc.ProtectSystem).toEqual(['strict']);
  });

  it('hardening: network capabilities only, restart on failure, no device or tunables lock-out', () => {
    const svc = unit.Service;
    expect(svc.CapabilityBoundingSet).toEqual(['CAP_NET_ADMIN CAP_NET_RAW']);
    expect(svc.AmbientCapabilities).toEqual(['CAP_NET_ADMIN CAP_NET_RAW']);
    expect(svc.NoNewPrivileges).toEqual(['yes']);
    expect(svc.Restart).toEqual(['on-failure']);
    expect(svc.KillSignal).toEqual(['SIGTERM']);
    // /dev/net/tun must stay visible; AF_PACKET and netlink must stay allowed.
    expect(svc.PrivateDevices).toBeUndefined();
    expect(svc.RestrictAddressFamilies?.[0].split(' ')).toEqual(expect.arrayContaining(['AF_PACKET', 'AF_NETLINK', 'AF_INET', 'AF_INET6', 'AF_UNIX']));
    expect(unit.Install.WantedBy).toEqual(['multi-user.target']);
    expect(unit.Unit.After).toEqual(['network-online.target']);
  });

  it.skipIf(!hasAnalyze)('systemd-analyze verify accepts it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dsmip6-unit-'));
    try {
      const f = join(dir, `dsmip6-${role}.service`);
      writeFileSync(f, text.replace(INSTALLED, join(ROOT, 'bin/dsmip6.js')));
      const r = spawnSync('systemd-analyze', ['verify', f], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr.split('\n').filter((l) => l.includes(`dsmip6-${role}.service`))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
