/**
 * Resumption's receiver rules and state machines (PROTOCOL.md §6a), sans-IO: the test is
 * the network. Tickets, refusal and the fallback on the same transport, the ticket checks
 * (each refused alike), NewTicket's rules at both ends, and the frames each state refuses.
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import {
  ClientConnection,
  ErrorCode,
  ServerConnection,
  SessionError,
  resolveSuite,
} from '../src/protocol/index.js';
import type { SessionTicket } from '../src/protocol/index.js';
import { FrameType, RecordType } from '../src/protocol/constants.js';
import { encodeKeyRequest } from '../src/protocol/handshake-messages.js';
import { TicketMemory } from '../src/server/tickets.js';
import { decodeTicketState, encodeTicketState } from '../src/protocol/ticket.js';
import { oaepEncrypt, x25519Key, x25519Shared } from '../src/protocol/asymmetric.js';
import { hash } from '../src/protocol/crypto.js';
import { exporterSecret } from '../src/protocol/datagram/key-schedule.js';
import { deriveMaster } from '../src/protocol/key-schedule.js';
import { seal } from './helpers/forge.js';
import { Endpoint, fixturePrivateKey } from './helpers/protocol-pair.js';
import {
  copyTicket,
  firstTicket,
  frameTypes,
  serverKey,
  settle,
  testTickets,
  ticketPair,
} from './helpers/resumption.js';

const clientKey = fixturePrivateKey('client-2048');
const otherKey = fixturePrivateKey('other-2048');
const REFUSED = Buffer.from('060000057345735301', 'hex');
const ALERT_HANDSHAKE_FAILED = Buffer.from([0x15, 0, 0, 2, 0, 5]);

/** Resumes with `ticket`; returns the pair once settled. */
async function resume(
  ticket: SessionTicket,
  tickets: ReturnType<typeof testTickets>,
  clientExtra: object = {},
  serverExtra: object = {},
) {
  const pair = ticketPair({ tickets: true, resume: ticket, ...clientExtra }, { tickets, ...serverExtra });
  await settle();
  return pair;
}

/** The server refused the ticket and the full handshake followed on the same "transport". */
function fellBack(t: ExecutionContext, pair: Awaited<ReturnType<typeof resume>>): void {
  t.deepEqual(pair.errors, []);
  t.is(pair.s.sent[0]!.toString('hex'), REFUSED.toString('hex'), 'ResumeRefused first');
  t.deepEqual(frameTypes(pair.c).slice(0, 2), [FrameType.ResumeHello, FrameType.ClientHello]);
  t.is(pair.client.state, 'open');
  t.is(pair.server.state, 'open');
  t.false(pair.c.info!.resumed);
  t.false(pair.s.info!.resumed);
}

test('a ticket resumes: no RSA, both sides resumed, messages flow, and the resumed session gets its own ticket', async (t) => {
  const tickets = testTickets();
  const { ticket } = await firstTicket(tickets);
  const offered = copyTicket(ticket);
  // No RSA: a server whose private key is elsewhere, behind a decryptSecret never asked.
  let decrypts = 0;
  const pair = ticketPair(
    { tickets: true, resume: offered },
    { tickets, keys: [serverKey.publicKey] },
    true,
    {
      decryptSecret: () => decrypts++,
    },
  );
  await settle();
  t.deepEqual(pair.errors, []);
  t.true(pair.c.info!.resumed);
  t.true(pair.s.info!.resumed);
  t.is(decrypts, 0);
  // ResumeHello, then ClientFinished; ServerHello, ServerFinished, NewTicket.
  t.deepEqual(frameTypes(pair.c), [FrameType.ResumeHello, FrameType.Record]);
  t.deepEqual(frameTypes(pair.s), [FrameType.ServerHello, FrameType.Record, FrameType.Record]);
  pair.client.write(Buffer.from('ping'));
  pair.server.write(Buffer.from('pong'));
  t.deepEqual(pair.s.messages.map(String), ['ping']);
  t.deepEqual(pair.c.messages.map(String), ['pong']);
  // The psk of the ticket used is wiped; the new ticket differs and resumes in turn.
  t.true(offered.psk.equals(Buffer.alloc(offered.psk.length)));
  t.is(pair.tickets.length, 1);
  t.false(pair.tickets[0]!.ticket.equals(ticket.ticket));
  t.false(pair.tickets[0]!.psk.equals(ticket.psk));
  const again = await resume(pair.tickets[0]!, tickets);
  t.true(again.s.info!.resumed);
});

