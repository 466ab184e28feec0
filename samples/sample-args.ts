/**
 * The samples' command lines, one way for all four programs: `node:util` parseArgs (strict),
 * `-h`/`--help` printing the help on stdout (exit 0), a line that does not parse or that
 * `valid` refuses printing the usage on stderr (exit 2).
 */
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;
const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

/** What parseArgs returns for `options` (with `--help` added). */
export type SampleValues<O extends Options> = ReturnType<
  typeof parseArgs<{ options: O & typeof HELP_OPTION; strict: true }>
>['values'];

/** What a sample requires of its command line beyond parsing. */
export interface SampleChecks<O extends Options, R extends keyof O & string> {
  /** Options that must be given. */
  readonly required?: readonly R[];
  /** Options that must be whole numbers when given (or by default). */
  readonly numeric?: readonly (keyof O & string)[];
}

/**
 * Parses `process.argv`. Returns the values (the `required` ones as strings), or the exit
 * status the program should end with (0 after `--help`, 2 for a bad command line) once it
 * has printed what the user needs.
 */
export function sampleArgs<O extends Options, R extends keyof O & string = never>(
  options: O,
  text: { readonly usage: string; readonly help: string },
  checks: SampleChecks<O, R> = {},
): (SampleValues<O> & { readonly [K in R]: string }) | number {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ options: { ...options, ...HELP_OPTION }, strict: true }));
  } catch (err) {
    console.error(`${(err as Error).message}\n${text.usage}`);
    return 2;
  }
  if (values.help === true) {
    console.log(text.help);
    return 0;
  }
  const given = (name: string): boolean => typeof values[name] === 'string' && values[name] !== '';
  const whole = (name: string): boolean => values[name] === undefined || /^\d+$/.test(String(values[name]));
  if (!(checks.required ?? []).every(given) || !(checks.numeric ?? []).every(whole)) {
    console.error(text.usage);
    return 2;
  }
  return values as SampleValues<O> & { readonly [K in R]: string };
}
