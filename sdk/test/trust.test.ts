import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PrivateKey } from '@secsess/keys';
import { Client, ErrorCode, Server, probeServerKey } from '../src/index.js';
import type { PeerInfo, ServerOptions } from '../src/index.js';
import { encodeKeyResponse } from '../src/protocol/handshake-messages.js';
import { fixtureKeys } from './helpers/keys.js';
import type { TestKeys } from './helpers/keys.js';
import { echoSessions } from './helpers/net.js';

const run = promisify(execFile);
const serverKeys = fixtureKeys('server-2048');
const otherKeys = fixtureKeys('other-2048');
const clientKeys = fixtureKeys('client-2048');

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'secsess-trust-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** An echo server on 127.0.0.1:0 holding `keys` (the first is sent to clients that ask). */
async function echoServer(
  t: { teardown(fn: () => Promise<void>): void },
  keys: TestKeys[] = [serverKeys],
  options: ServerOptions = {},
  port = 0,
): Promise<{ server: Server; endpoint: string; port: number }> {
  const server = Server.create(
    `127.0.0.1:${port}`,
    keys.map((k) => k.privateKey),
    undefined,
    { workers: 0, ...options },
  );
  server.on('handshakeError', () => {});
  echoSessions(server);
  await server.start();
  t.teardown(() => server.stop());
  const bound = server.address!.port;
  return { server, endpoint: `127.0.0.1:${bound}`, port: bound };
}

async function roundTrip(client: Client, endpoint: string): Promise<string> {
  await client.connect(endpoint);
  await client.write('ping');
  const reply = (await client.read())!.toString();
  await client.close();
  return reply;
}

test('a pinned key connects; a wrong pinned key fails with ERR_SERVER_KEY_MISMATCH', async (t) => {
  const { endpoint } = await echoServer(t);
  t.is(await roundTrip(Client.create(serverKeys.publicKey), endpoint), 'ping');
  await t.throwsAsync(Client.create(otherKeys.publicKey).connect(endpoint), {
    code: ErrorCode.SERVER_KEY_MISMATCH,
  });
});

test('strict trust refuses an unknown host, naming it and the fingerprint it offered', async (t) => {
  const { endpoint, port } = await echoServer(t);
  const knownHosts = join(await tempDir(t), 'known_hosts');
  const err = await t.throwsAsync(
    Client.create(null, {}, { trust: 'strict', knownHosts }).connect(endpoint),
    {
      code: 'ERR_HOST_UNKNOWN',
    },
  );
  t.true(err!.message.includes(`127.0.0.1:${port}`));
  t.true(err!.message.includes(serverKeys.publicKey.fingerprint()));
});

test('tofu records the key on first contact and requires it on the next', async (t) => {
  const { endpoint, port } = await echoServer(t);
  const knownHosts = join(await tempDir(t), 'known_hosts');
  const client = Client.create(null, {}, { trust: 'tofu', knownHosts });
  t.is(await roundTrip(client, endpoint), 'ping');
  const file = await readFile(knownHosts, 'utf8');
  t.true(file.startsWith(`[127.0.0.1]:${port} ssh-rsa `));
  // Second contact: strict now suffices, and the known key is named in the hello.
  t.is(await roundTrip(Client.create(null, {}, { trust: 'strict', knownHosts }), endpoint), 'ping');
  t.is(await readFile(knownHosts, 'utf8'), file);
});

test('a changed server key fails with both fingerprints and the line to edit, never updated', async (t) => {
  const dir = await tempDir(t);
  const knownHosts = join(dir, 'known_hosts');
  const first = await echoServer(t, [serverKeys]);
  t.is(await roundTrip(Client.create(null, {}, { trust: 'tofu', knownHosts }), first.endpoint), 'ping');
  const before = await readFile(knownHosts, 'utf8');
  // Same host:port now answers with another key (a new server, or an attacker).
  await first.server.stop();
  const impostor = Server.create(`127.0.0.1:${first.port}`, otherKeys.privateKey, undefined, { workers: 0 });
  impostor.on('handshakeError', () => {});
  await impostor.start();
  t.teardown(() => impostor.stop());
  for (const trust of ['tofu', 'strict'] as const) {
    const err = await t.throwsAsync(Client.create(null, {}, { trust, knownHosts }).connect(first.endpoint), {
      code: 'ERR_HOST_KEY_CHANGED',
    });
    t.true(err!.message.includes(serverKeys.publicKey.fingerprint()));
    t.true(err!.message.includes(otherKeys.publicKey.fingerprint()));
    t.true(err!.message.includes(`line 1 of ${knownHosts}`));
  }
  t.is(await readFile(knownHosts, 'utf8'), before);
});

