import { dirname } from 'node:path';
import {
  assertNoFile,
  DEFAULT_RSA_BITS,
  ensureKeyDirectory,
  KeyPair,
  keyPairPaths,
  RSA_GENERATE_BITS,
} from '@secsess/keys';
import type { RsaBits } from '@secsess/keys';
import type { Argv } from 'yargs';
import { CliError, CliErrorCode } from '../errors.js';
import type { Output } from '../io.js';
import { readPassphraseFile } from '../passphrase.js';
import { STDIN } from '../key-input.js';
import { startProgress } from '../progress.js';
import type { GlobalArgs } from './types.js';

/** Default `--out`: `./secsess.key` and `./secsess.pub` in the current directory. */
export const DEFAULT_OUT = 'secsess';

function builder(yargs: Argv<GlobalArgs>) {
  return yargs
    .option('bits', {
      alias: 'b',
      type: 'number',
      choices: [...RSA_GENERATE_BITS],
      default: DEFAULT_RSA_BITS,
      describe: 'RSA modulus size',
    })
    .option('out', {
      alias: 'o',
      type: 'string',
      default: DEFAULT_OUT,
      describe: 'writes <out>.key (0600) and <out>.pub (0644); a missing directory is created 0700',
    })
    .option('format', {
      type: 'string',
      choices: ['pem', 'openssh'] as const,
      default: 'pem' as 'pem' | 'openssh',
      describe: 'pem: PKCS#8 + SPKI PEM; openssh: as ssh-keygen writes them',
    })
    .option('passphrase-file', {
      type: 'string',
      describe:
        'encrypt the private key (PKCS#8, scrypt + aes-256-cbc) with the passphrase in this file (pem only)',
    })
    .option('comment', { alias: 'C', type: 'string', describe: 'comment stored in openssh files' })
    .option('force', { type: 'boolean', default: false, describe: 'overwrite existing files' })
    .check((args) => {
      if (args['passphrase-file'] !== undefined && args.format !== 'pem') {
        throw new Error('--passphrase-file needs --format pem: OpenSSH private keys are written unencrypted');
      }
      return true;
    })
    .example('$0', `write ${DEFAULT_OUT}.key and ${DEFAULT_OUT}.pub (RSA ${DEFAULT_RSA_BITS}, PEM)`)
    .example('$0 generate -b 4096 -o secrets/server', 'write secrets/server.key and secrets/server.pub')
    .example('$0 -o ~/.ssh/secsess --format openssh -C me@host', 'OpenSSH files, usable by ssh too')
    .example('$0 --passphrase-file pw.txt --json', 'encrypted private key; print a JSON summary');
}

/** Options of `generate`, as parsed. */
export type GenerateArgs = ReturnType<typeof builder> extends Argv<infer T> ? T : never;

/**
 * Creates the missing parent directory of `<out>` with mode 0700 before the slow key
 * generation (`KeyPair.save` would create it too, but only after it).
 */
async function ensureDirectory(out: string): Promise<void> {
  try {
    await ensureKeyDirectory(out);
  } catch (error) {
    const cause: unknown = error instanceof Error ? (error.cause ?? error) : error;
    const code =
      typeof cause === 'object' && cause !== null && 'code' in cause ? String(cause.code) : 'I/O error';
    throw new CliError(
      CliErrorCode.OUTPUT,
      `cannot create directory ${dirname(out)} for the key files (${code}); check the --out path`,
      { cause },
    );
  }
}

async function execute(args: GenerateArgs & GlobalArgs, out: Output): Promise<void> {
  const { bits, format, force, comment } = args;
  if (args.out.trim() === '' || args.out === STDIN) {
    throw new CliError(
      CliErrorCode.USAGE,
      '--out needs a path: the key files are <out>.key and <out>.pub (standard output is not one)',
    );
  }
  const passphraseFile = args['passphrase-file'];
  const passphrase =
    passphraseFile === undefined ? undefined : await readPassphraseFile(passphraseFile, '--passphrase-file');
  const paths = keyPairPaths(args.out);
  // Refuse before spending seconds on generation; save() checks again, atomically.
  if (!force) {
    await assertNoFile(paths.privateKeyPath);
    await assertNoFile(paths.publicKeyPath);
  }
  await ensureDirectory(args.out);
  const stop = startProgress(out.io.stderr, `generating ${bits}-bit RSA key…`, !out.json);
  let pair: KeyPair;
  try {
    // yargs has checked `bits` against RSA_GENERATE_BITS.
    pair = await KeyPair.generateRSA({ bits: bits as RsaBits });
  } finally {
    stop();
  }
  await pair.save(args.out, { format, passphrase, comment, force });
  const fingerprint = pair.publicKey.fingerprint();
  out.result(
    [
      `private key: ${paths.privateKeyPath} (mode 0600${passphrase === undefined ? '' : ', encrypted'})`,
      `public key:  ${paths.publicKeyPath} (mode 0644)`,
      `fingerprint: ${fingerprint} (RSA ${pair.publicKey.bits}, ${format})`,
    ].join('\n'),
    {
      privateKey: paths.privateKeyPath,
      publicKey: paths.publicKeyPath,
      format,
      bits: pair.publicKey.bits,
      encrypted: passphrase !== undefined,
      fingerprint,
    },
  );
}

/** `secsess-keygen [generate]`: the default command. */
export const generateCommand = {
  command: ['generate', '$0'],
  describe: 'generate an RSA key pair (the default command)',
  builder,
  execute,
};
