// The home agent daemon: HomeAgent (ha/agent.ts) on real edges in the namespace it runs in — a TUN
// as its Device, an AF_PACKET/raw MipPacketIo on the public interface (behind the nft ingress drop),
// UDP 4191 on the HA's IPv4 address — a real clock and setTimeout scheduler, and HomeLink duties
// driven by the binding cache, followed as the agent reports changes (and on a slow poll). Logs
// (common/log.ts) one line per binding created / updated / deleted or expired, handover and NAT
// change with hoa, coa, seq and status as fields, and a rate-limited line when drops or rejected BUs
// rose; serves Prometheus metrics (ha/metrics.ts) when configured. Nothing here runs per packet.
// Clean shutdown on SIGINT / SIGTERM.
// Bindings and outbound ESP sequence high marks live in the state file (ha/store.ts): a restart,
// kill -9 included, forwards for its MNs at once and never reuses a sequence number. A binding
// change is written on a worker thread (BindingWriter) and its BA leaves once the write is on disk,
// while data already flows to the new CoA: the fsync never stalls the event loop.
import { haKeying, loadHaConfig } from '../config/index.js';
import type { HaConfig } from '../config/schema.js';
import { installMipIngressDrop, openDaemonTun, openMipPacketIo, openUdp4Bind, plainEspDevice, removeMipIngressDrop, type Bind, type MipPacketIo } from '../tunnel/edge.js';
import type { TunDevice } from '../tunnel/tun.js';
import { HA_SOCKET } from '../common/control.js';
import { Daemon } from '../common/daemon.js';
import { HomeAgent } from './agent.js';
import { tryNativeEspTransforms } from '../tunnel/native-esp.js';
import { haControlHandler } from './status.js';
import { wallClockScheduler } from '../common/timer.js';
import type { BindingEntry } from './bcache.js';
import { HomeLink } from './homelink.js';
import { DropBursts, type LogFormat, type Logger, type LogLevel } from '../common/log.js';
import { hostPort } from '../common/metrics.js';
import { HaMetrics } from './metrics.js';
import { BindingWriter, HaStore } from './store.js';

export interface HaDaemonOptions {
  configFile: string;
  /** TUN name. Default dsmip6ha0. */
  tunName?: string;
  /** Control socket for `dsmip6 status` (root only, 0600). Default /run/dsmip6/ha.sock. */
  controlSocket?: string;
  /**
   * State file (ha/store.ts): bindings and outbound ESP sequence high marks, so a restart, kill -9
   * included, resumes forwarding without new registrations and never reuses a sequence number.
   * Absent: nothing is kept (in-process tests only; `dsmip6 ha` always passes one).
   */
  stateFile?: string;
  /** Binding-cache poll period, ms (a safety net: changes are followed as the agent reports them). Default 1000. */
  pollMs?: number;
  /** Override the config's log block (the command line's --log-level / --log-format). */
  logLevel?: LogLevel;
  logFormat?: LogFormat;
  /** A logger to use instead of one made from the config (tests). */
  logger?: Logger;
  /** Override the config's metrics.listen ('host:port'); 'off' serves none. */
  metricsListen?: string;
  /** Period of the drop / rejected-BU summary lines, ms. Default 10000. */
  dropReportMs?: number;
}

