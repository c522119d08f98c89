// The daemons' logger (common/log.ts): JSON lines with the fields an operator filters on, the same
// message text in the pretty format, 'auto' choosing by terminal, levels, and the rate-limited drop
// summary (DropBursts) under fake timers. Also that every text the end-to-end tests wait for stays
// a plain substring of a JSON line (no escaping inside it).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { countsDelta, createLogger, DropBursts, formatPretty, LOG_DEFAULTS, type LogSink } from '../common/log.js';

function sink(): LogSink & { lines: string[] } {
  const lines: string[] = [];
  return { lines, write: (s: string) => void lines.push(s) };
}

describe('createLogger', () => {
  it('json: one object per line, level as a word, ISO time, role prefix on the message, fields as keys', () => {
    const out = sink();
    const log = createLogger({ name: 'ha', format: 'json', sink: out });
    log.info({ hoa: '2001:db8:1::100', coa: '2001:db8:6::100', seq: 1000, status: 0 }, 'binding created: 2001:db8:1::100 -> 2001:db8:6::100 lifetime 600s seq 1000');
    expect(out.lines).toHaveLength(1);
    expect(out.lines[0].endsWith('\n')).toBe(true);
    const o = JSON.parse(out.lines[0]);
    expect(o).toMatchObject({
      level: 'info',
      name: 'ha',
      pid: process.pid,
      msg: 'ha: binding created: 2001:db8:1::100 -> 2001:db8:6::100 lifetime 600s seq 1000',
      hoa: '2001:db8:1::100',
      coa: '2001:db8:6::100',
      seq: 1000,
      status: 0,
    });
    expect(new Date(o.time).toISOString()).toBe(o.time);
    expect(o).not.toHaveProperty('hostname');
  });

  it('pretty: `ISO-time role: message  key=value`, info without a level word, other levels named', () => {
    const out = sink();
    const log = createLogger({ name: 'mn', format: 'pretty', sink: out });
    log.info({ hoa: '2001:db8:1::100', seq: 7, nat: { natDetected: true } }, 'registration: registered 192.0.2.10, registering none');
    log.warn({ drops: { 'no-binding': 3 }, total: 3 }, 'drops: 3 in 10 s (no-binding 3)');
    expect(out.lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z mn: registration: registered 192\.0\.2\.10, registering none  hoa=2001:db8:1::100 seq=7 nat=\{"natDetected":true\}\n$/);
    expect(out.lines[1]).toMatch(/Z WARN mn: drops: 3 in 10 s \(no-binding 3\)  drops=\{"no-binding":3\} total=3\n$/);
  });

  it("auto: pretty on a terminal, JSON otherwise (the default format)", () => {
    expect(LOG_DEFAULTS).toEqual({ level: 'info', format: 'auto' });
    const tty = sink();
    createLogger({ name: 'ha', sink: tty, isTty: true }).info('started: x');
    expect(tty.lines[0]).toMatch(/Z ha: started: x\n$/);
    const pipe = sink();
    createLogger({ name: 'ha', sink: pipe, isTty: false }).info('started: x');
    expect(JSON.parse(pipe.lines[0]).msg).toBe('ha: started: x');
  });

  it('levels: below the configured level nothing is written; silent writes nothing', () => {
    const out = sink();
    const log = createLogger({ name: 'ha', format: 'json', level: 'warn', sink: out });
    log.info('quiet');
    log.debug('quieter');
    log.warn('loud');
    log.error('louder');
    expect(out.lines.map((l) => JSON.parse(l).level)).toEqual(['warn', 'error']);
    const none = sink();
    createLogger({ name: 'ha', format: 'json', level: 'silent', sink: none }).error('x');
    expect(none.lines).toEqual([]);
  });

  it('the texts the e2e tests wait for are plain substrings of the JSON lines', () => {
    const out = sink();
    const ha = createLogger({ name: 'ha', format: 'json', sink: out });
    const mn = createLogger({ name: 'mn', format: 'json', sink: out });
    const texts: [typeof ha, string, string][] = [
      [ha, 'started: tun dsmip6ha0, public up0, home link home0, 2 mobile node(s)', 'ha: started'],
      [ha, 'binding created: 2001:db8:1::100 -> 2001:db8:3::100 lifetime 600s seq 5', 'binding created: 2001:db8:1::100 -> 2001:db8:3::100'],
      [ha, 'binding updated: 2001:db8:1::100 -> 192.168.7.100 (udp, nat 203.0.113.1:40000) lifetime 600s seq 6', '2001:db8:1::100 -> 192.168.7.100 (udp, nat 203.0.113.1'],
      [ha, 'binding deleted: 2001:db8:1::100', 'binding deleted: 2001:db8:1::100'],
      [mn, 'movement: home -> moveTo home', 'movement: home -> moveTo home'],
      [mn, 'registration: registered 2001:db8:3::100, registering none', 'registration: registered 2001:db8:3::100'],
      [mn, 'home: deregistered; answering for 2001:db8:1::100 on home0', 'home: deregistered; answering for 2001:db8:1::100 on home0'],
    ];
    for (const [log, msg, waited] of texts) {
      out.lines.length = 0;
      log.info({ hoa: '2001:db8:1::100' }, msg);
      expect(out.lines[0]).toContain(waited);
    }
  });
});

describe('formatPretty', () => {
  it('leaves a line that is not JSON as it is', () => {
    expect(formatPretty('plain text\n')).toBe('plain text');
  });
  it('quotes field strings with spaces, leaves simple ones bare', () => {
    expect(formatPretty(JSON.stringify({ level: 'info', time: '2026-01-01T00:00:00.000Z', name: 'ha', msg: 'ha: x', a: 'b c', d: 'e' }))).toBe(
      '2026-01-01T00:00:00.000Z ha: x  a="b c" d=e',
    );
  });
});

describe('DropBursts (rate-limited drop summary)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('countsDelta: what rose, by name; a counter that went back counts from 0', () => {
    expect(countsDelta({ a: 1, b: 5 }, { a: 1, b: 7, c: 2 })).toEqual({ b: 2, c: 2 });
    expect(countsDelta({ a: 10 }, { a: 3 })).toEqual({ a: 3 });
    expect(countsDelta({ a: 1 }, { a: 1 })).toEqual({});
  });

  it('one line per period however many drops, none when nothing rose, the tail on stop()', () => {
    vi.useFakeTimers();
    const drops: Record<string, number> = { 'no-binding': 2 }; // before start: not reported
    const reports: [Record<string, number>, number, number][] = [];
    const b = new DropBursts({ read: () => drops, periodMs: 10_000, report: (d, total, ms) => reports.push([d, total, ms]) }).start();
    for (let i = 0; i < 1000; i++) drops['ipsec-in:replay'] = (drops['ipsec-in:replay'] ?? 0) + 1;
    drops['no-binding'] += 5;
    vi.advanceTimersByTime(9_999);
    expect(reports).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(reports).toEqual([[{ 'ipsec-in:replay': 1000, 'no-binding': 5 }, 1005, 10_000]]);
    vi.advanceTimersByTime(50_000); // quiet: no lines
    expect(reports).toHaveLength(1);
    drops['coa-mismatch'] = 1;
    vi.advanceTimersByTime(4_000);
    b.stop(); // the tail: what rose in the 4 s since the last tick
    expect(reports[1]).toEqual([{ 'coa-mismatch': 1 }, 1, 4_000]);
    vi.advanceTimersByTime(60_000); // stopped: no timer left
    expect(reports).toHaveLength(2);
  });
});
