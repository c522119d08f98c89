// The demo's registration stopwatch: a dumpcap in the mobile node's namespace (all its interfaces,
// small packets only) streams pcap records to us, and each ESP packet's SPI tells a BU (the MN's
// BU SA) from a BA (the HA's), so BU-to-BA time is measured on the MN's own wire with the kernel's
// timestamps. It reads SPIs only: it must never decrypt, never keep whole packets, and never change
// the network; its dumpcap is a testbed child, so the testbed's teardown always ends it.
import type { ChildProcess } from 'node:child_process';
import { dissect } from '../common/dissect.js';
import type { Testbed } from '../testbed/index.js';
import { tool } from '../testbed/run.js';

/** One ESP packet seen on the MN: kernel timestamp (ms since the epoch, fractional) and SPI. */
export interface EspSighting {
  at: number;
  spi: number;
}

/** A BU and the BA that answered it, as seen on the MN's interfaces. */
export interface Exchange {
  buAt: number;
  baAt: number;
  /** BUs seen from the first one to the BA (more than 1: retransmissions). */
  bus: number;
}

// BU/BA are a few hundred octets; bulk data (full-size TCP segments) is left in the kernel.
const FILTER = 'less 600';

/** Parses a pcap byte stream (any endianness, µs or ns timestamps) as it arrives. */
export class PcapStreamParser {
  private buf: Buffer = Buffer.alloc(0);
  private le = true;
  private nano = false;
  linkType = -1;

  constructor(private readonly onRecord: (at: number, data: Uint8Array) => void) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    if (this.linkType < 0) {
      if (this.buf.length < 24) return;
      const magic = this.buf.readUInt32LE(0);
      if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) this.le = true;
      else if (this.buf.readUInt32BE(0) === 0xa1b2c3d4 || this.buf.readUInt32BE(0) === 0xa1b23c4d) this.le = false;
      else throw new Error(`not a pcap stream (magic 0x${magic.toString(16)})`);
      this.nano = (this.le ? magic : this.buf.readUInt32BE(0)) === 0xa1b23c4d;
      this.linkType = this.u32(20);
      this.buf = this.buf.subarray(24);
    }
    while (this.buf.length >= 16) {
      const incl = this.u32(8);
      if (incl > 1 << 20) throw new Error(`pcap record of ${incl} octets`);
      if (this.buf.length < 16 + incl) return;
      const at = this.u32(0) * 1000 + this.u32(4) / (this.nano ? 1e6 : 1e3);
      this.onRecord(at, this.buf.subarray(16, 16 + incl));
      this.buf = this.buf.subarray(16 + incl);
    }
  }

  private u32(off: number): number {
    return this.le ? this.buf.readUInt32LE(off) : this.buf.readUInt32BE(off);
  }
}

export class RegistrationSniffer {
  readonly seen: EspSighting[] = [];
  error = '';
  private constructor(
    private readonly child: ChildProcess,
    private readonly buSpi: number,
    private readonly baSpi: number,
  ) {}

  /** Starts dumpcap on every interface of `host` and resolves once it captures. */
  static async start(tb: Testbed, host: string, buSpi: number, baSpi: number): Promise<RegistrationSniffer> {
    const child = tb.spawn(host, [tool('dumpcap'), '-q', '-P', '-i', 'any', '-f', FILTER, '-w', '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const s = new RegistrationSniffer(child, buSpi, baSpi);
    const parser = new PcapStreamParser((at, data) => {
      const d = dissect(data, parser.linkType);
      // The innermost-first order does not matter: a BU/BA has exactly one ESP header.
      const esp = d.layers.find((l) => l.layer === 'ESP');
      const spi = esp ? parseInt(String(esp.fields.spi), 16) : NaN;
      if (spi === buSpi || spi === baSpi) s.seen.push({ at, spi });
    });
    child.stdout?.on('data', (b: Buffer) => {
      try {
        parser.push(b);
      } catch (e) {
        s.error = (e as Error).message;
        child.kill('SIGKILL');
      }
    });
    let err = '';
    child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
    const t0 = Date.now();
    while (!/Capturing on/.test(err)) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`dumpcap on ${host} exited at start: ${err.trim()}`);
      if (Date.now() - t0 > 10_000) {
        child.kill('SIGKILL');
        throw new Error(`dumpcap on ${host} did not start within 10 s: ${err.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return s;
  }

  /** The first BU at or after `since` (ms since the epoch) and the first BA after it; undefined while there is none. */
  exchangeSince(since: number): Exchange | undefined {
    const i = this.seen.findIndex((e) => e.spi === this.buSpi && e.at >= since);
    if (i < 0) return undefined;
    const j = this.seen.findIndex((e, k) => k > i && e.spi === this.baSpi);
    if (j < 0) return undefined;
    const bus = this.seen.slice(i, j).filter((e) => e.spi === this.buSpi).length;
    return { buAt: this.seen[i].at, baAt: this.seen[j].at, bus };
  }

  stop(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}
