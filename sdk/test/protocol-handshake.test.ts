import test from 'ava';
import type { PrivateKey } from '@secsess/keys';
import {
  ClientConnection,
  ErrorCode,
  HandshakeError,
  ServerConnection,
  oaepDecrypt,
  resolveSuite,
} from '../src/protocol/index.js';
import type { SessionError } from '../src/protocol/index.js';
import { Endpoint, feed, fixturePrivateKey, makePair, openPair } from './helpers/protocol-pair.js';

const server2048 = fixturePrivateKey('server-2048');
const server3072 = fixturePrivateKey('server-3072');
const server4096 = fixturePrivateKey('server-4096');
const other = fixturePrivateKey('other-2048');
const clientKey = fixturePrivateKey('client-2048');

const codeOf = (e: unknown): string => (e as SessionError).code;

for (const key of [server2048, server3072, server4096]) {
  test(`completes a handshake with an RSA-${key.bits} server key`, (t) => {
    const p = openPair({}, { keys: [key] });
    t.is(p.client.state, 'open');
    t.is(p.server.state, 'open');
    t.true(p.c.info!.serverKey.equals(key.publicKey));
    t.is(p.s.info!.clientKey, null);
  });
}

for (const symmetric of ['AES-128-CBC', 'AES-256-CBC', 'AES-256-GCM'] as const) {
  for (const hash of ['SHA-256', 'SHA-384', 'SHA-512'] as const) {
    test(`exchanges messages with suite ${symmetric} + ${hash}`, (t) => {
      const p = openPair({ set: { symmetric, hash } });
      t.is(p.c.info!.suite.symmetric, symmetric);
      t.is(p.s.info!.suite.hash, hash);
      p.client.write(Buffer.from('ping'));
      p.server.write(Buffer.from('pong'));
      t.deepEqual(p.s.messages, [Buffer.from('ping')]);
      t.deepEqual(p.c.messages, [Buffer.from('pong')]);
    });
  }
}

test('takes exactly one round trip before the client may send data', (t) => {
  const p = makePair();
  p.client.start();
  // Client: ClientHello, then ClientFinished after the server's one flight.
  t.is(p.c.sent.length, 2);
  // Server: ServerHello and ServerFinished, sent together without waiting.
  t.is(p.s.sent.length, 2);
  t.is(p.client.state, 'open');
});

test('a client without the server key asks for it first, and the hook decides', (t) => {
  const c = new Endpoint();
  const s = new Endpoint();
  const offered: string[] = [];
  const errors: Array<{ side: 'client' | 'server'; error: unknown }> = [];
  const client = new ClientConnection(
    {
      ...c.handler(),
      serverKey: (key) => {
        offered.push(key.fingerprint());
        client.useServerKey(key);
      },
    },
    {},
  );
  const server = new ServerConnection(s.handler(), { keys: [server2048, other] });
  const queue: Array<() => void> = [];
  const pump = (): void => {
    while (queue.length) queue.shift()!();
  };
  c.deliver = (d) => queue.push(() => feed(server, d, 'server', errors));
  s.deliver = (d) => queue.push(() => feed(client, d, 'client', errors));
  client.start();
  pump();
  t.deepEqual(errors, []);
  t.deepEqual(offered, [server2048.fingerprint()]);
  t.is(client.state, 'open');
  t.is(server.state, 'open');
  // Two round trips: KeyRequest, ClientHello, ClientFinished.
  t.is(c.sent.length, 3);
});

test('a server holding several keys uses the one the client names', (t) => {
  const p = openPair({ serverKey: other.publicKey }, { keys: [server2048, other] });
  t.true(p.s.info!.serverKey.equals(other.publicKey));
  t.is(p.server.keyIndex, 1);
});

test('authenticates the client with an RSA-PSS signature over the transcript', (t) => {
  const p = openPair({ clientKey });
  t.true(p.s.info!.clientKey!.equals(clientKey.publicKey));
});

