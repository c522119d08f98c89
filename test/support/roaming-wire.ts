// The wire judge of a roaming run, shared by the end-to-end tests: records every link of the
// testbed for the whole run (testbed/capture.ts), then has tshark (test/support/capture-judge.ts)
// check it with the MN's keys: nothing malformed, every ESP ICV good, HAO on BUs from the IPv6 CoA
// and RH2 on BAs to it, BUs from IPv4 CoAs in UDP 4191 with the IPv4 CoA option, NAT Detection on
// BAs behind the NAT and nowhere else, and the expected signalling and decrypted data seen on each
// network the MN visited (so no check can pass on an empty capture).
// daemonsWithWire() registers the hooks a test file needs around it (start, mark failed, finish).
// It must never assert on its own (it returns violations; tests assert) and never delete the pcaps
// of a failed run: their directory is printed so they can be opened in Wireshark.
import { mkdtempSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMnConfig } from '../../config/load.js';
import { mnWiresharkEspSas } from '../../config/wireshark.js';
import { captureLinks, PROJECT, type CaptureFile, type LinkCapture, type Testbed } from '../../testbed/index.js';
import {
  checkEspGood,
  checkIpv4CoaBus,
  checkIpv6CoaSignalling,
  checkNatDetection,
  checkNoErrors,
  judgeCaptures,
  MH_BA,
  MH_BU,
  NATD_NO_NAT,
  quotesPacketInIcmpError,
  tsharkCommandHint,
  where,
  type PacketFacts,
} from './capture-judge.js';
import { startDaemons, type Daemons, type StartOptions } from './daemons.js';

const P = PROJECT;
type Network = 'home' | 'v6net' | 'v4net' | 'natnet';

export interface RoamingExpectations {
  /** The MN's configuration (its keys decrypt the capture). */
  mnConfig: string;
  /** The networks the MN registered from (home: it returned home and deregistered). */
  visited: readonly Network[];
  /** The protocol of the application data inside the tunnel: ICMPv6 pings, or TCP streams. */
  data: 'icmpv6' | 'tcp';
}

export interface WireVerdict {
  /** One list per check, each empty when the check holds. */
  violations: Record<string, string[]>;
  packets: number;
  links: number;
  /** Where the pcaps are and a tshark command line to look at them by hand. */
  hint: string;
  /** Warnings tshark gave (reported, not judged). */
  warnings: string[];
}

/**
 * Starts the daemons with every link recorded from before the MN starts (for a describe block's
 * beforeAll), marks the wire failed when a test fails, and after all finishes the capture, then
 * destroys the daemons' testbed, even when a step failed.
 */
export function daemonsWithWire(wire: RoamingWire, opts: Omit<StartOptions, 'beforeMn'>): { get(): Daemons } {
  let d: Daemons | undefined;
  beforeAll(async () => {
    d = await startDaemons({ ...opts, beforeMn: (tb) => wire.start(tb) });
  });
  beforeEach(({ onTestFailed }) => {
    onTestFailed(() => {
      wire.failed = true;
    });
  });
  afterAll(async () => {
    try {
      await wire.finish();
    } finally {
      await d?.destroy();
    }
  });
  return {
    get(): Daemons {
      if (!d) throw new Error('the daemons did not start (see the beforeAll error)');
      return d;
    },
  };
}

export class RoamingWire {
  private dir: string | undefined;
  private cap: LinkCapture | undefined;
  private files: CaptureFile[] | undefined;
  private judged = false;
  failed = false;

  constructor(private readonly label: string) {}

  async start(tb: Testbed): Promise<void> {
    this.dir = mkdtempSync(join(tmpdir(), 'dsmip6-e2e-pcap-'));
    this.cap = await captureLinks(tb, this.dir);
  }

  async stop(): Promise<CaptureFile[]> {
    this.files ??= this.cap ? await this.cap.stop() : [];
    return this.files;
  }

  /** Stops the capture if a step failed before the judge ran; deletes the pcaps only after a clean judgement. */
  async finish(): Promise<void> {
    await this.stop().catch(() => {});
    if (!this.dir) return;
    if (this.judged && !this.failed && !process.env.E2E_KEEP_PCAPS) rmSync(this.dir, { recursive: true, force: true });
    else process.stderr.write(`${this.label}: ${this.judged && !this.failed ? 'E2E_KEEP_PCAPS set' : 'run failed'}; link captures kept in ${this.dir}\n`);
  }

