import yargs from 'yargs';
import type { Argv } from 'yargs';
import { authorizeCommand } from './commands/authorize.js';
import { convertCommand } from './commands/convert.js';
import { fingerprintCommand } from './commands/fingerprint.js';
import { generateCommand } from './commands/generate.js';
import { inspectCommand } from './commands/inspect.js';
import { probeCommand } from './commands/probe.js';
import { ticketKeyCommand } from './commands/ticket-key.js';
import { trustCommand } from './commands/trust.js';
import type { GlobalArgs } from './commands/types.js';
import { commentedExamples } from './examples.js';
import { PROGRAM, VERSION } from './version.js';

/**
 * Every subcommand, by the name that appears in `argv._[0]`. `trust` and `authorize` have
 * subcommands of their own (`argv._[1]`), which their `execute` dispatches.
 */
export const COMMANDS = {
  generate: generateCommand,
  fingerprint: fingerprintCommand,
  inspect: inspectCommand,
  convert: convertCommand,
  trust: trustCommand,
  authorize: authorizeCommand,
  probe: probeCommand,
  'ticket-key': ticketKeyCommand,
} as const;

/** A subcommand name. */
export type CommandName = keyof typeof COMMANDS;

/**
 * The yargs parser of `secsess-keygen`, with no handlers attached: parsing never runs a
 * command, so tests can parse argument strings freely; `run()` dispatches on `argv._[0]`.
 * Strict (unknown options and commands are errors) and never exits the process.
 */
export function buildParser(): Argv<GlobalArgs> {
  return programParser(
    PROGRAM,
    `${PROGRAM} [command] [options]\n\nCreate, inspect and convert RSA key files for secsess; manage the ` +
      'servers a client trusts (known_hosts) and the clients a server authorizes (authorized_keys).',
  )
    .option('json', {
      type: 'boolean',
      default: false,
      global: true,
      describe: 'print exactly one JSON document on stdout; messages go to stderr',
    })
    .option('verbose', VERBOSE_OPTION)
    .command(generateCommand.command, generateCommand.describe, generateCommand.builder)
    .command(fingerprintCommand.command, fingerprintCommand.describe, fingerprintCommand.builder)
    .command(inspectCommand.command, inspectCommand.describe, inspectCommand.builder)
    .command(convertCommand.command, convertCommand.describe, convertCommand.builder)
    .command(trustCommand.command, trustCommand.describe, trustCommand.builder)
    .command(authorizeCommand.command, authorizeCommand.describe, authorizeCommand.builder)
    .command(probeCommand.command, probeCommand.describe, probeCommand.builder)
    .command(ticketKeyCommand.command, ticketKeyCommand.describe, ticketKeyCommand.builder)
    .example('$0 fingerprint secsess.pub', 'print the key fingerprint')
    .example('$0 inspect secsess.key --json', 'describe a key file as JSON')
    .example('$0 convert ~/.ssh/id_rsa --to pem -o server.key', 'convert an OpenSSH key to PKCS#8 PEM')
    .example('$0 trust add server.example:7000 server.pub', "trust a server's key (client side)")
    .example('$0 authorize add alice.pub', "authorize a client's key (server side)")
    .example('$0 probe server.example:7000', "show a running server's key fingerprint (unauthenticated)")
    .example('$0 ticket-key --rotate -f tickets.keys', 'rotate the ticket keys of a server or fleet')
    .epilogue('Exit status: 0 success, 1 failure, 2 usage error. Run `$0 <command> --help` for its options.')
    .strict()
    .help()
    .alias('help', 'h')
    .version(VERSION)
    .exitProcess(false);
}

/** `--verbose`, which both commands have. */
export const VERBOSE_OPTION = {
  type: 'boolean',
  default: false,
  global: true,
  describe: 'print stack traces of errors',
} as const;

/**
 * A program's yargs instance as both commands start it: named `program`, wrapped at 80
 * columns (or the terminal's width, if narrower), examples laid out by `commentedExamples`.
 */
export function programParser(program: string, usage: string): Argv {
  const parser = yargs();
  // yargs' terminalWidth() is undefined when stdout is not a terminal: 80 columns then.
  const columns: unknown = parser.terminalWidth();
  const width = typeof columns === 'number' && columns > 0 ? Math.min(80, columns) : 80;
  commentedExamples(parser, width);
  return parser.scriptName(program).wrap(width).usage(usage);
}

/** The subcommand `argv` selects: the first positional, or `generate` (the default command). */
export function commandOf(argv: { _: readonly (string | number)[] }): CommandName {
  const first = argv._[0];
  return typeof first === 'string' && first in COMMANDS ? (first as CommandName) : 'generate';
}
