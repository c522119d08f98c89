// What the two daemons (ha/daemon.ts, mn/daemon.ts) share around their own set-up: the logger,
// the undo stack, "open, or undo what was opened and rethrow", an idempotent stop that logs the
// counters, and the control socket opened first, which is also the single-instance lock. It must
// never hold protocol logic, and never leave anything open() set up after stop() resolved.
import { ControlServer, type ControlRequest } from './control.js';
import { createLogger, type LogFormat, type Logger, type LogLevel } from './log.js';
import { serveMetrics, type Registry } from './metrics.js';
import { Teardown } from './teardown.js';

export interface DaemonLogOptions {
  logger?: Logger;
  logLevel?: LogLevel;
  logFormat?: LogFormat;
}

export abstract class Daemon {
  readonly logger: Logger;
  /** Where the metrics server listens (the port resolved when 0 was asked for), when one runs. */
  metricsAddress?: { host: string; port: number };
  /** What open() set up, undone newest first by stop(). */
  protected readonly teardown = new Teardown((m) => this.log(m, {}, 'warn'));
  private stopping: Promise<void> | null = null;

  protected constructor(name: 'ha' | 'mn', opts: DaemonLogOptions, cfgLog: { level?: LogLevel; format?: LogFormat } | undefined) {
    this.logger = opts.logger ?? createLogger({ name, level: opts.logLevel ?? cfgLog?.level, format: opts.logFormat ?? cfgLog?.format });
  }

  /** Sets everything up, pushing an undo step for each thing it opens. */
  protected abstract open(): Promise<void>;

  /** What the 'stopped' line reports. */
  protected abstract counters(): unknown;

  /** One log line (never per packet); `fields` become JSON fields (hoa, coa, seq, status, ...). */
  protected log(line: string, fields: Record<string, unknown> = {}, level: 'info' | 'warn' | 'error' = 'info'): void {
    this.logger[level](fields, line);
  }

  /** The process is about to stop on `signal` (the command line's handler logs it here). */
  signal(signal: string): void {
    this.log(`${signal}, shutting down`);
  }

  /** `d` opened, or, when open() fails, everything it did undone and the error rethrown. */
  protected static async opened<D extends Daemon>(d: D): Promise<D> {
    try {
      await d.open();
    } catch (e) {
      await d.stop();
      throw e;
    }
    return d;
  }

  /**
   * The control socket, first thing in open(): it is also the single-instance lock, so a second
   * daemon on the same socket stops before it touches a TUN, nftables or routes. Until `ready()`
   * the handler answers "still starting".
   */
  protected async listenControl(path: string, name: 'ha' | 'mn', handler: (req: ControlRequest) => unknown, ready: () => boolean): Promise<void> {
    const control = await ControlServer.listen(
      path,
      (req) => {
        if (!ready()) throw new Error('still starting');
        return handler(req);
      },
      { name },
    );
    this.teardown.push(() => control.close());
  }

  /**
   * The metrics server, right after the lock (a taken port stops the start before anything is set
   * up): `make()`'s collectors served at `listen`, or nothing when it is undefined or 'off'.
   */
  protected async listenMetrics<T extends { registry: Registry }>(listen: string | undefined, make: () => T): Promise<T | undefined> {
    const served = await serveMetrics(listen, make);
    if (!served) return undefined;
    this.metricsAddress = served.server.address;
    this.teardown.push(() => served.server.close());
    return served.metrics;
  }

  /** Idempotent: undoes what open() did, newest first, then logs the counters. */
  stop(): Promise<void> {
    this.stopping ??= this.teardown.run().then(() => {
      // The counters as a field, not in the text: JSON log lines keep them machine-readable.
      this.log('stopped', { counters: this.counters() ?? {} });
    });
    return this.stopping;
  }
}
