// Scratch network namespaces for the I/O benchmarks (bench/io.ts) and the tunnel edge tests:
// `ip netns add d6t-<pid>-<tag>`, veth pairs between them, and removal of all of it even when a run
// fails or is killed (plus reaping of leftovers whose process is gone). Every command runs inside
// the namespaces it made; it never touches the caller's namespace, links or rules. Needs root.
// (testbed/ will be the project's full testbed; this is the minimum the edge needs, kept apart.)
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

const PREFIX = 'd6t-';

function run(cmd: string, args: string[], input?: string): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(err.stderr || err.message).trim()}`);
  }
}

export class Netns {
  readonly path: string;
  constructor(readonly name: string) {
    this.path = `/run/netns/${name}`;
  }
  /** `ip -n NAME ARGS...` */
  ip(...args: string[]): string {
    return run('ip', ['-n', this.name, ...args]);
  }
  /** Runs a command inside the namespace. */
  exec(cmd: string, args: string[] = [], input?: string): string {
    return run('ip', ['netns', 'exec', this.name, cmd, ...args], input);
  }
  sysctl(key: string, value: string | number): void {
    this.exec('sysctl', ['-qw', `${key}=${value}`]);
  }
  /** Adds an address (IPv6 without duplicate address detection, so it is usable at once). */
  addr(ifname: string, cidr: string): void {
    if (cidr.includes(':')) this.ip('addr', 'add', cidr, 'dev', ifname, 'nodad');
    else this.ip('addr', 'add', cidr, 'dev', ifname);
  }
}

/** Namespaces made by one test file or benchmark run, all removed by cleanup(). */
export class Scratch {
  private readonly made: Netns[] = [];
  private readonly onExit = () => this.cleanup();

  constructor() {
    reapStale();
    process.once('exit', this.onExit);
  }

  /** A new namespace `d6t-<pid>-<tag>` with lo up and IPv6 autoconfiguration chatter off. */
  netns(tag: string): Netns {
    const ns = new Netns(`${PREFIX}${process.pid}-${tag}`);
    spawnSync('ip', ['netns', 'del', ns.name], { stdio: 'ignore' }); // a leftover of this same pid
    run('ip', ['netns', 'add', ns.name]);
    this.made.push(ns);
    ns.ip('link', 'set', 'lo', 'up');
    // New links must not send router solicitations or MLD reports into tests' captures.
    for (const k of ['net.ipv6.conf.default.router_solicitations', 'net.ipv6.conf.all.router_solicitations']) ns.sysctl(k, 0);
    ns.sysctl('net.ipv6.conf.default.accept_ra', 0);
    ns.sysctl('net.ipv6.conf.all.accept_ra', 0);
    return ns;
  }

  /**
   * A veth pair `aIf` in `a` <-> `bIf` in `b`, both up, with fixed MACs (so tests can pin
   * neighbours and no packet waits for neighbour discovery).
   */
  veth(a: Netns, aIf: string, b: Netns, bIf: string, macs?: [string, string]): void {
    a.ip('link', 'add', aIf, 'type', 'veth', 'peer', 'name', bIf, 'netns', b.name);
    if (macs) {
      a.ip('link', 'set', aIf, 'address', macs[0]);
      b.ip('link', 'set', bIf, 'address', macs[1]);
    }
    a.ip('link', 'set', aIf, 'up');
    b.ip('link', 'set', bIf, 'up');
  }

  cleanup(): void {
    for (const ns of this.made.splice(0)) spawnSync('ip', ['netns', 'del', ns.name], { stdio: 'ignore' });
    process.removeListener('exit', this.onExit);
  }
}

/** Removes d6t-<pid>-* namespaces whose process no longer exists (left by a killed run). */
export function reapStale(): void {
  let names: string[] = [];
  try {
    names = readdirSync('/run/netns');
  } catch {
    return;
  }
  for (const n of names) {
    const m = /^d6t-(\d+)-/.exec(n);
    if (!m) continue;
    const pid = Number(m[1]);
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch (e) {
      alive = (e as NodeJS.ErrnoException).code === 'EPERM';
    }
    if (!alive) spawnSync('ip', ['netns', 'del', n], { stdio: 'ignore' });
  }
}

/** True when this process can make namespaces and TUN devices (root with /dev/net/tun). */
export function canUseNetns(): boolean {
  return process.getuid?.() === 0 && spawnSync('ip', ['netns', 'list'], { stdio: 'ignore' }).status === 0;
}
