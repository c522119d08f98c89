// The load generator of bench/capacity.ts's real-UDP run: `node capacity-udp-gen.js` inside the
// bench's own namespace (spawned by the testbed). Takes pre-sealed BUs on stdin, sends them to the
// HA with the native batched UDP send (tunnel/udp4.ts: sendmmsg, GSO), from `ports` sockets per
// source address (one source address per round; MN i uses socket i mod ports), and counts the BAs
// that come back to those sockets. It never seals or decodes anything (the parent did the crypto)
// and never writes a file. Protocol, one JSON object per line:
//   in:  { haAddr, haPort, ports, window, rounds: [{ src, bus: [base64...] }] }   then "go A B" (rounds A..B,
//        one after the other) / "count" / "quit"
//   out: "ready", "sent N U" after "go" (N sent, U refused by the local socket), "count N" (BAs received so far)
import { createInterface } from 'node:readline';
import type { OutgoingDatagram } from '../tunnel/bind.js';
import { openUdp4Bind, type Udp4Bind } from '../tunnel/udp4.js';

interface Plan {
  haAddr: string;
  haPort: number;
  ports: number;
  /** BUs sent but not yet answered by a BA, at most (the HA's socket buffer must not overflow). */
  window: number;
  rounds: { src: string; bus: string[] }[];
}

const say = (line: string): void => void process.stdout.write(`${line}\n`);
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

async function main(): Promise<void> {
  const lines = createInterface({ input: process.stdin });
  const it = lines[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) return;
  const plan = JSON.parse(first.value) as Plan;
  let bas = 0;
  let wake: (() => void) | undefined;
  /** Until a BA arrives (or 20 ms, should the rest be lost). */
  const nextBa = (): Promise<void> =>
    new Promise((r) => {
      const t = setTimeout(() => {
        wake = undefined;
        r();
      }, 20);
      wake = () => {
        clearTimeout(t);
        wake = undefined;
        r();
      };
    });
  const sockets: Udp4Bind[][] = [];
  const rounds = plan.rounds.map((r) => r.bus.map((b) => Uint8Array.from(Buffer.from(b, 'base64'))));
  try {
    for (const r of plan.rounds) {
      const row: Udp4Bind[] = [];
      for (let k = 0; k < plan.ports; k++) {
        // Small buffers and no GRO: hundreds of these sockets only ever receive one BA per BU.
        const s = openUdp4Bind({ address: r.src, port: 0, batchSize: 64, gro: false, socketBuffer: 1 << 20 });
        s.onBatch((d) => {
          bas += d.length;
          wake?.();
        });
        row.push(s);
      }
      sockets.push(row);
    }
    say('ready');
    for (;;) {
      const n = await it.next();
      if (n.done || n.value === 'quit') break;
      if (n.value === 'count') {
        say(`count ${bas}`);
        continue;
      }
      const m = /^go (\d+) (\d+)$/.exec(n.value);
      if (!m) continue;
      // The window counts across rounds: BAs still due from one round hold back the next.
      const bas0 = bas;
      let sent = 0;
      // Refused by the local socket (full buffer): never reaches the HA, so no BA will answer it.
      let unsent = 0;
      const deadline = Date.now() + 20_000;
      for (let r = Number(m[1]); r <= Number(m[2]); r++) {
        const bus = rounds[r]!;
        const row = sockets[r]!;
        // Batches per socket, the MNs of one socket together: one sendmmsg (and GSO run) per batch.
        const perSocket: OutgoingDatagram[][] = row.map(() => []);
        let next = 0;
        while (next < bus.length && Date.now() < deadline) {
          const room = plan.window - (sent + next - unsent - (bas - bas0));
          if (room >= 64 || (room > 0 && bus.length - next <= room)) {
            const end = Math.min(bus.length, next + room);
            for (; next < end; next++) perSocket[next % row.length]!.push({ data: bus[next]!, dstAddr: plan.haAddr, dstPort: plan.haPort });
            for (let k = 0; k < row.length; k++) {
              const q = perSocket[k]!;
              if (q.length) unsent += q.length - row[k]!.send(q);
              q.length = 0;
            }
            await turn();
          } else await nextBa();
        }
        sent += next;
      }
      say(`sent ${sent - unsent} ${unsent}`);
    }
  } finally {
    for (const row of sockets) for (const s of row) s.close();
    lines.close();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`capacity-udp-gen: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
