/**
 * `@secsess/sdk/core`, the public sans-IO entry: its surface, and the server's RSA plug
 * (a vault that holds the private key elsewhere; the connection holds only the public key).
 */
import { Buffer } from 'node:buffer';
import test from 'ava';
import * as core from '@secsess/sdk/core';
import {
  ClientConnection,
  ErrorCode,
  PublicKey,
  ServerConnection,
  decryptPreSecret,
  verifyClientSignature,
} from '@secsess/sdk/core';
import type {
  ConnectionHandler,
  DecryptRequest,
  HandshakeInfo,
  VerifyRequest,
  SessionError,
} from '@secsess/sdk/core';
import { fixtureKeys } from './helpers/keys.js';

const serverKeys = fixtureKeys('server-2048');
const clientKeys = fixtureKeys('client-2048');

test('the core entry exports the documented surface and no internals', (t) => {
  t.deepEqual(Object.keys(core).sort(), [
    'ALL_SUITES',
    'Asymmetric',
    'CLOSE_GOING_AWAY',
    'CLOSE_NORMAL',
    'ClientConnection',
    'DEFAULT_MAX_FRAGMENT',
    'DEFAULT_MAX_MESSAGE_SIZE',
    'DEFAULT_SET',
    'DatagramInbound',
    'DatagramOutbound',
    'DatagramRecordError',
    'DatagramRecordTypes',
    'ErrorCode',
    'HandshakeError',
    'Hash',
    'KeyPair',
    'MAX_CLOSE_REASON_BYTES',
    'MAX_FRAGMENT',
    'PeerClosedError',
    'PrivateKey',
    'PublicKey',
    'RecordError',
    'ReplayWindow',
    'SecsessError',
    'ServerConnection',
    'SessionError',
    'Symmetric',
    'TicketKey',
    'TimeoutError',
    'cryptoBackends',
    'datagramContexts',
    'decryptPreSecret',
    'peekRecordHeader',
    'resolveSuite',
    'verifyClientSignature',
  ]);
});

/** Records what a connection hands its handler; `peer` receives what it sends, a tick later. */
class Side {
  conn!: ClientConnection | ServerConnection;
  peer!: Side;
  readonly messages: string[] = [];
  info: HandshakeInfo | null = null;
  closed: number | null = null;
  error: SessionError | null = null;
  handler(): ConnectionHandler {
    return {
      send: (bytes) => setImmediate(() => this.peer.feed(() => this.peer.conn.receive(bytes))),
      established: (info) => (this.info = info),
      message: (data) => this.messages.push(String(data)),
      peerClosed: (code) => (this.closed = code),
    };
  }
  feed(step: () => void): void {
    try {
      step();
    } catch (err) {
      this.error = err as SessionError;
      this.conn.fail(err);
    }
  }
}

/** Resolves once `done()` holds, polling each tick (bounded). */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !done(); i++) await new Promise((r) => setImmediate(r));
}

test('the server holds only the public key; a vault elsewhere decrypts and verifies through the plug', async (t) => {
  const decrypts: DecryptRequest[] = [];
  const verifies: VerifyRequest[] = [];
  const client = new Side();
  const server = new Side();
  client.peer = server;
  server.peer = client;
  const srv: ServerConnection = new ServerConnection(
    {
      ...server.handler(),
      // The vault answers later, as a worker or an HSM would.
      decryptSecret: (request) => {
        decrypts.push(request);
        setImmediate(() =>
          server.feed(() => srv.completeDecrypt(decryptPreSecret(serverKeys.privateKey, request.ciphertext))),
        );
      },
      verifyClientAuth: (request) => {
        verifies.push(request);
        setImmediate(() => server.feed(() => srv.completeVerify(verifyClientSignature(request))));
      },
    },
    { keys: [serverKeys.publicKey] },
  );
  server.conn = srv;
  const cli = new ClientConnection(client.handler(), {
    serverKey: serverKeys.publicKey,
    clientKey: clientKeys.privateKey,
  });
  client.conn = cli;
  cli.start();
  await until(() => server.info !== null);
  t.is(decrypts.length, 1);
  t.is(decrypts[0]!.keyIndex, 0);
  t.is(verifies.length, 1);
  t.true(server.info?.clientKey?.equals(clientKeys.publicKey));
  t.true(server.info?.serverKey.equals(serverKeys.publicKey));
  cli.write(Buffer.from('to the server'));
  srv.write(Buffer.from('to the client'));
  cli.close();
  await until(() => client.closed !== null);
  t.deepEqual(server.messages, ['to the server']);
  t.deepEqual(client.messages, ['to the client']);
  t.is(client.closed, 1000);
  t.is(server.closed, 1000);
  t.is(cli.state, 'closed');
  t.is(srv.state, 'closed');
});

