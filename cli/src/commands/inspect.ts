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
    .example('$0 inspect secsess.key', 'kind, format, encryption, size and fingerprint')
    .example('$0 inspect id_rsa.pub --json', 'the same as one JSON document');
}

/** Options of `inspect`, as parsed. */
export type InspectArgs = ReturnType<typeof builder> extends Argv<infer T> ? T : never;

async function execute(args: InspectArgs & GlobalArgs, out: Output): Promise<void> {
  const passphraseFile = args['passphrase-file'];
  const passphrase =
    passphraseFile === undefined ? undefined : await readPassphraseFile(passphraseFile, '--passphrase-file');
  const info = await (await openKeyArg(args.file)).inspect(passphrase);
  const unknown = 'unknown (encrypted; pass --passphrase-file to read it)';
  const rows: [string, string][] = [
    ['file', info.path],
    ['kind', info.kind],
    ['format', info.format],
    ['encrypted', info.encrypted ? 'yes' : 'no'],
    ['bits', info.bits === null ? unknown : String(info.bits)],
    ['fingerprint', info.fingerprint ?? unknown],
  ];
  out.result(rows.map(([name, value]) => `${name.padEnd(12)} ${value}`).join('\n'), info);
}

/** `secsess-keygen inspect FILE`. */
export const inspectCommand = {
  command: 'inspect <file>',
  describe: 'describe a key file: kind, format, encryption, bits, fingerprint',
  builder,
  execute,
};
