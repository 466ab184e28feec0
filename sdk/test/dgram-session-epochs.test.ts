/**
 * The end of the handshake as the open session sees it (PROTOCOL.md §D3: ClientFinished
 * resent until a record from the server opens; HandshakeDone re-answered, at most 8 times),
 * and long sessions through many epochs (§D5).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { DatagramRecordType } from '../src/protocol/datagram/constants.js';
import { TimeoutError } from '../src/protocol/index.js';
import { sessionPair, take } from './helpers/dgram-pair.js';
import type { PairOptions } from './helpers/dgram-pair.js';
import { waitUntil } from './helpers/net.js';

const CLIENT_FINISHED = Buffer.from([0]); // flags 0: no client authentication

/**
 * A pair whose client sealed its ClientFinished (seq 0) and whose server opened it, as §D3
 * leaves them; `clientFinished()` is that packet.
 */
function afterHandshake(extra: PairOptions = {}): { options: PairOptions; clientFinished: () => Buffer } {
  let clientFinished: Buffer | null = null;
  const options: PairOptions = {
    ...extra,
    options: { keepAliveInterval: 0, ...extra.options },
    clientInit: ({ outbound }) => {
      clientFinished = outbound.seal(DatagramRecordType.ClientFinished, CLIENT_FINISHED);
      return { resend: clientFinished };
    },
    serverInit: ({ inbound }) => {
      const opened = inbound.open(clientFinished!);
      if (!opened.ok) throw new Error('the ClientFinished did not open');
      return { handshakeDone: true };
    },
  };
  return { options, clientFinished: () => clientFinished! };
}

const isClientFinished = (p: Buffer): boolean => p.readUInt32BE(9) === 0 && p.readUIntBE(13, 6) === 0;

test('the client resends its ClientFinished until the HandshakeDone gets through, then stops', async (t) => {
  let s2c = 0;
  // The first two answers (the HandshakeDone and one re-answer) are lost.
  const pair = await sessionPair(
    afterHandshake({ relay: (packet, direction) => (direction === 's2c' && s2c++ < 2 ? [] : [packet]) })
      .options,
  );
  const { client, server } = pair;
  try {
    await waitUntil(() => client.inbound.counters.opened === 1, 'the client opened a HandshakeDone');
    const resent = pair.relay!.seen.c2s.filter(isClientFinished).length;
    t.is(resent, 2, 'resent at 400 ms and 1200 ms; the second answer got through');
    t.is(server.session.counters.duplicates, 2);
    t.is(server.transmitted.length, 3, 'HandshakeDone at start and once per duplicate');
    // The next resend was due 1600 ms after the last one: it must not come.
    await sleep(2000);
    t.is(pair.relay!.seen.c2s.filter(isClientFinished).length, 2);
    // Data flows both ways.
    client.session.send('hello');
    t.is(String((await take(server.session, 1))[0]), 'hello');
  } finally {
    await pair.close();
  }
});

test('any record from the server stops the resends, not only HandshakeDone', async (t) => {
  // Every HandshakeDone is lost (all are empty records: the smallest s2c packets); the
  // server's first message is what the client hears.
  let smallest = Infinity;
  const pair = await sessionPair(
    afterHandshake({
      relay: (packet, direction) => {
        if (direction === 'c2s') return [packet];
        smallest = Math.min(smallest, packet.length);
        return packet.length === smallest ? [] : [packet];
      },
    }).options,
  );
  const { client, server } = pair;
  try {
    await waitUntil(() => server.session.counters.duplicates >= 1, 'one resend arrived');
    server.session.send('data instead, longer than any HandshakeDone');
    t.is(String((await take(client.session, 1))[0]), 'data instead, longer than any HandshakeDone');
    const resent = pair.relay!.seen.c2s.filter(isClientFinished).length;
    await sleep(2000);
    t.is(pair.relay!.seen.c2s.filter(isClientFinished).length, resent);
  } finally {
    await pair.close();
  }
});

test('a client that hears nothing from the server within resendTimeout ends with ERR_TIMEOUT (handshake)', async (t) => {
  const setup = afterHandshake({ relay: (packet, direction) => (direction === 's2c' ? [] : [packet]) });
  const pair = await sessionPair({
    ...setup.options,
    clientInit: (contexts) => ({ ...setup.options.clientInit!(contexts), resendTimeout: 1000 }),
  });
  const { client } = pair;
  try {
    client.session.on('error', (e) => client.errors.push(e));
    await client.session.closed;
    t.true(client.errors[0] instanceof TimeoutError);
    t.is((client.errors[0] as TimeoutError).limit, 'handshake');
    t.deepEqual(client.closes, [[1006, '']]);
    // The 400 ms resend came before the deadline; the next was due at 1200 ms.
    t.is(pair.relay!.seen.c2s.filter(isClientFinished).length, 1);
  } finally {
    await pair.close();
  }
});