test('a client without a key resumes as no one; with a key, the server sees that key again', async (t) => {
  const tickets = testTickets();
  const { ticket } = await firstTicket(tickets, { clientKey });
  t.true(ticket.clientKey!.equals(clientKey.publicKey));
  const pair = await resume(copyTicket(ticket), tickets, { clientKey });
  t.true(pair.s.info!.resumed);
  t.true(pair.s.info!.clientKey!.equals(clientKey.publicKey));
  t.true(pair.c.info!.clientKey!.equals(clientKey.publicKey));
  const anonymous = await firstTicket(tickets);
  const none = await resume(copyTicket(anonymous.ticket), tickets);
  t.is(none.s.info!.clientKey, null);
});

test('membership is checked again on resume: a key no longer allowed is refused with encrypted NotAuthorized', async (t) => {
  const tickets = testTickets();
  const { ticket } = await firstTicket(tickets, { clientKey });
  const pair = await resume(copyTicket(ticket), tickets, { clientKey }, { clientKeyAllowed: () => false });
  t.is(pair.errors.length >= 1, true);
  const serverError = pair.errors.find((e) => e.side === 'server')!.error as SessionError;
  t.is(serverError.code, ErrorCode.NOT_AUTHORIZED);
  const clientError = pair.errors.find((e) => e.side === 'client')!.error as SessionError;
  t.is(clientError.code, ErrorCode.NOT_AUTHORIZED);
  t.false(pair.server.state === 'open');
});

test('every ticket check fails the same way: ResumeRefused, then the full handshake on the same transport', async (t) => {
  const tickets = testTickets();
  const { ticket } = await firstTicket(tickets);
  const flip = (at: number) => {
    const x = copyTicket(ticket);
    x.ticket[at]! ^= 1;
    return x;
  };
  const cases: Array<[string, () => SessionTicket, (() => void)?]> = [
    ['a flipped key_name byte', () => flip(0)],
    ['a flipped nonce byte', () => flip(10)],
    ['a flipped ciphertext byte', () => flip(30)],
    ['a flipped tag byte', () => flip(ticket.ticket.length - 1)],
    ['a wrong binder (another psk)', () => copyTicket(ticket, { psk: randomBytes(32) })],
    ['a truncated ticket', () => copyTicket(ticket, { ticket: ticket.ticket.subarray(0, 40) })],
  ];
  for (const [name, make] of cases) {
    const pair = await resume(make(), tickets);
    t.log(name);
    fellBack(t, pair);
  }
});

test('expiry, a clock far behind, a rotated-out ticket key, a server without ticket keys: refused, then full', async (t) => {
  const tickets = testTickets({ lifetime: 60 });
  const issued = tickets.clock.now;
  const { ticket } = await firstTicket(tickets);
  // Expired: issued + lifetime ≤ now; one second earlier it is still valid.
  tickets.clock.now = issued + 60;
  fellBack(t, await resume(copyTicket(ticket), tickets));
  tickets.clock.now = issued + 59;
  t.true((await resume(copyTicket(ticket), tickets)).s.info!.resumed);
  // Issued more than 60 s ahead of this server's clock (another server of the fleet).
  tickets.clock.now = issued - 61;
  fellBack(t, await resume(copyTicket(ticket), tickets));
  tickets.clock.now = issued - 60;
  t.true((await resume(copyTicket(ticket), tickets)).s.info!.resumed);
  // The ticket key rotated out (a new one only): refused; kept second: accepted.
  const rotated = testTickets({ lifetime: 60 });
  rotated.clock.now = tickets.clock.now;
  fellBack(t, await resume(copyTicket(ticket), rotated));
  rotated.keys.push(...tickets.keys);
  t.true((await resume(copyTicket(ticket), rotated)).s.info!.resumed);
  // No ticket context at all.
  const pair = ticketPair({ tickets: true, resume: copyTicket(ticket) }, {});
  await settle();
  fellBack(t, pair);
  t.is(pair.tickets.length, 0, 'no ticket from a server without ticket keys');
});

