// Classic libpcap files (the format tcpdump and tshark read and write): a reader that
// yields each record's link type and bytes, and a writer for raw-IP captures. Never
// throws on a damaged file except with PcapError naming the record and the octet.

const MAGIC_US = 0xa1b2c3d4;
const MAGIC_NS = 0xa1b23c4d;
const GLOBAL_HEADER = 24;
const RECORD_HEADER = 16;
/** Records larger than this are refused: no link type carries more, and it bounds memory. */
const MAX_SNAPLEN = 262_144;

/** Link types (tcpdump.org/linktypes) the decoder understands. */
export const LinkType = Object.freeze({
  ETHERNET: 1,
  RAW: 101,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
});

export class PcapError extends Error {
  override name = 'PcapError';
}

export interface PcapRecord {
  /** Capture time, seconds since the epoch (fractional). */
  time: number;
  linkType: number;
  /** The captured octets (a view into the file's buffer). */
  data: Uint8Array;
  /** Length on the wire; larger than data.length when the capture was truncated. */
  originalLength: number;
}

/** Parses a whole pcap file held in memory. */
export function readPcap(file: Uint8Array): PcapRecord[] {
  const buf = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  if (buf.length < GLOBAL_HEADER) throw new PcapError(`not a pcap file: ${buf.length} octets, the header alone is 24`);
  let le: boolean;
  let nano: boolean;
  const magicLe = buf.readUInt32LE(0);
  if (magicLe === MAGIC_US || magicLe === MAGIC_NS) {
    le = true;
    nano = magicLe === MAGIC_NS;
  } else {
    const magicBe = buf.readUInt32BE(0);
    if (magicBe !== MAGIC_US && magicBe !== MAGIC_NS) {
      throw new PcapError(
        `not a classic pcap file (magic 0x${magicBe.toString(16)}); pcapng is not read: convert with 'editcap -F pcap IN OUT'`,
      );
    }
    le = false;
    nano = magicBe === MAGIC_NS;
  }
  const r32 = (off: number) => (le ? buf.readUInt32LE(off) : buf.readUInt32BE(off));
  const linkType = r32(20) & 0x0fffffff;
  const records: PcapRecord[] = [];
  let off = GLOBAL_HEADER;
  while (off < buf.length) {
    const n = records.length + 1;
    if (off + RECORD_HEADER > buf.length) throw new PcapError(`record ${n} at octet ${off}: header truncated`);
    const sec = r32(off);
    const frac = r32(off + 4);
    const incl = r32(off + 8);
    const orig = r32(off + 12);
    if (incl > MAX_SNAPLEN) throw new PcapError(`record ${n} at octet ${off}: captured length ${incl} exceeds ${MAX_SNAPLEN}`);
    if (off + RECORD_HEADER + incl > buf.length) throw new PcapError(`record ${n} at octet ${off}: data truncated`);
    records.push({
      time: sec + frac / (nano ? 1e9 : 1e6),
      linkType,
      data: buf.subarray(off + RECORD_HEADER, off + RECORD_HEADER + incl),
      originalLength: orig,
    });
    off += RECORD_HEADER + incl;
  }
  return records;
}

/** Builds a pcap file (microsecond timestamps, little-endian) of raw IP packets or frames of one link type. */
export function writePcap(packets: readonly { data: Uint8Array; time?: number }[], linkType: number = LinkType.RAW): Buffer {
  let size = GLOBAL_HEADER;
  for (const p of packets) size += RECORD_HEADER + p.data.length;
  const out = Buffer.alloc(size);
  out.writeUInt32LE(MAGIC_US, 0);
  out.writeUInt16LE(2, 4);
  out.writeUInt16LE(4, 6);
  out.writeUInt32LE(MAX_SNAPLEN, 16);
  out.writeUInt32LE(linkType, 20);
  let off = GLOBAL_HEADER;
  packets.forEach((p, i) => {
    const t = p.time ?? i / 1000;
    const sec = Math.floor(t);
    out.writeUInt32LE(sec, off);
    out.writeUInt32LE(Math.round((t - sec) * 1e6) % 1_000_000, off + 4);
    out.writeUInt32LE(p.data.length, off + 8);
    out.writeUInt32LE(p.data.length, off + 12);
    out.set(p.data, off + RECORD_HEADER);
    off += RECORD_HEADER + p.data.length;
  });
  return out;
}
