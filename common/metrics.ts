// Prometheus metrics plumbing shared by the home agent and the mobile node: a per-daemon prom-client
// Registry, counters whose value is read from an existing counter object at scrape time, the ESP
// collectors (packets, bytes, drops by reason, from ipsec/'s counters and SAD), and the HTTP server
// that answers GET /metrics on the configured local address.
// It must never be touched per packet (values are read when Prometheus scrapes, never pushed), never
// expose key material (only counts), and never listen anywhere but the address it was given.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Registry } from 'prom-client';
import { DROP_REASONS, type IpsecEngine } from '../ipsec/index.js';

export { Registry } from 'prom-client';

/** A metrics listen address, 'host:port' ('[v6]:port' for IPv6). */
export interface ListenAddress {
  host: string;
  port: number;
}

/** Parses '127.0.0.1:9101', '[::1]:9101' or 'localhost:9101'; returns a message when it cannot. */
export function parseListen(s: string): ListenAddress | string {
  const m = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(s) ?? /^([A-Za-z0-9.-]+):(\d{1,5})$/.exec(s);
  if (!m) return `'${s}' is not host:port (e.g. '127.0.0.1:9101', or '[::1]:9101' for IPv6)`;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return `port ${m[2]} is outside 1..65535`;
  return { host: m[1], port };
}

/** A fresh registry (never prom-client's global one, so two daemons or tests never share series). */
export function newRegistry(opts: { defaultMetrics?: boolean } = {}): Registry {
  const r = new Registry();
  // process_* and nodejs_*: CPU, memory, event-loop lag, file descriptors of the daemon itself.
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: r });
  return r;
}

/**
 * A counter whose value is whatever `read` returns at scrape time: the daemon's own counters stay
 * the single source of truth. `read` returns one number, or a map label value -> number.
 */
export function counterFrom(
  registry: Registry,
  name: string,
  help: string,
  read: () => number | undefined,
): Counter;
export function counterFrom(
  registry: Registry,
  name: string,
  help: string,
  read: () => Readonly<Record<string, number>> | undefined,
  label: string,
): Counter<string>;
export function counterFrom(
  registry: Registry,
  name: string,
  help: string,
  read: () => number | Readonly<Record<string, number>> | undefined,
  label?: string,
): Counter<string> {
  return new Counter({
    name,
    help,
    registers: [registry],
    labelNames: label ? [label] : [],
    collect() {
      const v = read();
      this.reset();
      if (v === undefined) return;
      if (typeof v === 'number') this.inc(Math.max(0, v));
      else for (const [k, n] of Object.entries(v)) this.inc({ [label!]: k }, Math.max(0, n));
    },
  });
}

/**
 * dsmip6_esp_packets_total{direction}, dsmip6_esp_bytes_total{direction} (payload octets the SAs
 * processed, from the SAD) and dsmip6_esp_drops_total{reason} (every ipsec/ drop reason, 0 included,
 * so rate() has a series from the start). `engine` may return undefined while the daemon starts.
 */
export function registerEspMetrics(registry: Registry, engine: () => IpsecEngine | undefined): void {
  counterFrom(
    registry,
    'dsmip6_esp_packets_total',
    'ESP packets protected (out) and accepted (in) by the user-space IPsec',
    () => {
      const e = engine();
      if (!e) return undefined;
      const c = e.counters();
      return { out: c.outProtected, in: c.inProtected };
    },
    'direction',
  );
  counterFrom(
    registry,
    'dsmip6_esp_bytes_total',
    'Octets processed by the ESP SAs, by direction (the SAD byte counters, current SAs)',
    () => {
      const e = engine();
      if (!e) return undefined;
      const out = { out: 0, in: 0 };
      for (const sa of e.listSAs()) out[sa.direction === 'outbound' ? 'out' : 'in'] += Number(sa.bytes);
      return out;
    },
    'direction',
  );
  counterFrom(
    registry,
    'dsmip6_esp_drops_total',
    'Packets the IPsec engine dropped, by reason (RFC 4301 processing: no-policy, replay, icv-mismatch, ...)',
    () => {
      const e = engine();
      if (!e) return undefined;
      const d = e.counters().drops;
      const out: Record<string, number> = {};
      for (const r of DROP_REASONS) out[r] = d[r];
      return out;
    },
    'reason',
  );
}

/** GET /metrics in the Prometheus text format on one address; anything else is 404. */
export class MetricsServer {
  private constructor(
    private readonly server: Server,
    /** Where it listens (the port resolved when 0 was asked for). */
    readonly address: ListenAddress,
  ) {}

  static listen(registry: Registry, at: ListenAddress): Promise<MetricsServer> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      if (path !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('dsmip6: metrics are at /metrics\n');
        return;
      }
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(req.method === 'HEAD' ? undefined : text),
        (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(e as Error).message}\n`),
      );
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: at.host, port: at.port }, () => {
        server.off('error', reject);
        const a = server.address() as AddressInfo;
        resolve(new MetricsServer(server, { host: at.host, port: a.port }));
      });
    });
  }

  /** Stops listening and drops open connections (a scraper's keep-alive must not hold up shutdown). */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

/** Text of a metrics address for logs: IPv6 hosts in brackets. */
export function hostPort(a: { host: string; port: number }): string {
  return `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
}

/**
 * A daemon's metrics server: none when `listen` is undefined or 'off', else `make()`'s registry
 * served at `listen` ('host:port'). Errors name the address (a bad one, or one that is taken).
 */
export async function serveMetrics<T extends { registry: Registry }>(listen: string | undefined, make: () => T): Promise<{ metrics: T; server: MetricsServer } | undefined> {
  if (listen === undefined || listen === 'off') return undefined;
  const at = parseListen(listen);
  if (typeof at === 'string') throw new Error(`metrics address: ${at}`);
  const metrics = make();
  const server = await MetricsServer.listen(metrics.registry, at).catch((e: unknown) => {
    throw new Error(`metrics: cannot listen on ${hostPort(at)}: ${(e as Error).message}`);
  });
  return { metrics, server };
}
