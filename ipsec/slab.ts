// Output buffers for the packet path, carved from shared 64 KiB slabs: one cheap view
// per packet instead of one allocation per packet. A view keeps its slab alive (as
// Node's own Buffer pool does), which is why slabs stay small. Never hands out two
// overlapping views, never reuses a slab, and never returns uninitialised memory
// (ArrayBuffers start zeroed; the engine writes every octet it returns anyway).

const SLAB = 65536;
/** Anything larger gets its own buffer rather than wasting most of a slab. */
const MAX_FROM_SLAB = SLAB >>> 2;

export class Slab {
  private buf = new ArrayBuffer(SLAB);
  private off = 0;

  alloc(len: number): Uint8Array {
    if (len > MAX_FROM_SLAB) return new Uint8Array(len);
    if (this.off + len > SLAB) {
      this.buf = new ArrayBuffer(SLAB);
      this.off = 0;
    }
    const v = new Uint8Array(this.buf, this.off, len);
    // 8-octet alignment keeps later views word-aligned for the copies into them.
    this.off = (this.off + len + 7) & ~7;
    return v;
  }
}
