/**
 * The datagram channel of a stream session (PROTOCOL.md §D9): `openDatagramChannel()` on the
 * client's stream session, `DatagramServer.attach()` on the server's, over real TCP and UDP
 * on loopback. No second handshake: the channel has the stream's identities, keys of its own
 * (from the exporter), and one channel per stream session.
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { createSocket } from 'node:dgram';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, ErrorCode, openDatagramChannel } from '../src/index.js';
import type { AlgorithmSet, ClientOptions, DatagramServer, DatagramSession, Session } from '../src/index.js';
import { kExporter } from '../src/stream/session-types.js';
import { channelSecrets } from '../src/protocol/datagram/key-schedule.js';
import { Symmetric } from '../src/protocol/index.js';
import { RECORD, startDatagramServer } from './helpers/dgram.js';
import { ipv6Available, startServer, waitUntil } from './helpers/net.js';
import type { TestServer } from './helpers/net.js';
import { fixtureKeys } from './helpers/keys.js';
import { sessionPair } from './helpers/sessions.js';
import { startUdpProxy } from './helpers/udp-proxy.js';

const hasIPv6 = await ipv6Available();

interface Streams {
  readonly tcp: TestServer;
  readonly dgram: DatagramServer;
  readonly client: Session;
  readonly server: Session;
}

/** A TCP Server and a DatagramServer with the same key, and one open stream session. */
async function streams(
  t: ExecutionContext,
  host = '127.0.0.1',
  clientOptions: ClientOptions = {},
  set: AlgorithmSet = {},
): Promise<Streams> {
  const tcp = await startServer();
  t.teardown(() => tcp.server.stop());
  const dgram = await startDatagramServer(t, host);
  const serverSide = new Promise<Session>((resolve) => tcp.server.once('session', resolve));
  const client = await Client.create(tcp.keys.publicKey, set, clientOptions).connect(tcp.endpoint);
  t.teardown(() => client.destroy());
  return { tcp, dgram, client, server: await serverSide };
}

const endpointOf = (dgram: DatagramServer, host: string): string =>
  host.includes(':') ? `[${host}]:${dgram.address!.port}` : `${host}:${dgram.address!.port}`;

/** Echoes every message of a datagram session. */
function echo(session: DatagramSession): void {
  session.on('message', (m) => session.send(m));
}

async function roundTrip(session: DatagramSession, message: string): Promise<string> {
  // The echo of this message: on a loaded machine an earlier round trip's extra copies (it
  // resends) may still be on their way back, and are not this one's answer.
  let listener: ((m: Buffer) => void) | null = null;
  const got = new Promise<Buffer>((resolve) => {
    listener = (m: Buffer) => {
      if (m.toString() === message) resolve(m);
    };
    session.on('message', listener);
  });
  try {
    // Resent until it comes back: a datagram may be lost, even on loopback.
    for (let i = 0; i < 50; i++) {
      session.send(message);
      const echoed = await Promise.race([got, sleep(100).then(() => null)]);
      if (echoed) return echoed.toString();
    }
    throw new Error('no echo');
  } finally {
    session.off('message', listener!);
  }
}

for (const host of ['127.0.0.1', '::1']) {
  const maybe = host === '::1' && !hasIPv6 ? test.skip : test;
  maybe(
    `[${host}] a channel from an open stream session carries messages both ways, with the stream's identities`,
    async (t) => {
      const s = await streams(t, host);
      const serverChannel = s.dgram.attach(s.server);
      echo(serverChannel);
      const channel = await openDatagramChannel(s.client, endpointOf(s.dgram, host));
      t.teardown(() => channel.destroy());
      t.is(await roundTrip(channel, 'over the channel'), 'over the channel');
      t.is(channel.serverKey!.fingerprint(), s.tcp.keys.publicKey.fingerprint());
      t.deepEqual(channel.suite, s.client.suite);
      t.deepEqual(serverChannel.suite, s.server.suite);
      t.not(serverChannel.remotePort, 0, 'the server learned the client address from its first record');
      t.is(s.dgram.sessionCount, 1);
      // The stream is untouched by its channel.
      const streamEcho = new Promise<Buffer>((resolve) => s.server.once('message', resolve));
      await s.client.write(Buffer.from('over the stream'));
      t.is((await streamEcho).toString(), 'over the stream');
    },
  );
}

