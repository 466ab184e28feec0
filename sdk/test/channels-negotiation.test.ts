/**
 * Channels negotiation (PROTOCOL.md §6b "Negotiation") over loopback TCP with the SDK's
 * Server and Client: ClientHello flag bit 2 gives `session.channels` on both sides only
 * when both asked for it; a server without `channels` refuses the bit as malformed
 * (ERR_HANDSHAKE) and goes on serving; a channel session is never resumed, though the
 * ticket it asked for serves a later plain session. Then the pieces below the transport:
 * the hello decoders, the core's refusal of `resume` with `channels`, and the options' types.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { Client, ErrorCode, Server, TicketStore } from '../src/index.js';
import type { ServerOptions, Session, SessionError } from '../src/index.js';
import { ClientConnection, resolveSuite } from '../src/protocol/index.js';
import {
  FLAG_CHANNELS,
  FLAG_CLIENT_AUTH,
  FLAG_TICKETS,
  decodeClientHello,
  decodeResumeHello,
  encodeClientHello,
  encodeResumeHello,
} from '../src/protocol/handshake-messages.js';
import type { SessionTicket } from '../src/protocol/ticket.js';
import { echo, waitUntil } from './helpers/net.js';
import { Endpoint } from './helpers/protocol-pair.js';
import { keys, roundTrip } from './helpers/resumption-net.js';

/** A server on 127.0.0.1:0 with the fixture key and `options`, echoing every session. */
async function channelServer(options: ServerOptions = {}) {
  const server = Server.create('127.0.0.1:0', keys.privateKey, undefined, { workers: 0, ...options });
  const sessions: Session[] = [];
  const handshakeErrors: SessionError[] = [];
  server.on('session', (session) => {
    sessions.push(session);
    void echo(session);
  });
  server.on('handshakeError', (error) => handshakeErrors.push(error));
  await server.start();
  return { server, endpoint: `127.0.0.1:${server.address!.port}`, sessions, handshakeErrors };
}

const client = (options: object = {}) => Client.create(keys.publicKey, {}, options);

test('client and server with channels: session.channels on both sides, and messages flow both ways', async (t) => {
  const s = await channelServer({ channels: true });
  t.teardown(() => s.server.stop());
  const session = await client({ channels: true }).connect(s.endpoint);
  t.teardown(() => session.close());
  t.true(session.channels);
  // The record layer carries channel frames as any message: an OPEN 1 and a DATA 1, echoed.
  const frames = Buffer.from('01000000010000000002000000010000000450494e47', 'hex');
  await session.write(frames);
  t.deepEqual(Buffer.from((await session.read())!), frames);
  t.is(await roundTrip(session, 'and back'), 'and back');
  // The server's session opened with the ClientFinished, before it echoed.
  t.is(s.sessions.length, 1);
  t.true(s.sessions[0]!.channels);
  t.deepEqual(s.handshakeErrors, []);
});

test('a client with channels against a server without: ERR_HANDSHAKE on both sides, and the server serves on', async (t) => {
  const s = await channelServer();
  t.teardown(() => s.server.stop());
  await t.throwsAsync(client({ channels: true }).connect(s.endpoint), { code: ErrorCode.HANDSHAKE });
  // The server's report may trail the client's failure by a turn.
  await waitUntil(() => s.handshakeErrors.length > 0, "the server's handshakeError");
  t.is(s.handshakeErrors.length, 1);
  t.is(s.handshakeErrors[0]!.code, ErrorCode.HANDSHAKE);
  t.is(s.sessions.length, 0, 'no session for the refused hello');
  // The refusal disturbed nothing: a plain client is served right after, without channels.
  const session = await client().connect(s.endpoint);
  t.teardown(() => session.close());
  t.false(session.channels);
  t.is(await roundTrip(session, 'still here'), 'still here');
  t.is(s.sessions.length, 1);
  t.false(s.sessions[0]!.channels);
  t.is(s.handshakeErrors.length, 1);
});

test('a plain client against a server with channels: session.channels false on both sides', async (t) => {
  const s = await channelServer({ channels: true });
  t.teardown(() => s.server.stop());
  const session = await client().connect(s.endpoint);
  t.teardown(() => session.close());
  t.false(session.channels);
  t.is(await roundTrip(session, 'plain'), 'plain');
  t.is(s.sessions.length, 1);
  t.false(s.sessions[0]!.channels);
});

