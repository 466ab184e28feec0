import { AuthorizedKeys, defaultAuthorizedKeysPath } from '@secsess/keys';
import type { Argv } from 'yargs';
import type { Output } from '../io.js';
import { readPublicKey } from './read-public-key.js';
import type { GlobalArgs } from './types.js';

const FILE_OPTION = {
  type: 'string',
  describe: 'authorized_keys file (default: $SECSESS_HOME/authorized_keys, or ~/.secsess/authorized_keys)',
} as const;

function addBuilder(yargs: Argv<GlobalArgs>) {
  return yargs
    .positional('keyfile', {
      type: 'string',
      demandOption: true,
      describe: "the client's public key file (any format secsess reads, e.g. ~/.ssh/id_rsa.pub)",
    })
    .option('file', FILE_OPTION)
    .option('comment', { alias: 'C', type: 'string', describe: 'comment stored after the key' })
    .option('passphrase-file', { type: 'string', describe: 'passphrase of an encrypted private key file' })
    .example('$0 authorize add alice.pub -C alice@laptop', 'let the holder of alice.pub connect')
    .example(
      '$0 authorize add ~/.ssh/id_rsa.pub --file /etc/secsess/authorized_keys',
      'an SSH key, another file',
    );
}

function listBuilder(yargs: Argv<GlobalArgs>) {
  return yargs
    .option('file', FILE_OPTION)
    .example('$0 authorize list', 'fingerprint, size, line and comment of each key; skipped lines on stderr')
    .example('$0 authorize list --json', 'the same as one JSON document, skipped lines under "skipped"');
}

function builder(yargs: Argv<GlobalArgs>) {
  return yargs
    .command('add <keyfile>', 'authorize the client key in KEYFILE', addBuilder)
    .command('list', 'list the authorized keys and the lines skipped', listBuilder)
    .demandCommand(1, 'authorize needs a subcommand: add or list')
    .example('$0 authorize add alice.pub', 'authorize a client key')
    .example('$0 authorize list', 'list authorized keys');
}

/** Options of `authorize add`, as parsed. */
export type AuthorizeAddArgs = ReturnType<typeof addBuilder> extends Argv<infer T> ? T : never;
/** Options of `authorize list`, as parsed. */
export type AuthorizeListArgs = ReturnType<typeof listBuilder> extends Argv<infer T> ? T : never;

async function add(args: AuthorizeAddArgs & GlobalArgs, out: Output): Promise<void> {
  const key = await readPublicKey(args.keyfile, args['passphrase-file']);
  const file = args.file ?? defaultAuthorizedKeysPath();
  const { added, line } = await AuthorizedKeys.add(file, key, args.comment);
  const fingerprint = key.fingerprint();
  out.result(
    added
      ? `authorized ${fingerprint} (RSA ${key.bits}) in ${file} (line ${line})`
      : `${fingerprint} is already authorized in ${file} (line ${line}); nothing changed`,
    { fingerprint, bits: key.bits, file, line, added },
  );
}

async function list(args: AuthorizeListArgs & GlobalArgs, out: Output): Promise<void> {
  const keys = await AuthorizedKeys.load(args.file ?? defaultAuthorizedKeysPath());
  const file = keys.path ?? '';
  const entries = keys.entries().map(({ key, fingerprint, comment, line }) => ({
    fingerprint,
    bits: key.bits,
    comment,
    line,
  }));
  const skipped = keys.skipped.map(({ line, reason, fingerprint }) => ({
    line,
    reason,
    fingerprint: fingerprint ?? null,
  }));
  for (const { line, reason } of skipped) out.note(`warning: ${file} line ${line} skipped: ${reason}`);
  if (entries.length === 0) out.note(`no authorized keys in ${file}`);
  const text = entries
    .map((e) =>
      [e.fingerprint, `RSA ${e.bits}`, `line ${e.line}`, e.comment].filter((f) => f !== '').join('  '),
    )
    .join('\n');
  if (out.json) out.result('', { file, keys: entries, skipped });
  else if (text !== '') out.result(text, {});
}

async function execute(args: GlobalArgs & { _: (string | number)[] }, out: Output): Promise<void> {
  // yargs has validated the subcommand (demandCommand + strict) and its arguments.
  if (args._[1] === 'add') return add(args as unknown as AuthorizeAddArgs & GlobalArgs, out);
  return list(args as unknown as AuthorizeListArgs & GlobalArgs, out);
}

/** `secsess-keygen authorize add|list`: the server's authorized_keys file. */
export const authorizeCommand = {
  command: 'authorize',
  describe: 'manage authorized client keys (authorized_keys): add, list',
  builder,
  execute,
};
