/**
 * Session resumption end to end over loopback TCP with real keys (README "Resumption",
 * PROTOCOL.md §6a): a ticket resumes without RSA; an expired, rotated-out or tampered
 * ticket is refused and the full handshake follows on the same connection; single use;
 * a ticket is offered only with its own identity and suite; no RSA and no handshake-rate
 * token for a resumption.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, ErrorCode, Symmetric, TicketStore } from '../src/index.js';
import type { Session } from '../src/index.js';
import { storeTicket, takeTicket } from '../src/client/ticket-store.js';
import { AlertCode, encodeAlertFrame, resolveSuite } from '../src/protocol/index.js';
import { countingRelay, keys, clientKeys, roundTrip, ticketServer } from './helpers/resumption-net.js';

/** Connects once with `store`; returns the session after one round trip. */
async function visit(port: number, store: TicketStore, options: object = {}): Promise<Session> {
  const client = Client.create(keys.publicKey, {}, { resumption: store, ...options });
  const session = await client.connect(`127.0.0.1:${port}`);
  if ((await roundTrip(session, 'hi')) !== 'hi') throw new Error('no echo');
  return session;
}

test('resumes over TCP: no RSA, resumed on both sides, messages flow, and every resumed session gets the next ticket', async (t) => {
  const { server, port, sessions } = await ticketServer({ tickets: { keys: [randomBytes(32)] }, workers: 1 });
  t.teardown(() => server.stop());
  const store = new TicketStore();
  const first = await visit(port, store);
  t.false(first.resumed);
  await first.close();
  t.is(store.size, 1);
  const rsa = server.workerCounts;
  for (let i = 0; i < 3; i++) {
    const session = await visit(port, store);
    t.true(session.resumed);
    t.true(sessions.at(-1)!.resumed);
    t.true(session.serverKey!.equals(keys.publicKey));
    await session.close();
    // The ticket was used and the resumed session's own ticket took its place.
    t.is(store.size, 1);
  }
  t.deepEqual(server.workerCounts, rsa, 'no RSA operation for a resumption');
  t.is(sessions.filter((s) => s.resumed).length, 3);
});

test('an expired ticket is refused and the full handshake follows on the same connection', async (t) => {
  let now = 1_800_000_000;
  const { server, port, sessions } = await ticketServer({
    tickets: { keys: [randomBytes(32)], lifetime: 60, now: () => now },
  });
  t.teardown(() => server.stop());
  const relay = await countingRelay(port);
  t.teardown(() => relay.close());
  // The client's own clock never expires it: the server's decides.
  const store = new TicketStore({ now: () => 0 });
  await (await visit(relay.port, store)).close();
  now += 59;
  const fresh = await visit(relay.port, store);
  t.true(fresh.resumed, 'still valid a second before expiry');
  await fresh.close();
  now += 60;
  const connections = relay.connections();
  const expired = await visit(relay.port, store);
  t.false(expired.resumed);
  t.false(sessions.at(-1)!.resumed);
  t.is(relay.connections(), connections + 1, 'the refusal and the full handshake used one connection');
  await expired.close();
  // The full handshake brought a new ticket, valid from now.
  t.true((await visit(relay.port, store)).resumed);
});

test('tickets.maxAge ends a chain of resumptions over TCP: chained tickets capped, then refused and a full handshake', async (t) => {
  let now = 1_800_000_000;
  const t0 = now;
  const { server, port, sessions } = await ticketServer({
    tickets: { keys: [randomBytes(32)], lifetime: 600, maxAge: 1000, now: () => now },
  });
  t.teardown(() => server.stop());
  // The client's own clock never expires a ticket: the server's decides.
  const store = new TicketStore({ now: () => 0 });
  await (await visit(port, store)).close();
  // Resumed every 500 s: each resumption is accepted, but the chain does not restart.
  now = t0 + 500;
  const second = await visit(port, store);
  t.true(second.resumed);
  await second.close();
  now = t0 + 999;
  const third = await visit(port, store);
  t.true(third.resumed, 'within maxAge of the full handshake');
  await third.close();
  // Its ticket was capped at auth_time + maxAge: one second, not 600.
  const capped = takeTicket(store, keys.publicKey, resolveSuite({}), null)!;
  t.is(capped.lifetime, 1);
  storeTicket(store, capped);
  // Even a server that would still take it by lifetime refuses past maxAge; the fallback is full.
  now = t0 + 1001;
  const full = await visit(port, store);
  t.false(full.resumed);
  t.false(sessions.at(-1)!.resumed);
  await full.close();
  // The full handshake started a new chain.
  now += 100;
  const fresh = await visit(port, store);
  t.true(fresh.resumed);
  await fresh.close();
});

