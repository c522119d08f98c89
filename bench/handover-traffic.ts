// The handover benchmark's traffic (run inside testbed namespaces by bench/handover.ts):
//   node dist/bench/handover-traffic.js send <addr> <port> <pps> <size>   numbered UDP datagrams, paced
//   node dist/bench/handover-traffic.js sink <addr> <port>                counts what arrives
// Each prints one JSON line on SIGTERM (send: {sent, startMs}; sink: {received, missing}) and exits.
// Never sends anywhere but <addr>, never writes a file.
import { createSocket } from 'node:dgram';

const [mode, addr, portText, ppsText, sizeText] = process.argv.slice(2);
const port = Number(portText);
const family = addr?.includes(':') ? 'udp6' : 'udp4';

if (mode === 'send') {
  const pps = Number(ppsText);
  const size = Number(sizeText);
  const sock = createSocket(family);
  let sent = 0;
  const startMs = Date.now();
  const t0 = performance.now();
  // Catch up to where the clock says we should be every millisecond: the rate holds even when a
  // timer fires late, and datagram k leaves at about startMs + k * 1000 / pps.
  const tick = (): void => {
    const due = Math.floor(((performance.now() - t0) * pps) / 1000);
    while (sent < due) {
      // A buffer per datagram: dgram sends asynchronously and does not copy, so one reused buffer
      // would leave with a later sequence number written into it.
      const buf = Buffer.alloc(size);
      buf.writeUInt32BE(sent, 0);
      sock.send(buf, port, addr);
      sent++;
    }
  };
  const timer = setInterval(tick, 1);
  process.once('SIGTERM', () => {
    clearInterval(timer);
    process.stdout.write(`${JSON.stringify({ sent, startMs, pps })}\n`, () => process.exit(0));
  });
} else if (mode === 'sink') {
  const sock = createSocket({ type: family, reuseAddr: true });
  const seen = new Uint8Array(1 << 24);
  let received = 0;
  let max = -1;
  sock.on('message', (m) => {
    if (m.length < 4) return;
    const k = m.readUInt32BE(0);
    if (k >= seen.length) return;
    if (!seen[k]) {
      seen[k] = 1;
      received++;
    }
    if (k > max) max = k;
  });
  sock.bind(port, addr, () => process.stdout.write('ready\n'));
  process.once('SIGTERM', () => {
    const missing: number[] = [];
    for (let k = 0; k <= max; k++) if (!seen[k]) missing.push(k);
    process.stdout.write(`${JSON.stringify({ received, max, missing })}\n`, () => process.exit(0));
  });
} else {
  process.stderr.write('usage: handover-traffic.js send <addr> <port> <pps> <size> | sink <addr> <port>\n');
  process.exitCode = 2;
}
