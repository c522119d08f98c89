// class Testbed: builds a TopologySpec as network namespaces joined by veth pairs (and bridges for
// LANs), runs commands and long-lived processes inside them, changes the network while tests
// run (loss, rate, links down/up, conntrack, addresses, routes), and removes everything it made.
// It must never create anything outside the namespaces it names (all its veths are made inside
// them), never touch a namespace of another run, and never leave one behind: destroy() in the
// normal case, a synchronous teardown at exit or on a signal, and a sweep at the next create()
// after a SIGKILL.
import { spawn as spawnChild, type ChildProcess, type StdioOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { parseCidr, type Cidr } from './addr.js';
import { trackForExit, untrackForExit, type SyncCleanable } from './cleanup.js';
import { lossScript, rateArgv } from './impair.js';
import { checkPrefix, DEFAULT_PREFIX, nsNameOf, runIdOf } from './names.js';
import { natScript, natSysctls } from './nat.js';
import { waitReady, type ReadyCheck } from './ready.js';
import { CommandError, mustRun, requireTools, run, tool, type RunOptions, type RunResult } from './run.js';
import {
  checkLoss,
  checkRate,
  checkRoute,
  interfacesByHost,
  lanPort,
  placedEnds,
  routeDevice,
  routeFamily,
  ruleFamily,
  validateSpec,
  type LinkEndRef,
  type PlacedEnd,
  type RateSpec,
  type RouteSpec,
  type TopologySpec,
} from './spec.js';
import { DEFAULT_STATE_DIR, processStartTime, removeState, writeState, type RunState } from './state.js';
import { existingNamespaces, NETNS_DIR, removeNamespaceSync, removeRun, sweep } from './sweep.js';

export interface TestbedOptions {
  /** Namespace name prefix (1-8 of a-z0-9); default "d6". Names are "<prefix>-<pid>-<seq>-<host>". */
  prefix?: string;
  /** Where the run is recorded; default /run/dsmip6-testbed. */
  stateDir?: string;
  /** Leave the testbed up when this process ends (what `dsmip6 testbed up` does); default false. */
  hold?: boolean;
  /** Remove leftovers of dead runs of the same prefix first; default true. */
  sweep?: boolean;
  /** Called with one line per notable event (sweep results); default: silent. */
  log?: (line: string) => void;
  /** Topology name for the record; default spec.name or "custom". */
  topologyName?: string;
}

export interface ExecOptions extends RunOptions {
  /** Throw CommandError when the command fails instead of returning its status. */
  check?: boolean;
}

export interface SpawnOptions {
  /** Default: all three piped. */
  stdio?: StdioOptions;
  env?: NodeJS.ProcessEnv;
}

/** Which packets of a link end are lost: those it sends ("out", as netem on it would), receives ("in"), or both. */
export type LossDirection = 'out' | 'in' | 'both';

/** A device as the kernel sees it: namespace and interface name. */
interface Device {
  ns: string;
  ifname: string;
}

// Shared by every copy of this module in the process (test runners may load it twice), so two
// testbeds of one process never get the same run id.
const SEQ_KEY = Symbol.for('dsmip6.testbed.seq');
type SeqHolder = { [SEQ_KEY]?: number };

function nextSeq(prefix: string, stateDir: string): number {
  const g = globalThis as SeqHolder;
  for (let tries = 0; tries < 1000; tries++) {
    const seq = g[SEQ_KEY] ?? 0;
    g[SEQ_KEY] = seq + 1;
    const runId = runIdOf(prefix, process.pid, seq);
    // A record or namespace of the same id can only be from an earlier process with our
    // (recycled) pid: sweep kept it because the pid lives, so leave it to a later sweep.
    if (!existsSync(`${stateDir}/${runId}.json`) && !existingNamespaces().some((n) => n.startsWith(`${runId}-`))) return seq;
  }
  throw new Error('no free testbed run id');
}

const GRACE_MS = 1000;

export class Testbed implements SyncCleanable {
  /** "<prefix>-<pid>-<seq>": names this run's namespaces and its record. */
  readonly runId: string;
  readonly spec: TopologySpec;
  readonly prefix: string;
  readonly stateDir: string;

  private readonly ns = new Map<string, string>();
  private readonly ends = new Map<string, { own: Device; peer: Device; placed: PlacedEnd }>();
  private readonly addrs: Map<string, Map<string, Cidr[]>>;
  private readonly routes = new Map<string, RouteSpec[]>();
  private readonly children = new Set<ChildProcess>();
  /** Ends taken down with linkDown (their peers cannot become ready until they are up again). */
  private readonly down = new Set<string>();
  private state: RunState;
  private destroying: Promise<void> | undefined;
  private gone = false;

  private constructor(spec: TopologySpec, prefix: string, seq: number, stateDir: string, topologyName: string) {
    this.spec = spec;
    this.prefix = prefix;
    this.stateDir = stateDir;
    this.runId = runIdOf(prefix, process.pid, seq);
    for (const h of spec.hosts) this.ns.set(h.name, nsNameOf(this.runId, h.name));
    for (const l of spec.lans ?? []) this.ns.set(l.name, nsNameOf(this.runId, l.name));
    for (const pe of placedEnds(spec)) {
      const own = { ns: this.ns.get(pe.end.host)!, ifname: pe.end.ifname };
      const peer = pe.peer.kind === 'host' ? { ns: this.ns.get(pe.peer.host)!, ifname: pe.peer.ifname } : { ns: this.ns.get(pe.peer.lan)!, ifname: pe.peer.port };
      this.ends.set(endKey(pe.end), { own, peer, placed: pe });
    }
    this.addrs = interfacesByHost(spec);
    for (const h of spec.hosts) this.routes.set(h.name, [...(h.routes ?? [])]);
    this.state = {
      version: 1,
      runId: this.runId,
      prefix,
      pid: process.pid,
      pidStart: processStartTime(process.pid),
      held: false,
      created: new Date().toISOString(),
      topology: topologyName,
      namespaces: Object.fromEntries(this.ns),
      spec,
    };
  }

  /**
   * Builds the whole spec. Sweeps dead runs of the same prefix first, records the run before
   * making anything (so a crash mid-way is swept too), and removes what it made if any step fails.
   */
  static async create(spec: TopologySpec, opts: TestbedOptions = {}): Promise<Testbed> {
    validateSpec(spec);
    const prefix = opts.prefix ?? DEFAULT_PREFIX;
    checkPrefix(prefix);
    if (typeof process.getuid === 'function' && process.getuid() !== 0) {
      throw new Error('the testbed needs root: network namespaces, veths and nftables need CAP_SYS_ADMIN and CAP_NET_ADMIN');
    }
    const needsTc = placedEnds(spec).some((pe) => pe.end.rate);
    requireTools(['ip', 'nft', 'sysctl', ...(needsTc ? ['tc'] : [])]);
    const stateDir = opts.stateDir ?? DEFAULT_STATE_DIR;
    if (opts.sweep !== false) {
      const s = await sweep(prefix, { stateDir });
      if (s.removed.length) opts.log?.(`testbed: swept leftovers of dead runs: ${s.removed.join(', ')}`);
      for (const e of s.errors) opts.log?.(`testbed: sweep: ${e}`);
    }
    const tb = new Testbed(spec, prefix, nextSeq(prefix, stateDir), stateDir, opts.topologyName ?? spec.name ?? 'custom');
    writeState(stateDir, tb.state);
    // Tracked while building even when held: a crash half-way must not leave a held half-testbed.
    trackForExit(tb);
    try {
      await tb.build();
    } catch (e) {
      await tb.destroy().catch(() => {});
      throw e;
    }
    if (opts.hold) {
      tb.state.held = true;
      writeState(stateDir, tb.state);
      untrackForExit(tb);
    }
    return tb;
  }

  /** The namespace of a host (or LAN bridge), for `ip netns exec NAME ...` by hand. */
  nsName(host: string): string {
    const ns = this.ns.get(host);
    if (!ns) throw new Error(`testbed ${this.runId} has no host "${host}" (hosts: ${[...this.ns.keys()].join(', ')})`);
    return ns;
  }

  /** host (and LAN) name -> namespace name. */
  namespaces(): Record<string, string> {
    return Object.fromEntries(this.ns);
  }

  /** The interfaces of a host with their current addresses (as the testbed set them). */
  interfaces(host: string): { ifname: string; addresses: string[] }[] {
    this.nsName(host);
    return [...(this.addrs.get(host) ?? new Map<string, Cidr[]>())].map(([ifname, cs]) => ({ ifname, addresses: cs.map((c) => `${c.address}/${c.prefixLen}`) }));
  }

  /** Runs a command inside a host's namespace and waits for it (default timeout 10 s). */
  async exec(host: string, argv: readonly string[], opts: ExecOptions = {}): Promise<RunResult> {
    this.alive();
    if (argv.length === 0) throw new Error('exec: empty argv');
    const full = ['ip', 'netns', 'exec', this.nsName(host), ...argv];
    const r = await run(full, opts);
    if (opts.check && r.code !== 0) throw new CommandError(full, r);
    return r;
  }

  /** Starts a long-running command inside a host's namespace; destroy() stops it (SIGTERM, then SIGKILL). */
  spawn(host: string, argv: readonly string[], opts: SpawnOptions = {}): ChildProcess {
    this.alive();
    if (argv.length === 0) throw new Error('spawn: empty argv');
    // `ip netns exec` enters the namespace and execs the command in place, so the child's pid is
    // the command's own and signals reach it.
    const child = spawnChild(tool('ip'), ['netns', 'exec', this.nsName(host), ...argv], { stdio: opts.stdio ?? 'pipe', env: opts.env ?? process.env });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    child.once('error', () => this.children.delete(child));
    return child;
  }

  /** Sets the loss (0..100 %) of a link end: of what it sends ("out", default), receives, or both. */
  async setLoss(end: LinkEndRef, percent: number, direction: LossDirection = 'out'): Promise<void> {
    this.alive();
    const p: string[] = [];
    checkLoss(percent, 'loss', p);
    if (p.length) throw new RangeError(p[0]);
    const e = this.end(end);
    // Loss of what an end sends is applied where the peer receives it (see impair.ts for why).
    const devices = direction === 'out' ? [e.peer] : direction === 'in' ? [e.own] : [e.peer, e.own];
    for (const dev of devices) {
      await mustRun(['ip', 'netns', 'exec', dev.ns, 'nft', '-f', '-'], { input: lossScript(dev.ifname, percent) });
    }
  }

  /** Limits the rate of what a link end sends (tbf), or lifts the limit (null). */
  async setRate(end: LinkEndRef, rate: RateSpec | null): Promise<void> {
    this.alive();
    if (rate) {
      const p: string[] = [];
      checkRate(rate, 'rate', p);
      if (p.length) throw new RangeError(p.join('; '));
    }
    const { own } = this.end(end);
    const [tc, ...rest] = rateArgv(own.ifname, rate);
    const r = await run([tc, '-n', own.ns, ...rest]);
    // Lifting a limit that was never set is not an error.
    if (r.code !== 0 && !(rate === null && /No such file|handle of zero|Invalid handle/i.test(r.stderr))) throw new CommandError([tc, '-n', own.ns, ...rest], r);
  }

  /** Takes an interface down (its peer sees no carrier). Addresses stay; routes through it go, as in the kernel. */
  async linkDown(host: string, ifname: string): Promise<void> {
    this.alive();
    this.end({ host, ifname });
    await mustRun(['ip', '-n', this.nsName(host), 'link', 'set', 'dev', ifname, 'down']);
    this.down.add(endKey({ host, ifname }));
  }

  /**
   * Brings an interface up and puts back the routes through it: the kernel deletes a down
   * interface's routes and does not restore them, and tests expect "up" to mean "as before".
   */
  async linkUp(host: string, ifname: string): Promise<void> {
    this.alive();
    const e = this.end({ host, ifname });
    const ns = this.nsName(host);
    await mustRun(['ip', '-n', ns, 'link', 'set', 'dev', ifname, 'up']);
    this.down.delete(endKey({ host, ifname }));
    // The kernel accepts these while the carrier is still coming (it marks them "linkdown").
    const ifaces = this.addrs.get(host)!;
    for (const r of this.routes.get(host) ?? []) {
      if (routeDevice(r, ifaces) === ifname) await mustRun(routeArgv(ns, r, 'replace'));
    }
    // With the peer up, wait until both ends can carry traffic (see ready.ts); with the peer
    // down there is no carrier to wait for.
    const peer = e.placed.peer;
    if (peer.kind === 'host' && this.down.has(`${peer.host}/${peer.ifname}`)) return;
    await waitReady([this.readyCheck(e.placed), ...(peer.kind === 'host' ? [this.readyCheck(this.end(peer).placed)] : [])]);
  }

  /** Empties a host's connection tracking table (a NAT then forgets every binding). Needs conntrack. */
  async flushConntrack(host: string): Promise<void> {
    this.alive();
    await mustRun(['ip', 'netns', 'exec', this.nsName(host), tool('conntrack'), '-F']);
  }

  /** Adds an address ("2001:db8:1::5/64"; IPv6 without DAD) to an interface. */
  async addAddress(host: string, ifname: string, cidr: string): Promise<void> {
    this.alive();
    this.end({ host, ifname });
    const c = parseCidr(cidr);
    if (!c) throw new RangeError(`addAddress: "${cidr}" is not an address with a prefix length (e.g. 10.1.0.5/24)`);
    await mustRun(addrArgv(this.nsName(host), ifname, c, 'add'));
    this.addrs.get(host)!.get(ifname)!.push(c);
  }

  /** Removes an address from an interface. */
  async removeAddress(host: string, ifname: string, cidr: string): Promise<void> {
    this.alive();
    this.end({ host, ifname });
    const c = parseCidr(cidr);
    if (!c) throw new RangeError(`removeAddress: "${cidr}" is not an address with a prefix length`);
    await mustRun(addrArgv(this.nsName(host), ifname, c, 'del'));
    const list = this.addrs.get(host)!.get(ifname)!;
    const i = list.findIndex((x) => x.address === c.address && x.prefixLen === c.prefixLen);
    if (i >= 0) list.splice(i, 1);
  }

  /** Adds (or replaces: same destination, metric and table) a route; linkUp() restores it too. */
  async addRoute(host: string, route: RouteSpec): Promise<void> {
    this.alive();
    const ns = this.nsName(host);
    const p: string[] = [];
    checkRoute(route, 'route', this.addrs.get(host)!, p);
    if (p.length) throw new RangeError(`addRoute(${host}): ${p.join('; ')}`);
    await mustRun(routeArgv(ns, route, 'replace'));
    const list = this.routes.get(host)!;
    const i = list.findIndex((r) => sameKernelKey(r, route));
    if (i >= 0) list.splice(i, 1);
    list.push(route);
  }

  /** Removes a route (matched by destination, gateway, interface, metric and table). */
  async removeRoute(host: string, route: RouteSpec): Promise<void> {
    this.alive();
    const ns = this.nsName(host);
    if (!routeFamily(route)) throw new RangeError('removeRoute: say the family of a default route without "via"');
    await mustRun(routeArgv(ns, route, 'del'));
    const list = this.routes.get(host)!;
    const i = list.findIndex((r) => sameRoute(r, route));
    if (i >= 0) list.splice(i, 1);
  }

  /**
   * Stops the spawned processes, kills anything else still inside the namespaces, deletes the
   * namespaces (their veths and bridges go with them) and the run's record. Idempotent.
   */
  destroy(): Promise<void> {
    this.destroying ??= (async () => {
      this.gone = true;
      await this.stopChildren();
      const errors = await removeRun({ runId: this.runId, namespaces: [...this.ns.values()], state: this.state }, this.stateDir);
      untrackForExit(this);
      if (errors.length) throw new Error(`testbed ${this.runId}: ${errors.join('; ')}`);
    })();
    return this.destroying;
  }

  /** The exit/signal-time teardown (see cleanup.ts); synchronous, never throws. Prefer destroy(). */
  cleanupSync(): void {
    this.gone = true;
    for (const c of this.children) {
      try {
        c.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const ns of this.ns.values()) removeNamespaceSync(ns);
    if (![...this.ns.values()].some((ns) => existsSync(`${NETNS_DIR}/${ns}`))) removeState(this.stateDir, this.runId);
  }

  private alive(): void {
    if (this.gone) throw new Error(`testbed ${this.runId} is destroyed`);
  }

  private end(ref: LinkEndRef): { own: Device; peer: Device; placed: PlacedEnd } {
    const e = this.ends.get(endKey(ref));
    if (!e) {
      const known = [...this.ends.values()].filter((x) => x.placed.end.host === ref?.host).map((x) => x.own.ifname);
      throw new Error(`testbed: host "${ref?.host}" has no interface "${ref?.ifname}"${known.length ? ` (it has ${known.join(', ')})` : ''}`);
    }
    return e;
  }

  private async stopChildren(): Promise<void> {
    const waiting = [...this.children].filter((c) => c.exitCode === null && c.signalCode === null);
    if (!waiting.length) return;
    const exited = waiting.map((c) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r()))));
    for (const c of waiting) c.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((r) => (timer = setTimeout(r, GRACE_MS)));
    await Promise.race([Promise.all(exited), grace]);
    clearTimeout(timer);
    for (const c of waiting) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    // The namespaces' removal kills whatever is left; no need to wait for the exit events here.
  }

  // ---- building ----

  private async build(): Promise<void> {
    const hostNs = this.spec.hosts.map((h) => ({ h, ns: this.ns.get(h.name)! }));
    const lanNs = (this.spec.lans ?? []).map((l) => ({ l, ns: this.ns.get(l.name)! }));
    // Namespaces, with the sysctls that must hold before any interface exists ("default" is
    // what new interfaces inherit).
    await Promise.all([
      ...hostNs.map(async ({ h, ns }) => {
        await mustRun(['ip', 'netns', 'add', ns]);
        const fwd = h.forwarding;
        const v4 = fwd === true || (typeof fwd === 'object' && !!fwd.ipv4);
        const v6 = fwd === true || (typeof fwd === 'object' && !!fwd.ipv6);
        await sysctl(ns, {
          // No duplicate address detection: addresses are usable the moment they are added.
          'net.ipv6.conf.all.accept_dad': '0',
          'net.ipv6.conf.default.accept_dad': '0',
          // linkDown/linkUp keep IPv6 addresses, as they keep IPv4 ones.
          'net.ipv6.conf.all.keep_addr_on_down': '1',
          'net.ipv6.conf.default.keep_addr_on_down': '1',
          // A multi-homed host answers on the interface its policy routes choose; strict
          // reverse-path filtering would drop such traffic arriving on another interface.
          'net.ipv4.conf.all.rp_filter': '0',
          'net.ipv4.conf.default.rp_filter': '0',
          'net.ipv4.ip_forward': v4 ? '1' : '0',
          'net.ipv6.conf.all.forwarding': v6 ? '1' : '0',
          'net.ipv6.conf.default.forwarding': v6 ? '1' : '0',
        });
        await mustRun(['ip', '-n', ns, 'link', 'set', 'dev', 'lo', 'up']);
      }),
      ...lanNs.map(async ({ ns }) => {
        await mustRun(['ip', 'netns', 'add', ns]);
        // The bridge only switches frames: no addresses of its own, so it sends nothing itself.
        await sysctl(ns, { 'net.ipv6.conf.all.disable_ipv6': '1', 'net.ipv6.conf.default.disable_ipv6': '1' });
        await mustRun(['ip', '-n', ns, 'link', 'set', 'dev', 'lo', 'up']);
        // No STP (ports forward at once) and no multicast snooping (ND multicast reaches every member).
        await mustRun(['ip', '-n', ns, 'link', 'add', 'name', 'br0', 'type', 'bridge', 'stp_state', '0', 'mcast_snooping', '0']);
      }),
    ]);

    // Links: each veth is created directly inside its two namespaces, never in ours.
    await Promise.all([
      ...(this.spec.links ?? []).map(async (l) => {
        const a = this.ends.get(endKey(l.a))!;
        const b = this.ends.get(endKey(l.b))!;
        await mustRun(['ip', 'link', 'add', 'name', l.a.ifname, 'netns', a.own.ns, 'type', 'veth', 'peer', 'name', l.b.ifname, 'netns', b.own.ns]);
        await Promise.all([this.setupEnd(a.placed), this.setupEnd(b.placed)]);
      }),
      ...(this.spec.lans ?? []).map(async (lan) => {
        const lns = this.ns.get(lan.name)!;
        for (const [j, m] of lan.members.entries()) {
          const e = this.ends.get(endKey(m))!;
          const port = lanPort(j);
          await mustRun(['ip', 'link', 'add', 'name', m.ifname, 'netns', e.own.ns, 'type', 'veth', 'peer', 'name', port, 'netns', lns]);
          const mtu = e.placed.mtu;
          if (mtu !== undefined) await mustRun(['ip', '-n', lns, 'link', 'set', 'dev', port, 'mtu', String(mtu)]);
          await mustRun(['ip', '-n', lns, 'link', 'set', 'dev', port, 'master', 'br0', 'up']);
          await this.setupEnd(e.placed);
        }
        await mustRun(['ip', '-n', lns, 'link', 'set', 'dev', 'br0', 'up']);
      }),
    ]);

    // Per host: its own sysctls, routes, policy rules, NAT.
    await Promise.all(
      hostNs.map(async ({ h, ns }) => {
        if (h.sysctls && Object.keys(h.sysctls).length) await sysctl(ns, Object.fromEntries(Object.entries(h.sysctls).map(([k, v]) => [k, String(v)])));
        for (const r of h.routes ?? []) await mustRun(routeArgv(ns, r, 'replace'));
        for (const r of h.rules ?? []) {
          const argv = ['ip', '-n', ns, `-${ruleFamily(r)}`, 'rule', 'add'];
          if (r.from) argv.push('from', r.from);
          if (r.to) argv.push('to', r.to);
          if (r.iif) argv.push('iif', r.iif);
          if (r.priority !== undefined) argv.push('priority', String(r.priority));
          argv.push('table', String(r.table));
          await mustRun(argv);
        }
        if (h.nat) {
          await mustRun(['ip', 'netns', 'exec', ns, 'nft', '-f', '-'], { input: natScript(h.nat) });
          // The conntrack sysctls exist once the NAT rule has loaded nf_conntrack.
          await sysctl(ns, natSysctls(h.nat));
        }
      }),
    );

    // Every end carries traffic before create() returns (see ready.ts).
    await waitReady(placedEnds(this.spec).map((pe) => this.readyCheck(pe)));

    // Impairment declared in the spec.
    for (const pe of placedEnds(this.spec)) {
      if (pe.end.loss) await this.setLoss(pe.end, pe.end.loss, 'out');
      if (pe.end.rate) await this.setRate(pe.end, pe.end.rate);
    }
  }

  private readyCheck(pe: PlacedEnd): ReadyCheck {
    return { ns: this.ns.get(pe.end.host)!, ifname: pe.end.ifname, ipv6: pe.end.ipv6 !== false };
  }

  private async setupEnd(pe: PlacedEnd): Promise<void> {
    const ns = this.ns.get(pe.end.host)!;
    const ifname = pe.end.ifname;
    // Before the link comes up, so an IPv4-only end never gets even a link-local address.
    if (pe.end.ipv6 === false) await sysctl(ns, { [`net.ipv6.conf.${ifname}.disable_ipv6`]: '1' });
    if (pe.end.mac !== undefined) await mustRun(['ip', '-n', ns, 'link', 'set', 'dev', ifname, 'address', pe.end.mac]);
    if (pe.mtu !== undefined) await mustRun(['ip', '-n', ns, 'link', 'set', 'dev', ifname, 'mtu', String(pe.mtu)]);
    for (const a of pe.end.addresses ?? []) await mustRun(addrArgv(ns, ifname, parseCidr(a)!, 'add'));
    await mustRun(['ip', '-n', ns, 'link', 'set', 'dev', ifname, 'up']);
  }
}