test('the channel carries the client key of an authenticated stream session, and the GCM suite', async (t) => {
  const clientKey = fixtureKeys('client-2048').privateKey;
  const s = await streams(t, '127.0.0.1', { clientKey }, { symmetric: Symmetric.AES256GCM });
  const serverChannel = s.dgram.attach(s.server);
  echo(serverChannel);
  const channel = await openDatagramChannel(s.client, endpointOf(s.dgram, '127.0.0.1'));
  t.teardown(() => channel.destroy());
  t.is(await roundTrip(channel, 'gcm'), 'gcm');
  t.is(serverChannel.clientKey!.fingerprint(), clientKey.publicKey.fingerprint());
  t.is(serverChannel.suite.symmetric, Symmetric.AES256GCM);
});

test("both sides derive the same exporter, and the channel's conn_id is §D9's derivation from it", async (t) => {
  const s = await streams(t);
  const a = s.client[kExporter]()!;
  const b = s.server[kExporter]()!;
  t.true(a.secret!.equals(b.secret!));
  t.is(a.role, 'client');
  t.is(b.role, 'server');
  const expected = channelSecrets(s.client.suite!, a.secret!).connectionId;
  const proxy = await startUdpProxy({ target: { address: '127.0.0.1', port: s.dgram.address!.port } });
  t.teardown(() => proxy.close());
  echo(s.dgram.attach(s.server));
  const channel = await openDatagramChannel(s.client, proxy.endpoint);
  t.teardown(() => channel.destroy());
  t.is(await roundTrip(channel, 'x'), 'x');
  const packets = proxy.captured.map((d) => d.data);
  t.true(packets.length >= 4);
  t.true(packets.every((p) => p[0] === RECORD && p.subarray(1, 9).equals(expected)));
});

test('a stream session gives one channel per side; the wrong side and a closed session are refused', async (t) => {
  const s = await streams(t);
  s.dgram.attach(s.server);
  const endpoint = endpointOf(s.dgram, '127.0.0.1');
  const channel = await openDatagramChannel(s.client, endpoint);
  t.teardown(() => channel.destroy());
  await t.throwsAsync(openDatagramChannel(s.client, endpoint), { code: ErrorCode.INVALID_STATE });
  t.throws(() => s.dgram.attach(s.server), { code: ErrorCode.INVALID_STATE });
  await t.throwsAsync(openDatagramChannel(s.server, endpoint), { instanceOf: TypeError });
  t.throws(() => s.dgram.attach(s.client), { instanceOf: TypeError });

  const other = await streams(t);
  await other.client.close();
  t.is(other.client[kExporter](), null, 'the exporter is gone with the session');
  await t.throwsAsync(openDatagramChannel(other.client, endpoint), { code: ErrorCode.INVALID_STATE });
});

test('the exporter exists only while the stream session is open (secureDuplex too)', async (t) => {
  const p = await sessionPair();
  t.truthy(p.client[kExporter]());
  t.truthy(p.server[kExporter]());
  await p.client.close();
  await waitUntil(() => p.server.state === 'closed', 'the server side to close');
  t.is(p.client[kExporter](), null);
  t.is(p.server[kExporter](), null);
});

test('a server that attaches late still gets the channel: the client pings until it answers', async (t) => {
  const s = await streams(t);
  const channel = await openDatagramChannel(s.client, endpointOf(s.dgram, '127.0.0.1'));
  t.teardown(() => channel.destroy());
  await sleep(150);
  const serverChannel = s.dgram.attach(s.server);
  echo(serverChannel);
  // The client sends nothing itself: its resent Ping is what shows the server its address.
  await waitUntil(() => serverChannel.remotePort !== 0, 'the resent Ping');
  t.true(serverChannel.counters.pingsReceived >= 1);
  t.is(await roundTrip(channel, 'late'), 'late');
});

test('the channel lives on after its stream session closes', async (t) => {
  const s = await streams(t);
  echo(s.dgram.attach(s.server));
  const channel = await openDatagramChannel(s.client, endpointOf(s.dgram, '127.0.0.1'));
  t.teardown(() => channel.destroy());
  t.is(await roundTrip(channel, 'before'), 'before');
  await s.client.close();
  t.is(await roundTrip(channel, 'after'), 'after');
  t.is(channel.state, 'open');
});

