// The shape `dsmip6 ha` and `dsmip6 mn` share: their options (config, TUN, control socket, state
// file, metrics, log format and level), starting the daemon, and a clean stop on SIGINT/SIGTERM.
// Only wiring: it must never hold protocol logic, and never exit before the daemon has stopped.
import { Option, type Command } from 'commander';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../common/log.js';

/** What the command passes to the daemon's start(). */
export interface DaemonStartOptions {
  configFile: string;
  tunName: string;
  controlSocket: string;
  stateFile: string;
  metricsListen?: string;
  logFormat?: LogFormat;
  logLevel?: LogLevel;
}

export interface DaemonCommandSpec {
  name: 'ha' | 'mn';
  summary: string;
  description: string;
  /** e.g. 'the home agent JSON configuration'. */
  configHelp: string;
  /** What the state file holds, for --help. */
  stateHelp: string;
  defaults: { tun: string; socket: string; state: string };
  /** Environment variable that may name the state file. */
  stateEnv: string;
  start(opts: DaemonStartOptions): Promise<{ signal(sig: string): void; stop(): Promise<void> }>;
}

export function registerDaemonCommand(program: Command, spec: DaemonCommandSpec): void {
  program
    .command(spec.name)
    .summary(spec.summary)
    .description(spec.description)
    .requiredOption('--config <file>', spec.configHelp)
    .option('--tun <name>', 'name of the TUN device', spec.defaults.tun)
    .option('--socket <path>', 'control socket for `dsmip6 status` (root only; one daemon per socket)', spec.defaults.socket)
    .addOption(new Option('--state <file>', `state file (${spec.stateHelp}, kept across restarts; its directory is created 0700)`).default(spec.defaults.state).env(spec.stateEnv))
    .option('--metrics <host:port>', "serve Prometheus metrics at http://HOST:PORT/metrics ('[v6]:port' for IPv6; 'off' for none); overrides metrics.listen in the config")
    .addOption(new Option('--log-format <format>', "'json' (one object per line), 'pretty' (text) or 'auto' (text on a terminal, else JSON); overrides log.format in the config (default auto)").choices(LOG_FORMATS))
    .addOption(new Option('--log-level <level>', 'least severe level logged; overrides log.level in the config (default info)').choices(LOG_LEVELS))
    .action(async (opts: { config: string; tun: string; socket: string; state: string; metrics?: string; logFormat?: LogFormat; logLevel?: LogLevel }) => {
      const d = await spec.start({
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