test('a chain of resumptions ends maxAge after its full handshake: chained lifetimes capped, then refused and full', async (t) => {
  const tickets = testTickets({ lifetime: 7200, maxAge: 10_000 });
  const t0 = tickets.clock.now;
  const { ticket: first } = await firstTicket(tickets);
  t.is(first.lifetime, 7200);
  // Resumed 7000 s after the authentication: the next ticket ends at auth_time + maxAge.
  tickets.clock.now = t0 + 7000;
  const second = await resume(copyTicket(first), tickets);
  t.true(second.s.info!.resumed);
  t.is(second.tickets[0]!.lifetime, 3000, 'min(7200, auth_time + maxAge − now)');
  // A ticket of a full lifetime on a resumed session would restart the clock: it does not.
  tickets.clock.now = t0 + 9000;
  const third = await resume(copyTicket(second.tickets[0]!), tickets);
  t.true(third.s.info!.resumed);
  t.is(third.tickets[0]!.lifetime, 1000);
  // A server whose maxAge is shorter (another server of the fleet, or lowered) refuses a
  // ticket still within its lifetime once the chain is older than its maxAge.
  tickets.clock.now = t0 + 8000;
  tickets.maxAge = 7999;
  fellBack(t, await resume(copyTicket(second.tickets[0]!), tickets));
  tickets.maxAge = 8000;
  const edge = await resume(copyTicket(second.tickets[0]!), tickets);
  t.true(edge.s.info!.resumed, 'now − auth_time = maxAge: accepted');
  t.is(edge.tickets.length, 0, 'no ticket: auth_time + maxAge − now = 0');
  // The fallback is a full handshake: a new chain, a full lifetime again.
  tickets.maxAge = 10_000;
  tickets.clock.now = t0 + 20_000;
  const full = await resume(copyTicket(second.tickets[0]!), tickets);
  fellBack(t, full);
  t.is(full.tickets[0]!.lifetime, 7200);
  tickets.clock.now = t0 + 20_000 + 7000;
  const again = await resume(copyTicket(full.tickets[0]!), tickets);
  t.true(again.s.info!.resumed);
  t.is(again.tickets[0]!.lifetime, 3000);
});

test('ticket state version 1 (no auth_time) and auth_time after issued are refused like any bad state', (t) => {
  const state = {
    suiteIds: [1, 2, 1] as const,
    issued: 1_800_000_000,
    lifetime: 7200,
    authTime: 1_800_000_000,
    keyId: randomBytes(32),
    psk: randomBytes(32),
    clientSpki: Buffer.alloc(0),
    ticketId: randomBytes(16),
  };
  const good = encodeTicketState(state);
  t.is(good[0], 2);
  t.is(decodeTicketState(good)!.authTime, state.authTime);
  const v1 = Buffer.from(good);
  v1[0] = 1;
  t.is(decodeTicketState(v1), null);
  t.is(decodeTicketState(encodeTicketState({ ...state, authTime: state.issued + 1 })), null);
});

test("issueTicket keeps §6a's sender rule: after a message record or End of the server's, no NewTicket and the psk is wiped", async (t) => {
  const sends: Array<[string, (server: ServerConnection) => void]> = [
    ['a Data record', (server) => server.write(Buffer.from('first'))],
    ['a DataMore record', (server) => server.write(Buffer.alloc(70_000))],
    [
      'a batch',
      (server) => {
        server.queue(Buffer.from('a'));
        server.queue(Buffer.from('b'));
        server.flushQueued();
      },
    ],
    ['End', (server) => server.end()],
  ];
  for (const [name, send] of sends) {
    const pair = ticketPair({ tickets: true }, { tickets: testTickets() }, false);
    await settle();
    t.is(pair.server.state, 'open', name);
    const psk = (pair.server as unknown as { psk: Buffer | null }).psk!;
    t.true(
      psk.some((x) => x !== 0),
      name,
    );
    send(pair.server);
    t.false(pair.server.issueTicket(), name);
    t.true(
      psk.every((x) => x === 0),
      `${name}: the psk is wiped`,
    );
    await settle();
    t.is(pair.tickets.length, 0, name);
    t.deepEqual(pair.errors, [], name);
  }
  // Before any message (a batch only queued, not sealed): the ticket goes first.
  const pair = ticketPair({ tickets: true }, { tickets: testTickets() }, false);
  await settle();
  pair.server.queue(Buffer.from('queued'));
  t.true(pair.server.issueTicket());
  pair.server.flushQueued();
  await settle();
  t.is(pair.tickets.length, 1);
  t.deepEqual(pair.errors, []);
});