test('concurrent tofu clients all connect and record the host once', async (t) => {
  const { endpoint } = await echoServer(t);
  const knownHosts = join(await tempDir(t), 'known_hosts');
  const replies = await Promise.all(
    Array.from({ length: 8 }, () =>
      roundTrip(Client.create(null, {}, { trust: 'tofu', knownHosts }), endpoint),
    ),
  );
  t.deepEqual(replies, Array(8).fill('ping'));
  const lines = (await readFile(knownHosts, 'utf8')).split('\n').filter((l) => l.trim());
  t.is(lines.length, 1);
});

test('key rotation: old and new keys served together, then the old one retired', async (t) => {
  const dir = await tempDir(t);
  const knownHosts = join(dir, 'known_hosts');
  // Before: the server has the old key; a tofu client learns it.
  const old = serverKeys;
  const fresh = otherKeys;
  const before = await echoServer(t, [old]);
  t.is(await roundTrip(Client.create(null, {}, { trust: 'tofu', knownHosts }), before.endpoint), 'ping');
  await before.server.stop();
  // During: both keys, the new one first (sent to new clients); old clients keep working.
  const during = await echoServer(t, [fresh, old], {}, before.port);
  t.is(await roundTrip(Client.create(old.publicKey), during.endpoint), 'ping');
  t.is(await roundTrip(Client.create(fresh.publicKey), during.endpoint), 'ping');
  t.is(await roundTrip(Client.create(null, {}, { trust: 'strict', knownHosts }), during.endpoint), 'ping');
  t.is((await probeServerKey(during.endpoint)).fingerprint(), fresh.publicKey.fingerprint());
  await during.server.stop();
  // After: only the new key; a client still pinned to the old one is told, never switched.
  const after = await echoServer(t, [fresh], {}, before.port);
  await t.throwsAsync(Client.create(old.publicKey).connect(after.endpoint), {
    code: ErrorCode.SERVER_KEY_MISMATCH,
  });
  t.is(await roundTrip(Client.create(fresh.publicKey), after.endpoint), 'ping');
  const changed = await t.throwsAsync(
    Client.create(null, {}, { trust: 'strict', knownHosts }).connect(after.endpoint),
    {
      code: 'ERR_HOST_KEY_CHANGED',
    },
  );
  t.true(changed!.message.includes(fresh.publicKey.fingerprint()));
});

test('client authentication: a key in authorized_keys is let in; the server sees it', async (t) => {
  const dir = await tempDir(t);
  const authorizedKeys = join(dir, 'authorized_keys');
  await writeFile(authorizedKeys, `# clients\n${clientKeys.publicKey.toOpenSSH('alice')}\n`, { mode: 0o600 });
  const seen: PeerInfo[] = [];
  const { endpoint } = await echoServer(t, [serverKeys], {
    authorizedKeys,
    authorize: (peer) => {
      seen.push(peer);
      return true;
    },
  });
  const client = Client.create(serverKeys.publicKey, {}, { clientKey: clientKeys.privateKey });
  t.is(await roundTrip(client, endpoint), 'ping');
  t.is(seen[0]?.clientFingerprint, clientKeys.publicKey.fingerprint());
  t.is(seen[0]?.serverFingerprint, serverKeys.publicKey.fingerprint());
  t.is(seen[0]?.remoteAddress, '127.0.0.1');
});

test('client authentication: denied by the file, by a missing key, by the hook, and by a throwing hook', async (t) => {
  const dir = await tempDir(t);
  const authorizedKeys = join(dir, 'authorized_keys');
  await writeFile(authorizedKeys, `${otherKeys.publicKey.toOpenSSH('bob')}\n`, { mode: 0o600 });
  const denied: string[] = [];
  const byFile = await echoServer(t, [serverKeys], { authorizedKeys });
  byFile.server.on('handshakeError', (err) => denied.push((err as { code: string }).code));
  const notInFile = Client.create(serverKeys.publicKey, {}, { clientKey: clientKeys.privateKey });
  await t.throwsAsync(roundTrip(notInFile, byFile.endpoint), { code: ErrorCode.NOT_AUTHORIZED });
  await t.throwsAsync(roundTrip(Client.create(serverKeys.publicKey), byFile.endpoint), {
    code: ErrorCode.NOT_AUTHORIZED,
  });

  const byHook = await echoServer(t, [serverKeys], { authorize: (peer) => peer.clientKey !== null && false });
  await t.throwsAsync(
    roundTrip(Client.create(serverKeys.publicKey, {}, { clientKey: clientKeys.privateKey }), byHook.endpoint),
    { code: ErrorCode.NOT_AUTHORIZED },
  );

  const throwing = await echoServer(t, [serverKeys], {
    authorize: async () => {
      throw new Error('database down');
    },
  });
  await t.throwsAsync(
    roundTrip(
      Client.create(serverKeys.publicKey, {}, { clientKey: clientKeys.privateKey }),
      throwing.endpoint,
    ),
    { code: ErrorCode.NOT_AUTHORIZED },
  );
  // The server keeps running: an allowed client still gets through on the file server.
  const allowed = Client.create(serverKeys.publicKey, {}, { clientKey: otherKeys.privateKey });
  t.is(await roundTrip(allowed, byFile.endpoint), 'ping');
  t.true(denied.includes(ErrorCode.NOT_AUTHORIZED));
});

