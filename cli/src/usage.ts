/**
 * Usage errors in the user's words: yargs says "Not enough non-option arguments: got 0,
 * need at least 1"; we say "missing KEY_FILE: the key to convert" and point at the
 * subcommand's own --help.
 */
import { PROGRAM } from './version.js';

/** A positional argument as usage errors name it. */
export interface Positional {
  /** As the usage line writes it: `KEY_FILE`, `HOST:PORT`. */
  name: string;
  /** What it is, completing "missing NAME: …". */
  what: string;
}

/**
 * What usage errors need to know of a program: its name, its (sub)commands and their
 * positionals. `secsess-keygen` has {@link KEYGEN_COMMANDS}; `secsess` has its own.
 */
export interface CommandTable {
  /** The program name, as error lines and help hints write it. */
  readonly program: string;
  readonly commands: readonly string[];
  readonly subcommands: Readonly<Record<string, readonly string[]>>;
  /** The positionals of each (sub)command, in order. */
  readonly positionals: Readonly<Record<string, readonly Positional[]>>;
}

const KEY_FILE = (what: string): Positional => ({ name: 'KEY_FILE', what });
export const HOST_PORT = (what: string): Positional => ({ name: 'HOST:PORT', what });

const POSITIONALS: Record<string, Positional[]> = {
  fingerprint: [KEY_FILE('the key to fingerprint (a file, or - for standard input)')],
  inspect: [KEY_FILE('the key file to describe (or - for standard input)')],
  convert: [KEY_FILE('the key to convert (a file, or - for standard input)')],
  'trust add': [HOST_PORT('the server, as host:port'), KEY_FILE("the server's public key")],
  'trust remove': [HOST_PORT('the server whose keys to forget, as host:port')],
  'authorize add': [KEY_FILE("the client's public key (a file, or - for standard input)")],
  'authorize remove': [
    { name: 'KEY', what: 'the SHA256:… fingerprint or the key file of the key to remove' },
  ],
  probe: [HOST_PORT('the server to ask for its key, as host:port')],
};

/** `secsess-keygen`'s commands. */
export const KEYGEN_COMMANDS: CommandTable = {
  program: PROGRAM,
  commands: ['generate', 'fingerprint', 'inspect', 'convert', 'trust', 'authorize', 'probe', 'ticket-key'],
  subcommands: {
    trust: ['add', 'remove', 'list'],
    authorize: ['add', 'remove', 'list'],
  },
  positionals: POSITIONALS,
};

/** The (sub)command the arguments name, e.g. `trust add`; `undefined` for none. */
export function commandPath(args: readonly string[], table = KEYGEN_COMMANDS): string | undefined {
  const index = args.findIndex((arg) => table.commands.includes(arg));
  const top = args[index];
  if (top === undefined) return undefined;
  const sub = args[index + 1];
  return sub !== undefined && table.subcommands[top]?.includes(sub) ? `${top} ${sub}` : top;
}

/** The help command to point at: `secsess-keygen convert --help`. */
export function helpHint(args: readonly string[], table = KEYGEN_COMMANDS): string {
  const command = commandPath(args, table);
  return `see: ${table.program}${command === undefined ? '' : ` ${command}`} --help`;
}

/** `passphrase-file` → `passphraseFile`, as yargs-parser's camel-case expansion. */
function camelCase(name: string): string {
  return name.replace(/-+([^-])/g, (_, c: string) => c.toUpperCase());
}

/** Rewords one yargs message (its lines already joined) for `args`; others pass unchanged. */
export function usageMessage(message: string, args: readonly string[], table = KEYGEN_COMMANDS): string {
  const command = commandPath(args, table);
  const positionals = command === undefined ? undefined : table.positionals[command];
  const notEnough = /^Not enough non-option arguments: got (\d+), need at least (\d+)/.exec(message);
  if (notEnough !== null && positionals !== undefined) {
    const missing = positionals.slice(Number(notEnough[1]), Number(notEnough[2]));
    if (missing.length > 0) return missing.map((p) => `missing ${p.name}: ${p.what}`).join('; ');
  }
  const required = /^Missing required arguments?: (.+)$/.exec(message);
  if (required !== null) {
    return `missing ${(required[1] ?? '')
      .split(', ')
      .map((name) => `--${name}`)
      .join(', ')}`;
  }
  const unknown = /^Unknown arguments?: (.+)$/.exec(message);
  if (unknown !== null) {
    // yargs names an unknown dashed option twice, as given and as its camelCase alias
    // (`passphrase-file, passphraseFile`): the alias is not what the user typed.
    const names = (unknown[1] ?? '').split(', ');
    const typed = (name: string): boolean =>
      args.some((arg) => arg === `--${name}` || arg.startsWith(`--${name}=`) || arg === `-${name}`);
    const aliases = new Set(names.filter((n) => n.includes('-') && typed(n)).map(camelCase));
    return names
      .filter((name) => !aliases.has(name) || typed(name))
      .map((name) =>
        typed(name)
          ? `unknown option ${name.length === 1 ? '-' : '--'}${name}`
          : `unexpected argument "${name}"${command === undefined ? ' (not a command)' : ''}`,
      )
      .join('; ');
  }
  const invalid = [...message.matchAll(/Argument: (\S+), Given: (.+?), Choices: (.+?)(?=\s*Argument:|$)/g)];
  if (message.startsWith('Invalid values') && invalid.length > 0) {
    return invalid
      .map(([, name, given, choices]) => `--${name} ${given} is not one of ${choices}`)
      .join('; ');
  }
  const noValue = /^Not enough arguments following: (.+)$/.exec(message);
  if (noValue !== null) {
    const name = noValue[1] ?? '';
    return `${name.length === 1 ? '-' : '--'}${name} needs a value`;
  }
  return message;
}