test('fails with ERR_SERVER_KEY_MISMATCH on both sides when the server lacks the named key', (t) => {
  const p = makePair({ serverKey: other.publicKey });
  p.client.start();
  t.deepEqual(
    p.errors.map((e) => [e.side, codeOf(e.error)]),
    [
      ['server', ErrorCode.SERVER_KEY_MISMATCH],
      ['client', ErrorCode.SERVER_KEY_MISMATCH],
    ],
  );
});

test('fails with ERR_SUITE_MISMATCH on both sides when the server does not accept the set', (t) => {
  const p = makePair({ set: { hash: 'SHA-512' } }, { suites: [resolveSuite({})] });
  p.client.start();
  t.deepEqual(
    p.errors.map((e) => [e.side, codeOf(e.error)]),
    [
      ['server', ErrorCode.SUITE_MISMATCH],
      ['client', ErrorCode.SUITE_MISMATCH],
    ],
  );
});

test('refuses weak or unknown algorithms when the set is built', (t) => {
  t.throws(() => resolveSuite({ hash: 'SHA-1' as never }), { instanceOf: TypeError, message: /set.hash/ });
  t.throws(() => resolveSuite({ symmetric: 'DES' as never }), {
    instanceOf: TypeError,
    message: /set.symmetric/,
  });
  t.throws(() => new ClientConnection(new Endpoint().handler(), { set: { asymmetric: 'DSA' as never } }), {
    instanceOf: TypeError,
  });
});

test('refuses an unknown protocol version with ERR_UNSUPPORTED_VERSION', (t) => {
  const p = makePair({}, {}, false);
  p.client.start();
  const hello = Buffer.from(p.c.sent[0]!);
  hello[8] = 0x02; // version byte: frame header (4) + magic (4)
  t.throws(() => p.server.receive(hello), { code: ErrorCode.UNSUPPORTED_VERSION });
});

test('refuses garbage before the handshake without buffering it', (t) => {
  const p = makePair({}, {}, false);
  t.throws(() => p.server.receive(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), {
    code: ErrorCode.HANDSHAKE,
  });
  const q = makePair({}, {}, false);
  // A valid type with a length beyond the handshake limit is refused on the header alone.
  t.throws(() => q.server.receive(Buffer.from([0x03, 0xff, 0xff, 0xff])), { code: ErrorCode.HANDSHAKE });
  t.is(q.server.bufferedBytes, 0);
});

test('a corrupt RSA ciphertext is indistinguishable: the server answers as usual, then key confirmation fails', (t) => {
  const p = makePair({}, {}, false);
  p.client.start();
  const hello = Buffer.from(p.c.sent[0]!);
  hello[hello.length - 10]! ^= 0x01; // inside the OAEP ciphertext
  p.server.receive(hello);
  // The server replied exactly as it would to a good hello: ServerHello and ServerFinished.
  t.is(p.s.sent.length, 2);
  t.is(p.server.state, 'handshake');
  // The client cannot verify the server's proof: the keys differ.
  t.throws(() => p.client.receive(Buffer.concat(p.s.sent)), { code: ErrorCode.HANDSHAKE, message: /proof/ });
});

test('a replayed client handshake into a fresh server never opens a session', (t) => {
  const first = openPair();
  const recorded = Buffer.concat(first.c.sent);
  const replay = makePair({}, {}, false);
  t.throws(() => replay.server.receive(recorded), { code: ErrorCode.HANDSHAKE });
  t.is(replay.server.state, 'handshake');
  t.deepEqual(replay.s.messages, []);
});

test('a replayed session including data records is rejected by a fresh server', (t) => {
  const first = openPair();
  first.client.write(Buffer.from('transfer 100 coins'));
  const recorded = Buffer.concat(first.c.sent);
  const replay = makePair({}, {}, false);
  t.throws(() => replay.server.receive(recorded));
  t.deepEqual(replay.s.messages, []);
});

test('a tampered ServerHello fails the server proof (transcript binding)', (t) => {
  const p = makePair({}, {}, false);
  p.client.start();
  p.server.receive(p.c.sent[0]!);
  const serverHello = Buffer.from(p.s.sent[0]!);
  serverHello[20]! ^= 0x80; // inside server_random
  t.throws(() => p.client.receive(Buffer.concat([serverHello, p.s.sent[1]!])), { code: ErrorCode.HANDSHAKE });
});

