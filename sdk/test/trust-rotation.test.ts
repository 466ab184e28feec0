/**
 * known_hosts with several keys for one server (a key rotation), @revoked keys, and the
 * wire flow the client uses to find which trusted key the server holds — over real sockets
 * against a real Server.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { Client, ErrorCode, Server } from '../src/index.js';
import type { SessionError } from '../src/index.js';
import { FrameType } from '../src/protocol/constants.js';
import { encodeKeyResponse } from '../src/protocol/handshake-messages.js';
import { fixtureKeys } from './helpers/keys.js';
import type { TestKeys } from './helpers/keys.js';
import { startProxy } from './helpers/mitm-proxy.js';
import { echoSessions } from './helpers/net.js';

const retired = fixtureKeys('server-2048');
const current = fixtureKeys('other-2048');
const revoked = fixtureKeys('server-3072');
const stranger = fixtureKeys('client-2048');

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'secsess-rotation-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

interface Running {
  endpoint: string;
  port: number;
  /** Handshakes the server refused, by code. */
  refused: string[];
  stop(): Promise<void>;
}

/** An echo server on 127.0.0.1 holding `keys` (the first is sent to clients that ask). */
async function echoServer(t: ExecutionContext, keys: TestKeys[], port = 0): Promise<Running> {
  const server = Server.create(
    `127.0.0.1:${port}`,
    keys.map((k) => k.privateKey),
    undefined,
    { workers: 0 },
  );
  const refused: string[] = [];
  server.on('handshakeError', (error: SessionError) => refused.push(error.code));
  echoSessions(server);
  await server.start();
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await server.stop();
  };
  t.teardown(stop);
  const bound = server.address!.port;
  return { endpoint: `127.0.0.1:${bound}`, port: bound, refused, stop };
}

async function roundTrip(client: Client, endpoint: string): Promise<string> {
  const session = await client.connect(endpoint);
  await client.write('ping');
  const reply = (await client.read())!.toString();
  const key = session.serverKey?.fingerprint();
  await client.close();
  return `${reply} via ${key}`;
}

const via = (keys: TestKeys): string => `ping via ${keys.publicKey.fingerprint()}`;

