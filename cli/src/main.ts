import { hideBin } from 'yargs/helpers';
import { CliError, CliErrorCode, cliMessage, codeOf, exitStatusOf } from './errors.js';
import { Output } from './io.js';
import type { CliIo } from './io.js';
import { buildParser, commandOf, COMMANDS } from './parser.js';
import { STDIN } from './key-input.js';
import { helpHint, KEYGEN_COMMANDS, usageMessage } from './usage.js';
import type { CommandTable } from './usage.js';
import type { Argv } from 'yargs';

/**
 * A program `runProgram` runs: `secsess-keygen` (below) and `secsess` (tunnel/main.ts) share
 * the parsing, the usage errors, the one-line coded error and the exit statuses.
 */
export interface Program {
  readonly table: CommandTable;
  /** The strict yargs parser, with no handlers attached. */
  buildParser(): Argv<object>;
  /** Whether the program has a global `--json` (then errors are also a JSON document on stdout). */
  readonly json: boolean;
  /** Runs the command the parsed arguments select (validated by yargs already). */
  execute(argv: ParsedArgv, out: Output): Promise<void>;
}

/** Parsed arguments: options by name, positionals in `_`. */
export type ParsedArgv = Record<string, unknown> & { _: (string | number)[] };

interface Parsed {
  /** yargs passes `null`, not `undefined`, when parsing succeeded. */
  error: Error | null | undefined;
  argv: ParsedArgv;
  output: string;
}

/**
 * yargs reads a lone `-` (standard input, as in `fingerprint -`) as an empty option: it
 * is parsed as this placeholder instead, and turned back into `-` in the results.
 */
const STDIN_PLACEHOLDER = '\u0000stdin';

/** Parses without running anything; yargs hands help/version text and errors to the callback. */
function parse(program: Program, args: readonly string[]): Promise<Parsed> {
  const hidden = args.map((arg) => (arg === STDIN ? STDIN_PLACEHOLDER : arg));
  const restore = (value: unknown): unknown =>
    typeof value === 'string' ? value.replaceAll(STDIN_PLACEHOLDER, STDIN) : value;
  return new Promise((resolve) => {
    void program.buildParser().parse(hidden, {}, (error, argv, output) => {
      const restored = Object.fromEntries(
        Object.entries(argv).map(([name, value]) => [
          name,
          Array.isArray(value) ? value.map(restore) : restore(value),
        ]),
      ) as Parsed['argv'];
      if (error instanceof Error) error.message = String(restore(error.message));
      resolve({ error, argv: restored, output });
    });
  });
}

/** Prints `error` as one line (plus the stack with --verbose) and, with --json, as the JSON document. */
function report(
  program: Program,
  error: unknown,
  out: Output,
  verbose: boolean,
  args: readonly string[],
): void {
  const message = cliMessage(error);
  const code = codeOf(error);
  out.note(`${program.table.program}: ${message}${code === undefined ? '' : ` [${code}]`}`);
  if (exitStatusOf(error) === 2) out.note(helpHint(args, program.table));
  if (verbose && error instanceof Error && error.stack !== undefined) out.note(error.stack);
  if (out.json)
    out.io.stdout.write(`${JSON.stringify({ error: { code: code ?? null, message } }, null, 2)}\n`);
}

/** `secsess-keygen`: its parser and commands. */
const KEYGEN: Program = {
  table: KEYGEN_COMMANDS,
  buildParser,
  json: true,
  execute: (argv, out) => COMMANDS[commandOf(argv)].execute(argv as never, out),
};

/**
 * Runs `secsess-keygen` on a full `process.argv`-style array (the first two entries are
 * skipped) and sets `process.exitCode`: 0 success, 1 failure, 2 usage error.
 *
 * @returns the exit status
 */
export function run(
  argv: readonly string[],
  io: CliIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  return runProgram(KEYGEN, argv, io);
}

/** Runs `program` as {@link run} runs `secsess-keygen`. */
export async function runProgram(
  program: Program,
  argv: readonly string[],
  io: CliIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  const args = hideBin([...argv]);
  // Known before parsing, so that usage errors honour them too.
  const json = program.json && args.includes('--json');
  const verbose = args.includes('--verbose');
  const out = new Output(io, json);
  let status: number;
  try {
    const parsed = await parse(program, args);
    if (parsed.error instanceof Error) {
      const message = usageMessage(parsed.error.message.replace(/\s*\n\s*/g, ' '), args, program.table);
      throw new CliError(CliErrorCode.USAGE, message, { cause: parsed.error });
    }
    if (parsed.output !== '') {
      // --help or --version: yargs produced the text instead of printing it.
      io.stdout.write(`${parsed.output}\n`);
    } else {
      // yargs has validated the arguments against this command's builder.
      await program.execute(parsed.argv, out);
    }
    status = 0;
  } catch (error) {
    report(program, error, out, verbose, args);
    status = exitStatusOf(error);
  }
  process.exitCode = status;
  return status;
}
