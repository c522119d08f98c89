// OpenVPN 2.6 (the Debian package) as the throughput benchmark's comparison: a point-to-point TLS
// tunnel between the ha and mn namespaces of a bench testbed, AES-256-GCM data channel, certificates
// made on the spot (self-signed, pinned by fingerprint, in a temporary directory removed by stop()).
// Bench code: it never runs outside the testbed's namespaces and never leaves a process or a file.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT, type Testbed } from '../testbed/index.js';
import { killWait, sleep } from './bed.js';

/** The inner prefix of the OpenVPN tunnel (routed to the HA by inet, like the home prefix). */
export const OVPN = Object.freeze({ prefix: '2001:db8:8::/64', server: '2001:db8:8::1', client: '2001:db8:8::2', dev: 'ovpnb0', port: 1194 });

export interface OpenVpnRun {
  server: ChildProcess;
  client: ChildProcess;
  /** The data channel cipher as OpenVPN logged it. */
  cipher: string;
  stop(): Promise<void>;
}

export function openvpnVersion(): string | undefined {
  try {
    return execFileSync('openvpn', ['--version'], { encoding: 'utf8' }).split('\n')[0]!.split(' x86_64')[0];
  } catch (e) {
    // openvpn --version exits 1 while printing its version.
    const out = (e as { stdout?: string }).stdout;
    return out ? out.split('\n')[0]!.split(' x86_64')[0] : undefined;
  }
}

function selfSigned(dir: string, name: string): string {
  const key = join(dir, `${name}.key`);
  const crt = join(dir, `${name}.crt`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', crt, '-days', '2', '-subj', `/CN=${name}`], { stdio: 'ignore' });
  const fp = execFileSync('openssl', ['x509', '-in', crt, '-noout', '-fingerprint', '-sha256'], { encoding: 'utf8' });
  return fp.trim().split('=')[1]!;
}

/**
 * Starts the server in ha and the client in mn, over IPv6 (the MN's v6net CoA to the HA's public
 * IPv6 address) or over IPv4 (from behind the NAT to the HA's public IPv4 address), with the tunnel
 * MTU `mtu`, and routes OVPN.prefix via the HA in inet. Resolves when both ends report the
 * data channel up.
 */
export async function startOpenVpn(tb: Testbed, over: 'v6' | 'nat', mtu: number): Promise<OpenVpnRun> {
  const P = PROJECT;
  const dir = mkdtempSync(join(tmpdir(), 'dsmip6-bench-ovpn-'));
  const sfp = selfSigned(dir, 'server');
  const cfp = selfSigned(dir, 'client');
  const proto = over === 'v6' ? 'udp6' : 'udp4';
  const haAddr = over === 'v6' ? P.ha.public6 : P.ha.public4;
  const common = ['--dev', OVPN.dev, '--dev-type', 'tun', '--proto', proto, '--data-ciphers', 'AES-256-GCM', '--data-ciphers-fallback', 'AES-256-GCM', '--disable-dco', '--tun-mtu', String(mtu), '--verb', '3', '--ping', '5'];
  const server = tb.spawn('ha', ['openvpn', ...common, '--local', haAddr, '--lport', String(OVPN.port), '--tls-server', '--dh', 'none', '--cert', join(dir, 'server.crt'), '--key', join(dir, 'server.key'), '--peer-fingerprint', cfp, '--ifconfig-ipv6', `${OVPN.server}/64`, OVPN.client]);
  const client = tb.spawn('mn', ['openvpn', ...common, '--remote', haAddr, String(OVPN.port), '--nobind', '--tls-client', '--cert', join(dir, 'client.crt'), '--key', join(dir, 'client.key'), '--peer-fingerprint', sfp, '--ifconfig-ipv6', `${OVPN.client}/64`, OVPN.server, '--route-ipv6', P.networks.cnNet.prefix6]);
  const logs = { server: '', client: '' };
  server.stdout?.on('data', (b: Buffer) => (logs.server += b.toString()));
  client.stdout?.on('data', (b: Buffer) => (logs.client += b.toString()));
  server.stderr?.on('data', (b: Buffer) => (logs.server += b.toString()));
  client.stderr?.on('data', (b: Buffer) => (logs.client += b.toString()));
  const stop = async (): Promise<void> => {
    await killWait(client);
    await killWait(server);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await tb.exec('inet', ['ip', '-6', 'route', 'replace', OVPN.prefix, 'via', P.ha.public6], { check: true });
    const deadline = Date.now() + 20_000;
    while (!(/Initialization Sequence Completed/.test(logs.server) && /Initialization Sequence Completed/.test(logs.client))) {
      if (Date.now() > deadline || server.exitCode !== null || client.exitCode !== null) throw new Error(`openvpn did not come up\n--- server ---\n${logs.server}\n--- client ---\n${logs.client}`);
      await sleep(50);
    }
    const m = /Data Channel: cipher '([^']+)'/.exec(logs.client) ?? /Outgoing Data Channel: Cipher '([^']+)'/.exec(logs.client);
    return { server, client, cipher: m?.[1] ?? 'unknown', stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
