// The NAT router option: IPv4 masquerading with nftables in the router's namespace, and the
// short UDP conntrack timeouts that let tests see NAT bindings expire in seconds. It builds an
// nft script and sysctl settings; it must never run them, and never NATs IPv6.
import type { NatSpec } from './spec.js';

/** The ip-family table holding the masquerade rule. */
export const NAT_TABLE = 'd6nat';

/** Defaults: a few seconds, so keepalive and rebinding tests run fast (the kernel's are 30 s and 120 s). */
export const DEFAULT_UDP_TIMEOUT_S = 5;
export const DEFAULT_UDP_STREAM_TIMEOUT_S = 5;

/**
 * Masquerade everything leaving through the outside interface. "fully-random" picks a random
 * source port for every new flow (not the client's port when free, as plain masquerade tries),
 * so a test sees a new port after the binding is gone, as behind a carrier-grade NAT.
 */
export function natScript(nat: NatSpec): string {
  return (
    `table ip ${NAT_TABLE}\ndelete table ip ${NAT_TABLE}\n` +
    `table ip ${NAT_TABLE} {\n` +
    `  chain postrouting {\n` +
    `    type nat hook postrouting priority srcnat; policy accept;\n` +
    `    oifname "${nat.outside}" masquerade fully-random\n` +
    `  }\n` +
    `}\n`
  );
}

/** The conntrack sysctls of the NAT's namespace (per namespace since Linux 4.x). */
export function natSysctls(nat: NatSpec): Record<string, string> {
  return {
    'net.netfilter.nf_conntrack_udp_timeout': String(nat.udpTimeoutS ?? DEFAULT_UDP_TIMEOUT_S),
    'net.netfilter.nf_conntrack_udp_timeout_stream': String(nat.udpStreamTimeoutS ?? DEFAULT_UDP_STREAM_TIMEOUT_S),
  };
}
