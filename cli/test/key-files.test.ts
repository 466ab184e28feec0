/**
 * Damaged key files through the CLI: `inspect` and `fingerprint` exit 1 with one line
 * naming the file and ending in the same code the library gives (the SDK's side is in
 * sdk/test/hostile-key-files.test.ts, with the same files).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { KeyErrorCode } from '@secsess/keys';
import { DAMAGED_PASSPHRASE, makeDamagedKeys } from '../../keys/test/helpers/damaged-keys.js';
import type { DamagedKeys } from '../../keys/test/helpers/damaged-keys.js';
import { assertBuilt, lines, runCli } from './helpers/cli.js';

let keys!: DamagedKeys;
test.before(async () => {
  assertBuilt();
  keys = await makeDamagedKeys();
});
test.after.always(async () => {
  await keys?.cleanup();
});

/** Runs the CLI and checks it failed with `code` in one line that names `path`. */
async function expectFailure(t: ExecutionContext, args: string[], path: string, code: string) {
  const result = await runCli(args);
  const what = args.join(' ');
  t.is(result.code, 1, what);
  t.is(result.stdout, '', what);
  const errorLines = lines(result.stderr);
  t.is(errorLines.length, 1, `${what}: ${result.stderr}`);
  t.regex(errorLines[0] ?? '', new RegExp(`^secsess-keygen: .* \\[${code}\\]$`), what);
  t.true((errorLines[0] ?? '').includes(path), `${what}: names the file`);
}

test('inspect and fingerprint refuse each damaged key file with its code', async (t) => {
  await Promise.all(
    [...keys.privateFiles, ...keys.publicFiles].map(async (file) => {
      // A public key file is a fine thing to inspect; an encrypted key can be inspected
      // without its passphrase (bits and fingerprint unknown) but not fingerprinted.
      const inspectOk = file.name === 'a public key' || file.code === KeyErrorCode.ENCRYPTED;
      const fingerprintOk = file.name === 'a public key';
      if (inspectOk) t.is((await runCli(['inspect', file.path])).code, 0, file.name);
      else await expectFailure(t, ['inspect', file.path], file.path, file.code);
      if (fingerprintOk) t.is((await runCli(['fingerprint', file.path])).code, 0, file.name);
      else await expectFailure(t, ['fingerprint', file.path], file.path, file.code);
    }),
  );
});

test('a wrong passphrase is ERR_KEY_PASSPHRASE for inspect and fingerprint; the right one works', async (t) => {
  const wrong = join(keys.dir, 'wrong-passphrase.txt');
  const right = join(keys.dir, 'right-passphrase.txt');
  await writeFile(wrong, 'not it\n');
  await writeFile(right, `${DAMAGED_PASSPHRASE}\n`);
  for (const command of ['inspect', 'fingerprint']) {
    await expectFailure(
      t,
      [command, keys.encrypted, '--passphrase-file', wrong],
      keys.encrypted,
      KeyErrorCode.PASSPHRASE,
    );
    const ok = await runCli([command, keys.encrypted, '--passphrase-file', right]);
    t.is(ok.code, 0, ok.stderr);
    t.true(ok.stdout.includes(keys.key.fingerprint()));
  }
});