test('a channel session is never resumed, though the ticket it asked for serves a later plain session', async (t) => {
  const s = await channelServer({ channels: true, tickets: { keys: [randomBytes(32)] } });
  t.teardown(() => s.server.stop());
  const store = new TicketStore();
  const channelClient = client({ channels: true, resumption: store });
  const visit = async (c: Client) => {
    const session = await c.connect(s.endpoint);
    const echoed = await roundTrip(session, 'hi');
    await session.close();
    t.is(echoed, 'hi');
    return session;
  };
  const first = await visit(channelClient);
  t.false(first.resumed);
  t.true(first.channels);
  t.is(store.size, 1, 'the channel session asked for a ticket and got one');
  const second = await visit(channelClient);
  t.false(second.resumed, 'the channel client offered no ticket');
  t.true(second.channels);
  t.false(s.sessions[1]!.resumed);
  t.true(s.sessions[1]!.channels);
  t.is(store.size, 2, 'nothing taken from the store, one more ticket added');
  // The same store, a plain client: it resumes with a ticket a channel session got.
  const plain = await visit(client({ resumption: store }));
  t.true(plain.resumed);
  t.false(plain.channels);
  t.true(s.sessions[2]!.resumed);
  t.false(s.sessions[2]!.channels);
});

// ---- below the transport ----

const hello = (flags: number) =>
  encodeClientHello({
    suiteIds: [1, 2, 1],
    flags,
    random: randomBytes(32),
    ephemeral: randomBytes(32),
    keyId: randomBytes(32),
    encryptedSecret: randomBytes(256),
  });

test('decodeClientHello refuses bit 2 unless allowed (the datagram gate passes no allowance)', (t) => {
  for (const flags of [FLAG_CHANNELS, FLAG_CHANNELS | FLAG_TICKETS, FLAG_CHANNELS | FLAG_CLIENT_AUTH]) {
    t.throws(() => decodeClientHello(hello(flags)), { code: ErrorCode.HANDSHAKE }, `flags ${flags}`);
    const allowed = FLAG_CLIENT_AUTH | FLAG_TICKETS | FLAG_CHANNELS;
    t.is(decodeClientHello(hello(flags), allowed).flags, flags);
  }
  t.is(decodeClientHello(hello(FLAG_CLIENT_AUTH | FLAG_TICKETS)).flags, 3, 'bits 0 and 1 as before');
  // Bits 3–7 stay reserved with channels allowed.
  for (let bit = 3; bit < 8; bit++) {
    t.throws(() => decodeClientHello(hello(1 << bit), 0x07), { code: ErrorCode.HANDSHAKE });
  }
});

test('decodeResumeHello refuses bit 2 (a ResumeHello never carries channels)', (t) => {
  const resumeHello = (flags: number) =>
    encodeResumeHello(
      {
        suiteIds: [1, 2, 1],
        flags,
        random: randomBytes(32),
        ephemeral: randomBytes(32),
        keyId: randomBytes(32),
        ticket: randomBytes(100),
      },
      32,
      () => randomBytes(32),
    );
  const hashLength = () => 32;
  t.is(decodeResumeHello(resumeHello(FLAG_TICKETS), hashLength).flags, FLAG_TICKETS);
  t.throws(() => decodeResumeHello(resumeHello(FLAG_CHANNELS), hashLength), { code: ErrorCode.HANDSHAKE });
  t.throws(() => decodeResumeHello(resumeHello(FLAG_CHANNELS | FLAG_TICKETS), hashLength), {
    code: ErrorCode.HANDSHAKE,
  });
});

test('ClientConnection refuses resume with channels (TypeError); the same ticket alone is accepted', (t) => {
  const ticket: SessionTicket = {
    ticket: randomBytes(100),
    psk: randomBytes(32),
    lifetime: 3600,
    suite: resolveSuite({}),
    serverKey: keys.publicKey,
    clientKey: null,
  };
  const handler = new Endpoint().handler();
  t.throws(
    () => new ClientConnection(handler, { serverKey: keys.publicKey, channels: true, resume: ticket }),
    {
      instanceOf: TypeError,
      message: /channels/,
    },
  );
  t.notThrows(() => new ClientConnection(handler, { serverKey: keys.publicKey, resume: ticket }));
  t.notThrows(() => new ClientConnection(handler, { serverKey: keys.publicKey, channels: true }));
});

test('channels must be a boolean, in Client and Server options', (t) => {
  for (const channels of ['yes', 1, null, {}]) {
    t.throws(() => Client.create(keys.publicKey, {}, { channels } as never), {
      instanceOf: TypeError,
      message: 'channels must be a boolean',
    });
    t.throws(
      () => Server.create('127.0.0.1:0', keys.privateKey, undefined, { workers: 0, channels } as never),
      {
        instanceOf: TypeError,
        message: 'channels must be a boolean',
      },
    );
  }
  t.notThrows(() => Client.create(keys.publicKey, {}, { channels: false }));
  t.notThrows(() => Client.create(keys.publicKey, {}, { channels: true }));
});
