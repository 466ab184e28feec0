import { PrivateKey } from '@secsess/keys';
import type { PrivateKeyFormat } from '@secsess/keys';
import type { Argv } from 'yargs';
import { CliError, CliErrorCode } from '../errors.js';
import type { Output } from '../io.js';
import { openKeyArg } from '../key-input.js';
import { readPassphraseFile } from '../passphrase.js';
import type { GlobalArgs } from './types.js';

const FORMATS = ['pem', 'pkcs1', 'openssh', 'der', 'jwk'] as const;

function builder(yargs: Argv<GlobalArgs>) {
  return yargs
    .positional('input', {
      type: 'string',
      demandOption: true,
      describe: 'public or private key file, or - for standard input',
    })
    .option('to', {
      type: 'string',
      choices: FORMATS,
      describe:
        'pem (PKCS#8 / SPKI), pkcs1, openssh, der (PKCS#8 / SPKI), jwk; with --public, default openssh',
    })
    .option('out', { alias: 'o', type: 'string', describe: 'output file; without it, text goes to stdout' })
    .option('public', { type: 'boolean', default: false, describe: 'write only the public key' })
    .option('passphrase-file', { type: 'string', describe: 'passphrase of an encrypted input key' })
    .option('new-passphrase-file', {
      type: 'string',
      describe: 'encrypt the output private key with this passphrase (--to pem or der)',
    })
    .option('unencrypted', {
      type: 'boolean',
      default: false,
      describe: 'write an encrypted input private key without a passphrase (refused unless given)',
    })
    .option('comment', { alias: 'C', type: 'string', describe: 'comment stored in openssh output' })
    .option('force', { type: 'boolean', default: false, describe: 'overwrite an existing output file' })
    .check((args) => {
      if (args.to === undefined && !args.public) {
        throw new Error(
          'missing --to FORMAT: the format to write (pem, pkcs1, openssh, der or jwk; --public alone writes openssh)',
        );
      }
      if (args.unencrypted && args['new-passphrase-file'] !== undefined) {
        throw new Error('--unencrypted and --new-passphrase-file contradict each other: give one');
      }
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
    .example('$0 convert server.key --public', 'print the ssh-rsa line of a private key')
    .example('$0 convert server.key --public --to pem -o server.pub', 'its public key as SPKI PEM')
    .example(
      '$0 convert enc.key --passphrase-file pw --to pem --unencrypted',
      'decrypt a key: print it without passphrase',
    )
    .example('$0 convert server.pub --to jwk', 'print a public key as a JWK')
    .example('$0 convert server.key --to der -o server.der', 'binary PKCS#8 (needs -o)');
}

/** Options of `convert`, as parsed. */
export type ConvertArgs = ReturnType<typeof builder> extends Argv<infer T> ? T : never;

/** The usage error for an encrypted input whose converted private key would not be. */
function wouldDecrypt(input: string, format: PrivateKeyFormat): CliError {
  const encryptable = format === 'pem' || format === 'der';
  return new CliError(
    CliErrorCode.USAGE,
    `${input} is encrypted, and --to ${format} would write the private key without a passphrase: ` +
      (encryptable
        ? 'give --new-passphrase-file FILE to encrypt it, or --unencrypted to write it in clear'
        : `pass --unencrypted to write it in clear (only --to pem and --to der can be encrypted, with --new-passphrase-file)`),
  );
}

async function execute(args: ConvertArgs & GlobalArgs, out: Output): Promise<void> {
  // The builder's check requires --to unless --public, whose default is the ssh-rsa line.
  const format = (args.to ?? 'openssh') as PrivateKeyFormat;
  const passphraseFile = args['passphrase-file'];
  const newPassphraseFile = args['new-passphrase-file'];
  const passphrase =
    passphraseFile === undefined ? undefined : await readPassphraseFile(passphraseFile, '--passphrase-file');
  const newPassphrase =
    newPassphraseFile === undefined
      ? undefined
      : await readPassphraseFile(newPassphraseFile, '--new-passphrase-file');
  const input = await openKeyArg(args.input);
  // What the input is, before anything is decrypted: ssh-keygen never drops a passphrase silently either.
  const { encrypted } = await input.inspect(undefined);
  // (Without --passphrase-file, loading below says a passphrase is needed first.)
  if (
    encrypted &&
    passphrase !== undefined &&
    !args.public &&
    newPassphrase === undefined &&
    !args.unencrypted
  ) {
    throw wouldDecrypt(input.name, format);
  }
  const loaded = await input.load(passphrase);
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

/** `secsess-keygen convert IN --to FORMAT` (or `convert IN --public`). */
export const convertCommand = {
  command: 'convert <input>',
  describe: 'convert a key file to another format',
  builder,
  execute,
};