  async judge(exp: RoamingExpectations): Promise<WireVerdict> {
    const files = await this.stop();
    const cfg = loadMnConfig(exp.mnConfig);
    const sas = mnWiresharkEspSas(cfg);
    const all = await judgeCaptures(files, sas);
    // ICMP errors quote earlier packets (after a link went down, or a NAT mapping was flushed): the
    // originals are judged, not the truncated copies (whose ESP cannot verify, and which tshark's
    // heuristics then misread, e.g. as DCCP with a bad checksum).
    const facts = all.filter((p) => !quotesPacketInIcmpError(p));
    const onLink = (ifname: string) => facts.filter((p) => p.link.includes(`mn/${ifname}`) && !p.link.startsWith(`${P.homeLan}:`));
    const homeLan = facts.filter((p) => p.link.startsWith(`${P.homeLan}:`));
    const sample = files.find((f) => f.link.includes(`mn/${P.mn.ifaces.natnet}`))?.file ?? files[0]?.file ?? '';
    const hint = `pcaps: ${this.dir}\nby hand: ${tsharkCommandHint(sample, sas)}`;

    const missing: string[] = [];
    const need = (what: string, list: PacketFacts[]) => list.length > 0 || missing.push(what);
    const { payload } = cfg.keys;
    const data = (list: PacketFacts[], spi: number) =>
      list.filter((p) => p.esp.some((e) => e.spi === spi && e.decrypted) && p.afterEsp.includes(exp.data));
    const needData = (name: string, list: PacketFacts[]) => {
      need(`${name}: ${exp.data} to the HoA decrypted (HA -> MN, spi ${payload.in.spi})`, data(list, payload.in.spi));
      need(`${name}: ${exp.data} from the HoA decrypted (MN -> HA, spi ${payload.out.spi})`, data(list, payload.out.spi));
    };
    for (const net of exp.visited) {
      if (net === 'v6net') {
        const v6 = onLink(P.mn.ifaces.v6net);
        need('v6net: BU with a HAO from the IPv6 CoA', v6.filter((p) => p.mhType === MH_BU && p.hao && p.outerSrc === P.mn.coa6));
        need('v6net: BA with an RH2 to the IPv6 CoA', v6.filter((p) => p.mhType === MH_BA && p.rh2 && p.outerDst === P.mn.coa6));
        needData('v6net', v6);
      } else if (net === 'v4net') {
        const v4 = onLink(P.mn.ifaces.v4net);
        need('v4net: BU in UDP 4191 with the IPv4 CoA option', v4.filter((p) => p.mhType === MH_BU && p.udp4191 && p.ipv4CoaAddr === P.mn.coa4));
        need('v4net: BA not saying a NAT was detected', v4.filter((p) => p.mhType === MH_BA && (!p.natd || p.natd.refresh === NATD_NO_NAT)));
        needData('v4net', v4);
      } else if (net === 'natnet') {
        const nat = onLink(P.mn.ifaces.natnet);
        need('natnet: BU in UDP 4191 with the IPv4 CoA option', nat.filter((p) => p.mhType === MH_BU && p.udp4191 && p.ipv4CoaAddr === P.mn.natPrivate4));
        need('natnet: BA with NAT Detection (NAT detected)', nat.filter((p) => p.mhType === MH_BA && p.natd && p.natd.refresh !== NATD_NO_NAT));
        needData('natnet', nat);
      } else {
        // Back home: the deregistration (Lifetime 0) from the HoA itself, no HAO; the BA to it, no RH2.
        need(
          'home link: deregistration BU from the HoA, plain ESP (no HAO)',
          homeLan.filter((p) => p.mhType === MH_BU && !p.hao && p.outerSrc === P.mn.hoa6 && p.ipVersions[0] === 6),
        );
        need('home link: BA to the HoA, plain ESP (no RH2)', homeLan.filter((p) => p.mhType === MH_BA && !p.rh2 && p.outerDst === P.mn.hoa6));
      }
    }
    this.judged = true;
    return {
      violations: {
        'links not captured': files.filter((f) => f.error).map((f) => `${f.link}: ${f.error}`),
        'malformed packets or expert errors': checkNoErrors(facts),
        'ESP that tshark could not verify': checkEspGood(facts),
        'signalling from/to the IPv6 CoA': checkIpv6CoaSignalling(facts, P.mn.coa6),
        'BUs from IPv4 CoAs': checkIpv4CoaBus(facts),
        'NAT Detection in BAs': checkNatDetection(facts, [P.nat.public4, P.mn.natPrivate4]),
        'expected traffic not seen': missing,
      },
      packets: all.length,
      links: files.length,
      hint,
      warnings: all.filter((p) => p.warnings.length).map((p) => `${where(p)}: ${p.warnings.join('; ')}`),
    };
  }
}