function endKey(e: LinkEndRef): string {
  return `${e?.host}/${e?.ifname}`;
}

function sysctl(ns: string, values: Record<string, string>): Promise<string> {
  return mustRun(['ip', 'netns', 'exec', ns, 'sysctl', '-q', '-w', ...Object.entries(values).map(([k, v]) => `${k}=${v}`)]);
}

function addrArgv(ns: string, ifname: string, c: Cidr, verb: 'add' | 'del'): string[] {
  const argv = ['ip', '-n', ns, `-${c.family}`, 'addr', verb, `${c.address}/${c.prefixLen}`, 'dev', ifname];
  if (c.family === 6 && verb === 'add') argv.push('nodad');
  return argv;
}

function routeArgv(ns: string, r: RouteSpec, verb: 'replace' | 'del'): string[] {
  const argv = ['ip', '-n', ns, `-${routeFamily(r)}`, 'route', verb, r.to];
  if (r.via) argv.push('via', r.via);
  if (r.dev) argv.push('dev', r.dev);
  if (r.src) argv.push('src', r.src);
  if (r.metric !== undefined) argv.push('metric', String(r.metric));
  if (r.table !== undefined) argv.push('table', String(r.table));
  return argv;
}

// The kernel's "replace" matches a route by destination, metric and table.
function sameKernelKey(a: RouteSpec, b: RouteSpec): boolean {
  return a.to === b.to && routeFamily(a) === routeFamily(b) && (a.metric ?? 0) === (b.metric ?? 0) && (a.table ?? 254) === (b.table ?? 254);
}

function sameRoute(a: RouteSpec, b: RouteSpec): boolean {
  return sameKernelKey(a, b) && (a.via ?? '') === (b.via ?? '') && (a.dev ?? '') === (b.dev ?? '');
}

