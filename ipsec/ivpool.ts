// Random IVs for CBC, drawn from a pooled random buffer refilled in bulk, so the
// per-packet path never calls into the CSPRNG. The fill function is injected (like
// the clock) so tests can reproduce known-answer vectors; nothing else may set it.

import { randomFillSync } from 'node:crypto';

/** Fills the whole buffer with random octets. */
export type RandomFill = (buf: Uint8Array) => void;

export const defaultRandomFill: RandomFill = (buf) => {
  randomFillSync(buf);
};

export class IvPool {
  private readonly buf: Buffer;
  private pos: number;

  constructor(
    private readonly fill: RandomFill = defaultRandomFill,
    size = 4096,
  ) {
    this.buf = Buffer.alloc(size);
    // Filled lazily: an engine that never sends CBC never draws randomness.
    this.pos = size;
  }

  /** Writes `len` (<= pool size) random octets to out[off, off+len). Each octet is used once. */
  take(out: Uint8Array, off: number, len: number): void {
    if (this.pos + len > this.buf.length) {
      this.fill(this.buf);
      this.pos = 0;
    }
    this.buf.copy(out, off, this.pos, this.pos + len);
    this.pos += len;
  }
}
