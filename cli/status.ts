// `dsmip6 status`: asks a running home agent or mobile node over its control socket
// (common/control.ts) for its state and prints it as tables, or as the raw JSON result.
// A client only: it must never change the daemon's state, and never print key material (the
// daemon sends none; this file adds none).
import type { Command } from 'commander';
import { ControlError, controlRequest, DEFAULT_CLIENT_TIMEOUT_MS, HA_SOCKET, MN_SOCKET } from '../common/control.js';
import type { HaStatus } from '../ha/status.js';
import type { MnStatus } from '../mn/status.js';

interface StatusOptions {
  socket?: string;
  ha?: boolean;
  mn?: boolean;
  json?: boolean;
  timeout: string;
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .summary("show a running daemon's bindings, registration, counters and SAs")
    .description(
      'Asks a running home agent or mobile node over its control socket (a root-only unix socket, ' +
        `default ${HA_SOCKET} and ${MN_SOCKET}) and prints its state: for the home agent, the binding ` +
        'cache (HoA, CoA, transport, NAT, IPv4 HoA, sequence, lifetime left); for the mobile node, its ' +
        'registration (state, CoA, NAT, sequence, lifetime left). Both add their counters and IPsec SAs ' +
        '(SPI, direction, mode, algorithm, state, packets, octets; never keys).\n\n' +
        'Without --socket it tries the home agent socket, then the mobile node one; --ha or --mn asks only that one.\n\n' +
        'Exit status: 0 on success, 1 when no daemon answers or the request fails (the reason is printed).',
    )
    .option('--socket <path>', 'the control socket to ask (overrides --ha / --mn)')
    .option('--ha', `ask the home agent (${HA_SOCKET})`)
    .option('--mn', `ask the mobile node (${MN_SOCKET})`)
    .option('--json', "print the daemon's answer as one line of JSON instead of tables")
    .option('--timeout <ms>', 'how long to wait for an answer', String(DEFAULT_CLIENT_TIMEOUT_MS))
    .action(async (opts: StatusOptions) => {
      if (opts.ha && opts.mn) throw new Error('give --ha or --mn, not both');
      const timeout = Number(opts.timeout);
      if (!Number.isInteger(timeout) || timeout <= 0) throw new Error(`--timeout must be a positive number of milliseconds, got '${opts.timeout}'`);
      const paths = opts.socket !== undefined ? [opts.socket] : opts.ha ? [HA_SOCKET] : opts.mn ? [MN_SOCKET] : [HA_SOCKET, MN_SOCKET];
      const result = await ask(paths, timeout);
      process.stdout.write(opts.json ? JSON.stringify(result) + '\n' : formatStatus(result));
    });
}

/** The first of `paths` whose daemon answers; a missing or stale socket moves on to the next. */
async function ask(paths: string[], timeoutMs: number): Promise<unknown> {
  const absent: ControlError[] = [];
  for (const p of paths) {
    try {
      return await controlRequest(p, { cmd: 'status' }, timeoutMs);
    } catch (e) {
      if (e instanceof ControlError && (e.code === 'not-running' || e.code === 'stale')) {
        absent.push(e);
        continue;
      }
      throw e;
    }
  }
  if (absent.length === 1) throw absent[0];
  throw new Error(`no daemon listening on ${paths.join(' or ')} — is dsmip6 ha or mn running? pass --socket`);
}

/** Text tables for a status result; anything that is neither role is printed as JSON. */
export function formatStatus(r: unknown): string {
  const role = (r as { role?: unknown } | null)?.role;
  if (role === 'ha') return formatHa(r as HaStatus);
  if (role === 'mn') return formatMn(r as MnStatus);
  return JSON.stringify(r, null, 2) + '\n';
}

function table(header: string[], rows: string[][]): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(w[i]))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

function keyValues(pairs: [string, string][]): string {
  const w = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${(k + ':').padEnd(w + 1)}  ${v}`).join('\n') + '\n';
}

/** `{a: 1, b: {x: 0, y: 2}}` -> 'a 1, b.y 2': non-zero counters only, so the interesting ones stand out. */
function counterList(c: unknown, prefix = ''): string[] {
  if (c === null || typeof c !== 'object') return [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(c as Record<string, unknown>)) {
    if (typeof v === 'number') {
      if (v !== 0) out.push(`${prefix}${k} ${v}`);
    } else out.push(...counterList(v, `${prefix}${k}.`));
  }
  return out;
}

function countersBlock(title: string, c: unknown): string {
  const items = counterList(c);
  return `${title}: ${items.length ? items.join(', ') : 'all zero'}\n`;
}

function lifetime(s: number | undefined): string {
  if (s === undefined) return '-';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

function saBlock(ipsec: HaStatus['ipsec'] | undefined): string {
  if (!ipsec) return '';
  const rows = (ipsec.sas ?? []).map((s) => [`0x${s.spi.toString(16)}`, s.direction, s.mode, s.algorithm, s.state, String(s.packets), String(s.bytes)]);
  return '\nIPsec SAs\n' + table(['SPI', 'DIR', 'MODE', 'ALGORITHM', 'STATE', 'PACKETS', 'OCTETS'], rows) + countersBlock('IPsec counters', ipsec.counters);
}

function formatHa(s: HaStatus): string {
  const bs = s.bindings ?? [];
  const rows = bs.map((b) => [
    b.hoa,
    b.coa,
    b.transport,
    b.natDetected ? `${b.natAddress ?? '?'}:${b.natPort ?? '?'}` : 'no',
    b.ipv4Hoa ?? '-',
    String(b.sequence),
    `${lifetime(b.lifetimeRemainingS)}/${lifetime(b.lifetimeSeconds)}`,
  ]);
  let out = `home agent: ${bs.length} binding(s)\n`;
  if (rows.length) out += table(['HOA', 'COA', 'TRANSPORT', 'NAT', 'IPV4 HOA', 'SEQ', 'LIFETIME LEFT'], rows);
  out += '\n' + countersBlock('counters', s.counters);
  return out + saBlock(s.ipsec);
}

function formatMn(s: MnStatus): string {
  const nat = s.nat?.detected ? `detected, keepalive every ${s.nat.refreshS ?? '?'}s` : 'not detected';
  const pairs: [string, string][] = [
    ['home address', s.hoa],
    ['IPv4 home address', s.ipv4Hoa ?? '-'],
    ['home agent', s.ha],
    ['state', s.atHome ? `${s.state} (at home)` : s.state],
    ['care-of address', s.coa ?? '-'],
    ['registered CoA', s.registeredCoa ?? '-'],
    ['transport', s.transport ?? '-'],
    ['NAT', nat + (s.nat?.forceUdp ? ', UDP forced by the HA' : '')],
    ['sequence', s.sequence === null ? '-' : String(s.sequence) + (s.outstandingSequence !== null ? ' (awaiting BA)' : '')],
    ['lifetime left', `${lifetime(s.lifetimeRemainingS)} of ${lifetime(s.lifetimeGrantedS)}`],
    ['next refresh', s.refreshInS === undefined ? '-' : `in ${lifetime(s.refreshInS)}`],
  ];
  return 'mobile node\n' + keyValues(pairs) + '\n' + countersBlock('counters', s.counters) + saBlock(s.ipsec);
}
