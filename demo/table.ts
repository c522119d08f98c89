// The demo's results as data (MoveRow, DemoResult) and as the handover table a person reads.
// Formatting only: it must never measure, run anything, or change a figure it is given.

export interface MoveRow {
  /** "home -> v6net0", "conntrack flush (nat)", ... */
  move: string;
  /** The care-of address registered after the move; the HoA when the MN is back home. */
  coa: string;
  /** How the HA reaches the MN after the move (from its binding cache). */
  transport: 'ipv6' | 'udp' | 'home';
  /** Whether the HA detected a NAT, and the address:port it sees. */
  nat: { detected: boolean; address?: string; port?: number };
  /** BU to BA on the MN's wire (ms); null when no BU/BA exchange belonged to the step. */
  buToBaMs: number | null;
  /** BUs sent before the BA came (1: no retransmission). */
  bus: number | null;
  /** Longest pause in echo progress of either stream around the step (ms; 0: none of 40 ms or more). */
  interruptionMs: number;
  /** From the step's start (new link up, or the NAT flush) to the end of that pause (ms). */
  resumedMs: number;
  /** Bytes sent before the step that were never echoed after it, plus mismatched echoed bytes. */
  bytesLost: number;
}

export interface StreamTotal {
  sent: number;
  echoed: number;
  mismatched: number;
  /** sent - echoed + mismatched at the end, after the echo drained. */
  lost: number;
  error: string | null;
}

export interface DemoResult {
  ok: boolean;
  /** Why ok is false (empty when ok). */
  problems: string[];
  moves: MoveRow[];
  streams: { v6: StreamTotal; v4: StreamTotal };
  bytesLost: number;
  durationMs: number;
  sockets: { ha: string; mn: string };
  pcap?: string;
  keys?: string;
}

const TRANSPORT: Record<MoveRow['transport'], string> = {
  ipv6: 'IPv6 (HAO/RH2)',
  udp: 'UDP 4191 over IPv4',
  home: 'home link (no tunnel)',
};

export function transportText(t: MoveRow['transport']): string {
  return TRANSPORT[t];
}

function natText(n: MoveRow['nat']): string {
  return n.detected ? `yes (${n.address ?? '?'}:${n.port ?? '?'})` : 'no';
}

/** Columns padded to their widest cell, two spaces apart. */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[], rightAligned: ReadonlySet<number> = new Set()): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (rightAligned.has(i) ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  ').trimEnd();
  return [line(header), line(w.map((n) => '-'.repeat(n))), ...rows.map(line)].join('\n') + '\n';
}

export function formatTable(r: DemoResult): string {
  const rows = r.moves.map((m) => [
    m.move,
    m.coa,
    transportText(m.transport),
    natText(m.nat),
    m.buToBaMs === null ? '-' : `${m.buToBaMs.toFixed(1)}${m.bus !== null && m.bus > 1 ? ` (${m.bus} BUs)` : ''}`,
    String(m.interruptionMs),
    String(m.bytesLost),
  ]);
  let out = textTable(['MOVE', 'NEW COA', 'TRANSPORT', 'NAT DETECTED', 'BU->BA MS', 'INTERRUPTION MS', 'BYTES LOST'], rows, new Set([4, 5, 6]));
  const s = r.streams;
  const kib = (n: number) => `${(n / 1024).toFixed(0)} KiB`;
  out += `\nstreams: IPv6 HoA ${kib(s.v6.echoed)} echoed of ${kib(s.v6.sent)} sent, IPv4 HoA ${kib(s.v4.echoed)} echoed of ${kib(s.v4.sent)} sent; ` + `bytes lost ${r.bytesLost} (every echoed byte checked)\n`;
  return out;
}