/** '129 x2, 135 x1' / 'no-binding 12, ipsec-in:replay 1': the largest first. */
function summary(delta: Record<string, number>, sep: string): string {
  return Object.entries(delta)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k}${sep}${n}`)
    .join(', ');
}

export class HaDaemon extends Daemon {
  private poll: NodeJS.Timeout | null = null;
  private readonly known = new Map<string, string>();
  /** The last entry seen per HoA: a deleted binding is told apart as expired or deregistered by it. */
  private readonly lastEntry = new Map<string, BindingEntry>();
  /** Present when a metrics address is configured. */
  metrics?: HaMetrics;
  agent!: HomeAgent;
  private store: HaStore | undefined;
  /** Binding writes off the event loop (the state file's second connection); present with a state file. */
  private writer: BindingWriter | undefined;

  private constructor(
    private readonly cfg: HaConfig,
    private readonly opts: HaDaemonOptions,
  ) {
    super('ha', opts, cfg.log);
  }

  static start(opts: HaDaemonOptions): Promise<HaDaemon> {
    return Daemon.opened(new HaDaemon(loadHaConfig(opts.configFile), opts));
  }

  protected counters(): unknown {
    return this.agent?.counters;
  }

  protected async open(): Promise<void> {
    const cfg = this.cfg;
    const tunName = this.opts.tunName ?? 'dsmip6ha0';
    // The control socket first: the single-instance lock (common/daemon.ts).
    await this.listenControl(this.opts.controlSocket ?? HA_SOCKET, 'ha', (req) => haControlHandler(this.agent, () => Date.now())(req), () => this.agent !== undefined);
    // The state file next, before the TUN, nftables or the home link are touched: one that cannot
    // be used stops the start with its StateStoreError (naming the file and the fix).
    if (this.opts.stateFile !== undefined) {
      const st = new HaStore(this.opts.stateFile, { log: (l) => this.log(l) });
      this.store = st;
      this.teardown.push(() => st.close());
      // Torn down after the agent (newest first) and before the store: every write asked for is
      // on disk before the stop completes.
      const writer = new BindingWriter(st.file);
      this.writer = writer;
      this.teardown.push(() => writer.close());
    }
    // Metrics right after the lock: a taken port stops the start before anything is set up.
    this.metrics = await this.listenMetrics(this.opts.metricsListen ?? cfg.metrics?.listen, () => new HaMetrics(() => this.agent));
    const tun: TunDevice = openDaemonTun(tunName);
    this.teardown.push(() => tun.close());

    const pub = cfg.interfaces.public;
    installMipIngressDrop({ ifname: pub });
    this.teardown.push(() => removeMipIngressDrop({ ifname: pub }));
    const mipIo: MipPacketIo = openMipPacketIo({ ifname: pub });
    this.teardown.push(() => mipIo.close());

    let bind: Bind | undefined;
    if (cfg.haIpv4Address !== undefined) {
      const b = openUdp4Bind({ address: cfg.haIpv4Address, port: cfg.udpPort });
      bind = b;
      this.teardown.push(() => b.close());
    }

    // Plain ESP on the home link: an MN that came home deregisters from its HoA with no HAO and
    // gets the BA the same way (RFC 6275 §11.5.5). The raw socket is bound to the home interface
    // so the BA is not routed into the TUN by the HoA's /128 while the binding is being removed.
    const homeIf = cfg.interfaces.homeLink;
    installMipIngressDrop({ ifname: homeIf, espTo: [cfg.haAddress] });
    this.teardown.push(() => removeMipIngressDrop({ ifname: homeIf }));
    const homeIo: MipPacketIo = openMipPacketIo({ ifname: homeIf, sendInterface: homeIf });
    this.teardown.push(() => homeIo.close());
    const plainIpv6 = plainEspDevice(homeIo, { receive: true });

    const homeLink = new HomeLink({ ifname: cfg.interfaces.homeLink, tunName });
    this.teardown.push(async () => {
      await homeLink.cleanup().catch((e: unknown) => this.log(`homelink cleanup failed: ${(e as Error).message}`, {}, 'warn'));
    });

    // Each change the agent reports is followed for its HoA (the whole cache on a slow poll, a safety net),
    // so the proxy entries and TUN routes follow a binding within milliseconds: packets for a HoA
    // that arrive between a deregistration and its route removal are dropped as 'no-binding'.
    let check: (only?: string) => void = () => {};
    const esp = tryNativeEspTransforms();
    if (!esp.transforms) this.log(`ESP on node:crypto: the native ESP transforms are not available (${esp.reason})`, {}, 'warn');
    const agent = new HomeAgent({
      config: cfg,
      ...(esp.transforms ? { espTransforms: esp.transforms } : {}),
      device: tun,
      mipIo,
      plainIpv6,
      ...(bind ? { bind } : {}),
      now: () => Date.now(),
      scheduler: wallClockScheduler,
      onBindingChange: (hoa) => {
        queueMicrotask(() => check(hoa));
        // The agent holds the BA until this settles: a binding the MN believes in is on disk first.
        return this.persist(hoa);
      },
    });
    this.agent = agent;
    this.teardown.push(() => agent.close());

    // Saved state: before any packet moves (the edges deliver from the next event-loop turn on), the
    // outbound SAs continue after their high marks and the bindings come back (their home-link
    // duties follow from check() below, like any cache change).
    const restoredHoas = new Set<string>();
    const store = this.store;
    if (store) {
      const seqs = store.continueOutboundSequences(agent.engine, haKeying(cfg).sas);
      this.log(`outbound ESP sequence numbers continue after ${[...seqs].map(([spi, n]) => `0x${spi.toString(16)}:${n}`).join(', ') || 'nothing (no outbound SA)'}`);
      const { restored, expired, refused } = agent.restore(store.loadBindings());
      for (const r of refused) {
        store.deleteBinding(r.entry.hoa);
        this.log(`saved binding of ${r.entry.hoa} not restored (${r.reason}): dropped, that mobile node registers again`, { hoa: r.entry.hoa }, 'warn');
      }
      for (const e of expired) {
        store.deleteBinding(e.hoa);
        this.log(`binding of ${e.hoa} expired while stopped (at ${new Date(e.expiresAt).toISOString()}): dropped, that mobile node registers again`, { hoa: e.hoa }, 'warn');
      }
      for (const b of restored) restoredHoas.add(b.hoa);
    }

    // Serialise home-link changes so attach/detach of one HoA never interleave.
    let chain: Promise<void> = Promise.resolve();
    const enqueue = (f: () => Promise<void>) => {
      chain = chain.then(f).catch((e: unknown) => this.log(`homelink error: ${(e as Error).message}`, {}, 'error'));
    };
    const describe = (b: BindingEntry) =>
      `${b.hoa} -> ${b.coa}${b.udp ? ' (udp' + (b.natAddress ? `, nat ${b.natAddress}:${b.natPort}` : '') + ')' : ''}${b.ipv4Hoa ? ` ipv4Hoa ${b.ipv4Hoa}` : ''} lifetime ${b.lifetimeSeconds}s seq ${b.sequence}`;
    // Accepted BUs are answered with status 0 (ha/registration.ts); rejections are summarised below.
    const fieldsOf = (b: BindingEntry) => ({
      hoa: b.hoa,
      coa: b.coa,
      seq: b.sequence,
      status: 0,
      lifetime: b.lifetimeSeconds,
      ...(b.udp ? { udp: true } : {}),
      ...(b.natAddress !== undefined ? { nat: `${b.natAddress}:${b.natPort}` } : {}),
      ...(b.ipv4Hoa ? { ipv4Hoa: b.ipv4Hoa } : {}),
    });
    // One HoA's change (the agent reports them one by one: no O(N) snapshot per BU), or its removal.
    const follow = (hoa: string, b: BindingEntry | undefined): void => {
      if (b === undefined) {
        if (!this.known.has(hoa)) return;
        this.known.delete(hoa);
        const last = this.lastEntry.get(hoa);
        this.lastEntry.delete(hoa);
        // Expiry removes a binding at its expiresAt; a deregistration (Lifetime 0) before it.
        const expired = last !== undefined && last.expiresAt <= Date.now();
        this.log(`binding deleted: ${hoa}${expired ? ' (expired)' : ''}`, { hoa, ...(last ? { coa: last.coa } : {}), change: expired ? 'expired' : 'deregistered' }, expired ? 'warn' : 'info');
        enqueue(async () => {
          await homeLink.detach(hoa);
          this.log(`home link: released ${hoa}`);
        });
        return;
      }
      const sig = `${b.coa}|${b.natAddress ?? ''}|${b.natPort ?? ''}|${b.ipv4Hoa ?? ''}`;
      const prev = this.known.get(hoa);
      const before = this.lastEntry.get(hoa);
      this.lastEntry.set(hoa, b);
      if (prev === sig) return;
      this.known.set(hoa, sig);
      const change = prev === undefined ? (restoredHoas.delete(hoa) ? 'restored' : 'created') : 'updated';
      this.log(`binding ${change}: ${describe(b)}`, { ...fieldsOf(b), change });
      if (before && before.coa !== b.coa) {
        this.metrics?.handover();
        this.log(`handover: ${hoa} ${before.coa} -> ${b.coa}`, { ...fieldsOf(b), from: before.coa });
      }
      const natWas = before?.natAddress !== undefined ? `${before.natAddress}:${before.natPort}` : undefined;
      const natIs = b.natAddress !== undefined ? `${b.natAddress}:${b.natPort}` : undefined;
      if (natWas !== natIs && (before !== undefined || natIs !== undefined)) {
        this.log(natIs ? `nat: ${hoa} behind a NAT at ${natIs}${natWas ? ` (was ${natWas})` : ''}` : `nat: ${hoa} no longer behind a NAT`, {
          ...fieldsOf(b),
          ...(natWas ? { natWas } : {}),
        });
      }
      if (prev === undefined || prev.split('|')[3] !== (b.ipv4Hoa ?? '')) {
        const hb = { hoa: b.hoa, ...(b.ipv4Hoa ? { ipv4Hoa: b.ipv4Hoa } : {}), flags: { L: b.flags.L, R: b.flags.R } };
        enqueue(async () => {
          if (prev !== undefined) await homeLink.detach(hoa);
          await homeLink.attach(hb);
          this.log(`home link: proxying ${hb.hoa}${hb.ipv4Hoa ? ` and ${hb.ipv4Hoa}` : ''} via ${tunName}`);
        });
      }
    };
    // The whole cache: the slow poll (a safety net) and the restore.
    check = (only?: string) => {
      if (only !== undefined) {
        const b = agent.cache.get(only);
        return follow(b?.hoa ?? only, b);
      }
      const now = new Map<string, BindingEntry>();
      for (const b of agent.cache.snapshot()) now.set(b.hoa, b);
      for (const [hoa, b] of now) follow(hoa, b);
      for (const hoa of [...this.known.keys()]) if (!now.has(hoa)) follow(hoa, undefined);
    };
    // Restored bindings get their proxy entries and routes now (the TUN and its routes died with the
    // previous process; proxy entries left behind are taken over, HomeLink adds with REPLACE).
    if (restoredHoas.size > 0) check();
    this.poll = setInterval(() => check(), this.opts.pollMs ?? 1000);
    // Bursts: at most one line per period for drops, and one for rejected BUs, only when they rose.
    const period = this.opts.dropReportMs ?? 10_000;
    const drops = new DropBursts({
      read: () => agent.counters.drops,
      periodMs: period,
      report: (d, total, ms) => this.log(`drops: ${total} in ${Math.round(ms / 1000)} s (${summary(d, ' ')})`, { drops: d, total }, 'warn'),
    }).start();
    const rejected = new DropBursts({
      read: () => agent.counters.buRejected,
      periodMs: period,
      report: (d, total, ms) => this.log(`BUs rejected: ${total} in ${Math.round(ms / 1000)} s (status ${summary(d, ' x')})`, { rejected: d, total }, 'warn'),
    }).start();
    this.teardown.push(() => {
      drops.stop();
      rejected.stop();
    });
    this.teardown.push(async () => {
      if (this.poll) clearInterval(this.poll);
      this.poll = null;
      await chain;
    });
    this.log(
      `started: tun ${tunName}, public ${pub}${cfg.haIpv4Address ? `, udp ${cfg.haIpv4Address}:${cfg.udpPort}` : ''}, home link ${cfg.interfaces.homeLink}, ${cfg.mobileNodes.length} mobile node(s)` +
        `${this.metricsAddress ? `, metrics http://${hostPort(this.metricsAddress)}/metrics` : ''}`,
      { tun: tunName, ...(this.metricsAddress ? { metrics: hostPort(this.metricsAddress) } : {}) },
    );
  }

  /**
   * Writes the binding of `hoa` as the cache now holds it (or its removal), in the order of the
   * changes; settles once it is on disk. A failure is logged and settles too: the binding itself
   * stands (its BA leaves), only a restart would lose it.
   */
  private persist(hoa: string): Promise<void> | undefined {
    const w = this.writer;
    if (!w) return undefined;
    const b = this.agent.cache.get(hoa);
    return (b ? w.save(b, this.agent.udpEndpoint(hoa)) : w.delete(hoa)).catch((e: unknown) => {
      this.log(`state file ${w.file}: saving the binding of ${hoa} failed (${(e as Error).message}); a restart now would lose it`, { hoa }, 'error');
    });
  }
}
