// The operator's control socket: a unix stream socket on which a daemon answers one JSON request
// line with one JSON response line, then closes (`dsmip6 status` is its client). Only root may
// open it: the socket file is 0600 in a 0700 directory. It must never accept an unbounded request,
// never let a bad or slow client crash or stall the daemon, never remove a socket that a live
// daemon still answers on, and never remove anything that is not a socket.
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Counters, IpsecEngine } from '../ipsec/index.js';

/** Where the daemons' sockets live by default; created 0700 if missing. */
export const CONTROL_DIR = '/run/dsmip6';
export const HA_SOCKET = `${CONTROL_DIR}/ha.sock`;
export const MN_SOCKET = `${CONTROL_DIR}/mn.sock`;

/** A request line longer than this gets an error response (and the connection is closed). */
export const MAX_REQUEST_BYTES = 64 * 1024;
/** A response larger than this is refused by the client (a status of thousands of bindings fits). */
export const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;
/** A client that has not sent its request line within this time is disconnected. */
export const DEFAULT_SERVER_TIMEOUT_MS = 5000;
export const DEFAULT_CLIENT_TIMEOUT_MS = 3000;
/** Concurrent control connections; more are refused by the kernel backlog / Node, not queued forever. */
const MAX_CONNECTIONS = 16;

export interface ControlRequest {
  cmd: string;
  [field: string]: unknown;
}

/** Maps a request to a JSON-able result; a throw becomes `{ok:false, error: message}`. */
export type ControlHandler = (req: ControlRequest) => unknown;

/** The line on the wire: `{ok:true, result}` or `{ok:false, error}`. */
export type ControlResponse = { ok: true; result: unknown } | { ok: false; error: string };

export type ControlErrorCode = 'in-use' | 'not-socket' | 'not-running' | 'stale' | 'permission' | 'timeout' | 'protocol' | 'remote' | 'io';

/** Every failure of this module, with a code callers match on (never on the text). */
export class ControlError extends Error {
  override name = 'ControlError';
  constructor(
    readonly code: ControlErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface ControlServerOptions {
  /** 'ha' or 'mn': only used in the "another daemon is running" message. */
  name?: string;
  /** Per-connection idle timeout, ms. Default DEFAULT_SERVER_TIMEOUT_MS. */
  timeoutMs?: number;
}

/** Which daemon a path is likely to belong to, for error messages. */
function roleOf(path: string): string {
  return path === HA_SOCKET ? 'ha' : path === MN_SOCKET ? 'mn' : 'ha (or mn)';
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | null)?.code;
}

/** True when something accepts a connection on `path` within `ms`; false on ECONNREFUSED / ENOENT. */
function answers(path: string, ms: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const s = createConnection(path);
    const timer = setTimeout(() => {
      // Accepting is enough to prove a live listener; a listener too busy to accept still owns it.
      s.destroy();
      resolve(true);
    }, ms);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve(true);
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      const c = errno(e);
      if (c === 'ECONNREFUSED' || c === 'ENOENT') resolve(false);
      else reject(e);
    });
  });
}

function encodeResponse(r: ControlResponse): string {
  try {
    // bigint (SA sequence numbers) has no JSON form: send it as decimal text rather than fail.
    return JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + '\n';
  } catch (e) {
    return JSON.stringify({ ok: false, error: `response not serialisable: ${(e as Error).message}` }) + '\n';
  }
}

