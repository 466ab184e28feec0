import type { Argv } from 'yargs';
import type { Output } from '../io.js';
import { openKeyArg } from '../key-input.js';
import { readPassphraseFile } from '../passphrase.js';
import type { GlobalArgs } from './types.js';

function builder(yargs: Argv<GlobalArgs>) {
  return yargs
    .positional('file', {
      type: 'string',
      demandOption: true,
      describe: 'public or private key file, or - for standard input',
    })
    .option('passphrase-file', { type: 'string', describe: 'passphrase of an encrypted private key' })
    .example('$0 fingerprint secsess.pub', 'print SHA256:…, as `ssh-keygen -l -E sha256` does')
    .example('$0 fingerprint server.key --passphrase-file pw.txt', 'fingerprint of an encrypted private key')
    .example('ssh-add -L | head -1 | $0 fingerprint -', 'a key read from standard input');
}

/** Options of `fingerprint`, as parsed. */
export type FingerprintArgs = ReturnType<typeof builder> extends Argv<infer T> ? T : never;

async function execute(args: FingerprintArgs & GlobalArgs, out: Output): Promise<void> {
  const passphraseFile = args['passphrase-file'];
  const passphrase =
    passphraseFile === undefined ? undefined : await readPassphraseFile(passphraseFile, '--passphrase-file');
  const fingerprint = await (await openKeyArg(args.file)).fingerprint(passphrase);
  out.result(fingerprint, { path: args.file, fingerprint });
}

/** `secsess-keygen fingerprint FILE`. */
export const fingerprintCommand = {
  command: 'fingerprint <file>',
  describe: 'print the SHA-256 fingerprint of a key file',
  builder,
  execute,
};
