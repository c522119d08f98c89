// The mobile node daemon: MobileNode (mn/node.ts) on real edges in the namespace it runs in — a TUN
// carrying the home address (HoA /128 on it; a policy rule sends everything from the HoA into it),
// one AF_PACKET/raw MipPacketIo per watched interface merged into one (behind the nft ingress drop
// on each), a UDP 4191 Bind per IPv4 CoA (bound to the CoA; the per-source policy routing of the
// host picks the interface), NetWatch feeding moveTo, a real clock and setTimeout scheduler.
// Logs (common/log.ts) one line per registration change, handover, NAT change, expiry and failed
// registration with hoa, coa, seq and status as fields, and a rate-limited line when drops rose;
// serves Prometheus metrics (mn/metrics.ts) when configured. Nothing here runs per packet.
// Clean shutdown on SIGINT / SIGTERM.
// BU and outbound ESP sequence high marks live in the state file (mn/store.ts): a restart, kill -9
// included, registers with a newer BU and never reuses an ESP sequence number.
import { spawnSync } from 'node:child_process';
import { loadMnConfig, mnKeying } from '../config/index.js';
import type { MnConfig } from '../config/schema.js';
import type { EdgeCounters } from '../tunnel/counters.js';
import type { Bind } from '../tunnel/bind.js';
import type { PacketBatchHandler } from '../tunnel/device.js';
import { installMipIngressDrop, openDaemonTun, openMipPacketIo, openUdp4Bind, plainEspDevice, removeMipIngressDrop, type MipPacketIo } from '../tunnel/edge.js';
import type { TunDevice } from '../tunnel/tun.js';
import type { CareOfAddress } from './bul.js';
import { MnHomeLink } from './homelink.js';
import { homeInterface, type MovementConfig } from './movement.js';
import { NetWatch, preciseNow } from './netwatch.js';
import { MN_SOCKET } from '../common/control.js';
import { Daemon } from '../common/daemon.js';
import { MobileNode } from './node.js';
import { tryNativeEspTransforms } from '../tunnel/native-esp.js';
import { mnControlHandler } from './status.js';
import { wallClockScheduler } from '../common/timer.js';
import { DropBursts, type LogFormat, type Logger, type LogLevel } from '../common/log.js';
import { hostPort } from '../common/metrics.js';
import { MnMetrics } from './metrics.js';
import { BU_SEQ_BLOCK, MnStore } from './store.js';

export interface MnDaemonOptions {
  configFile: string;
  /** TUN name. Default dsmip6mn0. */
  tunName?: string;
  /** Policy routing table for traffic from the home address(es). Default 250. */
  table?: number;
  /** Priority of the "from HoA" rules (must come before the host's own per-source rules). Default 900. */
  rulePriority?: number;
  /** Control socket for `dsmip6 status` (root only, 0600). Default /run/dsmip6/mn.sock. */
  controlSocket?: string;
  /**
   * State file (mn/store.ts): BU and outbound ESP sequence high marks, so a restarted MN, kill -9
   * included, registers with a BU newer than any it sent and never reuses an ESP sequence number.
   * Absent: nothing is kept (in-process tests only; `dsmip6 mn` always passes one).
   */
  stateFile?: string;
  /** Home prefix length for movement detection. Default 64 (the HoA's /64). */
  homePrefixLength?: number;
  /** Override the config's log block (the command line's --log-level / --log-format). */
  logLevel?: LogLevel;
  logFormat?: LogFormat;
  /** A logger to use instead of one made from the config (tests). */
  logger?: Logger;
  /** Override the config's metrics.listen ('host:port'); 'off' serves none. */
  metricsListen?: string;
  /** Period of the drop summary line, ms. Default 10000. */
  dropReportMs?: number;
}

