// The one kernel rule the daemon owns on the data path: an nftables netdev table on an interface's
// ingress that drops IPv6 packets whose first extension header carries a Home Address option or
// is a type 2 routing header, and plain ESP to the addresses the daemon speaks ESP for (espTo). A kernel without Mobile IPv6 would answer those with ICMPv6
// parameter problem; the daemon takes them from its AF_PACKET tap instead (which runs before this
// hook, so dropping here loses nothing). Installed at start, removed at exit, re-installed
// idempotently after a crash. Must never touch a table it does not own (only `dsmip6_*`), and the
// rule must drop a subset of what the tap's BPF filter accepts (mipfilter.ts states both).
// Runs `nft` synchronously: only at start and exit, and it must work from an 'exit' handler.
import { spawnSync } from 'node:child_process';
import { canonicalIp } from '../common/addr.js';
import { NftError } from './errors.js';

/** What an operator reads in `nft list ruleset`. */
export const MIP_TABLE_COMMENT = 'dsmip6: HAO/RH2 packets are handled in user space';

export interface MipIngressOptions {
  /** The interface whose ingress gets the rule (the one the AF_PACKET tap listens on). */
  ifname: string;
  /**
   * IPv6 addresses whose plain ESP (next header 50 first) the daemon reads from its tap: the HoA
   * on the MN, the HA address on the HA's home link. Only ESP to these is dropped, so a kernel
   * IPsec to other addresses of the host keeps working. Default none.
   */
  espTo?: readonly string[];
  /** Network namespace path to run nft in (via nsenter). Default: the caller's. */
  netns?: string;
  /** The nft binary. Default 'nft' (on PATH). */
  nft?: string;
}

/** `dsmip6_<ifname>`, with characters nft does not take in a name replaced by '_'. */
export function mipTableName(ifname: string): string {
  return `dsmip6_${ifname.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

function checkIfname(ifname: string): void {
  // An interface name is at most 15 octets, no '/', no whitespace; refuse anything that could
  // break out of the quoted string in the ruleset.
  if (!/^[^\s/"\\]{1,15}$/.test(ifname)) throw new NftError(ifname, 'checking the interface name', 'not a valid interface name');
}

/**
 * The ruleset text: create-then-delete makes re-installing after a crash idempotent, and the whole
 * file is one nft transaction, so there is never a moment without the rule once it existed.
 * Offsets are from the IPv6 header (@nh): octet 6 Next Header, octet 42 the routing type of a
 * first Routing header, octets 46..47 `c9 10` of a HAO in the standard 24-octet header.
 */
export function mipIngressRuleset(ifname: string, espTo: readonly string[] = []): string {
  checkIfname(ifname);
  const t = mipTableName(ifname);
  const esp = espTo.map((a) => {
    // Only an address can reach the ruleset text (it is parsed, then printed canonically).
    let text = '';
    try {
      text = canonicalIp(a);
    } catch {
      /* reported below */
    }
    if (!text.includes(':') || text.startsWith('::ffff:')) throw new NftError(ifname, 'checking the ESP address', `${a} is not an IPv6 address`);
    return `    meta protocol ip6 @nh,48,8 50 ip6 daddr ${text} counter drop comment "ESP"`;
  });
  return [
    `table netdev ${t} {}`,
    `delete table netdev ${t}`,
    `table netdev ${t} {`,
    `  comment "${MIP_TABLE_COMMENT}"`,
    `  chain mip_ingress {`,
    `    type filter hook ingress device "${ifname}" priority -500; policy accept;`,
    `    comment "drop packets with a Home Address option or a type 2 routing header: the kernel would answer them with ICMPv6 parameter problem"`,
    `    meta protocol ip6 @nh,48,8 60 @nh,368,16 0xc910 counter drop comment "HAO"`,
    `    meta protocol ip6 @nh,48,8 43 @nh,336,8 2 counter drop comment "RH2"`,
    ...esp,
    `  }`,
    `}`,
    '',
  ].join('\n');
}

/** Runs nft (in `opts.netns` through nsenter when given); throws NftError naming `opts.ifname` and `action`. */
export function runNft(opts: { ifname: string; netns?: string; nft?: string }, action: string, args: string[], input?: string): string {
  const nft = opts.nft ?? 'nft';
  const [cmd, argv] = opts.netns ? ['nsenter', [`--net=${opts.netns}`, '--', nft, ...args]] : [nft, args];
  const r = spawnSync(cmd, argv, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], timeout: 10_000 });
  // A command that fails at once (nsenter on a missing namespace) closes stdin before the ruleset
  // is written: spawnSync then reports EPIPE, but the command's own stderr says what went wrong.
  if (r.status !== 0 && r.stderr) throw new NftError(opts.ifname, action, r.stderr);
  if (r.error) throw new NftError(opts.ifname, action, `${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new NftError(opts.ifname, action, r.stdout || `exit status ${r.status}`);
  return r.stdout;
}

/** Installs (or re-installs) the drop rule. Throws NftError with nft's message. */
export function installMipIngressDrop(opts: MipIngressOptions): void {
  runNft(opts, 'installing the dsmip6 ingress drop', ['-f', '-'], mipIngressRuleset(opts.ifname, opts.espTo));
}

/** Removes the table if it is there; silent when it is not. Throws NftError when nft fails otherwise. */
export function removeMipIngressDrop(opts: MipIngressOptions): void {
  checkIfname(opts.ifname);
  const t = mipTableName(opts.ifname);
  runNft(opts, 'removing the dsmip6 ingress drop', ['-f', '-'], `table netdev ${t} {}\ndelete table netdev ${t}\n`);
}

export interface MipIngressCounters {
  hao: { packets: number; bytes: number };
  rh2: { packets: number; bytes: number };
}

/** The rule counters, or undefined when the table is not installed. */
export function readMipIngressCounters(opts: MipIngressOptions): MipIngressCounters | undefined {
  checkIfname(opts.ifname);
  let text: string;
  try {
    text = runNft(opts, 'reading the dsmip6 ingress counters', ['-j', 'list', 'table', 'netdev', mipTableName(opts.ifname)]);
  } catch (e) {
    if (e instanceof NftError && /No such file or directory/.test(e.nftMessage)) return undefined;
    throw e;
  }
  const out: MipIngressCounters = { hao: { packets: 0, bytes: 0 }, rh2: { packets: 0, bytes: 0 } };
  const doc = JSON.parse(text) as { nftables: Array<{ rule?: { comment?: string; expr?: Array<Record<string, unknown>> } }> };
  for (const item of doc.nftables) {
    const rule = item.rule;
    if (!rule || (rule.comment !== 'HAO' && rule.comment !== 'RH2')) continue;
    for (const e of rule.expr ?? []) {
      const c = e.counter as { packets: number; bytes: number } | undefined;
      if (c) out[rule.comment === 'HAO' ? 'hao' : 'rh2'] = { packets: c.packets, bytes: c.bytes };
    }
  }
  return out;
}
