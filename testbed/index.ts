// The testbed's public face: build test networks from network namespaces (Testbed), describe
// them (TopologySpec), the project's own network (PROJECT_TOPOLOGY, PROJECT), and cleanup of
// leftovers (sweep). Re-exports only: this file must never hold logic.
//
//   const tb = await Testbed.create(PROJECT_TOPOLOGY);       // root; ~1 s
//   try {
//     await tb.exec('cn', ['ping', '-c', '1', PROJECT.mn.coa6], { check: true });
//     const ha = tb.spawn('ha', [process.execPath, 'dist/cli/main.js', 'ha', ...]);
//     await tb.setLoss(PROJECT_ENDS.mnNat, 30);               // 30 % of what the MN sends there
//     await tb.linkDown('mn', PROJECT.mn.ifaces.v6net);       // the MN leaves the IPv6 network
//     await tb.flushConntrack('nat');                         // the NAT forgets its bindings
//   } finally {
//     await tb.destroy();                                     // also done at exit and on SIGINT/SIGTERM
//   }
export { Testbed, type TestbedOptions, type ExecOptions, type SpawnOptions, type LossDirection } from './testbed.js';
export {
  validateSpec,
  TopologyError,
  placedEnds,
  interfacesByHost,
  type TopologySpec,
  type HostSpec,
  type LinkSpec,
  type LanSpec,
  type LinkEndSpec,
  type LinkEndRef,
  type RouteSpec,
  type RuleSpec,
  type NatSpec,
  type RateSpec,
} from './spec.js';
export { captureLinks, capturePoints, type CapturePoint, type CaptureFile, type CaptureOptions, type LinkCapture } from './capture.js';
export { PROJECT, PROJECT_TOPOLOGY, PROJECT_ENDS, PROJECT_NAT_UDP_TIMEOUT_S } from './project.js';
export { sweep, listRuns, removeRun, type RunInfo, type SweepOptions, type SweepResult } from './sweep.js';
export { DEFAULT_STATE_DIR, readStates, type RunState } from './state.js';
export { DEFAULT_PREFIX, parseNsName } from './names.js';
export { CommandError, MissingToolError, type RunResult, type RunOptions } from './run.js';
export { parseCidr, prefixContains, familyOf, type Cidr, type Family } from './addr.js';
