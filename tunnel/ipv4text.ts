// IPv4 dotted quad <-> the 32-bit number the addon takes, with small caches so a steady flow
// (the same few peers) costs no parsing or string building per datagram. Total: bad text gives
// -1, never an exception, because it runs on the data path.

const MAX_CACHE = 1024;
const toNum = new Map<string, number>();
const toText = new Map<number, string>();

/** a.b.c.d -> (a << 24 | b << 16 | c << 8 | d) >>> 0, or -1 when not a dotted quad. */
export function ipv4ToNumber(text: string): number {
  const hit = toNum.get(text);
  if (hit !== undefined) return hit;
  const parts = text.split('.');
  if (parts.length !== 4) return -1;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return -1;
    const o = Number(p);
    if (o > 255) return -1;
    n = n * 256 + o;
  }
  if (toNum.size >= MAX_CACHE) toNum.clear();
  toNum.set(text, n);
  return n;
}

export function numberToIpv4(n: number): string {
  const hit = toText.get(n);
  if (hit !== undefined) return hit;
  const s = `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  if (toText.size >= MAX_CACHE) toText.clear();
  toText.set(n, s);
  return s;
}
