import test from 'ava';
import { DecryptPool } from '../src/server/decrypt-pool.js';
import { Client, ErrorCode, HandshakeError, Server, SessionError, secureDuplex } from '../src/index.js';
import { resolveSessionOptions } from '../src/common/options.js';
import { CLIENT_AUTH_CONTEXT } from '../src/protocol/constants.js';
import { oaepDecrypt, oaepEncrypt, pssSign, pssVerify } from '../src/protocol/asymmetric.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSession } from '../src/stream/session.js';
import { kReady } from '../src/stream/session-types.js';
import { duplexPair } from './helpers/duplex-pair.js';
import { fixtureKeys } from './helpers/keys.js';
import { echoSessions, waitUntil } from './helpers/net.js';

const server = fixtureKeys('server-2048');
const other = fixtureKeys('other-2048');

test('decrypts in worker threads with the right key, and answers null for anything else', async (t) => {
  const pool = new DecryptPool([server.privateKey.keyObject, other.privateKey.keyObject], 2);
  t.teardown(() => pool.close());
  t.is(pool.size, 2);
  const secret = Buffer.alloc(64, 0x5a);
  t.deepEqual(await pool.decrypt(0, oaepEncrypt(server.publicKey.keyObject, secret)), secret);
  t.deepEqual(await pool.decrypt(1, oaepEncrypt(other.publicKey.keyObject, secret)), secret);
  t.is(await pool.decrypt(1, oaepEncrypt(server.publicKey.keyObject, secret)), null);
  t.is(await pool.decrypt(0, Buffer.alloc(256, 1)), null);
  t.is(await pool.decrypt(7, oaepEncrypt(server.publicKey.keyObject, secret)), null);
  const many = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      pool.decrypt(0, oaepEncrypt(server.publicKey.keyObject, Buffer.alloc(64, i))),
    ),
  );
  t.deepEqual(
    many,
    Array.from({ length: 20 }, (_, i) => Buffer.alloc(64, i)),
  );
  t.is(pool.pending, 0);
});

test('verifies client signatures in worker threads, counted in pending while in flight', async (t) => {
  const pool = new DecryptPool([server.privateKey.keyObject], 2);
  t.teardown(() => pool.close());
  const client = fixtureKeys('client-2048');
  const message = Buffer.concat([CLIENT_AUTH_CONTEXT, Buffer.alloc(32, 7)]);
  const signature = pssSign(client.privateKey.keyObject, message);
  const valid = pool.verify(client.publicKey.keyObject, message, signature);
  const wrongKey = pool.verify(other.publicKey.keyObject, message, signature);
  const junk = pool.verify(client.publicKey.keyObject, message, Buffer.alloc(256, 1));
  // One queue of RSA work: the server's maxPendingDecrypts sees verifications too.
  t.is(pool.pending, 3);
  t.deepEqual(await Promise.all([valid, wrongKey, junk]), [true, false, false]);
  t.is(pool.pending, 0);
  t.deepEqual(pool.counts, { decrypts: 0, verifies: 3, inline: 0 });
  await pool.close();
  t.false(await pool.verify(client.publicKey.keyObject, message, signature));
});

test('records a client sends right after its ClientFinished wait for the verification, in order', async (t) => {
  const client = fixtureKeys('client-2048');
  const [clientEnd, serverEnd] = duplexPair();
  let verifications = 0;
  const serverSession = createSession(
    serverEnd,
    {
      role: 'server',
      connection: { keys: [server.privateKey] },
      decrypt: async (_index, ciphertext) => oaepDecrypt(server.privateKey.keyObject, ciphertext),
      // A slow vault: the client is open on its side long before the server is.
      verify: async (request) => {
        verifications++;
        await sleep(100);
        return pssVerify(request.key.keyObject, request.message, request.signature);
      },
    },
    resolveSessionOptions({}),
  );
  const session = createSession(
    clientEnd,
    { role: 'client', connection: { serverKey: server.publicKey, clientKey: client.privateKey } },
    resolveSessionOptions({}),
  );
  await session[kReady];
  const sent = Array.from({ length: 50 }, (_, i) => Buffer.alloc(1000 * i + 1, i));
  const writes = sent.map((m) => session.write(m));
  await serverSession[kReady];
  t.is(verifications, 1);
  t.true(serverSession.clientKey?.equals(client.publicKey));
  for (const m of sent) t.deepEqual(await serverSession.read(), m);
  await Promise.all(writes);
  await session.close();
});

test('a worker that dies fails its requests with null and is replaced', async (t) => {
  const pool = new DecryptPool([server.privateKey.keyObject], 1);
  t.teardown(() => pool.close());
  const [worker] = pool.workers();
  const ciphertext = oaepEncrypt(server.publicKey.keyObject, Buffer.alloc(64, 1));
  const lost = pool.decrypt(0, ciphertext);
  void worker!.terminate();
  t.is(await lost, null);
  await waitUntil(() => pool.size === 1 && pool.workers()[0] !== worker, 'a new worker started');
  t.deepEqual(await pool.decrypt(0, ciphertext), Buffer.alloc(64, 1));
});

test('a closed pool answers null and terminates its workers', async (t) => {
  const pool = new DecryptPool([server.privateKey.keyObject], 2);
  const pending = pool.decrypt(0, oaepEncrypt(server.publicKey.keyObject, Buffer.alloc(64)));
  await pool.close();
  t.is(await pending, null);
  t.is(pool.size, 0);
  t.is(await pool.decrypt(0, Buffer.alloc(256)), null);
  t.throws(() => new DecryptPool([], 0), { instanceOf: RangeError });
});

test('a failed decryption fails the handshake on both sides with ERR_HANDSHAKE', async (t) => {
  const [clientEnd, serverEnd] = duplexPair();
  const serverSession = createSession(
    serverEnd,
    { role: 'server', connection: { keys: [server.privateKey] }, decrypt: async () => null },
    resolveSessionOptions({}),
  );
  const clientErr = await t.throwsAsync(
    secureDuplex(clientEnd, { role: 'client', serverKey: server.publicKey }),
    {
      instanceOf: HandshakeError,
    },
  );
  t.is(clientErr?.code, ErrorCode.HANDSHAKE);
  // The server learns it from the client's alert (a plain SessionError with the same code).
  const serverErr = await t.throwsAsync(serverSession[kReady], { instanceOf: SessionError });
  t.is(serverErr?.code, ErrorCode.HANDSHAKE);
});

for (const workers of [2, 0]) {
  test(`a server with workers: ${workers} completes concurrent handshakes`, async (t) => {
    const s = Server.create('127.0.0.1:0', server.privateKey, undefined, { workers });
    await s.start();
    t.teardown(() => s.stop());
    echoSessions(s);
    await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const client = Client.create(server.publicKey);
        await client.connect(s.address!);
        await client.write(`hello ${i}`);
        t.is((await client.read())?.toString(), `hello ${i}`);
        await client.close();
      }),
    );
  });
}
