/** `server.reloadKeys()`: a rewritten key file in force for new clients, without a restart. */
import { writeFile } from 'node:fs/promises';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { KeyError, KeyPair, PublicKey } from '@secsess/keys';
import { Client, ErrorCode, Server, SessionError, secureDuplex } from '../src/index.js';
import type { ServerOptions } from '../src/index.js';
import { fixtureKeys, keyFiles } from './helpers/keys.js';
import { echoSessions, rawConnect, waitUntil } from './helpers/net.js';

interface Rig {
  readonly server: Server;
  /** The key file the server was created with. */
  readonly keyPath: string;
  /** The public half of the key the file held at start(). */
  readonly first: PublicKey;
  readonly endpoint: string;
  readonly port: number;
}

/** An echo server on 127.0.0.1:0 created with the path of a fresh key file (and `extra` keys first). */
async function startRig(t: ExecutionContext, options: ServerOptions = {}): Promise<Rig> {
  const files = await keyFiles();
  t.teardown(() => files.cleanup());
  const server = Server.create('127.0.0.1:0', files.key, undefined, options);
  await server.start();
  t.teardown(() => server.stop());
  echoSessions(server);
  const port = server.address!.port;
  const first = await PublicKey.load(files.pub);
  return { server, keyPath: files.key, first, endpoint: `127.0.0.1:${port}`, port };
}

/** A client pinned to `key` connects, sends `text` and reads the echo. */
async function roundTrip(t: ExecutionContext, key: PublicKey, endpoint: string, text: string): Promise<void> {
  const session = await Client.create(key).connect(endpoint);
  await session.write(text);
  t.is((await session.read())?.toString(), text);
  await session.close();
}

/** Writes a new key over `path` and returns its public half. */
async function rewriteKey(path: string): Promise<PublicKey> {
  const pair = await KeyPair.generateRSA({ bits: 2048 });
  await pair.privateKey.save(path, { force: true });
  return pair.publicKey;
}

const swapsKeys = test.macro(async (t, workers: number) => {
  const { server, keyPath, first, endpoint } = await startRig(t, { workers });
  const before = await Client.create(first).connect(endpoint);
  const second = await rewriteKey(keyPath);
  t.deepEqual(await server.reloadKeys(), [second.fingerprint()]);
  await roundTrip(t, second, endpoint, 'pinned to the new key');
  // The old key is no longer served: a client pinned to it is refused.
  await t.throwsAsync(Client.create(first).connect(endpoint), { code: ErrorCode.SERVER_KEY_MISMATCH });
  // The session opened before the reload is left alone.
  for (const text of ['still', 'working']) {
    await before.write(text);
    t.is((await before.read())?.toString(), text);
  }
  await before.close();
  t.is(before.closeCode, 1000);
  if (workers > 0) {
    // Counted since start(), the replaced pool's decryptions included (one per handshake:
    // `before` under the first pool, the round trip under the second).
    t.true(server.workerCounts.decrypts >= 2);
  }
});

test(
  'reloadKeys puts a rewritten key file in force for new clients; a session opened before keeps working (worker pool)',
  swapsKeys,
  1,
);
test(
  'reloadKeys puts a rewritten key file in force for new clients; a session opened before keeps working (no workers)',
  swapsKeys,
  0,
);

test('a handshake in progress when the keys are reloaded finishes with the keys it began with', async (t) => {
  const { server, keyPath, first, port, endpoint } = await startRig(t, { workers: 1 });
  const socket = await rawConnect(port);
  t.teardown(() => socket.destroy());
  await waitUntil(() => server.handshakeCount === 1, 'the server has the connection');
  const second = await rewriteKey(keyPath);
  await server.reloadKeys();
  // Its ClientHello arrives after the reload: the old key, in the old pool, answers it.
  const session = await secureDuplex(socket, { role: 'client', serverKey: first });
  await session.write('begun before the reload');
  t.is((await session.read())?.toString(), 'begun before the reload');
  await session.close();
  await roundTrip(t, second, endpoint, 'and the next one gets the new key');
});

test('a key file that no longer loads leaves the keys in force, and reloadKeys throws its KeyError', async (t) => {
  const { server, keyPath, first, endpoint } = await startRig(t, { workers: 1 });
  await writeFile(keyPath, 'not a key\n', { mode: 0o600 });
  await t.throwsAsync(server.reloadKeys(), { instanceOf: KeyError, code: 'ERR_KEY_FORMAT' });
  await roundTrip(t, first, endpoint, 'the old key still serves');
  await writeFile(keyPath, '', { mode: 0o644 });
  await t.throwsAsync(server.reloadKeys(), { instanceOf: KeyError });
  await roundTrip(t, first, endpoint, 'after a second failure too');
  t.true(server.listening);
});

test('key objects stay as they are, key files are read again; the first key is the announced one', async (t) => {
  const files = await keyFiles();
  t.teardown(() => files.cleanup());
  const fixed = fixtureKeys();
  const server = Server.create('127.0.0.1:0', [fixed.privateKey, files.key], undefined, { workers: 0 });
  await server.start();
  t.teardown(() => server.stop());
  echoSessions(server);
  const endpoint = `127.0.0.1:${server.address!.port}`;
  const second = await rewriteKey(files.key);
  t.deepEqual(await server.reloadKeys(), [fixed.publicKey.fingerprint(), second.fingerprint()]);
  await roundTrip(t, fixed.publicKey, endpoint, 'the object key');
  await roundTrip(t, second, endpoint, 'the reread file key');
});

test('reloadKeys rejects with ERR_INVALID_STATE when the server is not listening', async (t) => {
  const server = Server.create('127.0.0.1:0', fixtureKeys().privateKey, undefined, { workers: 0 });
  const notListening = { instanceOf: SessionError, code: ErrorCode.INVALID_STATE };
  await t.throwsAsync(server.reloadKeys(), {
    ...notListening,
    message: 'cannot reload keys: server is idle',
  });
  await server.start();
  t.is((await server.reloadKeys()).length, 1);
  await server.stop();
  await t.throwsAsync(server.reloadKeys(), notListening);
});

test('concurrent reloads run one after the other and all resolve', async (t) => {
  const { server, keyPath, endpoint } = await startRig(t, { workers: 1 });
  const second = await rewriteKey(keyPath);
  const results = await Promise.all([server.reloadKeys(), server.reloadKeys(), server.reloadKeys()]);
  t.deepEqual(results, [[second.fingerprint()], [second.fingerprint()], [second.fingerprint()]]);
  await roundTrip(t, second, endpoint, 'after three reloads');
});
