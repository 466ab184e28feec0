/**
 * DatagramSession against a hostile network and a peer that breaks the rules (PROTOCOL.md
 * §D4, §D6, §D7): a relay that drops, duplicates, reorders and replays; forged packets;
 * a client that changes port; records an open session never accepts; alerts; a peer past
 * its key budget.
 */
import test from 'ava';
import { DatagramRecordType } from '../src/protocol/datagram/constants.js';
import { AlertCode, ErrorCode } from '../src/protocol/index.js';
import { sessionPair, take } from './helpers/dgram-pair.js';
import type { SessionError } from '../src/protocol/index.js';
import type { Host, Pair, RelayRule, Side } from './helpers/dgram-pair.js';
import { waitUntil } from './helpers/net.js';

const id = (m: Buffer): number => m.readUInt32BE(0);
const message = (i: number): Buffer => {
  const b = Buffer.alloc(24);
  b.writeUInt32BE(i, 0);
  return b;
};
const u16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n, 0);
  return b;
};

/** Collects every message a side delivers, through a listener. */
function collect(side: Side): number[] {
  const got: number[] = [];
  side.session.on('message', (m) => got.push(id(m)));
  return got;
}

/** Sends a record sealed by `from`'s own outbound (the session's seq counter) straight to the peer. */
async function raw(pair: Pair, from: Side, type: number, payload: Buffer): Promise<void> {
  const to = from === pair.client ? pair.server : pair.client;
  await pair.inject(to, from.outbound.seal(type, payload), from.socket);
}

test('a relay that drops, duplicates, reorders and replays: nothing is delivered twice, counters tell what happened', async (t) => {
  // c2s Data packets by index: every 7th dropped, every 5th duplicated, every 11th held back
  // and sent after the next one; afterwards every forwarded packet is replayed.
  const forwarded: Buffer[] = [];
  let heldBack: Buffer | null = null;
  let drops = 0;
  let dups = 0;
  let reorders = 0;
  const rule: RelayRule = (packet, direction, i) => {
    if (direction === 's2c') return [packet];
    if (i % 7 === 3) {
      drops++;
      return [];
    }
    if (i % 11 === 5) {
      reorders++;
      heldBack = packet;
      return [];
    }
    const out = [packet];
    if (i % 5 === 1) {
      dups++;
      out.push(packet);
    }
    if (heldBack) {
      out.push(heldBack);
      heldBack = null;
    }
    forwarded.push(...out.filter((p, k) => out.indexOf(p) === k));
    return out;
  };
  const pair = await sessionPair({ relay: rule, options: { keepAliveInterval: 0 } });
  const { client, server } = pair;
  try {
    const got = collect(server);
    const n = 120;
    for (let i = 0; i < n; i++) client.session.send(message(i));
    await waitUntil(() => server.session.counters.delivered === n - drops, 'every forwarded message arrived');
    for (const p of forwarded) pair.relay!.forward(p, 'c2s');
    await waitUntil(
      () => server.session.counters.duplicates === dups + forwarded.length,
      'every replay was seen as a duplicate',
    );
    t.is(new Set(got).size, got.length, 'no message delivered twice');
    t.is(got.length, n - drops);
    const c = server.session.counters;
    t.is(c.delivered, n - drops);
    // Each drop leaves a hole, each held-back packet one until it arrives.
    t.is(c.gaps, drops + reorders);
    t.is(c.authFailures, 0);
    // The replies still go to the relay, and arrive.
    server.session.send(message(9999));
    t.is(id((await take(client.session, 1))[0]!), 9999);
  } finally {
    await pair.close();
  }
});

test("replay 'increasing': a late datagram is counted too-old and dropped, not delivered out of order", async (t) => {
  let heldBack: Buffer | null = null;
  const rule: RelayRule = (packet, direction, i) => {
    if (direction === 's2c') return [packet];
    if (i === 2) {
      heldBack = packet;
      return [];
    }
    if (i === 4) return [packet, heldBack!];
    return [packet];
  };
  const pair = await sessionPair({
    relay: rule,
    server: { replay: 'increasing' },
    options: { keepAliveInterval: 0 },
  });
  const { client, server } = pair;
  try {
    const got = collect(server);
    for (let i = 0; i < 8; i++) client.session.send(message(i));
    await waitUntil(
      () => server.session.counters.tooOld === 1 && got.length === 7,
      'seven delivered, one too old',
    );
    t.deepEqual(got, [0, 1, 3, 4, 5, 6, 7]);
    t.is(server.session.counters.duplicates, 0);
  } finally {
    await pair.close();
  }
});

