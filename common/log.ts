// The daemons' logger: pino, writing one JSON object per line (for journald, log shippers, jq), or
// on a terminal a plain line `ISO-time ha: message key=value ...` from a small printer of our own
// (pino-pretty is not a dependency). The message text is the same in both formats and starts with
// the role ('ha: binding created: ...', pino's msgPrefix), so one grep works on either. Also the
// rate-limited drop summary (DropBursts): the data plane only counts, and a timer turns rising
// counters into at most one line per period.
// It must never be called per packet, never write asynchronously (a daemon's last line, written
// just before process.exit, must not be lost), and never read counters anywhere but in tick().
import { writeSync } from 'node:fs';
import { pino, stdTimeFunctions, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

export const LOG_LEVELS = Object.freeze(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const);
export type LogLevel = (typeof LOG_LEVELS)[number];

/** 'auto': pretty when the output is a terminal, JSON otherwise (a pipe, a file, journald). */
export const LOG_FORMATS = Object.freeze(['auto', 'json', 'pretty'] as const);
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Defaults of the `log` block of both configuration files (config/schema.ts refers here). */
export const LOG_DEFAULTS = Object.freeze({ level: 'info' as LogLevel, format: 'auto' as LogFormat });

/** Where lines go: anything with a synchronous write of a whole line. */
export interface LogSink {
  write(line: string): void;
}

export interface LoggerOptions {
  /** The process role ('ha', 'mn'): the `name` field, and the prefix of every message ('ha: ...'). */
  name: string;
  /** Default LOG_DEFAULTS.level ('info'). */
  level?: LogLevel;
  /** Default LOG_DEFAULTS.format ('auto'). */
  format?: LogFormat;
  /** Default: file descriptor 2 (stderr), written synchronously. */
  sink?: LogSink;
  /** Whether the sink is a terminal (for 'auto'). Default: process.stderr.isTTY. */
  isTty?: boolean;
}

/** Keys pino adds to every line; the pretty printer shows them in the prefix or not at all. */
const BASE_KEYS = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg']);

function fieldText(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v);
}

/**
 * One pino JSON line as `ISO-time message key=value ...` (no newline; the message starts with the
 * role). Info lines carry no level word, so they read as the daemons always printed; other levels
 * are named before the message (`... WARN ha: ...`). A line that is not JSON comes back unchanged.
 */
export function formatPretty(line: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.replace(/\n$/, '');
  }
  if (typeof o !== 'object' || o === null) return line.replace(/\n$/, '');
  const time = typeof o.time === 'string' ? o.time : new Date(typeof o.time === 'number' ? o.time : Date.now()).toISOString();
  const level = typeof o.level === 'string' ? o.level : 'info';
  const head = `${time} ${level === 'info' ? '' : `${level.toUpperCase()} `}`;
  const fields = Object.entries(o)
    .filter(([k, v]) => !BASE_KEYS.has(k) && v !== undefined)
    .map(([k, v]) => `${k}=${fieldText(v)}`);
  return `${head}${typeof o.msg === 'string' ? o.msg : ''}${fields.length ? `  ${fields.join(' ')}` : ''}`;
}

const stderrSink: LogSink = { write: (s) => void writeSync(2, s) };

/** True when `format` (after resolving 'auto') is pretty. */
export function isPretty(format: LogFormat, isTty: boolean): boolean {
  return format === 'pretty' || (format === 'auto' && isTty);
}

/** A pino logger for a daemon; see LoggerOptions for the defaults. */
export function createLogger(o: LoggerOptions): Logger {
  const sink = o.sink ?? stderrSink;
  const pretty = isPretty(o.format ?? LOG_DEFAULTS.format, o.isTty ?? process.stderr.isTTY === true);
  const dest: DestinationStream = pretty ? { write: (s: string) => sink.write(`${formatPretty(s)}\n`) } : { write: (s: string) => sink.write(s) };
  return pino(
    {
      name: o.name,
      // 'ha: ' in the message itself: a plain grep for 'ha: started' finds the line in either format.
      msgPrefix: `${o.name}: `,
      level: o.level ?? LOG_DEFAULTS.level,
      // The level as a word and the time as ISO text: readable in `journalctl -o cat` and by jq alike.
      formatters: { level: (label) => ({ level: label }) },
      timestamp: stdTimeFunctions.isoTime,
      base: { pid: process.pid },
    },
    dest,
  );
}

/** Counts by name (drop reasons, BA statuses): what DropBursts compares between ticks. */
export type CountsByName = Readonly<Record<string, number>>;

/** What rose from `before` to `now`, by name; {} when nothing did. A counter that went down (a restart) counts from 0. */
export function countsDelta(before: CountsByName, now: CountsByName): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(now)) {
    const d = v - (before[k] ?? 0);
    if (d > 0) out[k] = d;
    else if (d < 0 && v > 0) out[k] = v;
  }
  return out;
}

export interface DropBurstsOptions {
  /** Reads the current counts (by reason). Called only from tick(). */
  read: () => CountsByName;
  /** Called with what rose since the last tick, its sum, and the ms since that tick, when anything rose. */
  report: (delta: Record<string, number>, total: number, elapsedMs: number) => void;
  /** Default 10000. */
  periodMs?: number;
}

/**
 * At most one report per period, and only when a counter rose: a flood of bad packets becomes one
 * line every 10 s, not one per packet. start() arms an unref'd interval; tests call tick() directly.
 */
export class DropBursts {
  private last: Record<string, number>;
  private lastAt = Date.now();
  private timer: NodeJS.Timeout | null = null;
  readonly periodMs: number;

  constructor(private readonly o: DropBurstsOptions) {
    this.periodMs = o.periodMs ?? 10_000;
    this.last = { ...o.read() };
  }

  /** Compares with the previous tick and reports a rise. Returns what it reported ({} for nothing). */
  tick(): Record<string, number> {
    const now = { ...this.o.read() };
    const at = Date.now();
    const d = countsDelta(this.last, now);
    const elapsed = at - this.lastAt;
    this.last = now;
    this.lastAt = at;
    const total = Object.values(d).reduce((a, b) => a + b, 0);
    if (total > 0) this.o.report(d, total, elapsed);
    return d;
  }

  start(): this {
    this.timer ??= setInterval(() => this.tick(), this.periodMs).unref();
    return this;
  }

  /** Stops the timer and reports what rose since the last tick (the drops of the last seconds are not lost). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.tick();
  }
}