test('connect() offers at most one ticket: ServerBusy retries do not use up the store', async (t) => {
  // A server that answers every connection with ServerBusy.
  let connections = 0;
  const busy = createServer((socket) => {
    connections++;
    socket.on('error', () => {});
    socket.end(encodeAlertFrame(AlertCode.ServerBusy));
  });
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  t.teardown(() => busy.close());
  const store = new TicketStore();
  const suite = resolveSuite({});
  for (let i = 0; i < 3; i++) {
    storeTicket(store, {
      ticket: randomBytes(64),
      psk: randomBytes(suite.hashLength),
      lifetime: 3600,
      suite,
      serverKey: keys.publicKey,
      clientKey: null,
    });
  }
  const client = Client.create(keys.publicKey, {}, { resumption: store, busyRetries: 2 });
  const { port } = busy.address() as AddressInfo;
  await t.throwsAsync(client.connect(`127.0.0.1:${port}`), { code: ErrorCode.SERVER_BUSY });
  t.is(connections, 3, 'three attempts');
  t.is(store.size, 2, 'one ticket taken for the whole connect()');
});

test('a ticket sealed under a rotated-out ticket key is refused; under a key still held second it resumes', async (t) => {
  const [oldKey, newKey] = [randomBytes(32), randomBytes(32)];
  const { server, port } = await ticketServer({ tickets: { keys: [oldKey] } });
  t.teardown(() => server.stop());
  const relay = await countingRelay(port);
  t.teardown(() => relay.close());
  const store = new TicketStore();
  await (await visit(relay.port, store)).close();
  // Rotation: the new key issues, the old one is still accepted.
  server.setTicketKeys([newKey, oldKey]);
  const kept = await visit(relay.port, store);
  t.true(kept.resumed);
  await kept.close();
  // That session's ticket is under the new key; get one under the old key again to drop it.
  server.setTicketKeys([oldKey]);
  const gone = await visit(relay.port, store);
  t.false(gone.resumed, 'its ticket is under a key this server no longer holds');
  await gone.close();
  server.setTicketKeys([newKey]);
  const before = relay.connections();
  const dropped = await visit(relay.port, store);
  t.false(dropped.resumed);
  t.is(relay.connections(), before + 1);
  await dropped.close();
});

test('a tampered ticket (one byte flipped) is refused: the full handshake follows on the same connection', async (t) => {
  const { server, port } = await ticketServer({ tickets: { keys: [randomBytes(32)] } });
  t.teardown(() => server.stop());
  const relay = await countingRelay(port);
  t.teardown(() => relay.close());
  const store = new TicketStore();
  await (await visit(relay.port, store)).close();
  const ticket = takeTicket(store, keys.publicKey, resolveSuite({}), null)!;
  for (const at of [0, 12, ticket.ticket.length >> 1, ticket.ticket.length - 1]) {
    const bad = { ...ticket, ticket: Buffer.from(ticket.ticket), psk: Buffer.from(ticket.psk) };
    bad.ticket[at]! ^= 0x40;
    storeTicket(store, bad);
    const before = relay.connections();
    const session = await visit(relay.port, store);
    t.false(session.resumed, `byte ${at}`);
    t.is(relay.connections(), before + 1);
    await session.close();
    store.clear();
  }
});

test('single use: the same ticket offered twice is refused the second time (full handshake)', async (t) => {
  const { server, port } = await ticketServer({ tickets: { keys: [randomBytes(32)], singleUse: true } });
  t.teardown(() => server.stop());
  const store = new TicketStore();
  await (await visit(port, store)).close();
  const ticket = takeTicket(store, keys.publicKey, resolveSuite({}), null)!;
  const copy = { ...ticket, ticket: Buffer.from(ticket.ticket), psk: Buffer.from(ticket.psk) };
  storeTicket(store, ticket);
  const once = await visit(port, store);
  t.true(once.resumed);
  await once.close();
  store.clear();
  storeTicket(store, copy);
  const twice = await visit(port, store);
  t.false(twice.resumed);
  await twice.close();
});

