// `dsmip6 testbed up|down|sweep|status`: brings the project's test network (or one from a JSON
// file) up in network namespaces and leaves it running, takes it down, removes leftovers of dead
// runs, and shows what exists. Command-line front end only: the work is in testbed/; it must
// never touch a namespace that is not the testbed's own (names "<prefix>-<pid>-<seq>-<host>").
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Command } from 'commander';
import {
  DEFAULT_PREFIX,
  DEFAULT_STATE_DIR,
  listRuns,
  PROJECT_TOPOLOGY,
  removeRun,
  sweep,
  Testbed,
  validateSpec,
  type RunInfo,
  type TopologySpec,
} from '../testbed/index.js';
import { run } from '../testbed/run.js';

interface CommonOpts {
  prefix: string;
}

export function registerTestbed(program: Command): void {
  // `dsmip6 testbed status | head` closes our output early: that is the reader's choice, not an error.
  const quietPipe = (): void => {
    process.stdout.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(0);
      throw e;
    });
  };
  const tb = program
    .command('testbed')
    .summary('build, inspect and remove the network-namespace test network')
    .description(
      'The test network: hosts are Linux network namespaces joined by veth pairs (a LAN is a bridge in a ' +
        'namespace of its own), with routes, IP forwarding, an nftables NAT and link impairment. Needs root, ' +
        'iproute2, nftables and procps (sysctl); conntrack for flushing NAT state.\n\n' +
        'Namespaces are named <prefix>-<pid>-<seq>-<host> (default prefix "d6"), and each run is recorded in ' +
        `${DEFAULT_STATE_DIR}/<run>.json. Nothing outside those namespaces is created or changed.`,
    );

  tb.command('up')
    .summary('build a testbed and leave it running')
    .description(
      'Builds the topology and exits, leaving the namespaces up (recorded as held, so `sweep` leaves them ' +
        'alone) and printing each host\'s namespace and addresses. Enter a host with ' +
        '`ip netns exec <namespace> <command>`. Refuses while another held testbed of the prefix exists.',
    )
    .option('--topology <name|file>', '"project" (the project\'s network: HA, home link, IPv6-only, IPv4-only and NATed foreign networks, CN) or a JSON file holding a TopologySpec', 'project')
    .option('--prefix <prefix>', 'namespace name prefix (1-8 of a-z0-9)', DEFAULT_PREFIX)
    .action(async (opts: CommonOpts & { topology: string }) => {
      quietPipe();
      const held = listRuns(opts.prefix).filter((r) => r.held && r.namespaces.length);
      if (held.length) throw new Error(`a testbed is already up (${held.map((r) => r.runId).join(', ')}); run \`dsmip6 testbed down\` first`);
      const { spec, name } = loadTopology(opts.topology);
      const t = await Testbed.create(spec, { prefix: opts.prefix, hold: true, topologyName: name, log: (l) => process.stderr.write(`${l}\n`) });
      process.stdout.write(describe(t, name));
    });

  tb.command('down')
    .summary('remove held testbeds (those `up` left running)')
    .description(
      'Without arguments removes every testbed that `up` left running. With run ids (as `status` shows them) ' +
        'removes those runs if they are held or their owner has exited; --force removes them even while their ' +
        'owning process still runs. Removing means: killing every process inside the namespaces, deleting the ' +
        'namespaces (with their veths and bridges) and the record.',
    )
    .argument('[run...]', 'run ids such as d6-4711-0')
    .option('--prefix <prefix>', 'namespace name prefix', DEFAULT_PREFIX)
    .option('--force', 'also remove runs whose owner is still running')
    .action(async (ids: string[], opts: CommonOpts & { force?: boolean }) => {
      quietPipe();
      const runs = listRuns(opts.prefix);
      let targets: RunInfo[];
      if (ids.length === 0) {
        targets = runs.filter((r) => r.held);
        if (!targets.length) process.stdout.write('no testbed is up\n');
      } else {
        targets = ids.map((id) => {
          const r = runs.find((x) => x.runId === id);
          if (!r) throw new Error(`no testbed run "${id}" (see \`dsmip6 testbed status\`)`);
          if (r.ownerAlive && !r.held && !opts.force) throw new Error(`run ${id} belongs to running process ${r.pid}; stop that, or add --force`);
          return r;
        });
      }
      await removeAll(targets);
    });

  tb.command('sweep')
    .summary('remove leftovers of dead runs')
    .description(
      'Removes every run of the prefix whose owning process has exited without cleaning up (killed by ' +
        'SIGKILL, a crash): processes inside, namespaces, record. Runs whose owner lives and runs held by `up` ' +
        'stay; each `Testbed.create` does the same sweep first. Exit status 1 when something could not be removed.',
    )
    .option('--prefix <prefix>', 'namespace name prefix', DEFAULT_PREFIX)
    .action(async (opts: CommonOpts) => {
      quietPipe();
      const r = await sweep(opts.prefix);
      for (const id of r.removed) process.stdout.write(`removed ${id}\n`);
      for (const k of r.kept) process.stdout.write(`kept ${k.runId}: ${k.reason}\n`);
      for (const e of r.errors) process.stderr.write(`error: ${e}\n`);
      if (!r.removed.length && !r.errors.length) process.stdout.write('nothing to sweep\n');
      if (r.errors.length) process.exitCode = 1;
    });

  tb.command('status')
    .summary('list testbed runs and their namespaces')
    .description('Lists every run of the prefix: owner process (running or exited), whether `up` holds it, its namespaces.')
    .option('--prefix <prefix>', 'namespace name prefix', DEFAULT_PREFIX)
    .option('--addresses', 'also show each namespace\'s interfaces and addresses (ip -br addr)')
    .option('--json', 'print the runs as JSON')
    .action(async (opts: CommonOpts & { addresses?: boolean; json?: boolean }) => {
      quietPipe();
      const runs = listRuns(opts.prefix);
      if (opts.json) {
        process.stdout.write(JSON.stringify(runs.map((r) => ({ runId: r.runId, pid: r.pid, ownerAlive: r.ownerAlive, held: r.held, topology: r.state?.topology, namespaces: r.namespaces })), null, 2) + '\n');
        return;
      }
      if (!runs.length) {
        process.stdout.write('no testbed runs\n');
        return;
      }
      for (const r of runs) {
        const owner = r.held ? 'held by `testbed up`' : r.ownerAlive ? `owner ${r.pid} running` : `owner ${r.pid} exited: a leftover (\`dsmip6 testbed sweep\`)`;
        process.stdout.write(`${r.runId}  topology ${r.state?.topology ?? '?'}  ${owner}\n`);
        for (const ns of r.namespaces) {
          process.stdout.write(`  ${ns}\n`);
          if (opts.addresses) {
            const a = await run(['ip', '-n', ns, '-br', 'addr']);
            for (const line of a.stdout.trim().split('\n').filter((l) => l && !l.startsWith('lo '))) process.stdout.write(`      ${line.trim()}\n`);
          }
        }
      }
    });
}