test('forged and tampered packets are counted and change nothing; the session goes on', async (t) => {
  const pair = await sessionPair();
  const { client, server } = pair;
  try {
    const got = collect(server);
    client.session.send(message(1));
    await waitUntil(() => got.length === 1, 'the first message');
    const genuine = client.outbound.seal(DatagramRecordType.Data, message(2));
    const flipped = Buffer.from(genuine);
    flipped[flipped.length - 1]! ^= 1;
    await pair.inject(server, flipped);
    await pair.inject(server, Buffer.from([0x47, 1, 2, 3]));
    await waitUntil(() => server.session.counters.received >= 3, 'the forgeries arrived');
    t.is(server.session.counters.authFailures, 1);
    t.is(server.session.counters.malformed, 1);
    // The genuine packet with that seq still opens: the forgery did not move the window.
    await pair.inject(server, genuine);
    await waitUntil(() => got.length === 2, 'the genuine packet');
    t.deepEqual(got, [1, 2]);
    t.is(server.session.state, 'open');
  } finally {
    await pair.close();
  }
});

const migration = test.macro(async (t, host: Host) => {
  const pair = await sessionPair({ host, options: { keepAliveInterval: 0 } });
  const { client, server } = pair;
  try {
    const moves: number[] = [];
    server.session.on('addressChange', (r) => moves.push(r.port));
    const got = collect(server);
    const oldPort = client.socket.address().port;
    client.session.send(message(1));
    await waitUntil(() => got.length === 1, 'the first message');
    t.is(server.session.remotePort, oldPort);
    const first = client.transmitted[0]!;

    // Sealed now, sent later: a delayed packet.
    const delayed = client.outbound.seal(DatagramRecordType.Data, message(2));
    const oldSocket = client.socket;
    const newSocket = await pair.moveClient();
    const newPort = newSocket.address().port;

    // A replay of an old packet from the new port: a duplicate, no move.
    await pair.inject(server, first, newSocket);
    // A forgery from the new port: rejected, no move.
    const forged = Buffer.from(client.outbound.seal(DatagramRecordType.Data, message(99)));
    forged[forged.length - 2]! ^= 0x80;
    await pair.inject(server, forged, newSocket);
    await waitUntil(() => server.session.counters.received === 3, 'replay and forgery arrived');
    t.is(server.session.counters.duplicates, 1);
    t.is(server.session.counters.authFailures, 1);
    t.is(server.session.remotePort, oldPort);

    // A fresh packet from the new port moves the session...
    client.session.send(message(3));
    await waitUntil(() => got.length === 2, 'the fresh packet');
    t.is(server.session.remotePort, newPort);
    t.is(server.session.remoteFamily, host === '::1' ? 'IPv6' : 'IPv4');
    t.deepEqual(moves, [newPort]);

    // ...and a delayed (older seq) packet from the old port is delivered but moves nothing back.
    await pair.inject(server, delayed, oldSocket);
    await waitUntil(() => got.length === 3, 'the delayed packet');
    t.deepEqual(got, [1, 3, 2]);
    t.is(server.session.remotePort, newPort);
    t.deepEqual(moves, [newPort]);

    // Replies reach the client at its new port.
    server.session.send(message(7));
    t.is(id((await take(client.session, 1))[0]!), 7);
  } finally {
    await pair.close();
  }
});

test(
  'migration (IPv4): the server follows a client that changed port only after a fresh authenticated packet from there',
  migration,
  '127.0.0.1',
);
test('migration (IPv6): the same over ::1', migration, '::1');

test('a client never follows the server to another address', async (t) => {
  const pair = await sessionPair({ options: { keepAliveInterval: 0 } });
  const { client, server } = pair;
  try {
    const got = collect(client);
    const serverPort = client.session.remotePort;
    await pair.inject(client, server.outbound.seal(DatagramRecordType.Data, message(5)));
    await waitUntil(() => got.length === 1, 'the packet from elsewhere');
    t.is(client.session.remotePort, serverPort);
  } finally {
    await pair.close();
  }
});

