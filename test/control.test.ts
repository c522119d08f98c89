// The control socket (common/control.ts) as a daemon and `dsmip6 status` use it: one JSON line each
// way in a temporary directory; the socket's 0600 mode and its directory's 0700; a stale socket
// replaced, a live one refused; oversized, non-JSON and slow requests answered or cut off while the
// server goes on serving; and the client's errors naming the path and the fix.
import { spawn } from 'node:child_process';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ControlError, ControlServer, MAX_REQUEST_BYTES, controlRequest } from '../common/control.js';
import { tempDir } from './support/tools.js';
import { until } from './support/until.js';

const tmp = tempDir('dsmip6-control-');
afterAll(() => tmp.cleanup());

let n = 0;
const sockPath = () => join(tmp.dir, `s${++n}.sock`);

/** Sends raw bytes, returns everything the server wrote before it closed. */
function raw(path: string, data: string | Buffer, endAfter = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => (out += c));
    s.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' || e.code === 'EPIPE' ? resolve(out) : reject(e)));
    s.on('close', () => resolve(out));
    s.on('connect', () => {
      if (endAfter) s.end(data);
      else s.write(data);
    });
  });
}

const echo = (req: { cmd: string }) => {
  if (req.cmd === 'boom') throw new Error('handler says no');
  return { echoed: req, big: 2n ** 70n };
};

describe('ControlServer / controlRequest', () => {
  it('answers one JSON line with one JSON line; the socket is 0600 in a 0700 directory it created; close() removes it', async () => {
    const path = join(tmp.dir, 'newdir', 'ha.sock');
    const srv = await ControlServer.listen(path, echo, { name: 'ha' });
    expect(statSync(path).isSocket()).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(tmp.dir, 'newdir')).mode & 0o777).toBe(0o700);

    await expect(controlRequest(path, { cmd: 'status', x: 1 })).resolves.toEqual({ echoed: { cmd: 'status', x: 1 }, big: (2n ** 70n).toString() });
    // The wire format itself.
    const line = await raw(path, '{"cmd":"status"}\n');
    expect(line.endsWith('\n')).toBe(true);
    expect(JSON.parse(line)).toMatchObject({ ok: true, result: { echoed: { cmd: 'status' } } });
    // A request without a trailing newline, half-closed (printf | socat), is still answered.
    expect(JSON.parse(await raw(path, '{"cmd":"status"}', true))).toMatchObject({ ok: true });

    await srv.close();
    expect(existsSync(path)).toBe(false);
    await srv.close(); // idempotent
  });

  it('turns a handler error into an error response (client: ControlError "remote")', async () => {
    const path = sockPath();
    const srv = await ControlServer.listen(path, echo);
    const e = await controlRequest(path, { cmd: 'boom' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ControlError);
    expect(e).toMatchObject({ code: 'remote', message: expect.stringContaining('handler says no') });
    await srv.close();
  });

  it('answers oversized, non-JSON and non-object requests with an error, and keeps serving', async () => {
    const path = sockPath();
    const srv = await ControlServer.listen(path, echo);
    const big = 'x'.repeat(MAX_REQUEST_BYTES + 10);
    // Over the limit with no newline at all (the server must not wait for one) ...
    expect(JSON.parse(await raw(path, big))).toEqual({ ok: false, error: expect.stringMatching(/longer than 65536/) });
    // ... and a too-long line that does end in one.
    expect(JSON.parse(await raw(path, `{"cmd":"${big}"}\n`))).toEqual({ ok: false, error: expect.stringMatching(/longer than/) });
    expect(JSON.parse(await raw(path, 'hello\n'))).toEqual({ ok: false, error: expect.stringMatching(/not JSON/) });
    expect(JSON.parse(await raw(path, '[1,2]\n'))).toEqual({ ok: false, error: expect.stringMatching(/"cmd"/) });
    expect(JSON.parse(await raw(path, '{"cmd":7}\n'))).toEqual({ ok: false, error: expect.stringMatching(/"cmd"/) });
    expect(JSON.parse(await raw(path, Buffer.from([0xff, 0xfe, 0x0a])))).toMatchObject({ ok: false });
    await expect(controlRequest(path, { cmd: 'status' })).resolves.toMatchObject({ echoed: { cmd: 'status' } });
    await srv.close();
  });

  it('closes a client that sends nothing within the timeout, and keeps serving', async () => {
    const path = sockPath();
    const srv = await ControlServer.listen(path, echo, { timeoutMs: 150 });
    const t0 = Date.now();
    const s = connect(path);
    let closed = false;
    s.on('error', () => {});
    s.on('close', () => (closed = true));
    s.write('{"cmd":'); // a partial line, then silence
    await until(() => closed, 3000, 'slow client closed');
    expect(Date.now() - t0).toBeLessThan(2500);
    await expect(controlRequest(path, { cmd: 'status' })).resolves.toBeDefined();
    await srv.close();
  });

  it('refuses to listen where a live daemon answers, naming the path', async () => {
    const path = sockPath();
    const srv = await ControlServer.listen(path, echo, { name: 'ha' });
    const e = await ControlServer.listen(path, echo, { name: 'ha' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ControlError);
    expect((e as ControlError).code).toBe('in-use');
    expect((e as Error).message).toContain(path);
    expect((e as Error).message).toMatch(/another dsmip6 ha is running\?/);
    // The first server is untouched.
    await expect(controlRequest(path, { cmd: 'status' })).resolves.toBeDefined();
    await srv.close();
  });

  it('replaces a stale socket (its daemon was killed) and refuses to remove a non-socket', async () => {
    const path = sockPath();
    // A daemon that dies by SIGKILL leaves its socket file behind with nobody listening.
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
    child.kill('SIGKILL');
    await new Promise<void>((resolve) => child.once('exit', () => resolve()));
    expect(statSync(path).isSocket()).toBe(true);
    const stale = await controlRequest(path, { cmd: 'status' }).catch((x: unknown) => x);
    expect(stale).toMatchObject({ code: 'stale', message: expect.stringContaining(path) });

    const srv = await ControlServer.listen(path, echo);
    await expect(controlRequest(path, { cmd: 'status' })).resolves.toMatchObject({ echoed: { cmd: 'status' } });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    await srv.close();

    const file = join(tmp.dir, 'not-a-socket');
    writeFileSync(file, 'keep me');
    await expect(ControlServer.listen(file, echo)).rejects.toMatchObject({ code: 'not-socket' });
    expect(existsSync(file)).toBe(true);
  });

  it('client: a missing socket says no daemon is listening there and how to fix it', async () => {
    const path = join(tmp.dir, 'nobody.sock');
    const e = await controlRequest(path, { cmd: 'status' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ControlError);
    expect((e as ControlError).code).toBe('not-running');
    expect((e as Error).message).toBe(`no daemon listening on ${path} — is dsmip6 ha (or mn) running? pass --socket`);
  });

  it('client: a daemon that never answers times out with the path in the message', async () => {
    const path = sockPath();
    const srv = await ControlServer.listen(path, () => new Promise(() => {}), { timeoutMs: 10_000 });
    await expect(controlRequest(path, { cmd: 'status' }, 150)).rejects.toMatchObject({ code: 'timeout', message: expect.stringContaining(path) });
    await srv.close();
  });
});
