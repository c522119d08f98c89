// `dsmip6 demo`: the whole system on one machine, as root: builds the project testbed, runs a real
// home agent and mobile node with config/demo-{ha,mn}.json, moves the MN through every kind of
// network under live TCP streams, and prints the handover table (demo/). Front end only: progress
// to stderr, the table (or JSON) to stdout. It must never leave the testbed, a daemon or a capture
// behind (also on SIGINT/SIGTERM), and never write a file the user did not name (--pcap, --keys).
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { formatTable } from '../demo/table.js';
import { Demo } from '../demo/timeline.js';

interface DemoOpts {
  pcap?: string;
  keys?: string;
  quick?: boolean;
  json?: boolean;
}

// dist/cli/demo.js sits next to main.js; the configs are in the project's config/ (next to dist/).
const CLI = fileURLToPath(new URL('./main.js', import.meta.url));
const HA_CONFIG = fileURLToPath(new URL('../../config/demo-ha.json', import.meta.url));
const MN_CONFIG = fileURLToPath(new URL('../../config/demo-mn.json', import.meta.url));

/** The tshark line that decrypts a demo capture with its --keys file (bash). */
export function tsharkDecryptLine(pcap: string, keys: string): string {
  const q = (s: string) => (/^[\w./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  return (
    `args=(); while read -r r; do args+=(-o "uat:esp_sa:$r"); done < <(grep -v '^#' ${q(keys)}); ` +
    `tshark -r ${q(pcap)} -d udp.port==4191,ipv6 -o esp.enable_encryption_decode:TRUE -o esp.enable_authentication_check:TRUE "\${args[@]}"`
  );
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .summary('run the roaming demo in network namespaces and print the handover table (root)')
    .description(
      'Builds the project testbed (network namespaces: a home link with the home agent, an IPv6-only ' +
        'network, an IPv4-only network, an IPv4 network behind a NAT, and a correspondent), starts a real ' +
        '`dsmip6 ha` and `dsmip6 mn` (config/demo-ha.json, config/demo-mn.json), opens two TCP streams from ' +
        'the correspondent to the mobile node\'s IPv6 and IPv4 home addresses, and moves the mobile node ' +
        'home -> v6net0 -> v4net0 -> natnet0 -> (NAT conntrack flush) -> v6net0 -> home while every echoed ' +
        'byte is checked. Progress goes to stderr, with the daemons\' control sockets at the start ' +
        '(`dsmip6 status --socket PATH` shows the binding while the demo runs); the handover table goes to ' +
        'stdout: per move the new care-of address, the transport (IPv6 with HAO/RH2, or UDP 4191 over IPv4), ' +
        'whether the home agent detected a NAT, the BU-to-BA time measured on the mobile node\'s interfaces, ' +
        'the longest pause in echo progress of either stream, and the bytes lost (sent before the move and ' +
        'never echoed, plus mismatched bytes).\n\n' +
        'Needs root, iproute2, nftables, conntrack and dumpcap (--pcap: also mergecap); takes 30 to 45 s ' +
        '(--quick: about 15 s). Everything is torn down at the end and on Ctrl-C or SIGTERM (a second Ctrl-C ' +
        'exits at once); the namespaces of a demo that was killed (SIGKILL) are swept by the next one.\n\n' +
        'Exit status: 0 when every move completed with zero bytes lost, 1 otherwise, 130/143 when interrupted.',
    )
    .option('--pcap <file>', 'write the capture of every link of the testbed, merged into one pcapng file')
    .option('--keys <file>', 'write the mobile node\'s ESP keys in Wireshark\'s esp_sa format (secret: mode 0600), to decrypt the --pcap file')
    .option('--quick', 'stay on each network only briefly (about 0.3 s instead of 3 s after the streams resumed)')
    .option('--json', 'print the result (moves, stream totals, sockets, files) as JSON instead of the table')
    .action(async (opts: DemoOpts) => {
      if (typeof process.getuid === 'function' && process.getuid() !== 0) throw new Error('the demo needs root (network namespaces, TUN devices, nftables)');
      const progress = (line: string) => process.stderr.write(`demo: ${line}\n`);
      const demo = new Demo({
        cli: CLI,
        haConfig: HA_CONFIG,
        mnConfig: MN_CONFIG,
        quick: opts.quick ?? false,
        ...(opts.pcap ? { pcap: opts.pcap } : {}),
        ...(opts.keys ? { keys: opts.keys } : {}),
        progress,
      });

      // First signal: orderly teardown, then exit 128+signal. Second: exit at once (the testbed's
      // own exit hook still removes the namespaces synchronously).
      let interrupted = false;
      const onSignal = (sig: NodeJS.Signals): void => {
        const code = sig === 'SIGINT' ? 130 : 143;
        if (interrupted) process.exit(code);
        interrupted = true;
        progress(`${sig}: tearing down (again to exit at once) ...`);
        const hard = setTimeout(() => process.exit(code), 15_000);
        void demo.destroy().finally(() => {
          clearTimeout(hard);
          process.exit(code);
        });
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);

      let result;
      try {
        result = await demo.run();
      } catch (e) {
        if (interrupted) return new Promise<void>(() => {}); // the signal handler exits
        process.stderr.write(demo.logTail());
        await demo.destroy();
        throw new Error((e as Error).message.split('\n')[0]);
      }
      await demo.destroy();
      if (interrupted) return new Promise<void>(() => {});
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      if (opts.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
      else {
        process.stdout.write('\n' + formatTable(result));
        if (result.pcap && result.keys) process.stdout.write(`\nto decrypt the capture (bash):\n  ${tsharkDecryptLine(result.pcap, result.keys)}\n`);
        else if (result.pcap) process.stdout.write(`\nthe capture's ESP is encrypted: run again with --keys FILE to get the keys that decrypt it\n`);
      }
      if (!result.ok) {
        progress(`FAILED: ${result.problems.join('; ')}`);
        process.exitCode = 1;
      } else progress(`done in ${(result.durationMs / 1000).toFixed(1)} s: ${result.moves.length} steps, every byte echoed`);
    });
}