/** Several MipPacketIo (one per interface) as one: every tap feeds the handler, sends go out of the first (routed by the kernel). */
export class MultiMipPacketIo implements MipPacketIo {
  readonly ifname: string;
  readonly batchSize: number;
  constructor(private readonly ios: MipPacketIo[]) {
    if (ios.length === 0) throw new Error('MultiMipPacketIo needs at least one MipPacketIo');
    this.ifname = ios.map((i) => i.ifname).join(',');
    this.batchSize = ios[0].batchSize;
  }
  onBatch(handler: PacketBatchHandler | null): void {
    for (const io of this.ios) io.onBatch(handler);
  }
  send(packets: readonly Uint8Array[]): number {
    return this.ios[0].send(packets);
  }
  get counters(): EdgeCounters {
    const out = { ...this.ios[0].counters };
    for (const io of this.ios.slice(1)) {
      const c = io.counters;
      for (const k of Object.keys(out) as (keyof EdgeCounters)[]) if (k !== 'rxLastErrno' && k !== 'txLastErrno') out[k] += c[k];
    }
    return out;
  }
  close(): void {
    for (const io of this.ios) io.close();
  }
}

/**
 * UDP 4191 Binds of the IPv4 CoAs, kept open while their address is on the MN. MobileNode opens a
 * Bind when it moves to an IPv4 CoA and closes it once its binding has left that CoA; opening the
 * socket (and logging it) on every move back was 0.5-1 ms of the handover (bench/handover.ts).
 * The node gets a view: its close() only detaches it (what arrives meanwhile is discarded, as a
 * closed socket would); the socket closes when its address is gone (retain) or at stop.
 */
export class Udp4BindPool {
  private readonly socks = new Map<string, { bind: Bind; view: Bind | null }>();
  constructor(private readonly opener: (coa4: string) => Bind) {}

  open(coa4: string): Bind {
    let e = this.socks.get(coa4);
    if (!e) {
      e = { bind: this.opener(coa4), view: null };
      this.socks.set(coa4, e);
    }
    const entry = e;
    const b = entry.bind;
    let closed = false;
    const view: Bind = {
      get localAddress() {
        return b.localAddress;
      },
      get localPort() {
        return b.localPort;
      },
      get batchSize() {
        return b.batchSize;
      },
      get counters() {
        return b.counters;
      },
      onBatch: (h) => {
        if (!closed) b.onBatch(h ?? discard);
      },
      send: (d) => (closed ? 0 : b.send(d)),
      close: () => {
        if (closed) return;
        closed = true;
        if (entry.view === view) {
          entry.view = null;
          b.onBatch(discard);
        }
      },
    };
    entry.view = view;
    return view;
  }

  /** Closes the sockets of addresses no longer in `addresses` (and not in use by the node). */
  retain(addresses: ReadonlySet<string>): void {
    for (const [a, e] of this.socks) {
      if (addresses.has(a) || e.view !== null) continue;
      e.bind.close();
      this.socks.delete(a);
    }
  }

  close(): void {
    for (const e of this.socks.values()) e.bind.close();
    this.socks.clear();
  }
}
const discard = (): void => {};

function ip(args: string[], allowFail = false): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0 && !allowFail) throw new Error(`ip ${args.join(' ')}: ${(r.stderr || r.error?.message || '').trim()}`);
}

function listInterfaces(): string[] {
  const r = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => !!n && n !== 'lo');
}

function coaText(c: CareOfAddress | null | 'home'): string {
  return c === null ? 'none' : c === 'home' ? 'home' : `${c.address} (IPv${c.family})`;
}

export class MnDaemon extends Daemon {
  node!: MobileNode;
  /** Present when a metrics address is configured. */
  metrics?: MnMetrics;

  private constructor(
    private readonly cfg: MnConfig,
    private readonly opts: MnDaemonOptions,
  ) {
    super('mn', opts, cfg.log);
  }

  static start(opts: MnDaemonOptions): Promise<MnDaemon> {
    return Daemon.opened(new MnDaemon(loadMnConfig(opts.configFile), opts));
  }

  protected counters(): unknown {
    return this.node?.counters;
  }

