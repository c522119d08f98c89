// `dsmip6 ha --config FILE`: runs the home agent daemon (ha/daemon.ts) in the current network
// namespace until SIGINT / SIGTERM. Only wiring: no protocol logic here.
import type { Command } from 'commander';
import { HA_SOCKET } from '../common/control.js';
import { HaDaemon } from '../ha/daemon.js';

export function registerHa(program: Command): void {
  program
    .command('ha')
    .summary('run the home agent')
    .description('Runs the home agent in the current network namespace (use `ip netns exec NS`). Stops cleanly on SIGINT / SIGTERM.')
    .requiredOption('--config <file>', 'the home agent JSON configuration')
    .option('--tun <name>', 'name of the TUN device', 'dsmip6ha0')
    .option('--socket <path>', 'control socket for `dsmip6 status` (root only; one daemon per socket)', HA_SOCKET)
    .action(async (opts: { config: string; tun: string; socket: string }) => {
      const d = await HaDaemon.start({ configFile: opts.config, tunName: opts.tun, controlSocket: opts.socket });
      await new Promise<void>((resolve) => {
        const stop = (sig: string) => {
          process.stderr.write(`ha: ${sig}, shutting down\n`);
          void d.stop().then(resolve);
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
      process.exit(0);
    });
}
