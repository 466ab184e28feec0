/**
 * DatagramServer.create() and DatagramClient.create() check their arguments at once
 * (TypeError for a wrong type or conflicting options, RangeError for a number out of
 * range), as Server and Client do; the defaults are PROTOCOL.md §D8's.
 */
import test from 'ava';
import { DatagramClient, DatagramServer, DEFAULT_MAX_DATAGRAM_SESSIONS } from '../src/index.js';
import type { DatagramClientOptions, DatagramServerOptions } from '../src/index.js';
import {
  resolveDatagramClientOptions,
  resolveDatagramServerOptions,
} from '../src/datagram/datagram-options.js';
import { fixtureKeys } from './helpers/keys.js';

const keys = fixtureKeys('server-2048');

test('the server defaults: 10000 sessions, 64 handshakes (16 per address), rate 10/s burst 32, 10 s handshakes', (t) => {
  const o = resolveDatagramServerOptions(undefined);
  t.is(o.maxSessions, DEFAULT_MAX_DATAGRAM_SESSIONS);
  t.is(o.maxSessions, 10_000);
  t.is(o.maxHandshakes, 64);
  t.is(o.maxHandshakesPerAddress, 16);
  t.is(o.maxSessionsPerAddress, 1024);
  t.is(o.handshakeRate, 10);
  t.is(o.handshakeBurst, 32);
  t.is(o.maxPendingDecrypts, 64);
  t.is(o.handshakeTimeout, 10_000);
  t.is(o.session.maxDatagramSize, 1200);
  t.is(o.session.idleTimeout, 60_000);
  t.is(o.session.keepAliveInterval, 15_000);
  t.is(o.session.replay, 'window');
  // No socket option given: node:dgram keeps the system's buffers and dual stack.
  t.deepEqual(o.socket, {});
});

test('the socket options pass through as given', (t) => {
  const o = resolveDatagramServerOptions({ recvBufferSize: 1 << 20, sendBufferSize: 4096, ipv6Only: true });
  t.deepEqual(o.socket, { recvBufferSize: 1 << 20, sendBufferSize: 4096, ipv6Only: true });
  t.deepEqual(resolveDatagramClientOptions({ recvBufferSize: 8192 }).socket, { recvBufferSize: 8192 });
});

test('the client defaults: 10 s handshakes, 5 busy retries, the session defaults', (t) => {
  const o = resolveDatagramClientOptions({ maxDatagramSize: 1400, replay: 'increasing' });
  t.is(o.handshakeTimeout, 10_000);
  t.is(o.busyRetries, 5);
  t.is(o.session.maxDatagramSize, 1400);
  t.is(o.session.replay, 'increasing');
});

const badServer: [DatagramServerOptions, typeof TypeError | typeof RangeError, RegExp][] = [
  [{ maxSessions: 0 }, RangeError, /maxSessions must be from 1/],
  [{ maxSessions: 1.5 }, TypeError, /maxSessions must be an integer/],
  [{ maxHandshakes: 0 }, RangeError, /maxHandshakes/],
  [{ maxHandshakes: 4, maxHandshakesPerAddress: 8 }, TypeError, /must not exceed maxHandshakes/],
  [{ maxSessions: 4, maxSessionsPerAddress: 8 }, TypeError, /must not exceed maxSessions/],
  [{ maxSessionsPerAddress: 0 }, RangeError, /maxSessionsPerAddress/],
  [{ handshakeRate: -1 }, RangeError, /handshakeRate/],
  [{ handshakeBurst: 0 }, RangeError, /handshakeBurst/],
  [{ workers: 65 }, RangeError, /workers/],
  [{ handshakeTimeout: 0 }, RangeError, /handshakeTimeout/],
  [{ maxDatagramSize: 1000 }, RangeError, /maxDatagramSize must be from 1200 to 65507/],
  [{ maxDatagramSize: 70_000 }, RangeError, /maxDatagramSize/],
  [{ window: 1000 }, RangeError, /window/],
  [{ window: 2050 }, RangeError, /multiple of 32/],
  [{ replay: 'fifo' as never }, TypeError, /replay/],
  [{ idleTimeout: 1000, keepAliveInterval: 1000 }, TypeError, /keepAliveInterval must be below idleTimeout/],
  [{ authorize: 'yes' as never }, TypeError, /authorize must be a function/],
  [{ authorizedKeys: '' }, TypeError, /authorizedKeys/],
  [{ recvBufferSize: 0 }, RangeError, /recvBufferSize must be from 1/],
  [{ recvBufferSize: 2 ** 31 }, RangeError, /recvBufferSize/],
  [{ sendBufferSize: 1.5 }, TypeError, /sendBufferSize must be an integer/],
  [{ sendBufferSize: '65536' as never }, TypeError, /sendBufferSize must be an integer/],
  [{ ipv6Only: 'yes' as never }, TypeError, /ipv6Only must be a boolean/],
];

