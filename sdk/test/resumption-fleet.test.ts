/**
 * Resumption across a fleet (README "Resumption", PROTOCOL.md §6a): servers that share the
 * server key and the ticket keys accept each other's tickets; a server with other ticket
 * keys refuses them and the client falls back on the same connection. Also the options'
 * checks, `setTicketKeys()`, and the client's `TicketStore` bounds.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { Client, DEFAULT_TICKET_LIFETIME, Server, TicketStore, secureDuplex } from '../src/index.js';
import { duplexPair } from './helpers/duplex-pair.js';
import { MAX_TICKET_ENTRIES, storeTicket, takeTicket } from '../src/client/ticket-store.js';
import { resolveSuite } from '../src/protocol/index.js';
import type { SessionTicket, SessionTicket as CoreTicket } from '../src/protocol/index.js';
import { countingRelay, keys, clientKeys, roundTrip, ticketServer } from './helpers/resumption-net.js';
import { fixtureKeys } from './helpers/keys.js';

async function visit(port: number, store: TicketStore) {
  const session = await Client.create(keys.publicKey, {}, { resumption: store }).connect(`127.0.0.1:${port}`);
  await roundTrip(session, 'hi');
  await session.close();
  return session;
}

test("a fleet: a server with the same key and ticket keys accepts another one's ticket; other ticket keys refuse it", async (t) => {
  const shared = [randomBytes(32)];
  const a = await ticketServer({ tickets: { keys: shared } });
  const b = await ticketServer({ tickets: { keys: shared } });
  const c = await ticketServer({ tickets: { keys: [randomBytes(32)] } });
  t.teardown(() => Promise.all([a, b, c].map((x) => x.server.stop())));
  const relay = await countingRelay(c.port);
  t.teardown(() => relay.close());
  const store = new TicketStore();
  t.false((await visit(a.port, store)).resumed);
  // B never saw this client: A's ticket resumes there, and B's ticket resumes on A.
  t.true((await visit(b.port, store)).resumed);
  t.true(b.sessions.at(-1)!.resumed);
  t.true((await visit(a.port, store)).resumed);
  // C has other ticket keys: refused, full handshake, one connection.
  const session = await visit(relay.port, store);
  t.false(session.resumed);
  t.false(c.sessions.at(-1)!.resumed);
  t.is(relay.connections(), 1);
  // C's ticket is C's alone.
  t.false((await visit(a.port, store)).resumed);
});

test('setTicketKeys turns tickets on for a server created without them; the default lifetime applies', async (t) => {
  const { server, port } = await ticketServer({});
  t.teardown(() => server.stop());
  const store = new TicketStore();
  await visit(port, store);
  t.is(store.size, 0, 'no ticket from a server without ticket keys');
  server.setTicketKeys([randomBytes(32)]);
  await visit(port, store);
  t.is(store.size, 1);
  const ticket = takeTicket(store, keys.publicKey, resolveSuite({}), null)!;
  t.is(ticket.lifetime, DEFAULT_TICKET_LIFETIME);
  storeTicket(store, ticket);
  t.true((await visit(port, store)).resumed);
});

test('options are checked: ticket keys, lifetime, singleUse, resumption, setTicketKeys', (t) => {
  const make = (tickets: unknown) => () =>
    Server.create('127.0.0.1:0', keys.privateKey, undefined, { tickets } as never);
  t.throws(make({ keys: [] }), { instanceOf: TypeError, message: /1 to 16 ticket keys/ });
  t.throws(make({ keys: [randomBytes(31)] }), {
    instanceOf: TypeError,
    message: /keys\[0\] must be a ticket key of 32 bytes/,
  });
  t.throws(make({ keys: Array.from({ length: 17 }, () => randomBytes(32)) }), { instanceOf: TypeError });
  t.throws(make({ keys: ['x'.repeat(32)] }), { instanceOf: TypeError });
  t.throws(make({ keys: [randomBytes(32)], lifetime: 0 }), {
    instanceOf: RangeError,
    message: /tickets.lifetime/,
  });
  t.throws(make({ keys: [randomBytes(32)], lifetime: 604801 }), { instanceOf: RangeError });
  t.throws(make({ keys: [randomBytes(32)], lifetime: 1.5 }), { instanceOf: TypeError });
  t.throws(make({ keys: [randomBytes(32)], maxAge: 0 }), { instanceOf: RangeError, message: /maxAge/ });
  t.throws(make({ keys: [randomBytes(32)], maxAge: 604801 }), { instanceOf: RangeError });
  t.throws(make({ keys: [randomBytes(32)], maxAge: 1.5 }), { instanceOf: TypeError });
  t.notThrows(make({ keys: [randomBytes(32)], maxAge: 1 }));
  t.throws(make({ keys: [randomBytes(32)], singleUse: 'yes' }), { instanceOf: TypeError });
  t.throws(make('keys'), { instanceOf: TypeError, message: /options.tickets must be an object/ });
  t.notThrows(make({ keys: [new Uint8Array(32)], lifetime: 604800, singleUse: true }));
  const server = Server.create('127.0.0.1:0', keys.privateKey);
  t.throws(() => server.setTicketKeys([randomBytes(16)]), { instanceOf: TypeError, message: /keys\[0\]/ });
  t.throws(() => server.setTicketKeys([]), { instanceOf: TypeError });
  t.throws(() => Client.create(keys.publicKey, {}, { resumption: 'yes' as never }), {
    instanceOf: TypeError,
    message: /options.resumption must be a boolean or a TicketStore/,
  });
  t.notThrows(() => Client.create(keys.publicKey, {}, { resumption: true }));
  t.throws(() => new TicketStore({ maxPerServer: 0 }), { instanceOf: RangeError });
  // A key's bytes never appear in an error.
  const secret = Buffer.alloc(33, 0x41);
  const err = t.throws(make({ keys: [secret] }));
  t.false(err!.message.includes('AAAA'));
});

/** A ticket as the core hands it to a store (the ticket bytes are a label here). */
function fake(label: string, lifetime = 60, client: CoreTicket['clientKey'] = null): SessionTicket {
  return {
    ticket: Buffer.from(label),
    psk: Buffer.alloc(32, 1),
    lifetime,
    suite: resolveSuite({}),
    serverKey: keys.publicKey,
    clientKey: client,
  };
}

