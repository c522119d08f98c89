// `dsmip6 ha --config FILE`: runs the home agent daemon (ha/daemon.ts) in the current network
// namespace until SIGINT / SIGTERM. Only wiring: no protocol logic here.
import { Option, type Command } from 'commander';
import { HA_SOCKET } from '../common/control.js';
import { HaDaemon } from '../ha/daemon.js';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../common/log.js';
import { HA_STATE_FILE } from '../ha/store.js';

export function registerHa(program: Command): void {
  program
    .command('ha')
    .summary('run the home agent')
    .description(
      'Runs the home agent in the current network namespace (use `ip netns exec NS`), as root: it opens a TUN, adds nftables rules, routes and proxy neighbour entries for the home addresses it serves, and removes them again when it stops on SIGINT / SIGTERM. Logs to stderr (JSON lines, or text on a terminal).',
    )
    .requiredOption('--config <file>', 'the home agent JSON configuration')
    .option('--tun <name>', 'name of the TUN device', 'dsmip6ha0')
    .option('--socket <path>', 'control socket for `dsmip6 status` (root only; one daemon per socket)', HA_SOCKET)
    .addOption(new Option('--state <file>', 'state file (bindings and sequence numbers, kept across restarts; its directory is created 0700)').default(HA_STATE_FILE).env('DSMIP6_HA_STATE'))
    .option('--metrics <host:port>', "serve Prometheus metrics at http://HOST:PORT/metrics ('[v6]:port' for IPv6; 'off' for none); overrides metrics.listen in the config")
    .addOption(new Option('--log-format <format>', "'json' (one object per line), 'pretty' (text) or 'auto' (text on a terminal, else JSON); overrides log.format in the config (default auto)").choices(LOG_FORMATS))
    .addOption(new Option('--log-level <level>', 'least severe level logged; overrides log.level in the config (default info)').choices(LOG_LEVELS))
    .action(async (opts: { config: string; tun: string; socket: string; state: string; metrics?: string; logFormat?: LogFormat; logLevel?: LogLevel }) => {
      const d = await HaDaemon.start({
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