test('attach() needs a listening server', async (t) => {
  const s = await streams(t);
  await s.dgram.stop();
  t.throws(() => s.dgram.attach(s.server), { code: ErrorCode.INVALID_STATE });
});

test("a lost answer does not end the channel: the client's next Ping is fresh, so the server answers it", async (t) => {
  const s = await streams(t);
  const proxy = await startUdpProxy({ target: { address: '127.0.0.1', port: s.dgram.address!.port } });
  t.teardown(() => proxy.close());
  // The server's first datagram (the Pong to the first Ping) is lost.
  proxy.tamper = (d, link) => (d.direction === 's2c' && d.index === 0 ? undefined : link.forward());
  const serverChannel = s.dgram.attach(s.server);
  echo(serverChannel);
  const channel = await openDatagramChannel(s.client, proxy.endpoint);
  t.teardown(() => channel.destroy());
  // The client sends nothing of its own: only its resent Ping can get an answer now (an
  // identical copy would be a duplicate at the server, unanswered, until the 10 s deadline).
  await waitUntil(() => channel.counters.opened >= 1, 'a Pong to a later Ping');
  t.true(serverChannel.counters.pingsReceived >= 2, 'the second Ping opened as a new record');
  t.is(channel.state, 'open');
  t.is(await roundTrip(channel, 'after a lost pong'), 'after a lost pong');
});

test("a copy of the client's first Ping raced from another address moves the server only until the client's next Ping", async (t) => {
  const s = await streams(t);
  const server = s.dgram.address!.port;
  const proxy = await startUdpProxy({ target: { address: '127.0.0.1', port: server } });
  t.teardown(() => proxy.close());
  const attacker = createSocket('udp4');
  await new Promise<void>((resolve) => attacker.bind(0, '127.0.0.1', resolve));
  t.teardown(() => attacker.close());
  const stolen: Buffer[] = [];
  attacker.on('message', (m) => stolen.push(m));
  // The attacker sees the first Ping, sends it first from its own port; the original is held back.
  proxy.tamper = (d, link) => {
    if (d.direction === 'c2s' && d.index === 0) {
      attacker.send(d.data, server, '127.0.0.1');
      link.forward(undefined, 50);
    } else link.forward();
  };
  const serverChannel = s.dgram.attach(s.server);
  echo(serverChannel);
  const channel = await openDatagramChannel(s.client, proxy.endpoint);
  t.teardown(() => channel.destroy());
  await waitUntil(() => serverChannel.remotePort === attacker.address().port, 'the raced copy to arrive');
  // Without sending anything itself, the client gets its answer: its next Ping is a new
  // record, which moves the server's side back (a resent copy would be a duplicate).
  await waitUntil(() => channel.counters.opened >= 1, "a Pong at the client's address");
  t.not(serverChannel.remotePort, attacker.address().port, "the client's fresh Ping moved it back");
  t.is(await roundTrip(channel, 'mine'), 'mine');
  t.true(stolen.length <= 1, 'the attacker got at most the one Pong its copy asked for');
});

test('a stream session attaches to one DatagramServer only; the server side sends nothing before the first record', async (t) => {
  const s = await streams(t);
  const second = await startDatagramServer(t, '127.0.0.1');
  const serverChannel = s.dgram.attach(s.server);
  t.throws(() => second.attach(s.server), { code: ErrorCode.INVALID_STATE });
  t.false(serverChannel.send('too early'), 'nowhere to send it yet');
  t.is(serverChannel.counters.sendDropped, 1);
  t.is(serverChannel.counters.sent, 0);
  const channel = await openDatagramChannel(s.client, endpointOf(s.dgram, '127.0.0.1'));
  t.teardown(() => channel.destroy());
  t.is(s.client[kExporter]()!.secret, null, "the client's exporter is wiped once its channel is made");
  t.is(s.server[kExporter]()!.secret, null, "the server's too");
  echo(serverChannel);
  t.is(await roundTrip(channel, 'then it works'), 'then it works');
});
