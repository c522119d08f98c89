// `dsmip6 ha --config FILE`: runs the home agent daemon (ha/daemon.ts) in the current network
// namespace until SIGINT / SIGTERM. Only wiring: no protocol logic here.
import type { Command } from 'commander';
import { HA_SOCKET } from '../common/control.js';
import { HaDaemon } from '../ha/daemon.js';
import { HA_STATE_FILE } from '../ha/store.js';
import { registerDaemonCommand } from './daemon-command.js';

export function registerHa(program: Command): void {
  registerDaemonCommand(program, {
    name: 'ha',
    summary: 'run the home agent',
    description:
      'Runs the home agent in the current network namespace (use `ip netns exec NS`), as root: it opens a TUN, adds nftables rules, routes and proxy neighbour entries for the home addresses it serves, and removes them again when it stops on SIGINT / SIGTERM. Logs to stderr (JSON lines, or text on a terminal).',
    configHelp: 'the home agent JSON configuration',
    stateHelp: 'bindings and sequence numbers',
    defaults: { tun: 'dsmip6ha0', socket: HA_SOCKET, state: HA_STATE_FILE },
    stateEnv: 'DSMIP6_HA_STATE',
    start: (o) => HaDaemon.start(o),
  });
}
