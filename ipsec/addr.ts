// Address text <-> octets for selectors and tunnel endpoints: IPv4 dotted quads and
// IPv6 text in every RFC 4291 §2.2 form (full, '::'-compressed, trailing dotted quad,
// so IPv4-mapped '::ffff:a.b.c.d' too). Control plane only: must never be called per
// packet, and must never accept text it cannot place exactly (zones, stray characters).

const HEX = /^[0-9a-fA-F]{1,4}$/;
const DEC = /^(0|[1-9][0-9]{0,2})$/;

/** The 4 octets of a dotted-quad IPv4 address, or undefined. Leading zeros are refused (they mean octal to some parsers). */
export function parseIPv4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!DEC.test(parts[i])) return undefined;
    const v = Number(parts[i]);
    if (v > 255) return undefined;
    out[i] = v;
  }
  return out;
}

/** The 16 octets of an IPv6 address, or undefined. */
export function parseIPv6(text: string): Uint8Array | undefined {
  if (text.length < 2 || text.length > 45) return undefined;
  let s = text;
  // A trailing dotted quad stands for the last two 16-bit groups.
  if (s.includes('.')) {
    const colon = s.lastIndexOf(':');
    if (colon < 0) return undefined;
    const v4 = parseIPv4(s.slice(colon + 1));
    if (!v4) return undefined;
    s = `${s.slice(0, colon + 1)}${((v4[0] << 8) | v4[1]).toString(16)}:${((v4[2] << 8) | v4[3]).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] === '' ? [] : halves[0].split(':');
  const tail = halves.length === 2 ? (halves[1] === '' ? [] : halves[1].split(':')) : [];
  const groups = head.length + tail.length;
  if (halves.length === 2 ? groups > 7 : groups !== 8) return undefined;
  const out = new Uint8Array(16);
  const put = (g: string, i: number): boolean => {
    if (!HEX.test(g)) return false;
    const v = parseInt(g, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
    return true;
  };
  for (let i = 0; i < head.length; i++) if (!put(head[i], i)) return undefined;
  for (let i = 0; i < tail.length; i++) if (!put(tail[i], 8 - tail.length + i)) return undefined;
  return out;
}

/** 4 octets for IPv4 text, 16 for IPv6 text, else undefined. */
export function parseAddress(text: string): Uint8Array | undefined {
  return text.includes(':') ? parseIPv6(text) : parseIPv4(text);
}

/** Canonical text (RFC 5952 for IPv6; IPv4-mapped addresses as ::ffff:a.b.c.d). */
export function formatAddress(a: Uint8Array): string {
  if (a.length === 4) return `${a[0]}.${a[1]}.${a[2]}.${a[3]}`;
  let mapped = a[10] === 0xff && a[11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) if (a[i] !== 0) mapped = false;
  if (mapped) return `::ffff:${a[12]}.${a[13]}.${a[14]}.${a[15]}`;
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((a[2 * i] << 8) | a[2 * i + 1]);
  // Longest run of zero groups (length >= 2, first on a tie) becomes '::'.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) => g.slice(from, to).map((x) => x.toString(16)).join(':');
  return best < 0 ? hex(0, 8) : `${hex(0, best)}::${hex(best + bestLen, 8)}`;
}
