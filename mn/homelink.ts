// The mobile node's side of the home link (RFC 6275 §11.5.5, digest §5.4): the policy rules that
// send traffic from the home addresses into the TUN while away (and out of the home interface
// natively once home), a guard that keeps the kernel from answering for the HoA where it must
// not, and the unsolicited Neighbor Advertisements that repoint the home link at the MN after
// the HA has let go of the HoA.
//
// The guard is an nftables netdev table (`dsmip6_mn_guard`, one ingress chain per watched
// interface) that drops Neighbor Solicitations for the HoA and ARP requests for the IPv4 HoA.
// While the MN is away or waiting for the deregistration BA the HA is proxying the HoA, and a
// second answer from the MN would split the home link; NS from the HA itself pass, because the
// HA must resolve the MN to deliver that very BA. After the BA the guard comes off the home
// interface and the MN advertises (O = 1) up to MAX_NEIGHBOR_ADVERTISEMENT times.
// It must never touch an nft table or rule it did not create, never send an NA before the HA
// acknowledged the deregistration, and never throw from a state change (failures are logged;
// the worst case is a slower neighbour-cache update).
import { spawnSync } from 'node:child_process';
import { createRtNetlink, type RtNetlinkSocket } from 'netlink';
import { canonicalIp, ip6ToBytes, ip6ToString } from '../common/addr.js';
import { buildUnsolicitedNa } from '../common/nd.js';
import { newStats } from '../tunnel/counters.js';
import { loadNative, type NativeBinding, type NativeHandle } from '../tunnel/native.js';
import { runNft } from '../tunnel/nft.js';

/** RFC 6275 §12 MAX_NEIGHBOR_ADVERTISEMENT. */
const MAX_NA = 3;
const AF_INET6 = 10;
export const GUARD_TABLE = 'dsmip6_mn_guard';

export interface MnHomeLinkOptions {
  hoa: string;
  hoa4?: string;
  /** The HA address: its NS for the HoA pass the guard. */
  ha: string;
  /** Interfaces to guard (the ones the daemon taps). */
  interfaces: readonly string[];
  /** The TUN's policy table and the priority of the "from HoA" rules. */
  table: number;
  priority: number;
  /** NA spacing, ms. Default 1000 (RFC 4861 RetransTimer). */
  naIntervalMs?: number;
  log: (line: string) => void;
}

function hex128(addr: string): string {
  return `0x${Buffer.from(ip6ToBytes(addr)).toString('hex')}`;
}

function checkIfname(ifname: string): string {
  if (!/^[A-Za-z0-9_.:-]{1,15}$/.test(ifname)) throw new RangeError(`interface name '${ifname}' cannot go into an nft ruleset`);
  return ifname;
}