function loadTopology(arg: string): { spec: TopologySpec; name: string } {
  if (arg === 'project') return { spec: PROJECT_TOPOLOGY, name: 'project' };
  let text: string;
  try {
    text = readFileSync(arg, 'utf8');
  } catch (e) {
    throw new Error(`--topology: "${arg}" is neither "project" nor a readable file (${(e as Error).message})`);
  }
  let spec: TopologySpec;
  try {
    spec = JSON.parse(text) as TopologySpec;
  } catch (e) {
    throw new Error(`--topology ${arg}: not JSON: ${(e as Error).message}`);
  }
  return { spec: validateSpec(spec), name: spec.name ?? basename(arg) };
}

async function removeAll(targets: RunInfo[]): Promise<void> {
  let failed = false;
  for (const r of targets) {
    const errors = await removeRun(r);
    if (errors.length) {
      failed = true;
      for (const e of errors) process.stderr.write(`error: ${e}\n`);
    } else process.stdout.write(`removed ${r.runId}\n`);
  }
  if (failed) process.exitCode = 1;
}

function describe(t: Testbed, name: string): string {
  const rows: string[][] = [['host', 'namespace', 'interface', 'addresses']];
  for (const h of t.spec.hosts) {
    const ifs = t.interfaces(h.name);
    if (!ifs.length) rows.push([h.name, t.nsName(h.name), '-', '']);
    ifs.forEach((i, k) => rows.push([k ? '' : h.name, k ? '' : t.nsName(h.name), i.ifname, i.addresses.join(' ')]));
  }
  const w = [0, 1, 2].map((c) => Math.max(...rows.map((r) => r[c].length)));
  const lines = rows.map((r) => r.map((cell, c) => (c < 3 ? cell.padEnd(w[c]) : cell)).join('  ').trimEnd());
  const extra: string[] = [];
  for (const lan of t.spec.lans ?? []) extra.push(`LAN ${lan.name}: bridge br0 in ${t.nsName(lan.name)}, members ${lan.members.map((m) => `${m.host}/${m.ifname}`).join(', ')}`);
  for (const h of t.spec.hosts) if (h.nat) extra.push(`NAT on ${h.name}: IPv4 masquerade fully-random out of ${h.nat.outside}`);
  return (
    `testbed ${t.runId} is up (topology "${name}"); it stays until \`dsmip6 testbed down\`.\n` +
    `Run a command on a host with: ip netns exec <namespace> <command>\n\n` +
    lines.join('\n') +
    '\n' +
    (extra.length ? `\n${extra.join('\n')}\n` : '')
  );
}
