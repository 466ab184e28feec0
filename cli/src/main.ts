import { hideBin } from 'yargs/helpers';
import { CliError, CliErrorCode, cliMessage, codeOf, exitStatusOf } from './errors.js';
import { Output } from './io.js';
import type { CliIo } from './io.js';
import { buildParser, commandOf, COMMANDS } from './parser.js';
import { STDIN } from './key-input.js';
import { helpHint, usageMessage } from './usage.js';
import { PROGRAM } from './version.js';

interface Parsed {
  /** yargs passes `null`, not `undefined`, when parsing succeeded. */
  error: Error | null | undefined;
  argv: Record<string, unknown> & { _: (string | number)[] };
  output: string;
}

/**
 * yargs reads a lone `-` (standard input, as in `fingerprint -`) as an empty option: it
 * is parsed as this placeholder instead, and turned back into `-` in the results.
 */
const STDIN_PLACEHOLDER = '\u0000stdin';

/** Parses without running anything; yargs hands help/version text and errors to the callback. */
function parse(args: readonly string[]): Promise<Parsed> {
  const hidden = args.map((arg) => (arg === STDIN ? STDIN_PLACEHOLDER : arg));
  const restore = (value: unknown): unknown =>
    typeof value === 'string' ? value.replaceAll(STDIN_PLACEHOLDER, STDIN) : value;
  return new Promise((resolve) => {
    void buildParser().parse(hidden, {}, (error, argv, output) => {
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
function report(error: unknown, out: Output, verbose: boolean, args: readonly string[]): void {
  const message = cliMessage(error);
  const code = codeOf(error);
  out.note(`${PROGRAM}: ${message}${code === undefined ? '' : ` [${code}]`}`);
  if (exitStatusOf(error) === 2) out.note(helpHint(args));
  if (verbose && error instanceof Error && error.stack !== undefined) out.note(error.stack);
  if (out.json)
    out.io.stdout.write(`${JSON.stringify({ error: { code: code ?? null, message } }, null, 2)}\n`);
}

/**
 * Runs `secsess-keygen` on a full `process.argv`-style array (the first two entries are
 * skipped) and sets `process.exitCode`: 0 success, 1 failure, 2 usage error.
 *
 * @returns the exit status
 */
export async function run(
  argv: readonly string[],
  io: CliIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  const args = hideBin([...argv]);
  // Known before parsing, so that usage errors honour them too.
  const json = args.includes('--json');
  const verbose = args.includes('--verbose');
  const out = new Output(io, json);
  let status: number;
  try {
    const parsed = await parse(args);
    if (parsed.error instanceof Error) {
      const message = usageMessage(parsed.error.message.replace(/\s*\n\s*/g, ' '), args);
      throw new CliError(CliErrorCode.USAGE, message, { cause: parsed.error });
    }
    if (parsed.output !== '') {
      // --help or --version: yargs produced the text instead of printing it.
      io.stdout.write(`${parsed.output}\n`);
    } else {
      const name = commandOf(parsed.argv);
      const command = COMMANDS[name];
      // yargs has validated the arguments against this command's builder.
      await command.execute(parsed.argv as never, out);
    }
    status = 0;
  } catch (error) {
    report(error, out, verbose, args);
    status = exitStatusOf(error);
  }
  process.exitCode = status;
  return status;
}