/** The guard table for `guarded` interfaces (none: the table is deleted). Create-then-delete makes it idempotent. */
export function guardRuleset(o: Pick<MnHomeLinkOptions, 'hoa' | 'hoa4' | 'ha'>, guarded: readonly string[]): string {
  const lines = [`table netdev ${GUARD_TABLE} {}`, `delete table netdev ${GUARD_TABLE}`];
  if (guarded.length === 0) return `${lines.join('\n')}\n`;
  const hoa = canonicalIp(o.hoa);
  const ha = canonicalIp(o.ha);
  lines.push(`table netdev ${GUARD_TABLE} {`, `  comment "dsmip6 mn: the HA answers for the home address until it acknowledges the deregistration"`);
  for (const ifname of guarded) {
    const chain = `guard_${checkIfname(ifname).replace(/[^A-Za-z0-9_]/g, '_')}`;
    lines.push(
      `  chain ${chain} {`,
      `    type filter hook ingress device "${ifname}" priority -400; policy accept;`,
      // Neighbor Solicitation: ICMPv6 type 135, target address at octet 8 of the message.
      `    meta protocol ip6 ip6 nexthdr ipv6-icmp icmpv6 type nd-neighbor-solicit ip6 saddr != ${ha} @th,64,128 ${hex128(hoa)} counter drop comment "NS for the HoA"`,
    );
    if (o.hoa4) lines.push(`    meta protocol arp arp operation request arp daddr ip ${o.hoa4} counter drop comment "ARP for the IPv4 HoA"`);
    lines.push('  }');
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

export class MnHomeLink {
  private rulesIn = false;
  private guarded: string[] = [];
  private naTimer: NodeJS.Timeout | undefined;
  private nl: RtNetlinkSocket | undefined;
  private native: NativeBinding | undefined;
  private raw: { ifname: string; handle: NativeHandle } | undefined;
  private closed = false;

  constructor(private readonly o: MnHomeLinkOptions) {}

  /** Away from home: traffic from the HoA into the TUN; the guard on every interface. */
  away(): void {
    this.stopNa();
    this.rules(true);
    this.guard([...this.o.interfaces]);
  }

  /** Home detected, deregistration under way: traffic leaves natively; the guard stays up everywhere. */
  arriving(): void {
    this.stopNa();
    this.rules(false);
    this.guard([...this.o.interfaces]);
  }

  /** The HA let go (BA for the deregistration, or no binding to delete): answer for the HoA on `homeIf` and say so. */
  home(homeIf: string | undefined): void {
    this.rules(false);
    this.guard(this.o.interfaces.filter((i) => i !== homeIf));
    if (homeIf) this.advertise(homeIf);
  }

  close(): void {
    if (this.closed) return;
    this.stopNa();
    this.rules(false);
    this.guard([]);
    this.closed = true;
    if (this.raw) this.native?.close(this.raw.handle);
    this.raw = undefined;
    this.nl?.socket.close();
  }

  private rules(on: boolean): void {
    if (this.closed || on === this.rulesIn) return;
    const verb = on ? 'add' : 'del';
    const table = String(this.o.table);
    const pairs: [string, string, number][] = [['-6', this.o.hoa, this.o.priority]];
    if (this.o.hoa4) pairs.push(['-4', this.o.hoa4, this.o.priority + 1]);
    for (const [fam, addr, prio] of pairs) {
      const r = spawnSync('ip', [fam, 'rule', verb, 'from', addr, 'lookup', table, 'priority', String(prio)], { encoding: 'utf8' });
      if (r.status !== 0) this.o.log(`home link: ip rule ${verb} from ${addr}: ${(r.stderr || r.error?.message || '').trim()}`);
    }
    this.rulesIn = on;
  }

  private guard(ifnames: string[]): void {
    if (this.closed) return;
    const want = [...new Set(ifnames)].sort();
    if (want.join() === this.guarded.join()) return;
    try {
      runNft({ ifname: want.join(',') || '-' }, 'setting the home-address guard', ['-f', '-'], guardRuleset(this.o, want));
      this.guarded = want;
    } catch (e) {
      this.o.log(`home link: ${(e as Error).message}`);
    }
  }

  private stopNa(): void {
    if (this.naTimer) clearTimeout(this.naTimer);
    this.naTimer = undefined;
  }

  /** MAX_NEIGHBOR_ADVERTISEMENT unsolicited NAs for the HoA, O = 1, naIntervalMs apart. */
  private advertise(ifname: string): void {
    this.stopNa();
    let left = MAX_NA;
    const tick = (): void => {
      this.naTimer = undefined;
      if (this.closed || left <= 0) return;
      left--;
      void this.sendNa(ifname).then((ok) => {
        if (!ok) this.o.log(`home link: could not send a Neighbor Advertisement for ${this.o.hoa} on ${ifname}`);
      });
      if (left > 0) {
        this.naTimer = setTimeout(tick, this.o.naIntervalMs ?? 1000);
        this.naTimer.unref();
      }
    };
    tick();
  }

  private async sendNa(ifname: string): Promise<boolean> {
    try {
      this.nl ??= createRtNetlink();
      const link = (await this.nl.getLinks()).find((l) => l.attrs.ifname === ifname);
      const mac = link?.attrs.address;
      if (!link?.data.index || !mac || mac.length !== 6) return false;
      const addrs = await this.nl.getAddresses({ family: AF_INET6, index: link.data.index });
      const ll = addrs.find((a) => a.data.index === link.data.index && a.attrs.address && a.attrs.address[0] === 0xfe && (a.attrs.address[1] & 0xc0) === 0x80);
      if (!ll?.attrs.address) return false;
      if (this.closed) return false;
      this.native ??= loadNative();
      if (this.raw?.ifname !== ifname) {
        if (this.raw) this.native.close(this.raw.handle);
        // Bound to the home interface: ff02::1 is link-scoped and must leave there.
        this.raw = { ifname, handle: this.native.raw6Open(null, ifname, 1 << 16, newStats()).handle };
      }
      const na = buildUnsolicitedNa(ip6ToString(new Uint8Array(ll.attrs.address)), this.o.hoa, new Uint8Array(mac), false);
      return this.native.raw6Send(this.raw.handle, [na], 1) === 1;
    } catch {
      return false;
    }
  }
}
