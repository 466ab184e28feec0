/**
 * Damaged key files through the SDK: `Server.create(endpoint, path)` reports each with the
 * same coded KeyError as the key library, from `start()` (which reads the file), binds
 * nothing and can be started again once the file is fixed; `Client.create(path)` reports
 * damaged public key files from `connect()`, before any connection is made.
 */
import { copyFile, rm } from 'node:fs/promises';
import test from 'ava';
import { KeyErrorCode } from '@secsess/keys';
import { Client, KeyError, PrivateKey, Server } from '../src/index.js';
import { DAMAGED_PASSPHRASE, makeDamagedKeys } from '../../keys/test/helpers/damaged-keys.js';
import type { DamagedKeys } from '../../keys/test/helpers/damaged-keys.js';
import { echoSessions } from './helpers/net.js';

let keys!: DamagedKeys;
test.before(async () => {
  keys = await makeDamagedKeys();
});
test.after.always(async () => {
  await keys?.cleanup();
});

test('Server.start() rejects each damaged private key file with the library’s code and listens on nothing', async (t) => {
  for (const file of keys.privateFiles) {
    const library = await t.throwsAsync(PrivateKey.load(file.path), { instanceOf: KeyError }, file.name);
    t.is(library?.code, file.code, file.name);
    const server = Server.create('127.0.0.1:0', file.path, undefined, { workers: 1 });
    const err = await t.throwsAsync(server.start(), { instanceOf: KeyError }, file.name);
    t.is(err?.code, file.code, file.name);
    t.is(err?.message, library?.message, file.name);
    t.false(server.listening);
    t.is(server.address, null);
    // Rejected before listening: stopping is a no-op, not an error.
    await server.stop();
  }
});

test('a server whose key file was damaged starts once the file is fixed', async (t) => {
  const path = `${keys.dir}/fixed-later.key`;
  await copyFile(keys.privateFiles.find((f) => f.name === 'truncated PEM')!.path, path);
  const server = Server.create('127.0.0.1:0', path, undefined, { workers: 1 });
  await t.throwsAsync(server.start(), { code: KeyErrorCode.FORMAT });
  await rm(path);
  await copyFile(keys.good, path);
  await server.start();
  t.teardown(() => server.stop());
  echoSessions(server);
  const session = await Client.create(keys.goodPub).connect(server.address!);
  await session.write('works');
  t.is((await session.read())?.toString(), 'works');
  await session.close();
});

test('a passphrase-protected key goes through PrivateKey.load: wrong passphrase ERR_KEY_PASSPHRASE, right one serves', async (t) => {
  await t.throwsAsync(PrivateKey.load(keys.encrypted, { passphrase: 'wrong' }), {
    code: KeyErrorCode.PASSPHRASE,
  });
  // Given as a path the server cannot ask for a passphrase: ERR_KEY_ENCRYPTED says so.
  const byPath = Server.create('127.0.0.1:0', keys.encrypted);
  await t.throwsAsync(byPath.start(), { code: KeyErrorCode.ENCRYPTED, message: /passphrase/ });
  const key = await PrivateKey.load(keys.encrypted, { passphrase: DAMAGED_PASSPHRASE });
  const server = Server.create('127.0.0.1:0', key, undefined, { workers: 1 });
  await server.start();
  t.teardown(() => server.stop());
  echoSessions(server);
  const session = await Client.create(keys.goodPub).connect(server.address!);
  await session.close();
  t.is(session.closeCode, 1000);
});

test('Client.connect() rejects each damaged public key file with its code before connecting', async (t) => {
  for (const file of keys.publicFiles) {
    // Port 9 (discard) on loopback: nothing listens, so a connection attempt would fail otherwise.
    const client = Client.create(file.path);
    const err = await t.throwsAsync(client.connect('127.0.0.1:9'), { instanceOf: KeyError }, file.name);
    t.is(err?.code, file.code, file.name);
    t.is(client.session, null, 'no connection was attempted');
  }
});
