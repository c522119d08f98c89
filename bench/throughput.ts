// The testbed throughput benchmark (root):
//   node dist/bench/throughput.js [--quick] [--no-profile | --profile-only] [--only=ID,...]
//                                 [--profile-mn] [--profile-path=v6|nat]
// iperf3 from the correspondent (cn) to the MN, TCP and UDP (1400-octet IPv6 packets), over:
// plain routed forwarding on the same path, dsmip6 (the daemons from dist/, ESP AES-GCM-128 and
// -256, IPv6 CoA and IPv4 CoA behind the NAT) and OpenVPN 2.6 AES-256-GCM on the same paths; then
// (unless --no-profile) the HA under iperf3 load with `node --cpu-prof` (the MN too with
// --profile-mn; the NAT path with --profile-path=nat), its top frames. --only runs just the named
// scenarios (development; the goal needs the OpenVPN row of the same path). Prints a markdown
// section for BENCHMARKS.md and the figures as JSON. Each scenario gets a fresh testbed; it never
// sends traffic outside the testbed and leaves no namespace, process or file behind.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT, type Testbed } from '../testbed/index.js';
import { createBed, iperf, iperfServer, killWait, ROOT, sleep, startDaemons, type GcmBits, type IperfResult } from './bed.js';
import { ALGORITHMS } from '../ipsec/algorithms.js';
import { innerMtu, tunnelledSize } from '../tunnel/mss.js';
import { categorize, summarize, type ProfileSummary } from './cpuprofile.js';
import { OVPN, openvpnVersion, startOpenVpn } from './openvpn.js';

const P = PROJECT;
/** Plain forwarding's target: an address of its own on the MN's v6net link, routed cn -> inet -> ha -> inet -> ar6 -> mn. */
const PLAIN = Object.freeze({ prefix: '2001:db8:9::/64', addr: '2001:db8:9::100', table: '200' });
/** iperf3 -l: 1352 octets + 8 (UDP) + 40 (IPv6) = 1400-octet packets, the tunnels' MTU, so nothing fragments. */
export const UDP_PAYLOAD = 1352;

type Path = 'v6' | 'nat';
type Kind = 'plain' | 'dsmip6' | 'openvpn';

export interface Scenario {
  id: string;
  kind: Kind;
  path: Path;
  bits?: GcmBits;
  label: string;
}

export interface Row extends Scenario {
  tcp: IperfResult[];
  udp: IperfResult[];
  /** CPU seconds per second of the process ending the tunnel on the HA side (dsmip6 ha, openvpn server) during the runs. */
  haCpu?: number;
  /** The same for the MN side (dsmip6 mn, openvpn client). */
  mnCpu?: number;
  note?: string;
}

const SCENARIOS: Scenario[] = [
  { id: 'plain-v6', kind: 'plain', path: 'v6', label: 'plain routed forwarding (kernel), IPv6 path' },
  { id: 'dsmip6-v6-128', kind: 'dsmip6', path: 'v6', bits: 128, label: 'dsmip6, IPv6 CoA, ESP AES-GCM-128' },
  { id: 'dsmip6-v6-256', kind: 'dsmip6', path: 'v6', bits: 256, label: 'dsmip6, IPv6 CoA, ESP AES-GCM-256' },
  { id: 'openvpn-v6', kind: 'openvpn', path: 'v6', label: 'OpenVPN, UDP over IPv6, AES-256-GCM' },
  { id: 'dsmip6-nat-128', kind: 'dsmip6', path: 'nat', bits: 128, label: 'dsmip6, IPv4 CoA behind NAT (UDP 4191), ESP AES-GCM-128' },
  { id: 'dsmip6-nat-256', kind: 'dsmip6', path: 'nat', bits: 256, label: 'dsmip6, IPv4 CoA behind NAT (UDP 4191), ESP AES-GCM-256' },
  { id: 'openvpn-nat', kind: 'openvpn', path: 'nat', label: 'OpenVPN, UDP over IPv4 behind the NAT, AES-256-GCM' },
];