/** The known_hosts of a client in the middle of a rotation: retired key first, then the new one. */
async function rotationFile(dir: string, port: number, extra: string[] = []): Promise<string> {
  const path = join(dir, 'known_hosts');
  const field = `[127.0.0.1]:${port}`;
  await writeFile(
    path,
    [
      `${field} ${retired.publicKey.toOpenSSH('retired')}`,
      `${field} ${current.publicKey.toOpenSSH('current')}`,
      `@revoked * ${revoked.publicKey.toOpenSSH('leaked')}`,
      ...extra,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return path;
}

test('a known_hosts listing the retired key and the new one connects to a server holding only the new key', async (t) => {
  const dir = await tempDir(t);
  const after = await echoServer(t, [current]);
  const knownHosts = await rotationFile(dir, after.port);
  for (const trust of ['strict', 'tofu'] as const) {
    t.is(
      await roundTrip(Client.create(null, {}, { trust, knownHosts }), after.endpoint),
      via(current),
      trust,
    );
  }
  t.deepEqual(after.refused, [], 'the client named the new key at once: one connection, one round trip');
  const port = after.port;
  await after.stop();

  // Mid-rotation, the server holds both: still one round trip, with the new key.
  const during = await echoServer(t, [current, retired], port);
  t.is(
    await roundTrip(Client.create(null, {}, { trust: 'strict', knownHosts }), during.endpoint),
    via(current),
  );
  t.deepEqual(during.refused, []);
  await during.stop();

  // The server has not been given the new key yet: the client learns which key it holds
  // (one more connection) and accepts it because the file trusts it.
  const before = await echoServer(t, [retired], port);
  t.is(
    await roundTrip(Client.create(null, {}, { trust: 'strict', knownHosts }), before.endpoint),
    via(retired),
  );
  t.deepEqual(before.refused, [ErrorCode.SERVER_KEY_MISMATCH]);
  await before.stop();

  // A server holding neither key is refused as a changed key, and nothing is learned.
  const impostor = await echoServer(t, [stranger], port);
  const text = await readFile(knownHosts, 'utf8');
  for (const trust of ['strict', 'tofu'] as const) {
    const error = await t.throwsAsync(
      Client.create(null, {}, { trust, knownHosts }).connect(impostor.endpoint),
      {
        code: 'ERR_HOST_KEY_CHANGED',
      },
    );
    t.true(error!.message.includes(stranger.publicKey.fingerprint()), error!.message);
  }
  t.is(await readFile(knownHosts, 'utf8'), text);
});

test('a server holding a revoked key is refused with ERR_HOST_KEY_REVOKED, even where a line trusts it', async (t) => {
  const dir = await tempDir(t);
  const server = await echoServer(t, [revoked]);
  const field = `[127.0.0.1]:${server.port}`;
  // The revoked key is also listed as trusted for this very host, last (so it is named first).
  const knownHosts = await rotationFile(dir, server.port, [
    `${field} ${revoked.publicKey.toOpenSSH('also')}`,
  ]);
  const text = await readFile(knownHosts, 'utf8');
  for (const trust of ['strict', 'tofu'] as const) {
    const error = await t.throwsAsync(
      Client.create(null, {}, { trust, knownHosts }).connect(server.endpoint),
      {
        code: 'ERR_HOST_KEY_REVOKED',
      },
    );
    t.true(error!.message.includes(revoked.publicKey.fingerprint()), error!.message);
    t.true(error!.message.includes(`line 3 of ${knownHosts}`), error!.message);
  }
  // A host with no entry at all: tofu does not learn a revoked key either.
  const fresh = join(dir, 'fresh_known_hosts');
  await writeFile(fresh, `@revoked * ${revoked.publicKey.toOpenSSH()}\n`, { mode: 0o600 });
  await t.throwsAsync(
    Client.create(null, {}, { trust: 'tofu', knownHosts: fresh }).connect(server.endpoint),
    {
      code: 'ERR_HOST_KEY_REVOKED',
    },
  );
  t.is(await readFile(fresh, 'utf8'), `@revoked * ${revoked.publicKey.toOpenSSH()}\n`);
  t.is(await readFile(knownHosts, 'utf8'), text);
});

test('the key-request fallback cannot be steered: a forged refusal plus a swapped key response fails the handshake', async (t) => {
  const dir = await tempDir(t);
  const server = await echoServer(t, [current, retired]);
  const newest = current.publicKey.fingerprintBytes();
  let helloTampered = 0;
  let responsesSwapped = 0;
  // An attacker without any private key: it spoils the first hello's key_id, so the server
  // refuses it, then answers the client's key request with the retired key, hoping the
  // client settles for a key the attacker prefers.
  const proxy = await startProxy(server.port, (frame, link) => {
    if (frame.direction === 'c2s' && frame.type === FrameType.ClientHello && helloTampered === 0) {
      const at = frame.frame.indexOf(newest);
      if (at >= 0) {
        helloTampered++;
        const spoiled = Buffer.from(frame.frame);
        spoiled[at]! ^= 0xff;
        link.forward(spoiled);
        return;
      }
    }
    if (frame.direction === 's2c' && frame.type === FrameType.KeyResponse) {
      responsesSwapped++;
      link.forward(encodeKeyResponse(retired.publicKey.toSpkiDer()));
      return;
    }
    link.forward(frame.frame);
  });
  t.teardown(() => proxy.close());
  const knownHosts = join(dir, 'known_hosts');
  await writeFile(
    knownHosts,
    [
      `[127.0.0.1]:${proxy.port} ${retired.publicKey.toOpenSSH('retired')}`,
      `[127.0.0.1]:${proxy.port} ${current.publicKey.toOpenSSH('current')}`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const error = await t.throwsAsync(
    Client.create(null, {}, { trust: 'strict', knownHosts }).connect(proxy.endpoint),
  );
  t.is(helloTampered, 1, 'the first hello named the newest key');
  t.is(responsesSwapped, 1, 'the client fell back to asking for the key');
  // The server's proof covers the transcript, KeyResponse included: the swap is detected.
  t.is((error as SessionError).code, ErrorCode.HANDSHAKE, error!.message);
  // Without the attacker the same client connects with the newest key.
  t.is(
    await roundTrip(
      Client.create(null, {}, { trust: 'strict', knownHosts: await rotationFile(dir, server.port) }),
      server.endpoint,
    ),
    via(current),
  );
});
