// The testbed throughput benchmark: `node dist/bench/throughput.js [--quick] [--no-profile | --profile-only]` (root).
// iperf3 from the correspondent (cn) to the MN, TCP and UDP (1400-octet IPv6 packets), over:
// plain routed forwarding on the same path, dsmip6 (the daemons from dist/, ESP AES-GCM-128 and
// -256, IPv6 CoA and IPv4 CoA behind the NAT) and OpenVPN 2.6 AES-256-GCM on the same paths; then
// (unless --no-profile) the HA under iperf3 load with `node --cpu-prof`, its top frames. Prints a
// markdown section for BENCHMARKS.md and the figures as JSON. Each scenario gets a fresh testbed;
// it never sends traffic outside the testbed and leaves no namespace, process or file behind.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT, type Testbed } from '../testbed/index.js';
import { createBed, iperf, iperfServer, killWait, ROOT, sleep, startDaemons, type GcmBits, type IperfResult } from './bed.js';
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

/** What the HA's time goes to, by self time of the frames (first match wins). */
const PROFILE_GROUPS = [
  { name: 'IPv6 address text <-> bytes per packet (ip6addr, jsprim, common/addr.js: tunnel/mip6.ts decodes to text and re-encodes)', re: /ip6addr|jsprim|common\/addr\.js/ },
  { name: 'raw IPv6 socket send, one packet per call (tunnel/mipio-native.js send: the native raw6Send)', re: /mipio-native\.js/ },
  { name: 'garbage collection', re: /garbage collector/ },
  { name: 'node:crypto (a cipher object per packet: createCipheriv, update, final, tags)', re: /node:internal\/crypto|node:crypto/ },
  { name: 'the ESP engine itself (ipsec/: SPD, SAD, framing)', re: /dist\/ipsec\// },
  { name: 'packet decode/encode (common/ipv6.js, tunnel/mip6.js)', re: /common\/ipv6\.js|tunnel\/mip6\.js/ },
  { name: 'TUN and socket edges (tunnel/tun.js, slots.js, udp4.js)', re: /tunnel\/(tun|slots|udp4|bind)\.js/ },
  { name: 'Buffer allocation (FastBuffer, deprecated Buffer() calls)', re: /node:buffer|node:internal\/buffer/ },
  { name: 'sequence-number store (common/store.js)', re: /common\/store\.js/ },
] as const;

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

async function runScenario(s: Scenario, plan: typeof FULL, seq: number, profileDir?: string): Promise<{ tcp: IperfResult; udp: IperfResult; haCpu: number; mnCpu: number; cipher?: string }> {
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
      const d = await startDaemons(tb, { bits: s.bits!, ...(profileDir ? { haNodeArgs: ['--cpu-prof', '--cpu-prof-dir', profileDir] } : {}) });
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

async function profile(plan: typeof FULL): Promise<{ summary?: ProfileSummary; note?: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'dsmip6-bench-prof-'));
  try {
    await runScenario(SCENARIOS[1]!, { ...plan, omit: 0 }, 99, dir);
    const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
    if (files.length === 0) return { note: 'the HA wrote no .cpuprofile' };
    return { summary: summarize(join(dir, files[0]!), ROOT) };
  } catch (e) {
    return { note: `profile run failed: ${(e as Error).message.split('\n')[0]}` };
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
  const rows: Row[] = SCENARIOS.map((s) => ({ ...s, tcp: [], udp: [] }));
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
  const prof = args.includes('--no-profile') ? { note: 'skipped (--no-profile)' } : (log('profile: the HA under iperf3 load with node --cpu-prof'), await profile(plan));
  const seconds = (Date.now() - started) / 1000;
  process.stdout.write(render(rows, plan, prof, { load, seconds, quick }));
}

/** Median over the runs that did not fail (0 when none succeeded). */
function med(rs: IperfResult[]): number {
  return median(rs.filter((r) => !r.error).map((r) => r.bps));
}

function render(rows: Row[], plan: typeof FULL, prof: { summary?: ProfileSummary; note?: string }, meta: { load: string; seconds: number; quick: boolean }): string {
  const by = (id: string): Row => rows.find((r) => r.id === id)!;
  const plain = by('plain-v6');
  const out: string[] = [];
  out.push('## Tunnel throughput in the testbed: dsmip6 against plain forwarding and OpenVPN (bench/throughput.ts)', '');
  out.push(`- Command: \`node dist/bench/throughput.js${meta.quick ? ' --quick' : ''}\` (root); run time ${meta.seconds.toFixed(0)} s; ${cpus().length} logical CPUs; load average before: ${meta.load}`);
  out.push(`- ${openvpnVersion() ?? 'openvpn not found'}; ${plan.rounds} round(s) of every scenario, order reversed each round; each run iperf3 ${plan.seconds} s${plan.omit ? ` (TCP after ${plan.omit} s not counted, -O)` : ''}; the figure is the median over rounds.`, '');
  const goal = (r: Row, proto: 'tcp' | 'udp'): { ratio: number; ok: boolean } | undefined => {
    if (r.kind !== 'dsmip6') return undefined;
    const o = by(`openvpn-${r.path}`);
    const a = med(r[proto]);
    const b = med(o[proto]);
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
    const vsP = (proto: 'tcp' | 'udp'): string => (r.kind === 'plain' ? '(baseline)' : med(plain[proto]) > 0 && med(r[proto]) > 0 ? pct(med(r[proto]) / med(plain[proto])) : '');
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
    '- dsmip6: `dsmip6 ha` and `dsmip6 mn` from dist/ with bench/fixtures/gcm128-{ha,mn}.json (the configuration of the e2e tests: AES-GCM-128 payload SAs) or gcm256-{ha,mn}.json (the same with 32-octet AES keys); the target is the MN\'s home address 2001:db8:1::100. Path: cn → inet → ha (TUN, ESP tunnel mode, → CoA) → inet → ar6 → mn (or → nat → mn in UDP 4191), back the same way (reverse tunnelling). Both TUNs have MTU 1400.',
    `- Plain forwarding: no daemons; the MN gets ${PLAIN.addr}/128 on v6net0 and the routers send it exactly the tunnel's way, cn → inet → ha → inet (a policy rule on inet's interface towards ha) → ar6 → mn; replies go mn → ar6 → inet → cn. The kernel forwards with its offloads (GSO/GRO on the veths), which is why it is an order of magnitude above any user-space tunnel.`,
    `- OpenVPN: \`openvpn --dev-type tun --proto udp6|udp4 --data-ciphers AES-256-GCM --disable-dco --tun-mtu 1400\`, point-to-point TLS mode (self-signed certificates pinned with --peer-fingerprint), server in ha on its public address, client in mn (v6net CoA, or behind the NAT); inner prefix ${OVPN.prefix} routed to ha by inet, and cn's prefix routed into the tunnel by the client (--route-ipv6), so replies come back through it as with dsmip6. DCO (the kernel data channel) is off: user space against user space is the comparison asked for.`,
    '- CPU: CPU seconds per second of the process that ends the tunnel on each side (dsmip6 ha / dsmip6 mn, or the OpenVPN server / client) over the TCP and UDP runs together, from /proc/PID/stat; 1.00 is one core saturated. TCP retransmits: iperf3\'s count for the sender (median run).',
    '- UDP at an unlimited offered rate measures what reaches the iperf3 server, which reads one datagram per system call: on plain forwarding that receiver, not the routers, is the limit (hence its loss), so "UDP ÷ plain" compares against the testbed\'s ceiling rather than the kernel\'s forwarding rate.',
    '- Two cores are shared by iperf3 (client and server), the routers\' kernel forwarding and both tunnel ends, so every figure is lower than on a machine where they had cores of their own; the ratios compare like with like.',
  );
  out.push('', '### Where the HA spends its time under load (node --cpu-prof)', '');
  if (prof.summary) {
    const s = prof.summary;
    out.push(
      `The HA ran with \`node --cpu-prof\` through one TCP and one UDP iperf3 run (IPv6 CoA, AES-GCM-128). Busy ${(s.busyMs / 1000).toFixed(2)} s of ${(s.totalMs / 1000).toFixed(2)} s sampled (${pct(s.busyMs / s.totalMs)}); self time of the top frames, as shares of the busy time:`,
      '',
      '| Frame (self time) | ms | share of busy |',
      '|---|---:|---:|',
      ...s.top.map((f) => `| \`${f.frame.replace(/\|/g, '\\|')}\` | ${f.selfMs.toFixed(0)} | ${pct(f.share)} |`),
      '',
      'The same busy time grouped by what it does:',
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
    const g = categorize(s, PROFILE_GROUPS);
    const share = (i: number): string => pct(g[i]!.share);
    out.push(
      '',
      '### What limits the throughput goal, and what it would take',
      '',
      `- The HA and the MN are not given whole cores here (the CPU column: two cores shared with iperf3, the routers' forwarding and other work on the machine), and OpenVPN runs under the same conditions; the ratio stands, the absolute rates do not.`,
      `- In this profile node:crypto is ${share(3)} of the HA's busy time and the ESP engine's own work ${share(4)}. Moving batched ESP seal/open into the native addon (OpenSSL EVP, issue item 4) removes at most that share, so on its own it cannot give 2× OpenVPN; it was not started.`,
      `- The larger costs are around the cryptography: ${share(0)} converting IPv6 addresses between text and bytes for every packet (tunnel/mip6.ts toMobile → reencode → common/ipv6.ts encodeIpv6 → common/addr.ts → the ip6addr package), ${share(1)} in one raw-socket send per packet (ha/agent.ts hands each packet to tunnel/mipio-native.ts send alone; the TUN and UDP edges batch), ${share(2)} garbage collection (an object graph and new buffers per packet), ${share(7)} Buffer allocation.`,
      '- What it would take (all in tunnel/, common/ and ha/agent.ts, outside this benchmark\'s change): rewrite the CoA and the Home Address option in place on the packet\'s bytes (16-octet copies, no text, no decode/re-encode); collect a batch\'s outgoing packets and hand them to raw6Send in one call (sendmmsg), as the Bind does; seal into reused slot buffers. Then profile again with this command: when node:crypto dominates, the batched native ESP behind ipsec/\'s unchanged API is the next step.',
    );
  } else out.push(`Not measured: ${prof.note}.`);
  out.push('', '```json', JSON.stringify({ plan, rows, profile: prof.summary ? { totalMs: prof.summary.totalMs, busyMs: prof.summary.busyMs } : prof.note }, (k, v) => (typeof v === 'number' && !Number.isInteger(v) ? Math.round(v * 1000) / 1000 : v), 1), '```');
  return out.join('\n') + '\n';
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
