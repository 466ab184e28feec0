/**
 * `secsess serve --key` with an encrypted key: `--passphrase-file` opens it, at start and at
 * every SIGHUP (the file is read again each time, not kept); without it serve does not start
 * and the error names the flag.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { PrivateKey, PublicKey } from '@secsess/keys';
import { runSecsess, startServe, tunnelKeys } from './helpers/secsess-bin.js';
import { tempDir } from './helpers/services.js';

test('serve --key with an encrypted key: --passphrase-file opens it at start and at SIGHUP; without it, the error names the flag', async (t) => {
  const { dir, remove } = await tempDir('encrypted-key');
  t.teardown(remove);
  const keys = await tunnelKeys(dir);
  const key = await PrivateKey.load(keys.serverKey);
  await key.save(keys.serverKey, { passphrase: 'correct horse', force: true });
  const passphraseFile = join(dir, 'server.passphrase');
  await writeFile(passphraseFile, 'correct horse\n', { mode: 0o600 });

  const without = await runSecsess(['serve', '--listen', '127.0.0.1:0', '--key', keys.serverKey, '--stdio']);
  t.is(without.code, 1);
  t.regex(without.stderr, /pass the passphrase with --passphrase-file FILE.*\[ERR_KEY_ENCRYPTED\]$/m);

  // The backend is a port nothing listens on: the session itself is what is checked — it is
  // established under the decrypted key, then closed 4000 for want of a backend.
  const serve = await startServe(keys, '127.0.0.1:9', ['--passphrase-file', passphraseFile]);
  t.teardown(() => serve.stop('SIGKILL'));
  const fingerprint = (await PublicKey.load(keys.serverPub)).fingerprint();
  const probe = await runSecsess(['connect', serve.address, '--server-pub', keys.serverPub], { input: '' });
  t.regex(probe.stderr, /code 4000: backend unavailable/);
  const conn = await serve.waitForEvent((e) => e.event === 'conn', 'the conn line');
  t.is(conn['close'], 4000);

  // SIGHUP reads the key again, with the passphrase read again from its file: a new key,
  // encrypted with a new passphrase written to the same file, is in force afterwards.
  const next = await PrivateKey.load(keys.otherKey);
  await next.save(keys.serverKey, { passphrase: 'battery staple', force: true });
  await writeFile(passphraseFile, 'battery staple\n', { mode: 0o600 });
  serve.child.kill('SIGHUP');
  const reload = await serve.waitForEvent((e) => e.event === 'reload', 'the reload line');
  t.deepEqual(reload['fingerprints'], [next.publicKey.fingerprint()]);
  t.not(next.publicKey.fingerprint(), fingerprint);
});