test('TicketStore: newest first, one use each, expiry by its clock, per-identity entries, bounds, clear wipes', (t) => {
  let now = 0;
  const store = new TicketStore({ maxPerServer: 2, now: () => now });
  const suite = resolveSuite({});
  const [a, b, c] = [fake('a'), fake('b', 120), fake('c', 120)];
  storeTicket(store, a);
  storeTicket(store, b);
  storeTicket(store, c);
  t.is(store.size, 2, 'the oldest dropped past maxPerServer');
  t.true(a.psk.equals(Buffer.alloc(32)), 'and wiped');
  t.is(String(takeTicket(store, keys.publicKey, suite, null)!.ticket), 'c');
  // Another identity or suite sees none.
  t.is(takeTicket(store, keys.publicKey, suite, clientKeys.publicKey), null);
  t.is(takeTicket(store, keys.publicKey, resolveSuite({ hash: 'SHA-384' }), null), null);
  t.is(takeTicket(store, fixtureKeys('other-2048').publicKey, suite, null), null);
  now = 120_000;
  t.is(takeTicket(store, keys.publicKey, suite, null), null, 'expired at its lifetime');
  t.is(store.size, 0);
  t.true(b.psk.equals(Buffer.alloc(32)));
  const keyed = fake('k', 60, clientKeys.publicKey);
  storeTicket(store, keyed);
  t.is(takeTicket(store, keys.publicKey, suite, null), null);
  storeTicket(store, keyed);
  store.clear();
  t.is(store.size, 0);
  t.true(keyed.psk.equals(Buffer.alloc(32)));
});

test(`TicketStore holds at most ${MAX_TICKET_ENTRIES} identities, dropping the least recently used`, (t) => {
  const store = new TicketStore();
  const suite = resolveSuite({});
  const first = fake('first');
  storeTicket(store, first);
  // Entries differ by suite × client key here: the store keys on those too. Fake ones by
  // giving each ticket a distinct (fake) client key identity.
  for (let i = 0; i < MAX_TICKET_ENTRIES; i++) {
    const id = { fingerprint: () => `id-${i}`, equals: () => false } as unknown as CoreTicket['clientKey'];
    storeTicket(store, fake(`t${i}`, 60, id));
  }
  t.is(store.size, MAX_TICKET_ENTRIES);
  t.is(takeTicket(store, keys.publicKey, suite, null), null, 'the oldest entry went');
  t.true(first.psk.equals(Buffer.alloc(32)));
});

test('secureDuplex resumes too: a TicketStore on the client side, tickets on the server side', async (t) => {
  const ticketKeys = [randomBytes(32)];
  const store = new TicketStore();
  const once = async () => {
    const [a, b] = duplexPair();
    const [client, server] = await Promise.all([
      secureDuplex(a, { role: 'client', serverKey: keys.publicKey, resumption: store }),
      secureDuplex(b, { role: 'server', keys: keys.privateKey, tickets: { keys: ticketKeys } }),
    ]);
    await client.write('over a pipe');
    t.is(String(await server.read()), 'over a pipe');
    await server.write('back');
    t.is(String(await client.read()), 'back');
    const resumed = [client.resumed, server.resumed];
    await Promise.all([client.close(), server.close()]);
    return resumed;
  };
  t.deepEqual(await once(), [false, false]);
  t.is(store.size, 1);
  t.deepEqual(await once(), [true, true]);
  t.deepEqual(await once(), [true, true]);
  await t.throwsAsync(
    secureDuplex(duplexPair()[0], { role: 'client', serverKey: keys.publicKey, resumption: true as never }),
    { instanceOf: TypeError, message: /options.resumption must be a TicketStore/ },
  );
});
