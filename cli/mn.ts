// `dsmip6 mn --config FILE`: runs the mobile node daemon (mn/daemon.ts) in the current network
// namespace until SIGINT / SIGTERM. Only wiring: no protocol logic here.
import type { Command } from 'commander';
import { MN_SOCKET } from '../common/control.js';
import { MnDaemon } from '../mn/daemon.js';

export function registerMn(program: Command): void {
  program
    .command('mn')
    .summary('run the mobile node')
    .description('Runs the mobile node in the current network namespace (use `ip netns exec NS`). Stops cleanly on SIGINT / SIGTERM.')
    .requiredOption('--config <file>', 'the mobile node JSON configuration')
    .option('--tun <name>', 'name of the TUN device', 'dsmip6mn0')
    .option('--socket <path>', 'control socket for `dsmip6 status` (root only; one daemon per socket)', MN_SOCKET)
    .action(async (opts: { config: string; tun: string; socket: string }) => {
      const d = await MnDaemon.start({ configFile: opts.config, tunName: opts.tun, controlSocket: opts.socket });
      await new Promise<void>((resolve) => {
        const stop = (sig: string) => {
          process.stderr.write(`mn: ${sig}, shutting down\n`);
          void d.stop().then(resolve);
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
      process.exit(0);
    });
}