export class ControlServer {
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly server: Server,
    private readonly open: Set<Socket>,
  ) {}

  /**
   * Listens on `path` (0600; its directory created 0700 if missing). A stale socket file (nobody
   * answers) is replaced; a live one is refused with ControlError 'in-use'.
   */
  static async listen(path: string, handler: ControlHandler, opts: ControlServerOptions = {}): Promise<ControlServer> {
    const name = opts.name ?? roleOf(path);
    const timeoutMs = opts.timeoutMs ?? DEFAULT_SERVER_TIMEOUT_MS;
    const dir = dirname(path);
    const made = mkdirSync(dir, { recursive: true, mode: 0o700 });
    // mkdir's mode is filtered by the umask; say it again for the directory we made.
    if (made !== undefined) chmodSync(dir, 0o700);

    let st;
    try {
      st = lstatSync(path);
    } catch (e) {
      if (errno(e) !== 'ENOENT') throw new ControlError('io', `${path}: ${(e as Error).message}`);
    }
    if (st) {
      if (!st.isSocket()) throw new ControlError('not-socket', `${path} exists and is not a socket; remove it or pass --socket`);
      let live: boolean;
      try {
        live = await answers(path, 1000);
      } catch (e) {
        throw new ControlError(errno(e) === 'EACCES' ? 'permission' : 'io', `${path}: cannot check the existing socket: ${(e as Error).message}`);
      }
      if (live) throw new ControlError('in-use', `${path}: another dsmip6 ${name} is running? (something answers on this control socket; stop it or pass --socket)`);
      try {
        unlinkSync(path); // stale: left by a daemon that did not shut down cleanly
      } catch (e) {
        if (errno(e) !== 'ENOENT') throw new ControlError('io', `${path}: cannot remove the stale socket: ${(e as Error).message}`);
      }
    }

    const open = new Set<Socket>();
    // allowHalfOpen: a client that half-closes after its request must still get the answer.
    const server = createServer({ allowHalfOpen: true }, (sock) => {
      open.add(sock);
      sock.once('close', () => open.delete(sock));
      serve(sock, handler, timeoutMs);
    });
    server.maxConnections = MAX_CONNECTIONS;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        // Create the socket file 0600 from the start where the umask can be set (the main thread),
        // so others never get a moment to connect; chmod below covers worker threads. The bind is
        // synchronous inside listen(), so the umask is back before anything else can create a file.
        let oldMask: number | undefined;
        try {
          oldMask = process.umask(0o177);
        } catch {
          oldMask = undefined;
        }
        try {
          server.listen(path, () => {
            server.off('error', reject);
            resolve();
          });
        } finally {
          if (oldMask !== undefined) process.umask(oldMask);
        }
      });
    } catch (e) {
      const c = errno(e);
      throw new ControlError(c === 'EACCES' || c === 'EPERM' ? 'permission' : c === 'EADDRINUSE' ? 'in-use' : 'io', `${path}: cannot listen: ${(e as Error).message}`);
    }
    try {
      chmodSync(path, 0o600);
    } catch (e) {
      server.close();
      throw new ControlError('io', `${path}: cannot set mode 0600: ${(e as Error).message}`);
    }
    // A listening server must not take the daemon down on a late socket error.
    server.on('error', () => {});
    return new ControlServer(path, server, open);
  }

  /** Stops listening, ends open connections and removes the socket file. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const s of this.open) s.destroy();
    });
    try {
      unlinkSync(this.path);
    } catch {
      // Already gone (libuv unlinks a pipe it bound when closing it).
    }
  }
}

/** One connection: read one bounded line, answer it, close. Never throws. */
function serve(sock: Socket, handler: ControlHandler, timeoutMs: number): void {
  let buf = '';
  let bytes = 0;
  let done = false;
  sock.setEncoding('utf8');
  sock.setTimeout(timeoutMs, () => sock.destroy());
  sock.on('error', () => sock.destroy());
  const reply = (r: ControlResponse) => {
    if (done) return;
    done = true;
    // Destroy once flushed: a client still sending (an oversized request) must not hold the slot.
    sock.end(encodeResponse(r), () => sock.destroy());
  };
  const handle = async (line: string) => {
    let req: unknown;
    try {
      req = JSON.parse(line);
    } catch {
      return reply({ ok: false, error: 'request is not JSON: send one line like {"cmd":"status"}' });
    }
    if (req === null || typeof req !== 'object' || Array.isArray(req) || typeof (req as { cmd?: unknown }).cmd !== 'string') {
      return reply({ ok: false, error: 'request must be a JSON object with a string "cmd", like {"cmd":"status"}' });
    }
    try {
      const result = await handler(req as ControlRequest);
      reply({ ok: true, result: result ?? null });
    } catch (e) {
      reply({ ok: false, error: e instanceof Error ? e.message : String(e) });
    }
  };
  sock.on('data', (chunk: string) => {
    if (done) return;
    bytes += Buffer.byteLength(chunk);
    const nl = chunk.indexOf('\n');
    if (nl >= 0) {
      const line = buf + chunk.slice(0, nl);
      if (Buffer.byteLength(line) > MAX_REQUEST_BYTES) return reply({ ok: false, error: `request longer than ${MAX_REQUEST_BYTES} bytes` });
      sock.pause(); // one request per connection: whatever follows the line is ignored
      void handle(line);
      return;
    }
    if (bytes > MAX_REQUEST_BYTES) return reply({ ok: false, error: `request longer than ${MAX_REQUEST_BYTES} bytes` });
    buf += chunk;
  });
  // A client that half-closes without a newline (`printf ... | socat`) still gets its answer.
  sock.on('end', () => {
    if (!done && buf.length > 0) void handle(buf);
    else if (!done) sock.end();
  });
}

