/** `secsess`: the shared runner (../main.ts) over the tunnel's parser and commands. */
import type { CliIo } from '../io.js';
import { runProgram } from '../main.js';
import type { Program } from '../main.js';
import { buildTunnelParser, TUNNEL_COMMANDS, TUNNEL_TABLE, tunnelCommandOf } from './parser.js';

const SECSESS: Program = {
  table: TUNNEL_TABLE,
  buildParser: buildTunnelParser,
  json: false,
  execute: (argv, out) => TUNNEL_COMMANDS[tunnelCommandOf(argv)].execute(argv as never, out),
};

/**
 * Runs `secsess` on a full `process.argv`-style array and sets `process.exitCode`: 0
 * success (a normal end), 1 failure, 2 usage error.
 *
 * @returns the exit status
 */
export function runTunnel(
  argv: readonly string[],
  io: CliIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  return runProgram(SECSESS, argv, io);
}
