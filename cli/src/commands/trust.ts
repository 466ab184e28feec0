import { defaultKnownHostsPath, formatHostPort, KnownHosts, normalizeHost } from '@secsess/keys';
import type { Argv } from 'yargs';
import type { Output } from '../io.js';
import { parseHostPort } from './host-port.js';
import type { HostPort } from './host-port.js';
import { readPublicKey } from './read-public-key.js';
import type { GlobalArgs } from './types.js';

const KNOWN_HOSTS_OPTION = {
  type: 'string',
  describe: 'known_hosts file (default: $SECSESS_HOME/known_hosts, or ~/.secsess/known_hosts)',
} as const;

const TARGET_POSITIONAL = {
  type: 'string',
  demandOption: true,
  describe: 'the server: host:port, [::1]:port',
  coerce: parseHostPort,
} as const;

function addBuilder(yargs: Argv<GlobalArgs>) {
  return yargs
    .positional('target', TARGET_POSITIONAL)
    .positional('keyfile', {
      type: 'string',
      demandOption: true,
      describe: "the server's public key file (any format secsess reads), or its private key file",
    })
    .option('known-hosts', KNOWN_HOSTS_OPTION)
    .option('comment', { alias: 'C', type: 'string', describe: 'comment stored after the key' })
    .option('alongside', {
      type: 'boolean',
      describe: "keep the server's other trusted keys (key rotation) instead of refusing a different key",
    })
    .option('passphrase-file', { type: 'string', describe: 'passphrase of an encrypted private key file' })
    .example('$0 trust add server.example:7000 server.pub', 'trust the key in server.pub for that server')
    .example('$0 trust add [::1]:7000 server.pub -C "lab box"', 'an IPv6 address, with a comment')
    .example(
      '$0 trust add server.example:7000 new.pub --alongside',
      'trust a rotated key next to the old one',
    );
}

function removeBuilder(yargs: Argv<GlobalArgs>) {
  return yargs
    .positional('target', TARGET_POSITIONAL)
    .option('known-hosts', KNOWN_HOSTS_OPTION)
    .example('$0 trust remove server.example:7000', 'forget the key of that server (e.g. after it changed)');
}

function listBuilder(yargs: Argv<GlobalArgs>) {
  return yargs
    .option('known-hosts', KNOWN_HOSTS_OPTION)
    .example('$0 trust list', 'servers, fingerprints and line numbers')
    .example('$0 trust list --json', 'the same as one JSON document');
}

function builder(yargs: Argv<GlobalArgs>) {
  return yargs
    .command('add <target> <keyfile>', 'trust KEYFILE as the key of the server at HOST:PORT', addBuilder)
    .command('remove <target>', 'remove every known_hosts line of HOST:PORT', removeBuilder)
    .command('list', 'list the trusted servers', listBuilder)
    .demandCommand(1, 'trust needs a subcommand: add, remove or list')
    .example('$0 trust add server.example:7000 server.pub', 'trust a server key')
    .example('$0 trust remove server.example:7000', 'forget it')
    .example('$0 trust list --json', 'list trusted servers as JSON');
}

/** Options of `trust add`, as parsed. */
export type TrustAddArgs = ReturnType<typeof addBuilder> extends Argv<infer T> ? T : never;
/** Options of `trust remove`, as parsed. */
export type TrustRemoveArgs = ReturnType<typeof removeBuilder> extends Argv<infer T> ? T : never;
/** Options of `trust list`, as parsed. */
export type TrustListArgs = ReturnType<typeof listBuilder> extends Argv<infer T> ? T : never;

async function add(args: TrustAddArgs & GlobalArgs, out: Output): Promise<void> {
  const { port } = args.target as HostPort;
  // As known_hosts stores it: lower case, canonical IPv6.
  const host = normalizeHost((args.target as HostPort).host);
  const key = await readPublicKey(args.keyfile, args['passphrase-file']);
  const knownHosts = await KnownHosts.open(args['known-hosts'] ?? defaultKnownHostsPath());
  const { added, line } = await knownHosts.add(host, port, key, args.comment, {
    alongside: args.alongside === true,
  });
  const shown = formatHostPort(host, port);
  const fingerprint = key.fingerprint();
  out.result(
    added
      ? `trusted ${fingerprint} for ${shown} (line ${line} of ${knownHosts.path})`
      : `${shown} is already trusted with ${fingerprint} (line ${line} of ${knownHosts.path}); nothing changed`,
    { host, port, fingerprint, file: knownHosts.path, line, added },
  );
}

async function remove(args: TrustRemoveArgs & GlobalArgs, out: Output): Promise<void> {
  const { port } = args.target as HostPort;
  const host = normalizeHost((args.target as HostPort).host);
  const knownHosts = await KnownHosts.open(args['known-hosts'] ?? defaultKnownHostsPath());
  const removed = await knownHosts.remove(host, port);
  const shown = formatHostPort(host, port);
  out.result(
    removed === 0
      ? `no entry for ${shown} in ${knownHosts.path}; nothing removed`
      : `removed ${removed} line${removed === 1 ? '' : 's'} for ${shown} from ${knownHosts.path}`,
    { host, port, file: knownHosts.path, removed },
  );
}

async function list(args: TrustListArgs & GlobalArgs, out: Output): Promise<void> {
  const knownHosts = await KnownHosts.open(args['known-hosts'] ?? defaultKnownHostsPath());
  const entries = knownHosts.list().map(({ host, port, fingerprint, line, comment }) => ({
    host,
    port,
    fingerprint,
    line,
    comment,
  }));
  const problems = knownHosts.problems;
  for (const { line, reason } of problems) out.note(`warning: ${knownHosts.path} line ${line}: ${reason}`);
  if (entries.length === 0) out.note(`no trusted servers in ${knownHosts.path}`);
  const width = Math.max(0, ...entries.map((e) => formatHostPort(e.host, e.port).length));
  const text = entries
    .map((e) =>
      [formatHostPort(e.host, e.port).padEnd(width), e.fingerprint, `line ${e.line}`, e.comment]
        .filter((field) => field !== '')
        .join('  '),
    )
    .join('\n');
  if (out.json) out.result('', { file: knownHosts.path, entries, problems });
  else if (text !== '') out.result(text, {});
}

async function execute(args: GlobalArgs & { _: (string | number)[] }, out: Output): Promise<void> {
  // yargs has validated the subcommand (demandCommand + strict) and its arguments.
  switch (args._[1]) {
    case 'add':
      return add(args as unknown as TrustAddArgs & GlobalArgs, out);
    case 'remove':
      return remove(args as unknown as TrustRemoveArgs & GlobalArgs, out);
    default:
      return list(args as unknown as TrustListArgs & GlobalArgs, out);
  }
}

/** `secsess-keygen trust add|remove|list`: the client's known_hosts file. */
export const trustCommand = {
  command: 'trust',
  describe: 'manage trusted server keys (known_hosts): add, remove, list',
  builder,
  execute,
};