  protected async open(): Promise<void> {
    const cfg = this.cfg;
    const tunName = this.opts.tunName ?? 'dsmip6mn0';
    const table = String(this.opts.table ?? 250);
    const prio = this.opts.rulePriority ?? 900;
    const hoa4 = cfg.ipv4Hoa !== 'none' && cfg.ipv4Hoa !== 'dynamic' ? cfg.ipv4Hoa : undefined;

    // The control socket first: the single-instance lock (common/daemon.ts).
    await this.listenControl(this.opts.controlSocket ?? MN_SOCKET, 'mn', (req) => mnControlHandler(this.node, () => Date.now())(req), () => this.node !== undefined);
    // The state file next, before the TUN, addresses or nftables are touched: one that cannot be
    // used stops the start with its StateStoreError (naming the file and the fix).
    let store: MnStore | undefined;
    if (this.opts.stateFile !== undefined) {
      const st = new MnStore(this.opts.stateFile, { log: (l) => this.log(l) });
      store = st;
      this.teardown.push(() => st.close());
    }
    // Metrics right after the lock: a taken port stops the start before anything is set up.
    this.metrics = await this.listenMetrics(this.opts.metricsListen ?? cfg.metrics?.listen, () => new MnMetrics(() => this.node));
    const tun: TunDevice = openDaemonTun(tunName);
    this.teardown.push(() => tun.close());
    // The HoA lives on the TUN; whatever the applications send from it goes into the TUN.
    ip(['-6', 'addr', 'add', `${cfg.hoa}/128`, 'dev', tunName, 'nodad']);
    ip(['-6', 'route', 'replace', 'default', 'dev', tunName, 'table', table]);
    if (hoa4) {
      ip(['-4', 'addr', 'add', `${hoa4}/32`, 'dev', tunName]);
      ip(['-4', 'route', 'replace', 'default', 'dev', tunName, 'table', table]);
    }
    // The "from HoA" rules (into the TUN while away, off at home) are the home link's business.

    // One tap per watched interface (all but lo and the TUN when the config names none).
    const ifnames = (cfg.interfaces.length > 0 ? [...cfg.interfaces] : listInterfaces()).filter((n) => n !== tunName);
    const ios: MipPacketIo[] = [];
    for (const ifname of ifnames) {
      try {
        installMipIngressDrop({ ifname, espTo: [cfg.hoa] });
        this.teardown.push(() => removeMipIngressDrop({ ifname }));
        const io = openMipPacketIo({ ifname });
        ios.push(io);
        this.teardown.push(() => io.close());
      } catch (e) {
        this.log(`no MIP packet tap on ${ifname}: ${(e as Error).message}`, { ifname }, 'warn');
      }
    }
    const mipIo = ios.length > 0 ? new MultiMipPacketIo(ios) : undefined;
    const homeLink = new MnHomeLink({
      hoa: cfg.hoa,
      ...(hoa4 ? { hoa4 } : {}),
      ha: cfg.haAddress,
      interfaces: ios.map((i) => i.ifname),
      table: Number(table),
      priority: prio,
      log: (l) => this.log(l),
    });
    this.teardown.push(() => homeLink.close());
    homeLink.away();
    let homeIf: string | undefined;
    // For logs and metrics: where the binding was last (a CoA, 'home', or nothing yet), the last BA
    // answering a BU, and the NAT state last reported.
    let lastAt: string | undefined;
    let lastAck: { sequence: number; status: number; rttMs: number } | undefined;
    let lastNat = 'none';
    const ackFields = () => (lastAck ? { seq: lastAck.sequence, status: lastAck.status, rttMs: lastAck.rttMs } : {});

    const udp4Binds = new Udp4BindPool((coa4) => {
      this.log(`opening UDP ${coa4}:${cfg.udpPort}`, { coa: coa4 });
      return openUdp4Bind({ address: coa4, port: cfg.udpPort });
    });
    this.teardown.push(() => udp4Binds.close());

    // Saved state before the node exists: its first BU continues after the saved high mark.
    const nextBuSeq = store?.nextBuSeq();

    const esp = tryNativeEspTransforms();
    if (!esp.transforms) this.log(`ESP on node:crypto: the native ESP transforms are not available (${esp.reason})`, {}, 'warn');
    const node = new MobileNode({
      config: cfg,
      ...(esp.transforms ? { espTransforms: esp.transforms } : {}),
      device: tun,
      ...(mipIo ? { mipIo, plainIpv6: plainEspDevice(mipIo, { receive: false }) } : {}),
      onBindingAck: (ack) => {
        lastAck = ack;
        this.metrics?.bindingAck(ack.rttMs, ack.status);
      },
      onRegistration: (a) => {
        // Home duties start only once the HA has let go of the HoA (digest §5.4).
        if (a.kind === 'deregistered') {
          this.log(`home: deregistered; answering for ${cfg.hoa} on ${homeIf ?? '?'}`, { hoa: cfg.hoa, coa: 'home', ...ackFields() });
          homeLink.home(homeIf);
        }
        const at = a.kind === 'registered' ? a.coa.address : a.kind === 'deregistered' ? 'home' : undefined;
        if (at !== undefined) {
          if (lastAt !== undefined && lastAt !== at) {
            this.metrics?.handover();
            this.log(`handover: ${lastAt} -> ${at}`, { hoa: cfg.hoa, coa: at, from: lastAt, ...ackFields() });
          }
          lastAt = at;
        }
        if (a.kind === 'registered' || a.kind === 'deregistered') {
          const nat = a.kind === 'registered' && a.nat?.natDetected ? `detected, keepalive every ${a.nat.refreshTimeSeconds ?? '?'} s` : 'none';
          if (nat !== lastNat) {
            this.log(`nat: ${nat}`, { hoa: cfg.hoa, ...(at ? { coa: at } : {}), natDetected: nat !== 'none', ...ackFields() });
            lastNat = nat;
          }
        }
        if (a.kind === 'expired') this.log('registration: binding expired (no BA before its lifetime ran out)', { hoa: cfg.hoa, ...(lastAt ? { coa: lastAt } : {}) }, 'warn');
        if (a.kind === 'failed') this.log(`registration: BU rejected with status ${a.status}`, { hoa: cfg.hoa, ...ackFields(), status: a.status }, 'warn');
      },
      openBind: (coa4) => udp4Binds.open(coa4),
      now: () => Date.now(),
      scheduler: wallClockScheduler,
      ...(nextBuSeq !== undefined ? { randomSeq: () => nextBuSeq } : {}),
    });
    this.node = node;
    this.teardown.push(() => node.close());
    if (store) {
      const st = store;
      // Before start(): no BU and no ESP packet has left yet, so swapping the SAs is invisible.
      const seqs = st.continueOutboundSequences(node.engine, mnKeying(cfg).sas);
      const saveBuSeq = (upTo: number): void => {
        try {
          st.reserveBuSeq(upTo);
        } catch (e) {
          // Sent anyway: a reused BU number after a restart costs one 135 BA, which the MN resyncs from.
          this.log(`state file ${st.file}: saving the BU sequence high mark failed (${(e as Error).message})`, {}, 'error');
        }
      };
      node.registration.seqReservation = {
        block: BU_SEQ_BLOCK,
        reserve: saveBuSeq,
        // The next block, written in a microtask: after the BU that asked for it has left (the node
        // sends synchronously within the same call) and before anything else can send another.
        reserveAfterSend: (upTo) => queueMicrotask(() => saveBuSeq(upTo)),
      };
      this.log(
        `state: first BU sequence ${nextBuSeq ?? 'random (none saved)'}; outbound ESP sequence numbers continue after ${[...seqs].map(([spi, n]) => `0x${spi.toString(16)}:${n}`).join(', ')}`,
      );
    }

    // Registration changes, seen on a short poll of the node's state (MobileNode has no hook).
    let last = '';
    const poll = setInterval(() => {
      const s = `${node.registeredCoa?.address ?? '-'}|${node.registeringCoa?.address ?? '-'}|${node.ipv4Hoa ?? '-'}|${node.nat ? JSON.stringify(node.nat) : '-'}|${JSON.stringify(node.counters.failed)}`;
      if (s === last) return;
      last = s;
      const b = node.registration.bul;
      this.log(
        `registration: registered ${node.registeredCoa?.address ?? 'none'}, registering ${node.registeringCoa?.address ?? 'none'}` +
          `${node.ipv4Hoa ? `, ipv4Hoa ${node.ipv4Hoa}` : ''}${node.nat ? `, nat ${JSON.stringify(node.nat)}` : ''}` +
          `${Object.keys(node.counters.failed).length ? `, failed ${JSON.stringify(node.counters.failed)}` : ''}`,
        {
          hoa: cfg.hoa,
          coa: node.registeredCoa?.address ?? null,
          registering: node.registeringCoa?.address ?? null,
          state: b.state,
          ...(b.lastSentSeq !== null ? { seq: b.lastSentSeq } : {}),
          ...(lastAck ? { status: lastAck.status } : {}),
        },
      );
    }, 100);
    this.teardown.push(() => clearInterval(poll));
    // Bursts: at most one line per period, only when drops rose.
    const period = this.opts.dropReportMs ?? 10_000;
    const drops = new DropBursts({
      read: () => node.counters.drops,
      periodMs: period,
      report: (d, total, ms) =>
        this.log(
          `drops: ${total} in ${Math.round(ms / 1000)} s (${Object.entries(d).sort((x, y) => y[1] - x[1]).map(([k, n]) => `${k} ${n}`).join(', ')})`,
          { drops: d, total },
          'warn',
        ),
    }).start();
    this.teardown.push(() => drops.stop());

    const plen = this.opts.homePrefixLength ?? 64;
    let started = false;
    const watchCfg: MovementConfig = {
      homePrefixes: [`${cfg.hoa}/${plen}`],
      hoa: cfg.hoa,
      ...(hoa4 ? { hoa4 } : {}),
      tunName,
      ...(cfg.interfaces.length > 0 ? { interfaces: [...cfg.interfaces] } : {}),
    };
    // Decisions come from a timer after start() resolved (debounce), so `watch` is set by then.
    const watch: NetWatch = await NetWatch.start({
      ...watchCfg,
      ref: true,
      onDecision: (decision, _event, target, timing) => {
        if (decision.kind === 'home') {
          // Started at home: leaving it later is a handover, like any move of the binding.
          lastAt ??= 'home';
          homeIf = homeInterface(watch.detector.snapshot(), watchCfg);
          homeLink.arriving();
        } else homeLink.away();
        node.moveTo(target);
        // No binding to delete (first decision, or never registered): home at once.
        if (decision.kind === 'home' && node.registration.bul.state === 'at-home') homeLink.home(homeIf);
        if (!started) {
          started = true;
          node.start();
        }
        const buSentAt = preciseNow();
        // UDP sockets of IPv4 addresses the MN no longer has (after the BU: not on its path).
        udp4Binds.retain(new Set(watch.detector.snapshot().addresses.filter((a) => a.family === 4).map((a) => a.address)));
        // Logged after the move (the BU is out by now): the handover's timing, in the line's fields.
        this.log(`movement: ${decision.kind} -> moveTo ${coaText(target)}`, {
          hoa: cfg.hoa,
          coa: target === null || target === 'home' ? coaText(target) : target.address,
          via: timing.via,
          decidedAt: Math.round(timing.decidedAt * 1000) / 1000,
          ...(timing.eventAt !== undefined ? { sinceEventMs: Math.round((timing.decidedAt - timing.eventAt) * 1000) / 1000 } : {}),
          moveMs: Math.round((buSentAt - timing.decidedAt) * 1000) / 1000,
        });
      },
      onError: (e) => this.log(`netwatch error: ${(e as Error).message}`, {}, 'error'),
    });
    this.teardown.push(() => watch.close());
    this.log(`started: tun ${tunName} with ${cfg.hoa}${hoa4 ? ` and ${hoa4}` : ''}, HA ${cfg.haAddress}${cfg.haIpv4Address ? ` / ${cfg.haIpv4Address}` : ''}, taps ${ifnames.join(',')}${this.metricsAddress ? `, metrics http://${hostPort(this.metricsAddress)}/metrics` : ''}`, {
      tun: tunName,
      hoa: cfg.hoa,
      ...(this.metricsAddress ? { metrics: hostPort(this.metricsAddress) } : {}),
    });
  }
}
