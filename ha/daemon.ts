// The home agent daemon: HomeAgent (ha/agent.ts) on real edges in the namespace it runs in — a TUN
// as its Device, an AF_PACKET/raw MipPacketIo on the public interface (behind the nft ingress drop),
// UDP 4191 on the HA's IPv4 address — a real clock and setTimeout scheduler, and HomeLink duties
// driven by the binding cache. HomeAgent has no binding-change hook, so the cache snapshot is
// polled on a short timer (attach on new / changed CoA, detach when gone). Logs one line per
// registration change to stderr. Clean shutdown on SIGINT / SIGTERM.
import { loadHaConfig } from '../config/index.js';
import type { HaConfig } from '../config/schema.js';
import { installMipIngressDrop, openMipPacketIo, openTun, openUdp4Bind, plainEspDevice, removeMipIngressDrop, type Bind, type MipPacketIo } from '../tunnel/edge.js';
import type { TunDevice } from '../tunnel/tun.js';
import { ControlServer, HA_SOCKET } from '../common/control.js';
import { HomeAgent } from './agent.js';
import { haControlHandler } from './status.js';
import { wallClockScheduler } from '../common/timer.js';
import type { BindingEntry } from './bcache.js';
import { HomeLink } from './homelink.js';
import { Teardown } from '../common/teardown.js';

export interface HaDaemonOptions {
  configFile: string;
  /** TUN name. Default dsmip6ha0. */
  tunName?: string;
  /** Control socket for `dsmip6 status` (root only, 0600). Default /run/dsmip6/ha.sock. */
  controlSocket?: string;
  /** Binding-cache poll period, ms (a safety net: changes are followed as the agent reports them). Default 1000. */
  pollMs?: number;
  log?: (line: string) => void;
}


export class HaDaemon {
  private readonly teardown = new Teardown((m) => this.log(m));
  private poll: NodeJS.Timeout | null = null;
  private readonly known = new Map<string, string>();
  private stopping: Promise<void> | null = null;
  agent!: HomeAgent;

  private constructor(
    private readonly cfg: HaConfig,
    private readonly opts: HaDaemonOptions,
  ) {}

  private log(line: string): void {
    (this.opts.log ?? ((l: string) => process.stderr.write(`${new Date().toISOString()} ha: ${l}\n`)))(line);
  }

  static async start(opts: HaDaemonOptions): Promise<HaDaemon> {
    const cfg = loadHaConfig(opts.configFile);
    const d = new HaDaemon(cfg, opts);
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
    const tunName = this.opts.tunName ?? 'dsmip6ha0';
    // MTU 1400, not the kernel's 1500: the tunnel adds up to ~100 bytes (outer IPv6 or IPv4+UDP, ESP), and the
    // header-included raw socket does not fragment, so a full-size inner packet was lost over an IPv6 CoA
    // without a Packet Too Big to its sender. A smaller TUN MTU makes the kernel send PTB / Frag Needed and
    // lets local TCP pick a smaller MSS (test/e2e-netns-tcp.test.ts).
    // The control socket first: it is also the single-instance lock, so a second HA on the same
    // socket stops before it touches the TUN, nftables or the home link.
    const control = await ControlServer.listen(
      this.opts.controlSocket ?? HA_SOCKET,
      (req) => {
        if (!this.agent) throw new Error('still starting');
        return haControlHandler(this.agent, () => Date.now())(req);
      },
      { name: 'ha' },
    );
    this.teardown.push(() => control.close());
    const tun: TunDevice = openTun({ name: tunName, up: true, mtu: 1400 });
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
      await homeLink.cleanup().catch((e: unknown) => this.log(`homelink cleanup failed: ${(e as Error).message}`));
    });

    // The cache is compared on every change the agent reports (and on a slow poll as a safety net),
    // so the proxy entries and TUN routes follow a binding within milliseconds: packets for a HoA
    // that arrive between a deregistration and its route removal are dropped as 'no-binding'.
    let check: () => void = () => {};
    const agent = new HomeAgent({
      config: cfg,
      device: tun,
      mipIo,
      plainIpv6,
      ...(bind ? { bind } : {}),
      now: () => Date.now(),
      scheduler: wallClockScheduler,
      onBindingChange: () => queueMicrotask(() => check()),
    });
    this.agent = agent;
    this.teardown.push(() => agent.close());

    // Serialise home-link changes so attach/detach of one HoA never interleave.
    let chain: Promise<void> = Promise.resolve();
    const enqueue = (f: () => Promise<void>) => {
      chain = chain.then(f).catch((e: unknown) => this.log(`homelink error: ${(e as Error).message}`));
    };
    const describe = (b: BindingEntry) =>
      `${b.hoa} -> ${b.coa}${b.udp ? ' (udp' + (b.natAddress ? `, nat ${b.natAddress}:${b.natPort}` : '') + ')' : ''}${b.ipv4Hoa ? ` ipv4Hoa ${b.ipv4Hoa}` : ''} lifetime ${b.lifetimeSeconds}s seq ${b.sequence}`;
    check = () => {
      const now = new Map<string, BindingEntry>();
      for (const b of agent.cache.snapshot()) now.set(b.hoa, b);
      for (const [hoa, b] of now) {
        const sig = `${b.coa}|${b.natAddress ?? ''}|${b.natPort ?? ''}|${b.ipv4Hoa ?? ''}`;
        const prev = this.known.get(hoa);
        if (prev === sig) continue;
        this.known.set(hoa, sig);
        this.log(`binding ${prev === undefined ? 'created' : 'updated'}: ${describe(b)}`);
        if (prev === undefined || prev.split('|')[3] !== (b.ipv4Hoa ?? '')) {
          const hb = { hoa: b.hoa, ...(b.ipv4Hoa ? { ipv4Hoa: b.ipv4Hoa } : {}), flags: { L: b.flags.L, R: b.flags.R } };
          enqueue(async () => {
            if (prev !== undefined) await homeLink.detach(hoa);
            await homeLink.attach(hb);
            this.log(`home link: proxying ${hb.hoa}${hb.ipv4Hoa ? ` and ${hb.ipv4Hoa}` : ''} via ${tunName}`);
          });
        }
      }
      for (const hoa of [...this.known.keys()]) {
        if (now.has(hoa)) continue;
        this.known.delete(hoa);
        this.log(`binding deleted: ${hoa}`);
        enqueue(async () => {
          await homeLink.detach(hoa);
          this.log(`home link: released ${hoa}`);
        });
      }
    };
    this.poll = setInterval(check, this.opts.pollMs ?? 1000);
    this.teardown.push(async () => {
      if (this.poll) clearInterval(this.poll);
      this.poll = null;
      await chain;
    });
    this.log(
      `started: tun ${tunName}, public ${pub}${cfg.haIpv4Address ? `, udp ${cfg.haIpv4Address}:${cfg.udpPort}` : ''}, home link ${cfg.interfaces.homeLink}, ${cfg.mobileNodes.length} mobile node(s)`,
    );
  }

  /** Idempotent: undoes what open() did, newest first. */
  stop(): Promise<void> {
    this.stopping ??= this.teardown.run().then(() => {
      this.log(`stopped (counters ${JSON.stringify(this.agent?.counters ?? {})})`);
    });
    return this.stopping;
  }
}