test('a vault that cannot decrypt fails the handshake like a wrong key; a refused signature is NOT_AUTHORIZED', async (t) => {
  for (const failing of ['decrypt', 'verify'] as const) {
    const client = new Side();
    const server = new Side();
    client.peer = server;
    server.peer = client;
    const srv: ServerConnection = new ServerConnection(
      {
        ...server.handler(),
        decryptSecret: (request) =>
          setImmediate(() =>
            server.feed(() =>
              srv.completeDecrypt(
                failing === 'decrypt' ? null : decryptPreSecret(serverKeys.privateKey, request.ciphertext),
              ),
            ),
          ),
        verifyClientAuth: () => setImmediate(() => server.feed(() => srv.completeVerify(false))),
      },
      { keys: [serverKeys.publicKey] },
    );
    server.conn = srv;
    client.conn = new ClientConnection(client.handler(), {
      serverKey: serverKeys.publicKey,
      clientKey: clientKeys.privateKey,
    });
    client.conn.start();
    await until(() => server.error !== null && srv.state === 'closed');
    t.is(server.info, null, failing);
    t.is(server.error?.code, failing === 'decrypt' ? ErrorCode.HANDSHAKE : ErrorCode.NOT_AUTHORIZED, failing);
    if (failing === 'verify') {
      await until(() => client.error !== null);
      t.is(client.error?.code, ErrorCode.NOT_AUTHORIZED);
    }
  }
});

test('a PublicKey in keys needs handler.decryptSecret; keys must be keys', (t) => {
  const handler: ConnectionHandler = { send() {}, established() {}, message() {}, peerClosed() {} };
  t.throws(() => new ServerConnection(handler, { keys: [serverKeys.publicKey] }), {
    instanceOf: TypeError,
    message: /decryptSecret is required/,
  });
  t.throws(() => new ServerConnection(handler, { keys: ['server.key' as never] }), {
    instanceOf: TypeError,
    message: 'keys[0] must be a PrivateKey or a PublicKey',
  });
  t.true(serverKeys.publicKey instanceof PublicKey);
});

test('a vault given the public key, or answering with something not bytes, fails loudly, not as a wrong key', (t) => {
  // A configuration error (every handshake would fail as "client key confirmation failed").
  t.throws(() => core.decryptPreSecret(serverKeys.publicKey.keyObject as never, Buffer.alloc(256)), {
    instanceOf: TypeError,
  });
  t.throws(() => core.decryptPreSecret(serverKeys.publicKey as never, Buffer.alloc(256)), {
    instanceOf: TypeError,
  });
  // The private key decrypts as before: junk gives null (implicit rejection), never a throw.
  t.is(core.decryptPreSecret(serverKeys.privateKey, Buffer.alloc(256)), null);
  const server = new core.ServerConnection(
    {
      send: () => {},
      established: () => {},
      message: () => {},
      peerClosed: () => {},
      decryptSecret: () => {},
    },
    { keys: [serverKeys.publicKey] },
  );
  t.throws(
    () => server.completeDecrypt('a string of 64 characters, not the decrypted bytes............' as never),
    {
      instanceOf: TypeError,
    },
  );
});
