/**
 * The yargs parser of `secsess`, with no handlers attached (as `secsess-keygen`'s): parsing
 * never runs a command, so tests can parse argument strings; `run()` dispatches on `_[0]`.
 */
import type { Argv } from 'yargs';
import { programParser, VERBOSE_OPTION } from '../parser.js';
import type { TunnelArgs } from './options.js';
import { HOST_PORT } from '../usage.js';
import type { CommandTable } from '../usage.js';
import { VERSION } from '../version.js';
import { connectCommand } from './connect.js';
import { serveCommand } from './serve.js';

/** The program name in usage text and error lines. */
export const TUNNEL_PROGRAM = 'secsess';

/** Every subcommand, by the name in `argv._[0]`. */
export const TUNNEL_COMMANDS = {
  serve: serveCommand,
  connect: connectCommand,
} as const;

/** A `secsess` subcommand name. */
export type TunnelCommandName = keyof typeof TUNNEL_COMMANDS;

/** What usage errors need to know of `secsess`. */
export const TUNNEL_TABLE: CommandTable = {
  program: TUNNEL_PROGRAM,
  commands: Object.keys(TUNNEL_COMMANDS),
  subcommands: {},
  positionals: { connect: [HOST_PORT('the server, as host:port')] },
};

/** The parser of `secsess`: strict, never exits the process. */
export function buildTunnelParser(): Argv<TunnelArgs> {
  return programParser(
    TUNNEL_PROGRAM,
    `${TUNNEL_PROGRAM} <serve|connect> [options]\n\nCarry TCP connections, or stdin/stdout, over secsess ` +
      'sessions: `serve` in front of a service, `connect` on the client side.',
  )
    .option('verbose', VERBOSE_OPTION)
    .command(serveCommand.command, serveCommand.describe, serveCommand.builder)
    .command(connectCommand.command, connectCommand.describe, connectCommand.builder)
    .demandCommand(1, 'give a command: serve or connect')
    .example(
      '$0 serve --listen 0.0.0.0:7000 --key srv.key --authorized-keys ak --forward 127.0.0.1:6379',
      'server side: sessions on port 7000 go to the local redis',
    )
    .example(
      '$0 connect --listen 127.0.0.1:6379 --to host:7000 --server-pub srv.pub --key me.key',
      'client side: local port 6379 goes to the server',
    )
    .epilogue(
      'Exit status: 0 success, 1 failure, 2 usage error. Log lines go to stderr. ' +
        'Run `$0 <command> --help` for its options.',
    )
    .strict()
    .help()
    .alias('help', 'h')
    .version(VERSION)
    .exitProcess(false);
}

/** The subcommand `argv` selects. */
export function tunnelCommandOf(argv: { _: readonly (string | number)[] }): TunnelCommandName {
  return argv._[0] === 'connect' ? 'connect' : 'serve';
}
