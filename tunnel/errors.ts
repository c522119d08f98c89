// Named errors of the tunnel edge (opening TUN devices and sockets, installing kernel rules).
// Control plane only: a data-plane call (write, send, a read callback) never throws one of these,
// it counts. Callers and tests match on the class and on `code` ('EPERM'), never on message text.

/** What the native addon throws for a failed system call (see native/util.c). */
export interface SystemErrorLike {
  code?: string;
  errno?: number;
  syscall?: string;
  message: string;
}

/**
 * Opening an edge device or socket failed. `target` says what was being opened ("TUN 'd6tun0'"),
 * `netns` the namespace path it was opened in, `code`/`errno` the system error, `syscall` the call
 * that failed ("ioctl(TUNSETIFF)", "open(netns)").
 */
export class EdgeOpenError extends Error {
  override name = 'EdgeOpenError';
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  constructor(
    readonly target: string,
    readonly netns: string | undefined,
    cause: SystemErrorLike,
  ) {
    const where = netns ? ` in netns ${netns}` : '';
    const call = cause.syscall ? ` [${cause.syscall}]` : '';
    super(`opening ${target}${where}: ${cause.message}${call}`, { cause });
    this.code = cause.code ?? 'EUNKNOWN';
    this.errno = cause.errno ?? 0;
    this.syscall = cause.syscall ?? '';
  }
}

export class TunOpenError extends EdgeOpenError {
  override name = 'TunOpenError';
}
/** The AF_PACKET tap that receives HAO/RH2 packets. */
export class PacketTapOpenError extends EdgeOpenError {
  override name = 'PacketTapOpenError';
}
/** The raw IPv6 socket that sends complete packets. */
export class RawSocketOpenError extends EdgeOpenError {
  override name = 'RawSocketOpenError';
}
/** A UDP over IPv4 socket (port 4191): EADDRINUSE, EADDRNOTAVAIL, EACCES, ... */
export class UdpBindError extends EdgeOpenError {
  override name = 'UdpBindError';
}

/** The native addon is missing (not built) or failed to load. */
export class NativeAddonError extends Error {
  override name = 'NativeAddonError';
}

/** `nft` refused a ruleset or could not run. Names the interface and carries nft's own message. */
export class NftError extends Error {
  override name = 'NftError';
  constructor(
    readonly ifname: string,
    readonly action: string,
    readonly nftMessage: string,
  ) {
    super(`nft: ${action} on interface '${ifname}' failed: ${nftMessage.trim() || 'no message'}`);
  }
}

/** Runs `open`, turning a system error from the addon into `Kind`. Other errors pass unchanged. */
export function openOrThrow<T>(
  Kind: new (target: string, netns: string | undefined, cause: SystemErrorLike) => EdgeOpenError,
  target: string,
  netns: string | undefined,
  open: () => T,
): T {
  try {
    return open();
  } catch (e) {
    const err = e as SystemErrorLike & Error;
    if (err && typeof err.errno === 'number' && typeof err.code === 'string') throw new Kind(target, netns, err);
    throw e;
  }
}
