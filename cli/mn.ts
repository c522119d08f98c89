// `dsmip6 mn --config FILE`: runs the mobile node daemon (mn/daemon.ts) in the current network
// namespace until SIGINT / SIGTERM. Only wiring: no protocol logic here.
import type { Command } from 'commander';
import { MN_SOCKET } from '../common/control.js';
import { MnDaemon } from '../mn/daemon.js';
import { MN_STATE_FILE } from '../mn/store.js';
import { registerDaemonCommand } from './daemon-command.js';

export function registerMn(program: Command): void {
  registerDaemonCommand(program, {
    name: 'mn',
    summary: 'run the mobile node',
    description:
      'Runs the mobile node in the current network namespace (use `ip netns exec NS`), as root: it opens a TUN carrying the home address(es), adds nftables rules, policy routing rules and routes, follows the interfaces for care-of addresses, and removes what it added when it stops on SIGINT / SIGTERM. Logs to stderr (JSON lines, or text on a terminal).',
    configHelp: 'the mobile node JSON configuration',
    stateHelp: 'BU and ESP sequence numbers',
    defaults: { tun: 'dsmip6mn0', socket: MN_SOCKET, state: MN_STATE_FILE },
    stateEnv: 'DSMIP6_MN_STATE',
    start: (o) => MnDaemon.start(o),
  });
}