test('authorized_keys is reloaded without restarting the server', async (t) => {
  const dir = await tempDir(t);
  const authorizedKeys = join(dir, 'authorized_keys');
  await writeFile(authorizedKeys, '', { mode: 0o600 });
  const { server, endpoint } = await echoServer(t, [serverKeys], { authorizedKeys });
  const client = (): Client => Client.create(serverKeys.publicKey, {}, { clientKey: clientKeys.privateKey });
  await t.throwsAsync(roundTrip(client(), endpoint), { code: ErrorCode.NOT_AUTHORIZED });
  await writeFile(authorizedKeys, `${clientKeys.publicKey.toOpenSSH()}\n`, { mode: 0o600 });
  t.deepEqual(await server.reloadAuthorizedKeys(), { added: 1, removed: 0 });
  t.is(await roundTrip(client(), endpoint), 'ping');
});

test('an OpenSSH-format client key from ssh-keygen authenticates against its authorized_keys line', async (t) => {
  const dir = await tempDir(t);
  const keyPath = join(dir, 'id_rsa');
  await run('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-N', '', '-C', 'carol@lab', '-f', keyPath]);
  const authorizedKeys = join(dir, 'authorized_keys');
  await writeFile(authorizedKeys, await readFile(`${keyPath}.pub`), { mode: 0o600 });
  const { endpoint } = await echoServer(t, [serverKeys], { authorizedKeys });
  const clientKey = await PrivateKey.load(keyPath);
  t.is(await roundTrip(Client.create(serverKeys.publicKey, {}, { clientKey }), endpoint), 'ping');
  // A path works as well as a loaded key.
  t.is(await roundTrip(Client.create(serverKeys.publicKey, {}, { clientKey: keyPath }), endpoint), 'ping');
});

test('probeServerKey fetches the key a server sends to clients that ask', async (t) => {
  const { endpoint } = await echoServer(t, [otherKeys, serverKeys]);
  t.true((await probeServerKey(endpoint)).equals(otherKeys.publicKey));
});

test('tofu records nothing when whoever answers cannot prove it holds the key it sent', async (t) => {
  const knownHosts = join(await tempDir(t), 'known_hosts');
  // An impostor: answers the key request with the real server's public key, then cannot
  // complete the handshake (it does not hold the private key) and hangs up.
  const impostor = createServer((socket) => {
    socket.once('data', () => {
      socket.write(encodeKeyResponse(serverKeys.publicKey.toSpkiDer()));
      socket.once('data', () => socket.destroy());
    });
  });
  await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => impostor.close(() => resolve())));
  const port = (impostor.address() as { port: number }).port;
  await t.throwsAsync(Client.create(null, {}, { trust: 'tofu', knownHosts }).connect(`127.0.0.1:${port}`));
  const recorded = await readFile(knownHosts, 'utf8').catch(() => '');
  t.is(recorded.trim(), '');
});

test('an authorize hook that never answers denies when the handshake timeout expires', async (t) => {
  const reasons: string[] = [];
  const { server, endpoint } = await echoServer(t, [serverKeys], {
    // Long enough that a loaded machine still reaches the hook before the timeout.
    handshakeTimeout: 1500,
    authorize: () => new Promise<boolean>(() => {}),
  });
  server.on('handshakeError', (err) => reasons.push((err as Error).message));
  await t.throwsAsync(roundTrip(Client.create(serverKeys.publicKey), endpoint), {
    code: ErrorCode.NOT_AUTHORIZED,
  });
  t.deepEqual(reasons, ['client not authorized: hook timed out']);
});