test('a downgraded suite in the ServerHello is refused', (t) => {
  const p = makePair({ set: { symmetric: 'AES-256-CBC' } }, {}, false);
  p.client.start();
  p.server.receive(p.c.sent[0]!);
  const serverHello = Buffer.from(p.s.sent[0]!);
  serverHello[10] = 0x01; // symmetric id: AES-128
  t.throws(() => p.client.receive(serverHello), { code: ErrorCode.HANDSHAKE });
});

test('a client presenting a key it cannot sign for is refused with ERR_NOT_AUTHORIZED', (t) => {
  // A malicious client claims another party's public key but signs with its own private key.
  const impostor = { keyObject: clientKey.keyObject, publicKey: other.publicKey, bits: 2048 } as PrivateKey;
  const p = makePair({ clientKey: impostor });
  p.client.start();
  t.deepEqual(
    p.errors.map((e) => [e.side, codeOf(e.error)]),
    [
      ['server', ErrorCode.NOT_AUTHORIZED],
      ['client', ErrorCode.NOT_AUTHORIZED],
    ],
  );
});

test('a ClientFinished altered in transit fails key confirmation', (t) => {
  const p = makePair({ clientKey }, {}, false);
  p.client.start();
  p.server.receive(p.c.sent[0]!);
  p.client.receive(Buffer.concat(p.s.sent));
  const finished = Buffer.from(p.c.sent[1]!);
  finished[finished.length - 40]! ^= 1;
  t.throws(() => p.server.receive(finished), { code: ErrorCode.HANDSHAKE });
});

test('server proof, not a plaintext alert, decides: an injected alert gives a coded error', (t) => {
  const p = makePair({}, {}, false);
  p.client.start();
  t.throws(() => p.client.receive(Buffer.from([0x15, 0, 0, 2, 0, 3])), {
    code: ErrorCode.SUITE_MISMATCH,
    instanceOf: HandshakeError,
  });
});

test('a client is never built to trust whatever key the server sends', (t) => {
  t.throws(() => new ClientConnection(new Endpoint().handler(), {}), {
    instanceOf: TypeError,
    message: /serverKey/,
  });
});

test('queues client bytes that arrive while the RSA operation is elsewhere, then resumes', (t) => {
  const c = new Endpoint();
  const s = new Endpoint();
  let request: { keyIndex: number; ciphertext: Buffer } | null = null;
  const server = new ServerConnection(
    {
      ...s.handler(),
      decryptSecret: (r) => {
        request = r;
      },
    },
    { keys: [server2048] },
  );
  const client = new ClientConnection(c.handler(), { serverKey: server2048.publicKey });
  client.start();
  server.receive(c.sent[0]!);
  t.not(request, null);
  t.is(s.sent.length, 0);
  // Decrypt "in the worker" (here: in place, with the real key) and resume.
  server.completeDecrypt(oaepDecrypt(server2048.keyObject, request!.ciphertext));
  t.is(s.sent.length, 2);
  client.receive(Buffer.concat(s.sent));
  server.receive(c.sent[1]!);
  t.is(server.state, 'open');
});

test('a low-order (all-zero) ephemeral key from the server is refused', (t) => {
  const p = makePair({}, {}, false);
  p.client.start();
  p.server.receive(p.c.sent[0]!);
  const serverHello = Buffer.from(p.s.sent[0]!);
  serverHello.fill(0, 44, 76); // server_x25519: header 4 + preamble 5 + suite 3 + random 32
  t.throws(() => p.client.receive(serverHello), { code: ErrorCode.HANDSHAKE, message: /ephemeral/ });
});

test('a low-order (all-zero) ephemeral key from the client is refused', (t) => {
  const p = makePair({}, {}, false);
  p.client.start();
  const hello = Buffer.from(p.c.sent[0]!);
  hello.fill(0, 45, 77); // client_x25519: header 4 + preamble 5 + suite 3 + flags 1 + random 32
  t.throws(() => p.server.receive(hello), { code: ErrorCode.HANDSHAKE, message: /ephemeral/ });
});
