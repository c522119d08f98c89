// The dsmip6 command line: one subcommand per file under cli/. This file only wires
// commander; it must never hold protocol logic.
import { Command, CommanderError } from 'commander';
import { registerCheckConfig } from './check-config.js';
import { registerDecode } from './decode.js';
import { registerDemo } from './demo.js';
import { registerHa } from './ha.js';
import { registerMn } from './mn.js';
import { registerStatus } from './status.js';
import { registerTestbed } from './testbed.js';

// `dsmip6 decode ... | head` closes our stdout early: that is the reader's choice, not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

const program = new Command();
program
  .name('dsmip6')
  .description(
    'Dual-Stack Mobile IPv6 (RFC 6275, RFC 5555) over a user-space RFC 4301 IPsec: a home agent (ha) ' +
      'and a mobile node (mn) that need no Mobile IPv6 and no ESP in the kernel, plus tools to decode ' +
      "packets, check configurations, ask a running daemon for its state, build the test network and run the demo.",
  )
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

registerDecode(program);
registerCheckConfig(program);
registerTestbed(program);
registerHa(program);
registerMn(program);
registerStatus(program);
registerDemo(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) process.exit(e.exitCode);
  process.stderr.write(`dsmip6: ${(e as Error).message}\n`);
  process.exit(1);
}
