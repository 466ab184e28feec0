/**
 * `@secsess/cli`: the `secsess-keygen` and `secsess` commands. Importing this module has no side effects;
 * the bin (`cli/bin/secsess-keygen.js`) loads the bundle built from `bin.ts`.
 */
export { buildParser, commandOf, COMMANDS } from './parser.js';
export type { CommandName } from './parser.js';
export { run } from './main.js';
export type { CliIo, TextSink } from './io.js';
export { CliError, CliErrorCode } from './errors.js';
export { DEFAULT_OUT } from './commands/generate.js';
export { VERSION } from './version.js';
export { runTunnel } from './tunnel/main.js';
export { buildTunnelParser, tunnelCommandOf, TUNNEL_COMMANDS } from './tunnel/parser.js';
export type { TunnelCommandName } from './tunnel/parser.js';
