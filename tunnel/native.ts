// Loads the project's native I/O addon (native/*.c, built into build/Release by `npm ci`) and
// describes its functions. Only tunnel/ imports this; everything else sees Device, Bind and
// MipPacketIo. Must never be imported by ipsec/ or common/, and never hide a load failure: a
// missing addon is a NativeAddonError that says how to build it.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NativeAddonError } from './errors.js';

/** Opaque: a JS object wrapping one fd in the addon. */
export type NativeHandle = { readonly __nativeHandle: unique symbol };

/** Opaque: one SA's kept OpenSSL contexts in the addon (native/crypto.c), freed by GC. */
export type NativeEspContext = { readonly __nativeEsp: unique symbol };

/** espNew kinds (native/crypto.c enum esp_kind). */
export const EspKind = Object.freeze({ GCM: 1, CBC_HMAC: 2 });

/** Slots of the Float64Array every handle shares with the addon (native/io.h enum io_stat). */
export const Stat = Object.freeze({
  RX_PACKETS: 0,
  RX_BATCHES: 1,
  RX_TRUNCATED: 2,
  RX_ERRORS: 3,
  RX_LAST_ERRNO: 4,
  TX_PACKETS: 5,
  TX_ERRORS: 6,
  TX_LAST_ERRNO: 7,
  RX_SKIPPED: 8,
  RX_COALESCED: 9,
  TX_COALESCED: 10,
});

export interface NativeBinding {
  readonly STATS_LENGTH: number;
  readonly MAX_BATCH: number;
  tunOpen(
    name: string | null,
    netns: string | null,
    mtu: number,
    up: boolean,
    blocking: boolean,
    stats: Float64Array,
    vnet: boolean,
  ): { handle: NativeHandle; name: string; mtu: number; ifindex: number };
  tunWrite(h: NativeHandle, packets: readonly Uint8Array[], count: number): number;
  packetOpen(
    ifname: string,
    netns: string | null,
    filter: Uint8Array | null,
    rcvbuf: number,
    stats: Float64Array,
  ): { handle: NativeHandle; ifindex: number; ignoreOutgoing: boolean };
  /** The MIP classic-BPF program (struct sock_filter[], 8 octets each, host byte order). */
  mipFilter(): Uint8Array;
  raw6Open(netns: string | null, ifname: string | null, sndbuf: number, stats: Float64Array): { handle: NativeHandle; ifindex: number };
  raw6Send(h: NativeHandle, packets: readonly Uint8Array[], count: number): number;
  udp4Open(
    address: string,
    port: number,
    netns: string | null,
    bufBytes: number,
    stats: Float64Array,
  ): { handle: NativeHandle; address: string; port: number };
  udp4Send(h: NativeHandle, packets: readonly Uint8Array[], addrs: Uint32Array, ports: Uint16Array, count: number): number;
  /** Coalescing of same-destination runs with UDP_SEGMENT (GSO): on by default. */
  udp4SetGso(h: NativeHandle, on: boolean): void;
  /** UDP_GRO on the socket (before readStart); returns whether the kernel took it. */
  udp4SetGro(h: NativeHandle, on: boolean, maxDatagram: number): boolean;
  readStart(
    h: NativeHandle,
    batch: number,
    slot: number,
    data: ArrayBuffer,
    lens: Uint32Array,
    offs: Uint32Array,
    addrs: Uint32Array | null,
    ports: Uint16Array | null,
    /** Entries [start, start + count) of lens/offs (and addrs/ports) are the batch. */
    onBatch: (count: number, start: number) => void,
  ): void;
  readStop(h: NativeHandle): void;
  fd(h: NativeHandle): number;
  close(h: NativeHandle): void;
  /** Keys one SA once (RangeError ERR_DSMIP6_ESP_KEY on a bad key length). GCM: encKey = AES key + salt. */
  espNew(kind: number, encKey: Uint8Array, authKey: Uint8Array | null, esn: boolean, ivMask: Uint8Array | null): NativeEspContext;
  /** Seals out[espOff..] in place, as ipsec's Transform.seal (CBC: the caller has written the IV). */
  espSeal(ctx: NativeEspContext, out: Uint8Array, espOff: number, ctLen: number, seqHi: number, seqLo: number): void;
  /** Verifies and decrypts p[espOff..] into dst[0, ctLen); false (dst wiped) when the ICV fails. Never writes p. */
  espOpen(ctx: NativeEspContext, p: Uint8Array, espOff: number, ctLen: number, seqHi: number, dst: Uint8Array): boolean;
}

const ADDON = 'dsmip6_io.node';

let cached: NativeBinding | undefined;

/**
 * The addon, loaded once. Looks in build/Release above this file (tunnel/ when run from source,
 * dist/tunnel/ when compiled), or at $DSMIP6_NATIVE if set.
 */
export function loadNative(): NativeBinding {
  if (cached) return cached;
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [
    process.env.DSMIP6_NATIVE,
    join(here, '..', 'build', 'Release', ADDON),
    join(here, '..', '..', 'build', 'Release', ADDON),
  ].filter((p): p is string => !!p);
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new NativeAddonError(
      `the native I/O addon ${ADDON} is not built (looked in ${candidates.join(', ')}); ` +
        'run `npm ci` or `node-gyp rebuild` in the project root',
    );
  }
  try {
    cached = createRequire(import.meta.url)(found) as NativeBinding;
  } catch (e) {
    throw new NativeAddonError(`loading ${found} failed: ${(e as Error).message}`);
  }
  return cached;
}

/** True when the addon can be loaded (tests use it to skip with a reason instead of failing). */
export function nativeAvailable(): boolean {
  try {
    loadNative();
    return true;
  } catch {
    return false;
  }
}
