import { KeyError, SecsessError } from '@secsess/keys';
import type { KeyErrorCode } from '@secsess/keys';
import type { ExecutionContext } from 'ava';

/**
 * Asserts that `promiseOrFn` fails with a KeyError of `code` whose message names `path`
 * (when given) and contains each of `mentions`. Returns the error for further checks.
 */
export async function expectKeyError(
  t: ExecutionContext,
  promiseOrFn: Promise<unknown> | (() => unknown),
  code: KeyErrorCode,
  options: { path?: string; mentions?: string[] } = {},
): Promise<KeyError> {
  const error =
    typeof promiseOrFn === 'function'
      ? t.throws(promiseOrFn, { instanceOf: KeyError })
      : await t.throwsAsync(promiseOrFn, { instanceOf: KeyError });
  if (!(error instanceof KeyError)) throw new Error(`expected a KeyError ${code}`);
  t.is(error.code, code, error.message);
  t.true(error instanceof SecsessError);
  t.is(error.name, 'KeyError');
  if (options.path !== undefined) {
    t.true(error.message.includes(options.path), `message should name ${options.path}: ${error.message}`);
    t.is(error.path, options.path);
  }
  for (const text of options.mentions ?? []) {
    t.true(error.message.includes(text), `message should mention ${text}: ${error.message}`);
  }
  return error;
}
