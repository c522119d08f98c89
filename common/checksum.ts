// The Internet checksum (RFC 1071) and the IPv6/IPv4 pseudo-headers (RFC 8200 §8.1,
// RFC 768). Pure functions over bytes; never allocates per call.

/** Adds the 16-bit big-endian words of buf[off, off+len) to `sum` (odd tail padded with zero). */
export function sumWords(buf: Uint8Array, off: number, len: number, sum = 0): number {
  const end = off + len;
  let i = off;
  for (; i + 1 < end; i += 2) sum += (buf[i] << 8) | buf[i + 1];
  if (i < end) sum += buf[i] << 8;
  // Fold periodically is unnecessary: JS numbers hold 2^53, far above 64 KiB worth of words.
  return sum;
}

/** Folds a running sum into the ones' complement 16-bit checksum field value. */
export function finish(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/** RFC 1071 checksum of buf[off, off+len). */
export function internetChecksum(buf: Uint8Array, off = 0, len = buf.length - off): number {
  return finish(sumWords(buf, off, len));
}

/** Sum of the IPv6 pseudo-header: src(16) dst(16) upper-layer length(32) zero(24) next header(8). */
export function ipv6PseudoSum(src: Uint8Array, dst: Uint8Array, length: number, nextHeader: number): number {
  let sum = sumWords(src, 0, 16);
  sum = sumWords(dst, 0, 16, sum);
  sum += Math.floor(length / 0x10000) + (length & 0xffff);
  return sum + nextHeader;
}

/** Sum of the IPv4 pseudo-header: src(4) dst(4) zero(8) protocol(8) length(16). */
export function ipv4PseudoSum(src: Uint8Array, dst: Uint8Array, length: number, protocol: number): number {
  return sumWords(src, 0, 4) + sumWords(dst, 0, 4) + protocol + length;
}
