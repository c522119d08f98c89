// Link impairment: packet loss and rate limits on one interface, as the text of an nft script
// and the argv of a tc command. This kernel has no netem qdisc ("Specified qdisc kind is
// unknown"), so loss is an nftables rule, `numgen random mod 100 < N drop`, in a netdev table
// bound to the interface. It hooks *ingress* of the receiving end: a drop there is silent, like
// loss on a wire, whereas a drop at the sender's egress hook is reported to the sending socket
// (ENOBUFS; ping even retries), which real loss never is. Rates use tbf, which this kernel has.
// This file only builds text and argument lists; it must never run them.
import type { RateSpec } from './spec.js';

/** The netdev table that carries the loss rule of one interface (hex keeps any interface name a valid identifier). */
export function lossTableName(ifname: string): string {
  return `d6loss_${Buffer.from(ifname, 'utf8').toString('hex')}`;
}

/**
 * An nft script that sets the loss of packets arriving at `ifname` to `percent` (0..100),
 * replacing any earlier setting; at 0 it removes the table. Declaring the table before deleting
 * it makes the deletion succeed whether or not it existed, and nft -f applies the whole script
 * as one transaction.
 */
export function lossScript(ifname: string, percent: number): string {
  const t = lossTableName(ifname);
  const reset = `table netdev ${t}\ndelete table netdev ${t}\n`;
  if (percent <= 0) return reset;
  // numgen yields 0..99; "< 100" is out of its range for nft, so 100% is a plain drop.
  const verdict = percent >= 100 ? 'counter drop' : `numgen random mod 100 < ${percent} counter drop`;
  return (
    reset +
    `table netdev ${t} {\n` +
    `  chain ingress {\n` +
    `    type filter hook ingress device "${ifname}" priority -500; policy accept;\n` +
    `    ${verdict}\n` +
    `  }\n` +
    `}\n`
  );
}

/** tc argv that sets (rate) or removes (null) a tbf rate limit on the egress of `ifname`. */
export function rateArgv(ifname: string, rate: RateSpec | null): string[] {
  if (!rate) return ['tc', 'qdisc', 'del', 'dev', ifname, 'root'];
  // 10 ms worth of bytes at the rate, but never less than two full-size packets.
  const burst = rate.burstBytes ?? Math.max(3000, Math.ceil((rate.kbit * 1000) / 8 / 100));
  return ['tc', 'qdisc', 'replace', 'dev', ifname, 'root', 'tbf', 'rate', `${rate.kbit}kbit`, 'burst', String(burst), 'latency', `${rate.latencyMs ?? 50}ms`];
}
