// Waits until interfaces are usable: operationally up and, where IPv6 is on, holding a usable
// link-local address. Without this wait the first packets after create() or linkUp() can vanish:
// the kernel hands a veth's carrier change to IPv6 through linkwatch, up to a second later, and
// until then IPv6 has no multicast route on the interface, so a Neighbor Solicitation for one of
// its addresses is dropped (seen here: the first ping to a fresh LAN member took 1 s, one NS lost).
// It only reads interface state (`ip -j addr`); it must never change anything, and never wait
// unbounded.
import { mustRun } from './run.js';

export interface ReadyCheck {
  ns: string;
  ifname: string;
  /** Wait for an IPv6 link-local address too (false where IPv6 is off). */
  ipv6: boolean;
}

interface IpAddrJson {
  ifname: string;
  operstate?: string;
  addr_info?: { family?: string; scope?: string; tentative?: boolean; dadfailed?: boolean }[];
}

/** Polls every 25 ms until each interface is ready; throws after `timeoutMs` naming those that are not. */
export async function waitReady(checks: readonly ReadyCheck[], timeoutMs = 5000): Promise<void> {
  let pending = [...checks];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const byNs = new Map<string, ReadyCheck[]>();
    for (const c of pending) byNs.set(c.ns, [...(byNs.get(c.ns) ?? []), c]);
    const still = await Promise.all(
      [...byNs].map(async ([ns, cs]) => {
        const links = JSON.parse((await mustRun(['ip', '-n', ns, '-j', 'addr', 'show'])) || '[]') as IpAddrJson[];
        return cs.filter((c) => !isReady(links.find((l) => l.ifname === c.ifname), c.ipv6));
      }),
    );
    pending = still.flat();
    if (pending.length === 0) return;
    if (Date.now() >= deadline) {
      throw new Error(`interfaces not up after ${timeoutMs} ms: ${pending.map((c) => `${c.ns}/${c.ifname}`).join(', ')}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

function isReady(link: IpAddrJson | undefined, ipv6: boolean): boolean {
  if (!link || link.operstate !== 'UP') return false;
  if (!ipv6) return true;
  return (link.addr_info ?? []).some((a) => a.family === 'inet6' && a.scope === 'link' && !a.tentative && !a.dadfailed);
}
