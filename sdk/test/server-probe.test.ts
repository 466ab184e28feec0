/**
 * A server names what is not an attack: a key probe (KeyRequest, then hang up) and a client
 * that refused the server's key (KeyRequest, then the plaintext Alert HandshakeFailed) are
 * `'probe'` events, never `'handshakeError'`; garbage, and a probe that goes on with garbage,
 * stay handshake errors. Real sockets, a real server.
 */
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { Client, ErrorCode, probeServerKey } from '../src/index.js';
import type { KeyProbe, RemoteInfo, Server, SessionError } from '../src/index.js';
import { encodeKeyRequest } from '../src/protocol/handshake-messages.js';
import { fixtureKeys } from './helpers/keys.js';
import { outcome, rawFrom } from './helpers/attackers.js';
import { echoSessions, startServer, waitUntil } from './helpers/net.js';

interface Seen {
  probes: Array<[KeyProbe, RemoteInfo]>;
  errors: SessionError[];
}

function watch(server: Server): Seen {
  const seen: Seen = { probes: [], errors: [] };
  server.on('probe', (kind, remote) => seen.probes.push([kind, remote]));
  server.on('handshakeError', (err) => seen.errors.push(err));
  return seen;
}

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'secsess-probe-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('probeServerKey (secsess-keygen probe) is a probe on the server: key request only', async (t) => {
  const { server, endpoint, keys } = await startServer();
  t.teardown(() => server.stop());
  const seen = watch(server);
  const key = await probeServerKey(endpoint);
  t.is(key.fingerprint(), keys.publicKey.fingerprint());
  await waitUntil(() => seen.probes.length + seen.errors.length > 0, 'the server reports the probe');
  t.deepEqual(
    seen.probes.map(([kind]) => kind),
    ['keyRequestOnly'],
  );
  t.is(seen.probes[0]![1].address, '127.0.0.1');
  t.deepEqual(seen.errors, []);
  t.is(server.handshakeCount, 0);
});

test('a strict client with an empty known_hosts: the server hears "client refused the server key"', async (t) => {
  const { server, endpoint } = await startServer();
  t.teardown(() => server.stop());
  echoSessions(server);
  const seen = watch(server);
  const knownHosts = join(await tempDir(t), 'known_hosts');
  await writeFile(knownHosts, '', { mode: 0o600 });
  const client = Client.create(null, {}, { trust: 'strict', knownHosts });
  await t.throwsAsync(client.connect(endpoint), { code: 'ERR_HOST_UNKNOWN' });
  await waitUntil(() => seen.probes.length + seen.errors.length > 0, 'the server reports the refusal');
  t.deepEqual(
    seen.probes.map(([kind]) => kind),
    ['serverKeyRefused'],
  );
  t.deepEqual(seen.errors, []);
});

test('a changed key: the client says it refused the new key, after the server refused the old one', async (t) => {
  const { server, endpoint, port } = await startServer();
  t.teardown(() => server.stop());
  const seen = watch(server);
  const knownHosts = join(await tempDir(t), 'known_hosts');
  // known_hosts holds another key for this host: the server holds a different one.
  await writeFile(knownHosts, `[127.0.0.1]:${port} ${fixtureKeys('other-2048').publicKey.toOpenSSH()}\n`, {
    mode: 0o600,
  });
  const client = Client.create(null, {}, { trust: 'tofu', knownHosts });
  await t.throwsAsync(client.connect(endpoint), { code: 'ERR_HOST_KEY_CHANGED' });
  await waitUntil(() => seen.probes.length > 0 && seen.errors.length > 0, 'the server reports both');
  // The hello named a key the server does not hold (its own coded error), then the client
  // fetched the current key to name it in its error and refused it.
  t.deepEqual(
    seen.errors.map((e) => e.code),
    [ErrorCode.SERVER_KEY_MISMATCH],
  );
  t.deepEqual(
    seen.probes.map(([kind]) => kind),
    ['serverKeyRefused'],
  );
});

test('garbage, and a key request followed by garbage, are still handshake errors', async (t) => {
  const { server, port } = await startServer();
  t.teardown(() => server.stop());
  const seen = watch(server);
  for (const bytes of [
    Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
    Buffer.concat([encodeKeyRequest(), Buffer.from([0x42, 0x00, 0x00, 0x01, 0x00])]),
    // A key request, then a plaintext alert other than HandshakeFailed (Internal).
    Buffer.concat([encodeKeyRequest(), Buffer.from([0x15, 0x00, 0x00, 0x02, 0x00, 0x01])]),
  ]) {
    const socket = await rawFrom(port);
    const done = outcome(socket);
    socket.end(bytes);
    await done;
  }
  await waitUntil(() => seen.errors.length + seen.probes.length >= 3, 'the server reports all three');
  t.deepEqual(seen.probes, []);
  t.is(seen.errors.length, 3);
});

test('a key request, then the half of a frame, then hang up: a handshake error, not a probe', async (t) => {
  const { server, port } = await startServer();
  t.teardown(() => server.stop());
  const seen = watch(server);
  const socket = await rawFrom(port);
  const replied = once(socket, 'data');
  socket.write(encodeKeyRequest());
  await replied;
  socket.end(Buffer.from([0x03, 0x00, 0x01]));
  await outcome(socket);
  await waitUntil(() => seen.errors.length + seen.probes.length > 0, 'the server reports it');
  t.deepEqual(seen.probes, []);
  t.deepEqual(
    seen.errors.map((e) => e.code),
    [ErrorCode.HANDSHAKE],
  );
});