test('a ticket is offered only with its own client key and suite; a client without resumption works as before', async (t) => {
  const { server, port, sessions } = await ticketServer({ tickets: { keys: [randomBytes(32)] } });
  t.teardown(() => server.stop());
  const store = new TicketStore();
  await (await visit(port, store)).close();
  t.is(store.size, 1);
  // Another identity (a client key), another suite: no ticket of theirs, so a full handshake each.
  const keyed = await visit(port, store, { clientKey: clientKeys.privateKey });
  t.false(keyed.resumed);
  await keyed.close();
  const gcm = Client.create(keys.publicKey, { symmetric: Symmetric.AES256GCM }, { resumption: store });
  const other = await gcm.connect(`127.0.0.1:${port}`);
  t.false(other.resumed);
  t.is(await roundTrip(other, 'gcm'), 'gcm');
  await other.close();
  t.is(store.size, 3, "each got its own ticket; the first one's is still there");
  // The keyed client resumes as itself: the server sees its key again.
  const again = await visit(port, store, { clientKey: clientKeys.privateKey });
  t.true(again.resumed);
  t.true(sessions.at(-1)!.clientKey!.equals(clientKeys.publicKey));
  await again.close();
  // A client without resumption works as before against a server with tickets.
  const plain = await Client.create(keys.publicKey).connect(`127.0.0.1:${port}`);
  t.is(await roundTrip(plain, 'plain'), 'plain');
  t.false(plain.resumed);
  await plain.close();
});

test('a resumption takes no handshake-rate token: many resume where the rate allows one full handshake', async (t) => {
  const { server, port } = await ticketServer({
    tickets: { keys: [randomBytes(32)] },
    handshakeRate: 1,
    handshakeBurst: 2,
  });
  t.teardown(() => server.stop());
  const refused: string[] = [];
  server.on('refused', (limit) => refused.push(limit));
  const store = new TicketStore();
  // The full handshake takes one of the two tokens; resumptions take none.
  await (await visit(port, store, { busyRetries: 0 })).close();
  for (let i = 0; i < 8; i++) {
    const session = await visit(port, store, { busyRetries: 0 });
    t.true(session.resumed);
    await session.close();
  }
  t.deepEqual(refused, []);
});

test('the authorize hook decides on a resumed session too: refused, the client gets ERR_NOT_AUTHORIZED', async (t) => {
  const allowed = new Set([clientKeys.publicKey.fingerprint()]);
  let decisions = 0;
  const { server, port } = await ticketServer({
    tickets: { keys: [randomBytes(32)] },
    authorize: (peer) => {
      decisions++;
      return peer.clientFingerprint !== null && allowed.has(peer.clientFingerprint);
    },
  });
  t.teardown(() => server.stop());
  const errors: string[] = [];
  server.on('handshakeError', (err) => errors.push(err.code));
  const store = new TicketStore();
  const options = { clientKey: clientKeys.privateKey };
  await (await visit(port, store, options)).close();
  const resumed = await visit(port, store, options);
  t.true(resumed.resumed);
  t.is(decisions, 2, 'the hook decided on the resumed session too');
  await resumed.close();
  allowed.clear();
  const client = Client.create(keys.publicKey, {}, { resumption: store, ...options });
  const session = await client.connect(`127.0.0.1:${port}`);
  const err = await t.throwsAsync(session.read());
  t.is((err as { code?: string }).code, ErrorCode.NOT_AUTHORIZED);
  t.deepEqual(errors, [ErrorCode.NOT_AUTHORIZED]);
});

test('a client key removed from authorized_keys cannot resume; the resumed session keeps the original key', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'secsess-resume-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'authorized_keys');
  await writeFile(file, clientKeys.publicKey.toOpenSSH('client') + '\n', { mode: 0o600 });
  const { server, port, sessions } = await ticketServer({
    tickets: { keys: [randomBytes(32)] },
    authorizedKeys: file,
  });
  t.teardown(() => server.stop());
  const errors: string[] = [];
  server.on('handshakeError', (err) => errors.push(err.code));
  const store = new TicketStore();
  const options = { clientKey: clientKeys.privateKey };
  await (await visit(port, store, options)).close();
  const resumed = await visit(port, store, options);
  t.true(resumed.resumed);
  t.is(sessions.at(-1)!.clientKey!.fingerprint(), clientKeys.publicKey.fingerprint());
  t.is(resumed.clientKey!.fingerprint(), clientKeys.publicKey.fingerprint());
  await resumed.close();
  await writeFile(file, keys.publicKey.toOpenSSH('someone else') + '\n', { mode: 0o600 });
  t.deepEqual(await server.reloadAuthorizedKeys(), { added: 1, removed: 1 });
  t.is(store.size, 1, 'the client still holds a ticket');
  const session = await Client.create(keys.publicKey, {}, { resumption: store, ...options }).connect(
    `127.0.0.1:${port}`,
  );
  const err = await t.throwsAsync(session.read());
  t.is((err as { code?: string }).code, ErrorCode.NOT_AUTHORIZED);
  t.deepEqual(errors, [ErrorCode.NOT_AUTHORIZED]);
  t.is(store.size, 0, 'and it was used up');
});
