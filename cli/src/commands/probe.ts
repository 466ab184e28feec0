import { defaultKnownHostsPath, formatHostPort, KnownHosts } from '@secsess/keys';
import { probeServerKey } from '@secsess/sdk';
import type { Argv } from 'yargs';
import { CliError, CliErrorCode } from '../errors.js';
import type { Output } from '../io.js';
import { parseHostPort } from './host-port.js';
import type { GlobalArgs } from './types.js';

/** A fingerprint as `secsess-keygen fingerprint` and `ssh-keygen -l -E sha256` print it. */
const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;

/** Printed on every probe: what a probe is worth. */
const PROVES_NOTHING =
  'probing proves nothing by itself: the key came over an unauthenticated connection, and anyone ' +
  'on the path could have answered with theirs; it is the key of this server only if its fingerprint ' +
  'equals one you got from the server (secsess-keygen fingerprint KEYFILE) over another channel';

function builder(yargs: Argv<GlobalArgs>) {
  return yargs
    .positional('target', { type: 'string', demandOption: true, describe: 'the server, HOST:PORT' })
    .option('timeout', { type: 'number', default: 10_000, describe: 'milliseconds to wait for the answer' })
    .option('fingerprint', {
      type: 'string',
      describe:
        'the SHA256:… fingerprint you got from the server over another channel; the probe fails unless the key matches',
    })
    .option('trust', {
      type: 'boolean',
      default: false,
      describe:
        'also record the key in known_hosts; needs --fingerprint (refused if another key is recorded)',
    })
    .option('known-hosts', { type: 'string', describe: 'known_hosts file (with --trust)' })
    .check((argv) => {
      parseHostPort(argv.target);
      if (!Number.isInteger(argv.timeout) || argv.timeout <= 0)
        throw new Error('--timeout must be a positive integer');
      const { fingerprint } = argv;
      if (fingerprint !== undefined && !FINGERPRINT.test(fingerprint.replace(/=+$/, ''))) {
        throw new Error(
          `--fingerprint must look like SHA256: followed by 43 base64 characters (as secsess-keygen fingerprint prints it), not "${fingerprint}"`,
        );
      }
      if (argv.trust && fingerprint === undefined) {
        throw new Error(
          '--trust needs --fingerprint SHA256:…, the fingerprint you got from the server over another channel ' +
            '(run `secsess-keygen fingerprint KEYFILE` where the server key is); a probe alone proves nothing',
        );
      }
      return true;
    })
    .example('$0 probe server.example:7000', "print the server's key fingerprint (unauthenticated)")
    .example(
      '$0 probe server.example:7000 --fingerprint SHA256:… --trust',
      'trust it if it has the fingerprint you got from the server operator',
    );
}

/** Options of `probe`, as parsed. */
export type ProbeArgs = ReturnType<typeof builder> extends Argv<infer T> ? T : never;

async function execute(args: ProbeArgs & GlobalArgs, out: Output): Promise<void> {
  const { host, port } = parseHostPort(args.target);
  const key = await probeServerKey({ host, port }, { timeout: args.timeout });
  const shown = formatHostPort(host, port);
  const offered = key.fingerprint();
  const expected = args.fingerprint?.replace(/=+$/, '');
  if (expected !== undefined && expected !== offered) {
    throw new CliError(
      CliErrorCode.FINGERPRINT_MISMATCH,
      `${shown} offered ${offered}, not the ${expected} given with --fingerprint: ` +
        `this is not the key you expected (another server, or someone on the path); nothing was recorded`,
    );
  }
  // Every run that shows a key says what it is worth (a mismatch's error says it already).
  out.note(`warning: ${PROVES_NOTHING}`);
  const doc: Record<string, unknown> = {
    host,
    port,
    fingerprint: offered,
    bits: key.bits,
    openssh: key.toOpenSSH(),
    fingerprintMatches: expected === undefined ? null : true,
  };
  const lines = [`${shown} ${offered} (RSA ${key.bits})`, key.toOpenSSH()];
  if (expected !== undefined) lines.push('matches --fingerprint');
  if (args.trust) {
    const path = args['known-hosts'] ?? defaultKnownHostsPath();
    const store = await KnownHosts.open(path, { create: true });
    const { added, line } = await store.add(host, port, key);
    doc.knownHosts = { path, line, added };
    lines.push(added ? `trusted: line ${line} of ${path}` : `already trusted: line ${line} of ${path}`);
  }
  out.result(lines.join('\n'), doc);
}

/** `secsess-keygen probe HOST:PORT`: fetch a server's public key. */
export const probeCommand = {
  command: 'probe <target>',
  describe:
    "fetch a secsess server's public key and show its fingerprint (unauthenticated; --fingerprint --trust to record it)",
  builder,
  execute,
};
