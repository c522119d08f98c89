// Bounds-checked reads for decoders: every read names its layer, so a short
// input becomes a TruncatedError, never a RangeError. Never allocates per read.
import { TruncatedError } from './errors.js';

/** Throws TruncatedError unless `len` octets are available at `off`. */
export function need(buf: Uint8Array, off: number, len: number, layer: string): void {
  if (off < 0 || len < 0 || off + len > buf.length) {
    throw new TruncatedError(layer, off, len, Math.max(0, buf.length - off));
  }
}

export function u8(buf: Uint8Array, off: number, layer: string): number {
  need(buf, off, 1, layer);
  return buf[off];
}

export function u16(buf: Uint8Array, off: number, layer: string): number {
  need(buf, off, 2, layer);
  return (buf[off] << 8) | buf[off + 1];
}

export function u32(buf: Uint8Array, off: number, layer: string): number {
  need(buf, off, 4, layer);
  return ((buf[off] << 24) >>> 0) + ((buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]);
}

/** A view (no copy) of `len` octets at `off`. */
export function slice(buf: Uint8Array, off: number, len: number, layer: string): Uint8Array {
  need(buf, off, len, layer);
  return buf.subarray(off, off + len);
}

export function put16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 8) & 0xff;
  buf[off + 1] = v & 0xff;
}

export function put32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 24) & 0xff;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
}

export function toHex(buf: Uint8Array): string {
  return Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('hex');
}

/** Parses hex with optional white space, `:` or `0x`; throws on odd length or a non-hex digit. */
export function fromHex(text: string): Buffer {
  const clean = text.replace(/0x/gi, '').replace(/[\s:]/g, '');
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) {
    throw new Error(`not a hex string (${clean.length} digits; only 0-9, a-f, white space and ':' allowed)`);
  }
  return Buffer.from(clean, 'hex');
}
