import { AuthorizedKeys, defaultAuthorizedKeysPath, KeyError, KeyErrorCode } from '@secsess/keys';
import type { Argv } from 'yargs';
import type { Output } from '../io.js';
import { readPublicKeys } from './read-public-key.js';
import type { GlobalArgs } from './types.js';

/** A fingerprint as `secsess-keygen fingerprint` and `ssh-keygen -l -E sha256` print it. */
const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}=*$/;

const FILE_OPTION = {
  type: 'string',
  describe: 'authorized_keys file (default: $SECSESS_HOME/authorized_keys, or ~/.secsess/authorized_keys)',
} as const;

function addBuilder(yargs: Argv<GlobalArgs>) {
  return yargs
    .positional('keyfile', {
      type: 'string',
      demandOption: true,
      describe:
        "the client's public key file (any format secsess reads, e.g. ~/.ssh/id_rsa.pub; every ssh-rsa line of it), or - for standard input",
    })
    .option('file', FILE_OPTION)
    .option('comment', {
      alias: 'C',
      type: 'string',
      describe: 'comment stored after the key (default: the comment of its line in KEYFILE)',
    })
    .option('passphrase-file', { type: 'string', describe: 'passphrase of an encrypted private key file' })
    .example('$0 authorize add alice.pub -C alice@laptop', 'let the holder of alice.pub connect')
    .example('$0 authorize add ~/.ssh/id_rsa.pub --file /srv/authorized_keys', 'an SSH key, another file')
    .example('ssh-add -L | $0 authorize add -', 'every RSA key of your SSH agent, each with its comment');
}

function removeBuilder(yargs: Argv<GlobalArgs>) {
  return yargs
    .positional('key', {
      type: 'string',
      demandOption: true,
      describe:
        'the SHA256:… fingerprint of the key (as authorize list prints it), or a key file, or - for standard input',
    })
    .option('file', FILE_OPTION)
    .option('passphrase-file', { type: 'string', describe: 'passphrase of an encrypted private key file' })
    .example('$0 authorize remove SHA256:…', 'remove the key with that fingerprint')
    .example('$0 authorize remove alice.pub', 'remove the key (each key) in alice.pub');
}

function listBuilder(yargs: Argv<GlobalArgs>) {
  return yargs
    .option('file', FILE_OPTION)
    .example('$0 authorize list', 'fingerprint, size, line and comment of each key; skipped lines on stderr')
    .example('$0 authorize list --json', 'the same as one JSON document, skipped lines under "skipped"');
}

function builder(yargs: Argv<GlobalArgs>) {
  return yargs
    .command('add <keyfile>', 'authorize the client key(s) in KEYFILE', addBuilder)
    .command('remove <key>', 'remove a key (by fingerprint or key file) from authorized_keys', removeBuilder)
    .command('list', 'list the authorized keys and the lines skipped', listBuilder)
    .demandCommand(1, 'authorize needs a subcommand: add, remove or list')
    .example('$0 authorize add alice.pub', 'authorize a client key')
    .example('$0 authorize remove SHA256:…', 'remove it again')
    .example('$0 authorize list', 'list authorized keys');
}

/** Options of `authorize add`, as parsed. */
export type AuthorizeAddArgs = ReturnType<typeof addBuilder> extends Argv<infer T> ? T : never;
/** Options of `authorize remove`, as parsed. */
export type AuthorizeRemoveArgs = ReturnType<typeof removeBuilder> extends Argv<infer T> ? T : never;
/** Options of `authorize list`, as parsed. */
export type AuthorizeListArgs = ReturnType<typeof listBuilder> extends Argv<infer T> ? T : never;

async function add(args: AuthorizeAddArgs & GlobalArgs, out: Output): Promise<void> {
  const input = await readPublicKeys(args.keyfile, args['passphrase-file']);
  const file = args.file ?? defaultAuthorizedKeysPath();
  for (const { line, reason } of input.skipped) {
    out.note(`warning: ${input.name} line ${line} skipped: ${reason}`);
  }
  const keys = [];
  const text = [];
  for (const { key, comment } of input.keys) {
    const stored = args.comment ?? comment;
    const result = await AuthorizedKeys.add(file, key, stored === '' ? undefined : stored);
    const fingerprint = key.fingerprint();
    keys.push({ fingerprint, bits: key.bits, comment: stored, line: result.line, added: result.added });
    text.push(
      result.added
        ? `authorized ${fingerprint} (RSA ${key.bits}) in ${file} (line ${result.line})`
        : `${fingerprint} is already authorized in ${file} (line ${result.line}); nothing changed`,
    );
  }
  const skipped = input.skipped.map(({ line, reason, fingerprint }) => ({
    line,
    reason,
    fingerprint: fingerprint ?? null,
  }));
  out.result(text.join('\n'), { file, keys, skipped });
}

async function remove(args: AuthorizeRemoveArgs & GlobalArgs, out: Output): Promise<void> {
  const file = args.file ?? defaultAuthorizedKeysPath();
  const fingerprints = FINGERPRINT.test(args.key)
    ? [args.key.replace(/=+$/, '')]
    : (await readPublicKeys(args.key, args['passphrase-file'])).keys.map(({ key }) => key.fingerprint());
  const removed = [];
  const text = [];
  for (const fingerprint of fingerprints) {
    const count = await AuthorizedKeys.remove(file, fingerprint);
    removed.push({ fingerprint, removed: count });
    text.push(
      count === 0
        ? `${fingerprint} is not in ${file}; nothing removed`
        : `removed ${fingerprint} from ${file} (${count} line${count === 1 ? '' : 's'})`,
    );
  }
  out.result(text.join('\n'), { file, keys: removed });
}

async function list(args: AuthorizeListArgs & GlobalArgs, out: Output): Promise<void> {
  const file = args.file ?? defaultAuthorizedKeysPath();
  // As `trust list`: a missing file holds no keys (a note on stderr, exit 0).
  const keys = await AuthorizedKeys.load(file).catch((error: unknown) => {
    if (error instanceof KeyError && error.code === KeyErrorCode.FILE_NOT_FOUND && error.path === file) {
      return AuthorizedKeys.fromString('');
    }
    throw error;
  });
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
  switch (args._[1]) {
    case 'add':
      return add(args as unknown as AuthorizeAddArgs & GlobalArgs, out);
    case 'remove':
      return remove(args as unknown as AuthorizeRemoveArgs & GlobalArgs, out);
    default:
      return list(args as unknown as AuthorizeListArgs & GlobalArgs, out);
  }
}

/** `secsess-keygen authorize add|remove|list`: the server's authorized_keys file. */
export const authorizeCommand = {
  command: 'authorize',
  describe: 'manage authorized client keys (authorized_keys): add, remove, list',
  builder,
  execute,
};