test('the server answers a duplicate ClientFinished with a HandshakeDone at most 8 times, and only a genuine one', async (t) => {
  const setup = afterHandshake();
  const pair = await sessionPair(setup.options);
  const { client, server } = pair;
  try {
    t.is(client.transmitted.length, 0, 'the owner sent the first ClientFinished, not the session');
    t.is(server.transmitted.length, 1, 'the HandshakeDone at start');
    const from = { address: '127.0.0.1', port: client.socket.address().port, family: 'IPv4' };
    const genuine = setup.clientFinished();
    // A forged copy of seq 0 (a flipped tag) is a "duplicate" to the window but does not open.
    const forged = Buffer.from(genuine);
    forged[forged.length - 1]! ^= 1;
    server.session.receive(forged, from);
    t.is(server.transmitted.length, 1);
    for (let i = 0; i < 12; i++) server.session.receive(genuine, from);
    t.is(server.transmitted.length, 1 + 8);
    t.is(server.session.counters.duplicates, 13);
    // A duplicate of any other record is never answered.
    client.session.send('x');
    await waitUntil(() => server.session.counters.delivered === 1, 'a message');
    server.session.receive(client.transmitted.at(-1)!, from);
    t.is(server.transmitted.length, 9);
    t.is(server.session.state, 'open');
  } finally {
    await pair.close();
  }
});

test('a session that did not come from a handshake (a channel) never answers a duplicate seq 0', async (t) => {
  const pair = await sessionPair({ options: { keepAliveInterval: 0 } });
  const { client, server } = pair;
  try {
    client.session.send('first');
    await waitUntil(() => server.session.counters.delivered === 1, 'the first record');
    const from = { address: '127.0.0.1', port: client.socket.address().port, family: 'IPv4' };
    server.session.receive(client.transmitted[0]!, from);
    t.is(server.session.counters.duplicates, 1);
    t.is(server.transmitted.length, 0);
  } finally {
    await pair.close();
  }
});

test('a long session moves through many epochs each way and loses nothing', async (t) => {
  const pair = await sessionPair({ options: { keepAliveInterval: 0, rekeyAfterRecords: 5 } });
  const { client, server } = pair;
  try {
    const n = 60;
    const toServer = take(server.session, n);
    const toClient = take(client.session, n);
    for (let i = 0; i < n; i++) {
      client.session.send(`c${i}`);
      server.session.send(`s${i}`);
      // Let the socket breathe every few records: loopback drops when its buffer overflows.
      if (i % 10 === 9) await sleep(1);
    }
    t.deepEqual(
      (await toServer).map(String),
      Array.from({ length: n }, (_, i) => `c${i}`),
    );
    t.deepEqual(
      (await toClient).map(String),
      Array.from({ length: n }, (_, i) => `s${i}`),
    );
    t.true(client.outbound.epoch >= 11, `client epoch ${client.outbound.epoch}`);
    t.true(server.inbound.epoch >= 11, `server receive epoch ${server.inbound.epoch}`);
    t.true(server.outbound.epoch >= 11);
    t.is(server.session.counters.authFailures + server.session.counters.staleEpoch, 0);
  } finally {
    await pair.close();
  }
});

test('the rekey interval moves a session to new epochs by time alone', async (t) => {
  const pair = await sessionPair({ options: { keepAliveInterval: 0, rekeyInterval: 20 } });
  const { client, server } = pair;
  try {
    const got: string[] = [];
    server.session.on('message', (m) => got.push(String(m)));
    for (let i = 0; i < 500 && client.outbound.epoch < 3; i++) {
      client.session.send(`m${i}`);
      await sleep(10);
    }
    await waitUntil(() => server.inbound.epoch >= 3, 'the server followed to epoch 3');
    t.true(client.outbound.epoch >= 3);
    t.is(new Set(got).size, got.length);
  } finally {
    await pair.close();
  }
});

test('a session survives three epochs whose every record was lost (§D5: a receiver accepts up to E + 4)', async (t) => {
  const epochOf = (p: Buffer): number => p.readUInt32BE(9);
  const pair = await sessionPair({
    options: { keepAliveInterval: 0, rekeyAfterRecords: 3 },
    // Every c2s record of epochs 1, 2 and 3 is lost.
    relay: (packet, direction) =>
      direction === 'c2s' && packet[0] === 0x47 && epochOf(packet) >= 1 && epochOf(packet) <= 3
        ? []
        : [packet],
  });
  const { client, server } = pair;
  try {
    const got: string[] = [];
    server.session.on('message', (m) => got.push(String(m)));
    for (let i = 0; i < 15; i++) client.session.send(`c${i}`);
    await waitUntil(() => got.length === 6, 'the server received epochs 0 and 4');
    t.deepEqual(got, ['c0', 'c1', 'c2', 'c12', 'c13', 'c14']);
    t.is(server.inbound.epoch, 4);
    t.is(server.session.counters.staleEpoch, 0);
    // The session goes on both ways.
    client.session.send('after');
    await waitUntil(() => got.length === 7, 'the server received the next message');
    server.session.send('back');
    t.is(String((await take(client.session, 1))[0]), 'back');
  } finally {
    await pair.close();
  }
});