/**
 * Sends `req` to the daemon on `path` and returns its result. Throws ControlError: 'not-running'
 * (no socket), 'stale' (nobody answers), 'permission', 'timeout', 'protocol', or 'remote' (the
 * daemon answered with an error).
 */
export function controlRequest(path: string, req: ControlRequest, timeoutMs = DEFAULT_CLIENT_TIMEOUT_MS): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const role = roleOf(path);
    const sock = createConnection(path);
    let buf = '';
    let settled = false;
    const finish = (err: ControlError | null, value?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    const timer = setTimeout(() => finish(new ControlError('timeout', `no answer from ${path} within ${timeoutMs} ms — is the dsmip6 ${role} daemon stuck?`)), timeoutMs);
    sock.setEncoding('utf8');
    sock.once('connect', () => sock.write(JSON.stringify(req) + '\n'));
    sock.on('error', (e) => {
      const c = errno(e);
      if (c === 'ENOENT') finish(new ControlError('not-running', `no daemon listening on ${path} — is dsmip6 ${role} running? pass --socket`));
      else if (c === 'ECONNREFUSED') finish(new ControlError('stale', `nobody answers on ${path} (a stale socket: the dsmip6 ${role} daemon is not running) — pass --socket`));
      else if (c === 'EACCES' || c === 'EPERM') finish(new ControlError('permission', `${path}: permission denied — run as root`));
      else finish(new ControlError('io', `${path}: ${(e as Error).message}`));
    });
    const parse = (text: string) => {
      let r: unknown;
      try {
        r = JSON.parse(text);
      } catch {
        return finish(new ControlError('protocol', `${path}: the answer is not JSON`));
      }
      if (r === null || typeof r !== 'object' || typeof (r as { ok?: unknown }).ok !== 'boolean') return finish(new ControlError('protocol', `${path}: the answer is not a control response`));
      const resp = r as ControlResponse;
      if (resp.ok) finish(null, resp.result);
      else finish(new ControlError('remote', `${path}: the daemon answered: ${String(resp.error)}`));
    };
    sock.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl >= 0) return parse(buf.slice(0, nl));
      if (buf.length > MAX_RESPONSE_BYTES) finish(new ControlError('protocol', `${path}: answer longer than ${MAX_RESPONSE_BYTES} bytes`));
    });
    sock.on('end', () => {
      if (buf.length > 0) parse(buf);
      else finish(new ControlError('protocol', `${path}: the daemon closed the connection without an answer`));
    });
  });
}

/** What the control socket shows of one SA: identity and traffic, never keys. */
export interface SaStatus {
  spi: number;
  direction: 'inbound' | 'outbound';
  mode: 'transport' | 'tunnel';
  algorithm: string;
  state: string;
  packets: number;
  bytes: number;
  /** Outbound: last sequence number sent; inbound: highest authenticated (decimal text: it may pass 2^53). */
  seq: string;
}

export interface IpsecStatus {
  counters: Counters;
  sas: SaStatus[];
}

/**
 * The engine's counters and an SA list for an operator. Fields are copied one by one (never by
 * spreading SaInfo) so that a key field added to the SAD later cannot leak out through here.
 */
export function ipsecStatus(engine: IpsecEngine): IpsecStatus {
  const sas = engine
    .listSAs()
    .map((sa) => ({ spi: sa.spi, direction: sa.direction, mode: sa.mode, algorithm: sa.algorithm, state: sa.state, packets: sa.packets, bytes: sa.bytes, seq: sa.seq.toString() }))
    .sort((a, b) => a.spi - b.spi);
  return { counters: engine.counters(), sas };
}
