/**
 * `server.reload()`: the key files and the authorizedKeys file read again and put in force
 * together (what a SIGHUP does) — or, if any of them does not load, nothing changes.
 */
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { AuthorizedKeys, KeyError, KeyPair, PrivateKey, PublicKey } from '@secsess/keys';
import { Client, ErrorCode, Server } from '../src/index.js';
import { fixtureKeys, keyFiles } from './helpers/keys.js';
import { echoSessions } from './helpers/net.js';

const alice = fixtureKeys('client-2048');
const bob = fixtureKeys('other-2048');

interface Rig {
  readonly server: Server;
  readonly keyPath: string;
  readonly authorizedKeys: string;
  readonly first: PublicKey;
  readonly endpoint: string;
}

/** An echo server with a key file and an authorized_keys file that lists alice. */
async function startRig(t: ExecutionContext): Promise<Rig> {
  const files = await keyFiles();
  t.teardown(() => files.cleanup());
  const authorizedKeys = join(files.dir, 'authorized_keys');
  await writeFile(authorizedKeys, `${alice.publicKey.toOpenSSH()}\n`, { mode: 0o600 });
  const server = Server.create('127.0.0.1:0', files.key, undefined, { workers: 0, authorizedKeys });
  await server.start();
  t.teardown(() => server.stop());
  echoSessions(server);
  const first = await PublicKey.load(files.pub);
  return { server, keyPath: files.key, authorizedKeys, first, endpoint: `127.0.0.1:${server.address!.port}` };
}

/** `client` pinned to `serverKey` connects and echoes once. */
async function echoes(serverKey: PublicKey, endpoint: string, client: PrivateKey): Promise<boolean> {
  const session = await Client.create(serverKey, {}, { clientKey: client }).connect(endpoint);
  await session.write('ping');
  const ok = (await session.read())?.toString() === 'ping';
  await session.close();
  return ok;
}

async function rewriteKey(path: string): Promise<PublicKey> {
  const pair = await KeyPair.generateRSA({ bits: 2048 });
  await pair.privateKey.save(path, { force: true });
  return pair.publicKey;
}

test('reload() puts a new key file and a new authorized_keys in force together', async (t) => {
  const rig = await startRig(t);
  const second = await rewriteKey(rig.keyPath);
  await writeFile(rig.authorizedKeys, `${bob.publicKey.toOpenSSH()}\n`, { mode: 0o600 });
  t.deepEqual(await rig.server.reload(), {
    fingerprints: [second.fingerprint()],
    authorized: { added: 1, removed: 1 },
  });
  t.true(await echoes(second, rig.endpoint, bob.privateKey));
  await t.throwsAsync(echoes(second, rig.endpoint, alice.privateKey), { code: ErrorCode.NOT_AUTHORIZED });
  await t.throwsAsync(echoes(rig.first, rig.endpoint, bob.privateKey), {
    code: ErrorCode.SERVER_KEY_MISMATCH,
  });
});

test('reload(): a new key file with an authorized_keys that does not load changes nothing', async (t) => {
  const rig = await startRig(t);
  const second = await rewriteKey(rig.keyPath);
  // Too open a mode: the file is refused, so the new key must not go into force either.
  await writeFile(rig.authorizedKeys, `${bob.publicKey.toOpenSSH()}\n`);
  await chmod(rig.authorizedKeys, 0o666);
  await t.throwsAsync(rig.server.reload(), { instanceOf: KeyError });
  t.true(await echoes(rig.first, rig.endpoint, alice.privateKey), 'the old key and the old list still serve');
  await t.throwsAsync(echoes(second, rig.endpoint, alice.privateKey), {
    code: ErrorCode.SERVER_KEY_MISMATCH,
  });
  await t.throwsAsync(echoes(rig.first, rig.endpoint, bob.privateKey), { code: ErrorCode.NOT_AUTHORIZED });
  // Fixed, the next reload puts both in force.
  await chmod(rig.authorizedKeys, 0o600);
  t.deepEqual((await rig.server.reload()).fingerprints, [second.fingerprint()]);
  t.true(await echoes(second, rig.endpoint, bob.privateKey));
});

test('reload(): a key file that does not load leaves the authorized_keys in force too', async (t) => {
  const rig = await startRig(t);
  await writeFile(rig.authorizedKeys, `${bob.publicKey.toOpenSSH()}\n`, { mode: 0o600 });
  await writeFile(rig.keyPath, 'not a key\n', { mode: 0o600 });
  await t.throwsAsync(rig.server.reload(), { instanceOf: KeyError, code: 'ERR_KEY_FORMAT' });
  t.true(await echoes(rig.first, rig.endpoint, alice.privateKey));
  await t.throwsAsync(echoes(rig.first, rig.endpoint, bob.privateKey), { code: ErrorCode.NOT_AUTHORIZED });
});

test('reload() without an authorizedKeys file reloads the keys and says authorized: null', async (t) => {
  const files = await keyFiles();
  t.teardown(() => files.cleanup());
  const server = Server.create('127.0.0.1:0', files.key, undefined, { workers: 0 });
  await server.start();
  t.teardown(() => server.stop());
  const second = await rewriteKey(files.key);
  t.deepEqual(await server.reload(), { fingerprints: [second.fingerprint()], authorized: null });
});

test('an encrypted key file given as { path, passphrase }: the passphrase is asked at start and at each reload, and a Buffer it gives is wiped', async (t) => {
  const files = await keyFiles();
  t.teardown(() => files.cleanup());
  const key = await PrivateKey.load(files.key);
  await key.save(files.key, { passphrase: 'correct horse', force: true });
  const given: Buffer[] = [];
  const passphrase = (): Buffer => {
    const b = Buffer.from('correct horse');
    given.push(b);
    return b;
  };
  const server = Server.create('127.0.0.1:0', { path: files.key, passphrase }, undefined, { workers: 0 });
  await server.start();
  t.teardown(() => server.stop());
  echoSessions(server);
  const endpoint = `127.0.0.1:${server.address!.port}`;
  t.true(await echoes(key.publicKey, endpoint, alice.privateKey));
  t.deepEqual(await server.reloadKeys(), [key.publicKey.fingerprint()]);
  t.is(given.length, 2, 'asked at start and at the reload');
  t.true(
    given.every((b) => b.every((byte) => byte === 0)),
    'each passphrase buffer wiped',
  );
  t.throws(() => Server.create('127.0.0.1:0', { path: files.key } as never), { instanceOf: TypeError });
});

test('reload() with an in-memory authorizedKeys (fromString) reloads the keys and leaves the list alone', async (t) => {
  const files = await keyFiles();
  t.teardown(() => files.cleanup());
  const authorizedKeys = AuthorizedKeys.fromString(`${alice.publicKey.toOpenSSH()}\n`);
  const server = Server.create('127.0.0.1:0', files.key, undefined, { workers: 0, authorizedKeys });
  await server.start();
  t.teardown(() => server.stop());
  echoSessions(server);
  const second = await rewriteKey(files.key);
  t.deepEqual(await server.reload(), { fingerprints: [second.fingerprint()], authorized: null });
  t.true(await echoes(second, `127.0.0.1:${server.address!.port}`, alice.privateKey));
});
