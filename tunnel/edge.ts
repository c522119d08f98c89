// The tunnel edge in one import: the batch interfaces (Device, Bind, MipPacketIo), their native
// implementations, their in-memory fakes, the kernel rule the daemon owns, and the named errors.
// Re-exports only; must never hold logic of its own.
export { DEFAULT_BATCH_SIZE, type Device, type PacketBatchHandler } from './device.js';
export { DSMIP_UDP_PORT, type Bind, type DatagramBatchHandler, type OutgoingDatagram, type ReceivedDatagram } from './bind.js';
export type { MipPacketIo } from './mipio.js';
export { plainEspDevice } from './plain-esp.js';
export type { EdgeCounters } from './counters.js';
export { isMipPacket, MIP_FILTER_OPTION_WALK } from './mipfilter.js';
export { openDaemonTun, openTun, TunDevice, type TunOptions } from './tun.js';
export { openUdp4Bind, Udp4Bind, type Udp4BindOptions } from './udp4.js';
export { openMipPacketIo, NativeMipPacketIo, type MipPacketIoOptions } from './mipio-native.js';
export { fakeDevicePair, FakeDevice, type FakeDeviceOptions } from './fake-device.js';
export { fakeBindPair, FakeBind, FakeNat, FakeUdpNetwork, type FakeBindOptions, type FakeNatOptions } from './fake-bind.js';
export { fakeMipPacketIoPair, FakeMipPacketIo, type FakeMipPacketIoOptions } from './fake-mipio.js';
export {
  installMipIngressDrop,
  removeMipIngressDrop,
  readMipIngressCounters,
  mipIngressRuleset,
  mipTableName,
  MIP_TABLE_COMMENT,
  type MipIngressOptions,
  type MipIngressCounters,
} from './nft.js';
export {
  EdgeOpenError,
  TunOpenError,
  PacketTapOpenError,
  RawSocketOpenError,
  UdpBindError,
  NativeAddonError,
  NftError,
} from './errors.js';
