// `dsmip6 check-config FILE`: loads a home agent or mobile node configuration with the same
// validation the daemons use and prints every problem (field path, bad value, what is allowed).
// Reads the one file; never writes anything, never touches the network.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ConfigError, loadHaConfig, loadMnConfig } from '../config/index.js';

type Role = 'ha' | 'mn';

export function registerCheckConfig(program: Command): void {
  program
    .command('check-config')
    .summary('validate a home agent or mobile node configuration file')
    .description(
      'Validates FILE as the daemons would load it (fields, defaults, cross-field rules; not whether the ' +
        'interfaces or addresses exist on this host) and prints every problem with its field path. ' +
        'The role is taken from --role, else guessed from the file: a "mobileNodes" list means a home ' +
        'agent, a "hoa" field a mobile node. Exit status: 0 valid, 1 invalid, unreadable or of unknown role.',
    )
    .argument('<file>', 'the JSON configuration file')
    .option('--role <role>', 'ha or mn (default: guessed from the file)')
    .action((file: string, opts: { role?: string }) => {
      if (opts.role !== undefined && opts.role !== 'ha' && opts.role !== 'mn') {
        throw new Error(`--role must be ha or mn, got '${opts.role}'`);
      }
      const role = (opts.role as Role | undefined) ?? guessRole(file);
      try {
        if (role === 'ha') {
          const c = loadHaConfig(file);
          process.stdout.write(`${file}: valid home agent configuration (${c.mobileNodes.length} mobile node(s))\n`);
        } else {
          const c = loadMnConfig(file);
          process.stdout.write(`${file}: valid mobile node configuration (home address ${c.hoa})\n`);
        }
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        process.stderr.write(`${e.message}\n`);
        process.exitCode = 1;
      }
    });
}

function guessRole(file: string): Role {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    // Let the loader report the unreadable file or the bad JSON with its own message.
    return 'mn';
  }
  if (parsed !== null && typeof parsed === 'object' && 'mobileNodes' in parsed) return 'ha';
  if (parsed !== null && typeof parsed === 'object' && 'hoa' in parsed) return 'mn';
  throw new Error(`${file}: cannot tell a home agent from a mobile node configuration; give --role ha or --role mn`);
}