test('the ticket is bound to its server key and suite: offered for another, it is refused', async (t) => {
  const tickets = testTickets();
  // A server holding two keys; the ticket is for the first, the hello names the second.
  const { ticket } = await firstTicket(tickets, {}, { keys: [serverKey, otherKey] });
  const pair = ticketPair(
    {
      tickets: true,
      serverKey: otherKey.publicKey,
      resume: copyTicket(ticket, { serverKey: otherKey.publicKey }),
    },
    { tickets, keys: [serverKey, otherKey] },
  );
  await settle();
  fellBack(t, pair);
  // Another suite of the same hash (the binder's length fits): refused.
  const cbc128 = { symmetric: 'AES-128-CBC', hash: 'SHA-256' } as const;
  const gcm = await firstTicket(tickets, { set: { symmetric: 'AES-256-GCM', hash: 'SHA-256' } });
  const other = ticketPair(
    { tickets: true, set: cbc128, resume: copyTicket(gcm.ticket, { suite: resolveSuite(cbc128) }) },
    { tickets },
  );
  await settle();
  fellBack(t, other);
});

test('the client core refuses to offer a ticket for another server key, suite or client key', async (t) => {
  const tickets = testTickets();
  const { ticket } = await firstTicket(tickets);
  const c = new Endpoint();
  const make = (options: object) => () =>
    new ClientConnection(c.handler(), { serverKey: serverKey.publicKey, ...options });
  t.throws(make({ serverKey: otherKey.publicKey, resume: ticket }), {
    instanceOf: TypeError,
    message: /another server key/,
  });
  t.throws(make({ set: { hash: 'SHA-384' }, resume: ticket }), {
    instanceOf: TypeError,
    message: /another suite/,
  });
  t.throws(make({ clientKey, resume: ticket }), { instanceOf: TypeError, message: /another client key/ });
  t.throws(() => new ClientConnection({ ...c.handler(), serverKey: () => {} }, { resume: ticket }), {
    instanceOf: TypeError,
    message: /needs serverKey/,
  });
});

test('single use: the same ticket offered twice is refused the second time; a wrong binder does not use it up', async (t) => {
  const memory = new TicketMemory(10, () => 1_800_000_000);
  const tickets = testTickets({ claim: (id, expires) => memory.claim(id, expires) });
  const { ticket } = await firstTicket(tickets);
  fellBack(t, await resume(copyTicket(ticket, { psk: randomBytes(32) }), tickets));
  t.is(memory.size, 0, 'a hello without the psk used nothing up');
  t.true((await resume(copyTicket(ticket), tickets)).s.info!.resumed);
  t.is(memory.size, 1);
  fellBack(t, await resume(copyTicket(ticket), tickets));
  t.is(memory.size, 1);
});

test('a full single-use memory refuses tickets rather than forget one; expired ids make room', (t) => {
  let now = 1000;
  const memory = new TicketMemory(3, () => now);
  const id = (n: number) => Buffer.alloc(16, n);
  t.true(memory.claim(id(1), 1010));
  t.true(memory.claim(id(2), 1020));
  t.true(memory.claim(id(3), 1030));
  t.false(memory.claim(id(4), 1040), 'full');
  t.false(memory.claim(id(1), 1010), 'seen');
  now = 1010;
  t.true(memory.claim(id(4), 1040), 'the expired one made room');
  t.is(memory.size, 3);
});

test('a replayed ResumeHello (with its binder) into a fresh server cannot finish: the replayer has no psk', async (t) => {
  const tickets = testTickets();
  const { ticket } = await firstTicket(tickets);
  const pair = await resume(copyTicket(ticket), tickets);
  const hello = pair.c.sent[0]!;
  const s = new Endpoint();
  const server = new ServerConnection(s.handler(), { keys: [serverKey], tickets });
  server.receive(hello);
  // Accepted (the binder is genuine), answered with fresh randoms: other keys than before.
  t.deepEqual(frameTypes(s), [FrameType.ServerHello, FrameType.Record]);
  t.notDeepEqual(s.sent[0], pair.s.sent[0]);
  // The old ClientFinished does not open under the new keys.
  const err = t.throws(() => server.receive(pair.c.sent[1]!), { instanceOf: SessionError });
  t.is((err as SessionError).code, ErrorCode.HANDSHAKE);
});

