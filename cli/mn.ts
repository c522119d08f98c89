// `dsmip6 mn --config FILE`: runs the mobile node daemon (mn/daemon.ts) in the current network
// namespace until SIGINT / SIGTERM. Only wiring: no protocol logic here.
import { Option, type Command } from 'commander';
import { MN_SOCKET } from '../common/control.js';
import { MnDaemon } from '../mn/daemon.js';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../common/log.js';
import { MN_STATE_FILE } from '../mn/store.js';

export function registerMn(program: Command): void {
  program
    .command('mn')
    .summary('run the mobile node')
    .description(
      'Runs the mobile node in the current network namespace (use `ip netns exec NS`), as root: it opens a TUN carrying the home address(es), adds nftables rules, policy routing rules and routes, follows the interfaces for care-of addresses, and removes what it added when it stops on SIGINT / SIGTERM. Logs to stderr (JSON lines, or text on a terminal).',
    )
    .requiredOption('--config <file>', 'the mobile node JSON configuration')
    .option('--tun <name>', 'name of the TUN device', 'dsmip6mn0')
    .option('--socket <path>', 'control socket for `dsmip6 status` (root only; one daemon per socket)', MN_SOCKET)
    .addOption(new Option('--state <file>', 'state file (BU and ESP sequence numbers, kept across restarts; its directory is created 0700)').default(MN_STATE_FILE).env('DSMIP6_MN_STATE'))
    .option('--metrics <host:port>', "serve Prometheus metrics at http://HOST:PORT/metrics ('[v6]:port' for IPv6; 'off' for none); overrides metrics.listen in the config")
    .addOption(new Option('--log-format <format>', "'json' (one object per line), 'pretty' (text) or 'auto' (text on a terminal, else JSON); overrides log.format in the config (default auto)").choices(LOG_FORMATS))
    .addOption(new Option('--log-level <level>', 'least severe level logged; overrides log.level in the config (default info)').choices(LOG_LEVELS))
    .action(async (opts: { config: string; tun: string; socket: string; state: string; metrics?: string; logFormat?: LogFormat; logLevel?: LogLevel }) => {
      const d = await MnDaemon.start({
        configFile: opts.config,
        tunName: opts.tun,
        controlSocket: opts.socket,
        stateFile: opts.state,
        ...(opts.metrics !== undefined ? { metricsListen: opts.metrics } : {}),
        ...(opts.logFormat !== undefined ? { logFormat: opts.logFormat } : {}),
        ...(opts.logLevel !== undefined ? { logLevel: opts.logLevel } : {}),
      });
      await new Promise<void>((resolve) => {
        const stop = (sig: string) => {
          d.signal(sig);
          void d.stop().then(resolve);
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
      process.exit(0);
    });
}