for (const [options, type, message] of badServer) {
  test(`DatagramServer.create refuses ${JSON.stringify(options)}`, (t) => {
    t.throws(() => DatagramServer.create('127.0.0.1:0', keys.privateKey, undefined, options), {
      instanceOf: type,
      message,
    });
  });
}

test('DatagramServer.create refuses bad endpoints, keys and sets', (t) => {
  t.throws(() => DatagramServer.create('127.0.0.1', keys.privateKey), { instanceOf: TypeError });
  t.throws(() => DatagramServer.create('::1:0', keys.privateKey), { instanceOf: TypeError });
  t.throws(() => DatagramServer.create('127.0.0.1:70000', keys.privateKey), { instanceOf: RangeError });
  t.throws(() => DatagramServer.create('127.0.0.1:0', [] as never), { instanceOf: TypeError });
  t.throws(() => DatagramServer.create('127.0.0.1:0', keys.publicKey as never), { instanceOf: TypeError });
  t.throws(() => DatagramServer.create('127.0.0.1:0', keys.privateKey, { symmetric: 'DES' as never }));
  t.throws(() => DatagramServer.create('127.0.0.1:0', keys.privateKey, undefined, 5 as never), {
    instanceOf: TypeError,
    message: /options must be an object/,
  });
});

const badClient: [DatagramClientOptions, typeof TypeError | typeof RangeError, RegExp][] = [
  [{ busyRetries: -1 }, RangeError, /busyRetries/],
  [{ handshakeTimeout: 0 }, RangeError, /handshakeTimeout/],
  [{ maxQueuedBytes: 0 }, RangeError, /maxQueuedBytes/],
  [{ knownHosts: '/tmp/kh' }, TypeError, /knownHosts needs options.trust/],
  [{ trust: 'always' as never }, TypeError, /trust must be 'strict' or 'tofu'/],
  [{ clientKey: 42 as never }, TypeError, /clientKey/],
  [{ recvBufferSize: -1 }, RangeError, /recvBufferSize/],
  [{ sendBufferSize: 0 }, RangeError, /sendBufferSize must be from 1/],
  [{ sendBufferSize: null as never }, TypeError, /sendBufferSize must be an integer/],
];

for (const [options, type, message] of badClient) {
  test(`DatagramClient.create refuses ${JSON.stringify(options)}`, (t) => {
    t.throws(() => DatagramClient.create(keys.publicKey, {}, options), { instanceOf: type, message });
  });
}

test('DatagramClient.create needs exactly one of a pinned key and trust', (t) => {
  t.throws(() => DatagramClient.create(null), { instanceOf: TypeError, message: /publicKey is required/ });
  t.throws(() => DatagramClient.create(keys.publicKey, {}, { trust: 'tofu' }), {
    instanceOf: TypeError,
    message: /either a pinned publicKey or options.trust/,
  });
  t.notThrows(() => DatagramClient.create(null, {}, { trust: 'strict' }));
  t.notThrows(() => DatagramClient.create('server.pub'));
});

test('connect() refuses a bad endpoint or signal before any packet', async (t) => {
  const client = DatagramClient.create(keys.publicKey);
  await t.throwsAsync(client.connect('nowhere'), { instanceOf: TypeError });
  await t.throwsAsync(client.connect('127.0.0.1:0'), { instanceOf: RangeError });
  await t.throwsAsync(client.connect('127.0.0.1:9', { signal: 'stop' as never }), { instanceOf: TypeError });
});
