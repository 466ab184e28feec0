import { loadKey, PrivateKey } from '@secsess/keys';
import type { PrivateKeyFormat } from '@secsess/keys';
import type { Argv } from 'yargs';
import { CliError, CliErrorCode } from '../errors.js';
import type { Output } from '../io.js';
import { readPassphraseFile } from '../passphrase.js';
import type { GlobalArgs } from './types.js';

const FORMATS = ['pem', 'pkcs1', 'openssh', 'der', 'jwk'] as const;

function builder(yargs: Argv<GlobalArgs>) {
  return yargs
    .positional('input', { type: 'string', demandOption: true, describe: 'public or private key file' })
    .option('to', {
      type: 'string',
      choices: FORMATS,
      demandOption: true,
      describe: 'pem (PKCS#8 / SPKI), pkcs1, openssh, der (PKCS#8 / SPKI), jwk',
    })
    .option('out', { alias: 'o', type: 'string', describe: 'output file; without it, text goes to stdout' })
    .option('public', { type: 'boolean', default: false, describe: 'write only the public key' })
    .option('passphrase-file', { type: 'string', describe: 'passphrase of an encrypted input key' })
    .option('new-passphrase-file', {
      type: 'string',
      describe: 'encrypt the output private key with this passphrase (--to pem or der)',
    })
    .option('comment', { alias: 'C', type: 'string', describe: 'comment stored in openssh output' })
    .option('force', { type: 'boolean', default: false, describe: 'overwrite an existing output file' })
    .check((args) => {
      if (args.to === 'der' && args.out === undefined && !args.json) {
        throw new Error('--to der writes binary; give an output file with -o');
      }
      if (args['new-passphrase-file'] !== undefined && args.to !== 'pem' && args.to !== 'der') {
        throw new Error('--new-passphrase-file needs --to pem or --to der (encrypted PKCS#8)');
      }
      if (args['new-passphrase-file'] !== undefined && args.public) {
        throw new Error('--new-passphrase-file cannot be used with --public: public keys are not encrypted');
      }
      return true;
    })
    .example('$0 convert id_rsa --to pem -o server.key', 'OpenSSH private key to PKCS#8 PEM')
    .example('$0 convert server.key --to openssh --public', 'print the ssh-rsa line of a private key')
    .example('$0 convert server.pub --to jwk', 'print a public key as a JWK')
    .example('$0 convert server.key --to der -o server.der', 'binary PKCS#8 (needs -o)');
}

/** Options of `convert`, as parsed. */
export type ConvertArgs = ReturnType<typeof builder> extends Argv<infer T> ? T : never;

async function execute(args: ConvertArgs & GlobalArgs, out: Output): Promise<void> {
  const format = args.to as PrivateKeyFormat;
  const passphraseFile = args['passphrase-file'];
  const newPassphraseFile = args['new-passphrase-file'];
  const passphrase =
    passphraseFile === undefined ? undefined : await readPassphraseFile(passphraseFile, '--passphrase-file');
  const newPassphrase =
    newPassphraseFile === undefined
      ? undefined
      : await readPassphraseFile(newPassphraseFile, '--new-passphrase-file');
  const loaded = await loadKey(args.input, { passphrase });
  const key = args.public && loaded instanceof PrivateKey ? loaded.publicKey : loaded;
  const kind = key instanceof PrivateKey ? 'private' : 'public';
  if (kind === 'public' && newPassphrase !== undefined) {
    throw new CliError(
      CliErrorCode.USAGE,
      `--new-passphrase-file: ${args.input} holds a public key, which is never encrypted`,
    );
  }
  const { comment, force } = args;
  const summary = {
    input: args.input,
    output: args.out ?? null,
    kind,
    format,
    encrypted: newPassphrase !== undefined,
    fingerprint: key.fingerprint(),
  };
  if (args.out === undefined) {
    const encoded =
      key instanceof PrivateKey
        ? key.encode({ format, passphrase: newPassphrase, comment })
        : key.encode({ format, comment });
    if (out.json) {
      // DER in JSON is base64; text formats are included as they are.
      out.result('', { ...summary, key: encoded.toString(format === 'der' ? 'base64' : 'utf8') });
    } else {
      out.raw(encoded);
    }
    return;
  }
  if (key instanceof PrivateKey) {
    await key.save(args.out, { format, passphrase: newPassphrase, comment, force });
  } else {
    await key.save(args.out, { format, comment, force });
  }
  out.result(
    `wrote ${args.out} (${kind} key, ${format}${newPassphrase === undefined ? '' : ', encrypted'})`,
    summary,
  );
}

/** `secsess-keygen convert IN --to FORMAT`. */
export const convertCommand = {
  command: 'convert <input>',
  describe: 'convert a key file to another format',
  builder,
  execute,
};