test('NewTicket at the client: unasked, a second one, between fragments or malformed is ERR_PROTOCOL', async (t) => {
  const tickets = testTickets();
  const payload = (lifetime: number, n: number, extra = 0) => {
    const out = Buffer.alloc(6 + n + extra, 7);
    out.writeUInt32BE(lifetime, 0);
    out.writeUInt16BE(n, 4);
    return out;
  };
  const check = async (name: string, asked: boolean, inject: (p: ReturnType<typeof ticketPair>) => void) => {
    const pair = ticketPair({ tickets: asked }, { tickets }, false);
    await settle();
    const err = t.throws(() => inject(pair), { instanceOf: SessionError }, name);
    t.is((err as SessionError).code, ErrorCode.PROTOCOL, `${name}: ${(err as Error).message}`);
  };
  const send = (p: ReturnType<typeof ticketPair>, body: Buffer) =>
    p.client.receive(seal(p.server, RecordType.NewTicket, body));
  await check('unasked', false, (p) => send(p, payload(60, 10)));
  await check('a second one', true, (p) => {
    send(p, payload(60, 10));
    send(p, payload(60, 10));
  });
  await check('lifetime 0', true, (p) => send(p, payload(0, 10)));
  await check('lifetime over 7 days', true, (p) => send(p, payload(604801, 10)));
  await check('an empty ticket', true, (p) => send(p, payload(60, 0)));
  await check('a ticket over 2048 bytes', true, (p) => send(p, payload(60, 2049)));
  await check('a trailing byte', true, (p) => send(p, payload(60, 10, 1)));
  await check('a short payload', true, (p) => send(p, Buffer.alloc(5)));
  await check('between fragments', true, (p) => {
    p.client.receive(seal(p.server, RecordType.DataMore, Buffer.from('frag')));
    send(p, payload(60, 10));
  });
  // Within the rules, at any point of the open session: after a message, and the longest ticket.
  const pair = ticketPair({ tickets: true }, { tickets }, false);
  await settle();
  pair.server.write(Buffer.from('first'));
  send(pair, payload(604800, 2048));
  t.is(pair.tickets.length, 1);
  t.is(pair.tickets[0]!.lifetime, 604800);
});

test('a server refuses any NewTicket it receives (ERR_PROTOCOL), and never sends one unasked', async (t) => {
  const tickets = testTickets();
  const pair = ticketPair({}, { tickets });
  await settle();
  // The client did not set bit 1: no psk kept, no ticket sent.
  t.deepEqual(frameTypes(pair.s), [FrameType.ServerHello, FrameType.Record]);
  t.false(pair.server.issueTicket());
  const err = t.throws(() => pair.server.receive(seal(pair.client, RecordType.NewTicket, Buffer.alloc(16))), {
    instanceOf: SessionError,
  });
  t.is((err as SessionError).code, ErrorCode.PROTOCOL);
  // Asked, the ticket goes once.
  const asked = ticketPair({ tickets: true }, { tickets });
  await settle();
  t.is(asked.tickets.length, 1);
  t.false(asked.server.issueTicket());
});

test('server states: a ResumeHello only first and once; after ResumeRefused, only a ClientHello', async (t) => {
  const tickets = testTickets();
  const { ticket } = await firstTicket(tickets);
  const refusedPair = await resume(copyTicket(ticket, { psk: randomBytes(32) }), tickets);
  const badHello = refusedPair.c.sent[0]!;
  const server = () => {
    const s = new Endpoint();
    return { s, server: new ServerConnection(s.handler(), { keys: [serverKey], tickets }) };
  };
  const refuse = (name: string, frames: Buffer[]) => {
    const { s, server: srv } = server();
    for (const f of frames.slice(0, -1)) srv.receive(f);
    const err = t.throws(() => srv.receive(frames.at(-1)!), { instanceOf: SessionError }, name);
    t.is((err as SessionError).code, ErrorCode.HANDSHAKE, name);
    const before = s.sent.length;
    srv.fail(err);
    t.deepEqual(s.sent.slice(before), [ALERT_HANDSHAKE_FAILED], name);
  };
  refuse('a ResumeHello after a KeyRequest', [encodeKeyRequest(), badHello]);
  refuse('a second ResumeHello', [badHello, badHello]);
  refuse('a KeyRequest after ResumeRefused', [badHello, encodeKeyRequest()]);
});