const violations: [string, number, Buffer, 'client' | 'server'][] = [
  ['an unknown record type', 0x09, Buffer.alloc(0), 'client'],
  ['a Ping over 64 bytes', DatagramRecordType.Ping, Buffer.alloc(65), 'client'],
  ['a Pong over 64 bytes', DatagramRecordType.Pong, Buffer.alloc(65), 'server'],
  ['a HandshakeDone sent to a server', DatagramRecordType.HandshakeDone, Buffer.alloc(0), 'client'],
  ['a HandshakeDone with a payload', DatagramRecordType.HandshakeDone, Buffer.alloc(1), 'server'],
  ['a ClientFinished in an open session', DatagramRecordType.ClientFinished, Buffer.from([0]), 'client'],
  ['a ServerFinished in an open session', DatagramRecordType.ServerFinished, Buffer.alloc(32), 'server'],
  ['a Close of one byte', DatagramRecordType.Close, Buffer.alloc(1), 'client'],
  [
    'a Close whose reason is not UTF-8',
    DatagramRecordType.Close,
    Buffer.from([3, 232, 0xc3, 0x28]),
    'server',
  ],
  ['a Close over 125 bytes', DatagramRecordType.Close, Buffer.alloc(126, 0x61), 'client'],
];

for (const [what, type, payload, sender] of violations) {
  test(`${what} ends the receiver with ERR_PROTOCOL and an Alert that ends the sender`, async (t) => {
    const pair = await sessionPair({ options: { keepAliveInterval: 0 } });
    const from = sender === 'client' ? pair.client : pair.server;
    const to = sender === 'client' ? pair.server : pair.client;
    try {
      to.session.on('error', (e) => to.errors.push(e));
      from.session.on('error', (e) => from.errors.push(e));
      await raw(pair, from, type, payload);
      await to.session.closed;
      t.is((to.errors[0] as SessionError).code, ErrorCode.PROTOCOL);
      t.deepEqual(to.closes, [[1006, '']]);
      await from.session.closed;
      t.is((from.errors[0] as SessionError).code, ErrorCode.PROTOCOL);
      t.regex(from.errors[0]!.message, /peer reported/);
      t.is(to.errors.length, 1);
      t.is(from.errors.length, 1);
    } finally {
      await pair.close();
    }
  });
}

test('an Alert record ends the receiver with the error of its code and is not answered', async (t) => {
  const pair = await sessionPair({ options: { keepAliveInterval: 0 } });
  const { client, server } = pair;
  try {
    server.session.on('error', (e) => server.errors.push(e));
    const sentBefore = server.transmitted.length;
    await raw(pair, client, DatagramRecordType.Alert, u16(AlertCode.NotAuthorized));
    await server.session.closed;
    t.is((server.errors[0] as SessionError).code, ErrorCode.NOT_AUTHORIZED);
    t.is(server.transmitted.length, sentBefore, 'no alert answers an alert');
    t.is(client.session.state, 'open');
  } finally {
    await pair.close();
  }
});

test("'error' is not emitted when nobody listens, but 'close' always is", async (t) => {
  const pair = await sessionPair({ options: { keepAliveInterval: 0 } });
  try {
    await raw(pair, pair.client, DatagramRecordType.Alert, u16(AlertCode.Protocol));
    await pair.server.session.closed;
    t.deepEqual(pair.server.closes, [[1006, '']]);
    t.is(pair.server.ended, 1);
  } finally {
    await pair.close();
  }
});

test('a peer past its epoch budget ends the session with ERR_KEY_EXHAUSTED', async (t) => {
  const pair = await sessionPair({
    options: { keepAliveInterval: 0 },
    // Receive cut-off lowered to 4 records per epoch (an internal test knob of the contexts).
    context: { receiveRecordCutoff: 4 },
  });
  const { client, server } = pair;
  try {
    server.session.on('error', (e) => server.errors.push(e));
    const got = collect(server);
    for (let i = 0; i < 6; i++) client.session.send(message(i));
    await server.session.closed;
    t.is((server.errors[0] as SessionError).code, ErrorCode.KEY_EXHAUSTED);
    t.deepEqual(got, [0, 1, 2, 3]);
  } finally {
    await pair.close();
  }
});
