// The mobile node daemon: MobileNode (mn/node.ts) on real edges in the namespace it runs in — a TUN
// carrying the home address (HoA /128 on it; a policy rule sends everything from the HoA into it),
// one AF_PACKET/raw MipPacketIo per watched interface merged into one (behind the nft ingress drop
// on each), a UDP 4191 Bind per IPv4 CoA (bound to the CoA; the per-source policy routing of the
// host picks the interface), NetWatch feeding moveTo, a real clock and setTimeout scheduler.
// Logs one line per registration change to stderr. Clean shutdown on SIGINT / SIGTERM.
import { spawnSync } from 'node:child_process';
import { loadMnConfig } from '../config/index.js';
import type { MnConfig } from '../config/schema.js';
import type { EdgeCounters } from '../tunnel/counters.js';
import type { PacketBatchHandler } from '../tunnel/device.js';
import { installMipIngressDrop, openMipPacketIo, openTun, openUdp4Bind, plainEspDevice, removeMipIngressDrop, type MipPacketIo } from '../tunnel/edge.js';
import type { TunDevice } from '../tunnel/tun.js';
import type { CareOfAddress } from './bul.js';
import { MnHomeLink } from './homelink.js';
import { homeInterface, type MovementConfig } from './movement.js';
import { NetWatch } from './netwatch.js';
import { ControlServer, MN_SOCKET } from '../common/control.js';
import { MobileNode } from './node.js';
import { mnControlHandler } from './status.js';
import { wallClockScheduler } from '../common/timer.js';
import { Teardown } from '../common/teardown.js';

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
  /** Home prefix length for movement detection. Default 64 (the HoA's /64). */
  homePrefixLength?: number;
  log?: (line: string) => void;
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

export class MnDaemon {
  private readonly teardown = new Teardown((m) => this.log(m));
  private stopping: Promise<void> | null = null;
  node!: MobileNode;

  private constructor(
    private readonly cfg: MnConfig,
    private readonly opts: MnDaemonOptions,
  ) {}

  private log(line: string): void {
    (this.opts.log ?? ((l: string) => process.stderr.write(`${new Date().toISOString()} mn: ${l}\n`)))(line);
  }

  static async start(opts: MnDaemonOptions): Promise<MnDaemon> {
    const cfg = loadMnConfig(opts.configFile);
    const d = new MnDaemon(cfg, opts);
    try {
      await d.open();
    } catch (e) {
      await d.stop();
      throw e;
    }
    return d;
  }

  private async open(): Promise<void> {
    const cfg = this.cfg;
    const tunName = this.opts.tunName ?? 'dsmip6mn0';
    const table = String(this.opts.table ?? 250);
    const prio = this.opts.rulePriority ?? 900;
    const hoa4 = cfg.ipv4Hoa !== 'none' && cfg.ipv4Hoa !== 'dynamic' ? cfg.ipv4Hoa : undefined;

    // MTU 1400, not the kernel's 1500: the tunnel adds up to ~100 bytes (outer IPv6 or IPv4+UDP, ESP), and the
    // header-included raw socket does not fragment, so a full-size inner packet was lost over an IPv6 CoA
    // without a Packet Too Big to its sender. A smaller TUN MTU makes the kernel send PTB / Frag Needed and
    // lets local TCP pick a smaller MSS (test/e2e-netns-tcp.test.ts).
    // The control socket first: it is also the single-instance lock (see ha/daemon.ts).
    const control = await ControlServer.listen(
      this.opts.controlSocket ?? MN_SOCKET,
      (req) => {
        if (!this.node) throw new Error('still starting');
        return mnControlHandler(this.node, () => Date.now())(req);
      },
      { name: 'mn' },
    );
    this.teardown.push(() => control.close());
    const tun: TunDevice = openTun({ name: tunName, up: true, mtu: 1400 });
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
        this.log(`no MIP packet tap on ${ifname}: ${(e as Error).message}`);
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

    const node = new MobileNode({
      config: cfg,
      device: tun,
      ...(mipIo ? { mipIo, plainIpv6: plainEspDevice(mipIo, { receive: false }) } : {}),
      onRegistration: (a) => {
        // Home duties start only once the HA has let go of the HoA (digest §5.4).
        if (a.kind === 'deregistered') {
          this.log(`home: deregistered; answering for ${cfg.hoa} on ${homeIf ?? '?'}`);
          homeLink.home(homeIf);
        }
      },
      openBind: (coa4) => {
        this.log(`opening UDP ${coa4}:${cfg.udpPort}`);
        return openUdp4Bind({ address: coa4, port: cfg.udpPort });
      },
      now: () => Date.now(),
      scheduler: wallClockScheduler,
    });
    this.node = node;
    this.teardown.push(() => node.close());

    // Registration changes, seen on a short poll of the node's state (MobileNode has no hook).
    let last = '';
    const poll = setInterval(() => {
      const s = `${node.registeredCoa?.address ?? '-'}|${node.registeringCoa?.address ?? '-'}|${node.ipv4Hoa ?? '-'}|${node.nat ? JSON.stringify(node.nat) : '-'}|${JSON.stringify(node.counters.failed)}`;
      if (s === last) return;
      last = s;
      this.log(
        `registration: registered ${node.registeredCoa?.address ?? 'none'}, registering ${node.registeringCoa?.address ?? 'none'}` +
          `${node.ipv4Hoa ? `, ipv4Hoa ${node.ipv4Hoa}` : ''}${node.nat ? `, nat ${JSON.stringify(node.nat)}` : ''}` +
          `${Object.keys(node.counters.failed).length ? `, failed ${JSON.stringify(node.counters.failed)}` : ''}`,
      );
    }, 100);
    this.teardown.push(() => clearInterval(poll));

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
      onDecision: (decision, _event, target) => {
        this.log(`movement: ${decision.kind} -> moveTo ${coaText(target)}`);
        if (decision.kind === 'home') {
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
      },
      onError: (e) => this.log(`netwatch error: ${(e as Error).message}`),
    });
    this.teardown.push(() => watch.close());
    this.log(`started: tun ${tunName} with ${cfg.hoa}${hoa4 ? ` and ${hoa4}` : ''}, HA ${cfg.haAddress}${cfg.haIpv4Address ? ` / ${cfg.haIpv4Address}` : ''}, taps ${ifnames.join(',')}`);
  }

  stop(): Promise<void> {
    this.stopping ??= this.teardown.run().then(() => {
      this.log(`stopped (counters ${JSON.stringify(this.node?.counters ?? {})})`);
    });
    return this.stopping;
  }
}