/**
 * What a daemon's time goes to, by self time of the frames (first match wins). A native call's time
 * (the system calls inside it included) is the self time of the JS function that makes it.
 */
const PROFILE_GROUPS = [
  { name: 'raw IPv6 socket send (tunnel/mipio-native.js send: one sendmmsg per batch; the kernel forwards each packet through the testbed\'s routers to the peer\'s socket inside that call)', re: /mipio-native\.js/ },
  { name: 'UDP 4191 socket (tunnel/udp4.js: sendmmsg with GSO runs, recvmmsg with GRO, and the kernel work behind them)', re: /tunnel\/(udp4|bind)\.js/ },
  { name: 'TUN device (tunnel/tun.js, slots.js: a read(2) per packet or TCP super-packet, a write(2) per packet or TCP run, inside one native call per batch)', re: /tunnel\/(tun|slots)\.js/ },
  { name: 'native ESP seal/open (tunnel/native-esp.js: OpenSSL EVP AES-GCM, a batch per call)', re: /tunnel\/native-esp\.js/ },
  { name: 'the ESP engine around it (ipsec/: SPD, SAD, sequence numbers, framing)', re: /dist\/ipsec\// },
  { name: 'MIPv6 byte rewrites and other packet code (tunnel/mip6.js, tunnel/mss.js, common/)', re: /tunnel\/(mip6|mss)\.js|dist\/common\// },
  { name: 'the daemon\'s data-plane glue (ha/, mn/)', re: /dist\/(ha|mn)\// },
  { name: 'node:crypto (only where native ESP is unavailable, and key setup)', re: /node:internal\/crypto|node:crypto/ },
  { name: 'garbage collection', re: /garbage collector/ },
  { name: 'Buffer allocation (node:buffer)', re: /node:buffer|node:internal\/buffer/ },
] as const;
/** PROFILE_GROUPS indices the summary text reads. */
const G = { raw6: 0, udp4: 1, tun: 2, esp: 3, ipsec: 4, rewrite: 5, glue: 6, gc: 8 } as const;

const FULL = { seconds: 5, omit: 1, rounds: 2 };
const QUICK = { seconds: 1, omit: 0, rounds: 1 };

const log = (line: string): void => void process.stderr.write(`bench throughput: ${line}\n`);

function cpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / 100; // utime, stime (fields 14, 15) in clock ticks
  } catch {
    return 0;
  }
}

/** Routes for plain forwarding over the tunnel's path: inet sends what comes back from ha on to ar6 (policy rule on its ingress). */
async function plainRoutes(tb: Testbed): Promise<void> {
  const ip = async (host: string, ...a: string[]): Promise<void> => void (await tb.exec(host, ['ip', ...a], { check: true }));
  await ip('mn', '-6', 'addr', 'add', `${PLAIN.addr}/128`, 'dev', P.mn.ifaces.v6net, 'nodad');
  await ip('ar6', '-6', 'route', 'add', PLAIN.prefix, 'via', P.mn.coa6);
  await ip('inet', '-6', 'route', 'add', PLAIN.prefix, 'via', P.ha.public6);
  await ip('inet', '-6', 'route', 'add', PLAIN.prefix, 'via', P.ar6.up6, 'table', PLAIN.table);
  await ip('inet', '-6', 'rule', 'add', 'iif', 'toha', 'to', PLAIN.prefix, 'table', PLAIN.table, 'priority', '100');
  await ip('ha', '-6', 'route', 'add', PLAIN.prefix, 'via', P.inet.toHa6);
}

async function runScenario(s: Scenario, plan: typeof FULL, seq: number, profileDir?: { ha: string; mn?: string }): Promise<{ tcp: IperfResult; udp: IperfResult; haCpu: number; mnCpu: number; cipher?: string }> {
  const tb = await createBed(`bt${seq % 100}`, s.path === 'v6' ? P.mn.ifaces.v6net : P.mn.ifaces.natnet);
  let stopTunnel = async (): Promise<void> => {};
  try {
    let target: string;
    let haPid: number | undefined;
    let mnPid: number | undefined;
    let cipher: string | undefined;
    if (s.kind === 'plain') {
      await plainRoutes(tb);
      target = PLAIN.addr;
    } else if (s.kind === 'dsmip6') {
      const prof = (dir: string): string[] => ['--cpu-prof', '--cpu-prof-dir', dir];
      const d = await startDaemons(tb, {
        bits: s.bits!,
        ...(profileDir ? { haNodeArgs: prof(profileDir.ha) } : {}),
        ...(profileDir?.mn ? { mnNodeArgs: prof(profileDir.mn) } : {}),
      });
      stopTunnel = d.stop;
      target = P.mn.hoa6;
      haPid = d.ha.pid;
      mnPid = d.mn.pid;
    } else {
      const o = await startOpenVpn(tb, s.path, 1400);
      stopTunnel = o.stop;
      target = OVPN.client;
      haPid = o.server.pid;
      mnPid = o.client.pid;
      cipher = o.cipher;
    }
    const server = await iperfServer(tb, 'mn', target);
    try {
      const c0 = cpuSeconds(haPid);
      const m0 = cpuSeconds(mnPid);
      const t0 = performance.now();
      // One retry on an iperf3 error (a control connection reset under the UDP flood happens now and then).
      const once = async (proto: 'tcp' | 'udp'): Promise<IperfResult> => {
        const r = await iperf(tb, 'cn', target, proto, plan.seconds, plan.omit, UDP_PAYLOAD);
        if (!r.error) return r;
        log(`  ${s.id} ${proto}: ${r.error}; once more`);
        await sleep(1000);
        return iperf(tb, 'cn', target, proto, plan.seconds, plan.omit, UDP_PAYLOAD);
      };
      const tcp = await once('tcp');
      const udp = await once('udp');
      const secs = (performance.now() - t0) / 1000;
      const haCpu = haPid ? (cpuSeconds(haPid) - c0) / secs : 0;
      const mnCpu = mnPid ? (cpuSeconds(mnPid) - m0) / secs : 0;
      return { tcp, udp, haCpu, mnCpu, ...(cipher ? { cipher } : {}) };
    } finally {
      await killWait(server);
    }
  } finally {
    await stopTunnel().catch(() => {});
    await tb.destroy();
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? 0 : n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
};
const gbit = (bps: number): string => (bps / 1e9).toFixed(3);
const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const times = (x: number): string => `${x.toFixed(2)}×`;

interface ProfileRun {
  scenario: Scenario;
  summary?: ProfileSummary;
  /** With --profile-mn. */
  mn?: ProfileSummary;
  note?: string;
}

async function profile(plan: typeof FULL, path: Path, withMn: boolean): Promise<ProfileRun> {
  const scenario = SCENARIOS.find((s) => s.kind === 'dsmip6' && s.path === path && s.bits === 128)!;
  const dir = mkdtempSync(join(tmpdir(), 'dsmip6-bench-prof-'));
  const dirs = { ha: join(dir, 'ha'), ...(withMn ? { mn: join(dir, 'mn') } : {}) };
  const read = (d: string): ProfileSummary | undefined => {
    const files = existsSync(d) ? readdirSync(d).filter((f) => f.endsWith('.cpuprofile')) : [];
    return files.length ? summarize(join(d, files[0]!), ROOT) : undefined;
  };
  try {
    await runScenario(scenario, { ...plan, omit: 0 }, 99, dirs);
    const summary = read(dirs.ha);
    const mn = dirs.mn ? read(dirs.mn) : undefined;
    if (!summary) return { scenario, note: 'the HA wrote no .cpuprofile' };
    return { scenario, summary, ...(mn ? { mn } : {}), ...(withMn && !mn ? { note: 'the MN wrote no .cpuprofile' } : {}) };
  } catch (e) {
    return { scenario, note: `profile run failed: ${(e as Error).message.split('\n')[0]}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const plan = quick ? QUICK : FULL;
  const started = Date.now();
  const load = loadavg().map((x) => x.toFixed(2)).join(' ');
  const only = args.find((a) => a.startsWith('--only='))?.slice(7).split(',');
  const unknown = only?.filter((id) => !SCENARIOS.some((s) => s.id === id)) ?? [];
  if (unknown.length) throw new Error(`--only: unknown scenario ${unknown.join(', ')} (known: ${SCENARIOS.map((s) => s.id).join(', ')})`);
  const profilePath: Path = args.includes('--profile-path=nat') ? 'nat' : 'v6';
  const rows: Row[] = SCENARIOS.filter((s) => !only || only.includes(s.id)).map((s) => ({ ...s, tcp: [], udp: [] }));
  const cpu: Record<string, number[]> = {};
  const mcpu: Record<string, number[]> = {};
  // --profile-only (development): just the profile run.
  for (let round = 0; round < (args.includes('--profile-only') ? 0 : plan.rounds); round++) {
    // Reverse the order every round, so that drift in the machine's load falls on all alike.
    const order = round % 2 === 0 ? rows : [...rows].reverse();
    for (const r of order) {
      log(`round ${round + 1}/${plan.rounds}: ${r.id}`);
      try {
        const out = await runScenario(r, plan, round * 10 + rows.indexOf(r));
        r.tcp.push(out.tcp);
        r.udp.push(out.udp);
        (cpu[r.id] ??= []).push(out.haCpu);
        (mcpu[r.id] ??= []).push(out.mnCpu);
        if (out.cipher) r.note = `data channel cipher as OpenVPN logged it: ${out.cipher}`;
        log(`  tcp ${gbit(out.tcp.bps)} Gbit/s${out.tcp.error ? ` (${out.tcp.error})` : ''}, udp ${gbit(out.udp.bps)} Gbit/s (loss ${out.udp.lostPercent?.toFixed(1)}%)${out.udp.error ? ` (${out.udp.error})` : ''}, CPU HA side ${out.haCpu.toFixed(2)}, MN side ${out.mnCpu.toFixed(2)}, TCP retransmits ${out.tcp.retransmits ?? 0}`);
      } catch (e) {
        r.note = `failed: ${(e as Error).message.split('\n')[0]}`;
        log(`  ${r.note}`);
      }
    }
  }
  for (const r of rows) if (cpu[r.id]) r.haCpu = median(cpu[r.id]!);
  for (const r of rows) if (mcpu[r.id]) r.mnCpu = median(mcpu[r.id]!);
  const withMn = args.includes('--profile-mn');
  const prof: ProfileRun | { note: string } = args.includes('--no-profile')
    ? { note: 'skipped (--no-profile)' }
    : (log(`profile: the HA${withMn ? ' and the MN' : ''} under iperf3 load with node --cpu-prof (${profilePath} path)`), await profile(plan, profilePath, withMn));
  const seconds = (Date.now() - started) / 1000;
  process.stdout.write(render(rows, plan, prof, { load, seconds, quick, args }));
}

/** Median over the runs that did not fail (0 when none succeeded). */
function med(rs: IperfResult[]): number {
  return median(rs.filter((r) => !r.error).map((r) => r.bps));
}

function render(rows: Row[], plan: typeof FULL, prof: ProfileRun | { note: string }, meta: { load: string; seconds: number; quick: boolean; args: string[] }): string {
  const by = (id: string): Row | undefined => rows.find((r) => r.id === id);
  const plain = by('plain-v6');
  const out: string[] = [];
  const argText = meta.args.length ? ` ${meta.args.join(' ')}` : '';
  out.push('## Tunnel throughput in the testbed: dsmip6 against plain forwarding and OpenVPN (bench/throughput.ts)', '');
  out.push(`- Command: \`node dist/bench/throughput.js${argText}\` (root); run time ${meta.seconds.toFixed(0)} s; ${cpus().length} logical CPUs; load average before: ${meta.load}`);
  out.push(`- ${openvpnVersion() ?? 'openvpn not found'}; ${plan.rounds} round(s) of every scenario, order reversed each round; each run iperf3 ${plan.seconds} s${plan.omit ? ` (TCP after ${plan.omit} s not counted, -O)` : ''}; the figure is the median over rounds.`, '');
  const goal = (r: Row, proto: 'tcp' | 'udp'): { ratio: number; ok: boolean } | undefined => {
    if (r.kind !== 'dsmip6') return undefined;
    const o = by(`openvpn-${r.path}`);
    const a = med(r[proto]);
    const b = o ? med(o[proto]) : 0;
    if (!(a > 0 && b > 0)) return undefined;
    return { ratio: a / b, ok: a / b >= 2 };
  };
  const judged = rows.flatMap((r) => (['tcp', 'udp'] as const).map((p) => goal(r, p))).filter((g): g is { ratio: number; ok: boolean } => !!g);
  const met = judged.filter((g) => g.ok).length;
  out.push(
    `Goal: dsmip6 carries at least 2× OpenVPN's throughput on the same path (dsmip6 ÷ OpenVPN of the same path and protocol). ${met === judged.length && judged.length > 0 ? '**MET**' : '**NOT MET**'}: ${met} of ${judged.length} pairs meet it. The share of plain forwarding is reported beside it.`,
    '',
  );
  out.push('| Scenario | TCP Gbit/s | UDP Gbit/s received (loss) | TCP ÷ OpenVPN | UDP ÷ OpenVPN | TCP ÷ plain | UDP ÷ plain | TCP retransmits | CPU, HA side / MN side (cores) | goal ≥ 2× OpenVPN |');
  out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|:---:|');
  for (const r of rows) {
    const tcp = med(r.tcp);
    const udp = med(r.udp);
    const loss = median(r.udp.filter((u) => !u.error).map((u) => u.lostPercent ?? 0));
    const o = r.kind === 'plain' ? undefined : by(`openvpn-${r.path}`);
    const vsO = (proto: 'tcp' | 'udp'): string => (r.kind === 'openvpn' ? '(baseline)' : o && med(o[proto]) > 0 && med(r[proto]) > 0 ? times(med(r[proto]) / med(o[proto])) : '');
    const vsP = (proto: 'tcp' | 'udp'): string => (r.kind === 'plain' ? '(baseline)' : plain && med(plain[proto]) > 0 && med(r[proto]) > 0 ? pct(med(r[proto]) / med(plain[proto])) : '');
    const g = [goal(r, 'tcp'), goal(r, 'udp')].filter((x) => x);
    const gs = r.kind !== 'dsmip6' ? '' : g.length < 2 ? 'not measured' : g.every((x) => x!.ok) ? '**MET**' : 'not met';
    const tcpCell = r.tcp.some((t) => !t.error) ? gbit(tcp) : 'failed';
    const udpCell = r.udp.some((u) => !u.error) ? `${gbit(udp)} (${loss.toFixed(1)}%)` : 'failed';
    out.push(`| ${r.label} | ${tcpCell} | ${udpCell} | ${r.kind === 'plain' ? '' : vsO('tcp')} | ${r.kind === 'plain' ? '' : vsO('udp')} | ${vsP('tcp')} | ${vsP('udp')} | ${r.tcp.length ? median(r.tcp.map((t) => t.retransmits ?? 0)).toFixed(0) : ''} | ${r.kind !== 'plain' && r.haCpu !== undefined ? `${r.haCpu.toFixed(2)} / ${(r.mnCpu ?? 0).toFixed(2)}` : ''} | ${gs} |`);
  }
  const notes = rows.filter((r) => r.note).map((r) => `- ${r.label}: ${r.note}`);
  const errs = rows.flatMap((r) => [...r.tcp, ...r.udp].filter((x) => x.error).map((x) => `- ${r.label}: iperf3 error: ${x.error}`));
  if (notes.length || errs.length) out.push('', ...notes, ...errs);
  out.push(
    '',
    'Method:',
    '',
    `- Every scenario runs in a fresh PROJECT_TOPOLOGY testbed (testbed/project.ts). The MN has one link up: v6net0 for the IPv6 paths, natnet0 (192.168.77.100 behind the nftables masquerade) for the NAT paths. The iperf3 client runs in cn, the server in mn; data flows cn → MN. TCP: one stream, default window. UDP: \`-u -l ${UDP_PAYLOAD} -b 0\` (1400-octet IPv6 packets, unlimited offered rate); "received" is what the server counted (iperf3's sum_received), and the loss the share of datagrams it never saw.`,
    '- dsmip6: `dsmip6 ha` and `dsmip6 mn` from dist/ with bench/fixtures/gcm128-{ha,mn}.json (the configuration of the e2e tests: AES-GCM-128 payload SAs) or gcm256-{ha,mn}.json (the same with 32-octet AES keys); the target is the MN\'s home address 2001:db8:1::100. Path: cn → inet → ha (TUN, ESP tunnel mode, → CoA) → inet → ar6 → mn (or → nat → mn in UDP 4191), back the same way (reverse tunnelling). Both TUNs have MTU 1400 and TCP offload (tunnel/tun.ts tcpOffload: TCP super-packets read and split, runs of segments written as one GSO packet); the MN lowers the MSS of TCP SYNs so that full-size segments fit a 1500-octet path once tunnelled (mn/node.ts, tunnel/mss.ts), as OpenVPN\'s default --mssfix does.',
    `- Plain forwarding: no daemons; the MN gets ${PLAIN.addr}/128 on v6net0 and the routers send it exactly the tunnel's way, cn → inet → ha → inet (a policy rule on inet's interface towards ha) → ar6 → mn; replies go mn → ar6 → inet → cn. The kernel forwards with its offloads (GSO/GRO on the veths), which is why it is an order of magnitude above any user-space tunnel.`,
    `- OpenVPN: \`openvpn --dev-type tun --proto udp6|udp4 --data-ciphers AES-256-GCM --disable-dco --tun-mtu 1400\`, point-to-point TLS mode (self-signed certificates pinned with --peer-fingerprint), server in ha on its public address, client in mn (v6net CoA, or behind the NAT); inner prefix ${OVPN.prefix} routed to ha by inet, and cn's prefix routed into the tunnel by the client (--route-ipv6), so replies come back through it as with dsmip6. DCO (the kernel data channel) is off: user space against user space is the comparison asked for.`,
    '- CPU: CPU seconds per second of the process that ends the tunnel on each side (dsmip6 ha / dsmip6 mn, or the OpenVPN server / client) over the TCP and UDP runs together, from /proc/PID/stat; 1.00 is one core saturated. TCP retransmits: iperf3\'s count for the sender (median run).',
    '- UDP at an unlimited offered rate measures what reaches the iperf3 server, which reads one datagram per system call: on plain forwarding that receiver, not the routers, is the limit (hence its loss), so "UDP ÷ plain" compares against the testbed\'s ceiling rather than the kernel\'s forwarding rate.',
    '- Two cores are shared by iperf3 (client and server), the routers\' kernel forwarding and both tunnel ends, so every figure is lower than on a machine where they had cores of their own; the ratios compare like with like.',
  );
  const profTable = (who: string, s: ProfileSummary): void => {
    out.push(
      `${who} ran with \`node --cpu-prof\` through one TCP and one UDP iperf3 run (${'scenario' in prof ? prof.scenario.label : ''}). Busy ${(s.busyMs / 1000).toFixed(2)} s of ${(s.totalMs / 1000).toFixed(2)} s sampled (${pct(s.busyMs / s.totalMs)}); self time of the top frames, as shares of the busy time:`,
      '',
      '| Frame (self time) | ms | share of busy |',
      '|---|---:|---:|',
      ...s.top.map((f) => `| \`${f.frame.replace(/\|/g, '\\|')}\` | ${f.selfMs.toFixed(0)} | ${pct(f.share)} |`),
      '',
      'The same busy time grouped by what it does (the sampled time includes the daemon\'s start and stop: its nft calls and module loading fall under "everything else"):',
      '',
      '| Work | ms | share of busy |',
      '|---|---:|---:|',
      ...categorize(s, PROFILE_GROUPS).map((g) => `| ${g.name} | ${g.ms.toFixed(0)} | ${pct(g.share)} |`),
      '',
      'The project\'s own functions by inclusive time (the function and everything it calls), which says who pays for the frames above:',
      '',
      '| Function (inclusive) | ms | share of busy |',
      '|---|---:|---:|',
      ...s.ownInclusive.map((f) => `| \`${f.frame.replace(/\|/g, '\\|')}\` | ${f.selfMs.toFixed(0)} | ${pct(f.share)} |`),
    );
  };
  out.push('', '### Where the HA spends its time under load (node --cpu-prof)', '');
  if ('summary' in prof && prof.summary) profTable('The HA', prof.summary);
  else out.push(`Not measured: ${prof.note}.`);
  if ('mn' in prof && prof.mn) {
    out.push('', '### Where the MN spends its time under load (node --cpu-prof, --profile-mn)', '');
    profTable('The MN', prof.mn);
  }
  out.push('', '### What limits the throughput goal, and what it would take', '', ...limits(rows, by, 'summary' in prof ? prof : undefined));
  out.push('', '```json', JSON.stringify({ plan, rows, profile: 'summary' in prof && prof.summary ? { totalMs: prof.summary.totalMs, busyMs: prof.summary.busyMs } : prof.note }, (k, v) => (typeof v === 'number' && !Number.isInteger(v) ? Math.round(v * 1000) / 1000 : v), 1), '```');
  return out.join('\n') + '\n';
}

/** The "what limits" bullets, from this run's figures only: true whether or not the goal is met. */
function limits(rows: Row[], by: (id: string) => Row | undefined, prof: ProfileRun | undefined): string[] {
  const out: string[] = [];
  const gcm = ALGORITHMS['aes-gcm-16'];
  for (const r of rows.filter((x) => x.kind === 'dsmip6' && x.bits === 128 && (x.tcp.length > 0 || x.udp.length > 0))) {
    const o = by(`openvpn-${r.path}`);
    const parts = (['tcp', 'udp'] as const).map((p) => {
      const a = med(r[p]);
      const b = o ? med(o[p]) : 0;
      return a > 0 && b > 0 ? `${p.toUpperCase()} ${times(a / b)}${a / b >= 2 ? ' (met)' : ` (short of 2× by ${gbit(2 * b - a)} Gbit/s)`}` : `${p.toUpperCase()} not compared`;
    });
    const cpu = r.haCpu !== undefined ? `; the HA used ${r.haCpu.toFixed(2)} and the MN ${(r.mnCpu ?? 0).toFixed(2)} cores, ${(r.haCpu + (r.mnCpu ?? 0)).toFixed(2)} of the machine's ${cpus().length}` : '';
    const perGbit = r.haCpu !== undefined && med(r.tcp) > 0 && med(r.udp) > 0 ? ` (${((r.haCpu + (r.mnCpu ?? 0)) / ((med(r.tcp) + med(r.udp)) / 2e9)).toFixed(2)} cores per Gbit/s of the two runs' mean)` : '';
    out.push(`- ${r.label}: ${parts.join(', ')} against OpenVPN${cpu}${perGbit}.`);
  }
  const busy = rows.filter((r) => r.kind === 'dsmip6' && r.haCpu !== undefined).map((r) => r.haCpu! + (r.mnCpu ?? 0));
  if (busy.length) {
    const top = Math.max(...busy);
    out.push(
      top < cpus().length * 0.8
        ? `- Neither tunnel end had a core to itself: the two ends together used at most ${top.toFixed(2)} of ${cpus().length} cores, the rest going to iperf3, the routers' forwarding (charged to whichever process sends into them) and anything else on the machine. A higher rate needs less CPU per packet on both ends, not more parallelism.`
        : `- The two tunnel ends together used up to ${top.toFixed(2)} of ${cpus().length} cores: the machine is the limit; a higher rate needs less CPU per packet.`,
    );
  }
  // The UDP 4191 framing: a 1400-octet inner packet does not fit a 1500-octet IPv4 path.
  const natInner = innerMtu(1500, 4, gcm);
  const nat = rows.find((r) => r.kind === 'dsmip6' && r.path === 'nat' && r.udp.length);
  if (nat) {
    const outer = tunnelledSize(1400, 4, gcm);
    out.push(
      `- NAT path, UDP: a 1400-octet inner packet sealed and sent in UDP 4191 makes a ${outer}-octet IPv4 datagram (the largest inner packet that fits 1500 is ${natInner} octets), so every datagram leaves the HA as two IPv4 fragments, which the NAT reassembles and fragments again and the MN reassembles. TCP avoids it by the MSS clamping (at most ${natInner - 60} payload octets per segment); the benchmark's 1400-octet UDP datagrams cannot. OpenVPN's AES-GCM framing adds about 50 octets, so its datagrams fit. Only a smaller inner MTU on that path (a path-MTU-aware TUN MTU, or ICMPv6 Packet Too Big from the HA) would remove the fragments.`,
    );
  }
  if (prof?.summary) {
    const g = categorize(prof.summary, PROFILE_GROUPS);
    const sh = (i: number): string => pct(g[i]!.share);
    const send = prof.scenario.path === 'v6' ? G.raw6 : G.udp4;
    out.push(
      `- The HA's profile (${prof.scenario.label}): ${sh(send)} of its busy time is the wire send (${prof.scenario.path === 'v6' ? 'raw IPv6 sendmmsg' : 'UDP sendmmsg'}), mostly kernel work: the packet's trip through the testbed's routers up to the MN's socket runs inside that system call. The TUN ${sh(G.tun)}, native ESP ${sh(G.esp)}, the ESP engine around it ${sh(G.ipsec)}, the MIPv6 rewrites and other packet code ${sh(G.rewrite)}, the daemon's glue ${sh(G.glue)}, garbage collection ${sh(G.gc)}.`,
    );
    const js = g[G.esp]!.share + g[G.ipsec]!.share + g[G.rewrite]!.share + g[G.glue]!.share + g[G.gc]!.share;
    out.push(
      js < 0.3
        ? `- What is left in user space (ESP, engine, rewrites, glue, GC: ${pct(js)}) is small next to the kernel's per-packet work, so further gains must cut packets the kernel handles one by one. Already done: UDP GSO coalesces runs on the UDP 4191 path, and the TUN works in TCP super-packets both ways (native/tungro.c): the HA reads up to 64 KiB of one flow at once and splits it into the kernel's own segments, and a run of one flow's segments is written as one GSO packet, so the TCP stacks at both ends work per run, not per segment. What stays per packet: the tunnelled ESP packets on the wire (a raw IPv6 socket has no GSO, and on the IPv6 path their forwarding inside the send is the HA's largest cost) and UDP, whose datagrams no one coalesces. Cutting further would take the kernel's per-packet work off the HA's thread or out of the path: an AF_PACKET transmit ring (PACKET_MMAP, no route lookup or socket copy per packet) for the IPv6 path, and fewer, larger packets (a larger path MTU) for UDP.`
        : `- User space (ESP, engine, rewrites, glue, GC) is still ${pct(js)} of the HA's busy time: trimming it (fewer objects per packet, fewer JS↔native crossings) comes before the kernel-side steps (an AF_PACKET transmit ring, fewer and larger packets).`,
    );
  } else out.push('- No profile in this run (--no-profile or the profile run failed): where the time goes is not stated.');
  return out;
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
