import { defaultKnownHostsPath, formatHostPort, KnownHosts } from '@secsess/keys';
import { probeServerKey } from '@secsess/sdk';
import type { Argv } from 'yargs';
import type { Output } from '../io.js';
import { parseHostPort } from './host-port.js';
import type { GlobalArgs } from './types.js';

function builder(yargs: Argv<GlobalArgs>) {
  return yargs
    .positional('target', { type: 'string', demandOption: true, describe: 'the server, HOST:PORT' })
    .option('timeout', { type: 'number', default: 10_000, describe: 'milliseconds to wait for the answer' })
    .option('trust', {
      type: 'boolean',
      default: false,
      describe: 'also record the key in known_hosts (refused if another key is recorded)',
    })
    .option('known-hosts', { type: 'string', describe: 'known_hosts file (with --trust)' })
    .check((argv) => {
      parseHostPort(argv.target);
      if (!Number.isInteger(argv.timeout) || argv.timeout <= 0)
        throw new Error('--timeout must be a positive integer');
      return true;
    })
    .example('$0 probe server.example:7000', "print the server's key fingerprint")
    .example('$0 probe server.example:7000 --trust', 'and trust it (compare the fingerprint first!)');
}

/** Options of `probe`, as parsed. */
export type ProbeArgs = ReturnType<typeof builder> extends Argv<infer T> ? T : never;

async function execute(args: ProbeArgs & GlobalArgs, out: Output): Promise<void> {
  const { host, port } = parseHostPort(args.target);
  const key = await probeServerKey({ host, port }, { timeout: args.timeout });
  const shown = formatHostPort(host, port);
  const doc: Record<string, unknown> = {
    host,
    port,
    fingerprint: key.fingerprint(),
    bits: key.bits,
    openssh: key.toOpenSSH(),
  };
  const lines = [`${shown} ${key.fingerprint()} (RSA ${key.bits})`, key.toOpenSSH()];
  if (args.trust) {
    const path = args['known-hosts'] ?? defaultKnownHostsPath();
    const store = await KnownHosts.open(path, { create: true });
    const { added, line } = await store.add(host, port, key);
    doc.knownHosts = { path, line, added };
    lines.push(added ? `trusted: line ${line} of ${path}` : `already trusted: line ${line} of ${path}`);
  } else {
    out.note(
      "unauthenticated: compare this fingerprint with the server's (secsess-keygen fingerprint KEYFILE) before trusting it",
    );
  }
  out.result(lines.join('\n'), doc);
}

/** `secsess-keygen probe HOST:PORT`: fetch a server's public key. */
export const probeCommand = {
  command: 'probe <target>',
  describe: "fetch a secsess server's public key and show its fingerprint (optionally trust it)",
  builder,
  execute,
};