test('ResumeHello parsing: preamble, suite, structure, then acceptance, each with its plaintext alert', async (t) => {
  const tickets = testTickets();
  const { ticket } = await firstTicket(tickets);
  const pair = await resume(copyTicket(ticket), tickets);
  const hello = pair.c.sent[0]!;
  const cases: Array<[string, (h: Buffer) => Buffer, string, number, object?]> = [
    ['bad magic', (h) => ((h[4] = 0x58), h), ErrorCode.UNSUPPORTED_VERSION, 2],
    ['unknown suite', (h) => ((h[10] = 9), h), ErrorCode.SUITE_MISMATCH, 3],
    ['flag bit 0 (client auth)', (h) => ((h[12] = 0x03), h), ErrorCode.HANDSHAKE, 5],
    ['a reserved flag', (h) => ((h[12] = 0x82), h), ErrorCode.HANDSHAKE, 5],
    ['a trailing byte', (h) => withBody(Buffer.concat([h, Buffer.of(0)])), ErrorCode.HANDSHAKE, 5],
    ['a short binder', (h) => withBody(h.subarray(0, h.length - 1)), ErrorCode.HANDSHAKE, 5],
    ['n = 0', (h) => (h.writeUInt16BE(0, 109), h), ErrorCode.HANDSHAKE, 5],
    ['a suite not accepted', (h) => h, ErrorCode.SUITE_MISMATCH, 3, { suites: [] }],
  ];
  for (const [name, mutate, code, alert, extra] of cases) {
    const s = new Endpoint();
    const srv = new ServerConnection(s.handler(), { keys: [serverKey], tickets, ...extra });
    const err = t.throws(() => srv.receive(mutate(Buffer.from(hello))), { instanceOf: SessionError }, name);
    t.is((err as SessionError).code as string, code, name);
    srv.fail(err);
    t.deepEqual(s.sent, [Buffer.from([0x15, 0, 0, 2, 0, alert])], name);
  }
});

test('client states: a ResumeRefused it did not provoke is refused; a second one too', async (t) => {
  const c = new Endpoint();
  const client = new ClientConnection(c.handler(), { serverKey: serverKey.publicKey });
  client.start();
  const err = t.throws(() => client.receive(REFUSED), { instanceOf: SessionError });
  t.is((err as SessionError).code, ErrorCode.HANDSHAKE);
  const tickets = testTickets();
  const { ticket } = await firstTicket(tickets);
  const rc = new Endpoint();
  const resuming = new ClientConnection(rc.handler(), {
    serverKey: serverKey.publicKey,
    resume: copyTicket(ticket),
  });
  resuming.start();
  resuming.receive(REFUSED);
  t.deepEqual(frameTypes(rc), [FrameType.ResumeHello, FrameType.ClientHello]);
  const again = t.throws(() => resuming.receive(REFUSED), { instanceOf: SessionError });
  t.is((again as SessionError).code, ErrorCode.HANDSHAKE);
  const foreign = Buffer.from(REFUSED);
  foreign[8] = 2;
  const other = new ClientConnection(new Endpoint().handler(), {
    serverKey: serverKey.publicKey,
    resume: copyTicket(ticket),
  });
  other.start();
  t.is((t.throws(() => other.receive(foreign)) as SessionError).code, ErrorCode.UNSUPPORTED_VERSION);
});

test('the fallback transcript starts at the ClientHello: the refused exchange is in no transcript', async (t) => {
  const tickets = testTickets();
  const { ticket } = await firstTicket(tickets);
  const [cPriv, sPriv] = [randomBytes(32), randomBytes(32)];
  let preSecret = Buffer.alloc(0);
  const pair = ticketPair(
    {
      tickets: true,
      resume: copyTicket(ticket, { psk: randomBytes(32) }),
      ephemeralPrivate: cPriv,
      fixedEncryptedSecret: (secret) => {
        preSecret = Buffer.from(secret);
        return oaepEncrypt(serverKey.publicKey.keyObject, secret);
      },
    },
    { tickets, ephemeralPrivate: sPriv },
  );
  await settle();
  fellBack(t, pair);
  const [clientHello, serverHello] = [pair.c.sent[1]!, pair.s.sent[1]!];
  const suite = resolveSuite({});
  const master = (frames: Buffer[]) =>
    deriveMaster(suite, {
      preSecret,
      shared: x25519Shared(x25519Key(cPriv).privateKey, x25519Key(sPriv).publicRaw),
      clientRandom: clientHello.subarray(13, 45),
      serverRandom: serverHello.subarray(12, 44),
      transcriptHash: hash('sha256', ...frames),
    });
  const exporter = pair.client.exportSecret()!;
  t.deepEqual(exporter, exporterSecret(suite, master([clientHello, serverHello])));
  t.deepEqual(pair.server.exportSecret(), exporter);
  t.notDeepEqual(
    exporter,
    exporterSecret(suite, master([pair.c.sent[0]!, REFUSED, clientHello, serverHello])),
  );
});

/** The frame with its length field set to its body's length. */
function withBody(f: Buffer): Buffer {
  const out = Buffer.from(f);
  out.writeUIntBE(out.length - 4, 1, 3);
  return out;
}
