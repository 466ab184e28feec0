/**
 * The hostile UDP relay of the datagram end-to-end tests (helpers/udp-proxy.ts) checked on
 * plain dgram sockets: it relays both ways, its faults are the seeded ones, replays and
 * rebinding do what the e2e tests rely on.
 */
import { createSocket } from 'node:dgram';
import type { RemoteInfo, Socket } from 'node:dgram';
import { once } from 'node:events';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { faults, seededPrng, startUdpProxy } from './helpers/udp-proxy.js';
import type { UdpProxy, UdpTamper } from './helpers/udp-proxy.js';
import { waitUntil } from './helpers/net.js';

interface Echo {
  readonly socket: Socket;
  readonly port: number;
  /** Every datagram the echo server received, with its source port. */
  readonly seen: Array<{ data: Buffer; port: number }>;
}

async function echoServer(t: ExecutionContext, host = '127.0.0.1'): Promise<Echo> {
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  const seen: Echo['seen'] = [];
  socket.on('message', (msg: Buffer, from: RemoteInfo) => {
    seen.push({ data: msg, port: from.port });
    socket.send(msg, from.port, from.address);
  });
  socket.bind(0, host);
  await once(socket, 'listening');
  t.teardown(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return { socket, port: socket.address().port, seen };
}

async function client(t: ExecutionContext, proxy: UdpProxy): Promise<{ socket: Socket; received: Buffer[] }> {
  const socket = createSocket(proxy.address.includes(':') ? 'udp6' : 'udp4');
  const received: Buffer[] = [];
  socket.on('message', (msg: Buffer) => received.push(msg));
  socket.connect(proxy.port, proxy.address);
  await once(socket, 'connect');
  t.teardown(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return { socket, received };
}

async function setup(
  t: ExecutionContext,
  tamper?: UdpTamper,
  host = '127.0.0.1',
): Promise<{ echo: Echo; proxy: UdpProxy; socket: Socket; received: Buffer[] }> {
  const echo = await echoServer(t, host);
  const proxy = await startUdpProxy({ target: { address: host, port: echo.port }, tamper });
  t.teardown(() => proxy.close());
  return { echo, proxy, ...(await client(t, proxy)) };
}

const byte = (i: number): Buffer => Buffer.from([i]);

test('relays datagrams both ways unchanged, on 127.0.0.1 and ::1', async (t) => {
  for (const host of ['127.0.0.1', '::1']) {
    const { echo, proxy, socket, received } = await setup(t, undefined, host);
    for (let i = 0; i < 5; i++) socket.send(byte(i));
    await waitUntil(() => received.length === 5, 'five echoes');
    t.deepEqual(received.map((b) => b[0]).sort(), [0, 1, 2, 3, 4]);
    t.is(echo.seen[0]!.port, proxy.upstreamPort(0));
    t.is(proxy.of('c2s').length, 5);
    t.is(proxy.of('s2c').length, 5);
  }
});

test('the seeded PRNG repeats its sequence for a seed and differs between seeds', (t) => {
  const a = seededPrng(7);
  const b = seededPrng(7);
  const c = seededPrng(8);
  const sa = Array.from({ length: 20 }, a);
  t.deepEqual(sa, Array.from({ length: 20 }, b));
  t.notDeepEqual(sa, Array.from({ length: 20 }, c));
  t.true(sa.every((x) => x >= 0 && x < 1));
});

test('loss drops the same datagrams for the same seed', async (t) => {
  const runOnce = async (): Promise<number[]> => {
    const { echo, socket } = await setup(t, faults({ c2s: { loss: 0.3 } }, 42));
    for (let i = 0; i < 60; i++) socket.send(byte(i));
    // A marker after the rest, sent until it passes: then everything before it has arrived or was dropped.
    await waitUntil(() => {
      if (!echo.seen.some((s) => s.data[0] === 255)) socket.send(byte(255));
      return echo.seen.some((s) => s.data[0] === 255);
    }, 'the marker');
    return echo.seen.map((s) => s.data[0]!).filter((x) => x !== 255);
  };
  const first = await runOnce();
  const second = await runOnce();
  t.deepEqual(first, second);
  t.true(first.length > 20 && first.length < 60, `${first.length} of 60 passed`);
});

test('duplicate sends a datagram twice; flip changes exactly one bit', async (t) => {
  const dup = await setup(t, faults({ c2s: { duplicate: 1 } }, 1));
  dup.socket.send(Buffer.from('once'));
  await waitUntil(() => dup.echo.seen.length === 2, 'two copies');
  t.deepEqual(
    dup.echo.seen.map((s) => s.data.toString()),
    ['once', 'once'],
  );

  const flip = await setup(t, faults({ c2s: { flip: 1 } }, 2));
  const sent = Buffer.alloc(32, 0x5a);
  flip.socket.send(sent);
  await waitUntil(() => flip.echo.seen.length === 1, 'the flipped copy');
  const got = flip.echo.seen[0]!.data;
  let bits = 0;
  for (let i = 0; i < sent.length; i++) for (let x = sent[i]! ^ got[i]!; x; x &= x - 1) bits++;
  t.is(bits, 1);
  t.true(flip.proxy.captured[0]!.data.equals(sent), 'the capture keeps the original');
});

test('reorder sends a held datagram after the next one', async (t) => {
  let n = 0;
  // Held until the next datagram however long that takes (a loaded machine may take longer than
  // the default hold to send it).
  const swapFirst = faults({ c2s: { reorder: 1, holdMs: 60_000 } }, 3, () => n++ > 0);
  const { echo, socket } = await setup(t, swapFirst);
  socket.send(byte(1));
  await waitUntil(() => n === 1, 'the first at the proxy');
  socket.send(byte(2));
  await waitUntil(() => echo.seen.length === 2, 'both');
  t.deepEqual(
    echo.seen.map((s) => s.data[0]),
    [2, 1],
  );
  t.is(swapFirst.log.c2s.reordered, 1);
});

test('delay holds datagrams back; a held datagram goes after holdMs without a successor', async (t) => {
  const delayed = await setup(t, faults({ c2s: { delay: 1, maxDelay: 40 } }, 4));
  for (let i = 0; i < 5; i++) delayed.socket.send(byte(i));
  await waitUntil(() => delayed.echo.seen.length === 5, 'all delayed datagrams');
  t.true(faultsLog(delayed.proxy).delayed >= 1);

  const held = await setup(t, faults({ c2s: { reorder: 1, holdMs: 20 } }, 5));
  held.socket.send(byte(9));
  await waitUntil(() => held.echo.seen.length === 1, 'the held datagram');
});

function faultsLog(proxy: UdpProxy): { delayed: number } {
  return (proxy.tamper as unknown as { log: { c2s: { delayed: number } } }).log.c2s;
}

test('inject replays a captured datagram in either direction', async (t) => {
  const { echo, proxy, socket, received } = await setup(t);
  socket.send(Buffer.from('first'));
  await waitUntil(() => received.length === 1, 'the echo');
  proxy.inject('c2s', proxy.of('c2s')[0]!.data);
  proxy.inject('s2c', proxy.of('s2c')[0]!.data);
  await waitUntil(() => echo.seen.length === 2 && received.length >= 2, 'the replays');
  t.is(echo.seen[1]!.data.toString(), 'first');
  t.is(received[1]!.toString(), 'first');
});

test('rebind moves the client to a new source port, and answers still reach it', async (t) => {
  const { echo, proxy, socket, received } = await setup(t);
  socket.send(Buffer.from('a'));
  await waitUntil(() => received.length === 1, 'first echo');
  const before = proxy.upstreamPort();
  const after = await proxy.rebind();
  t.not(after, before);
  socket.send(Buffer.from('b'));
  await waitUntil(() => received.length === 2, 'second echo');
  t.deepEqual(
    echo.seen.map((s) => s.port),
    [before, after],
  );
  // A datagram to the old port no longer reaches the client.
  echo.socket.send(Buffer.from('stale'), before, '127.0.0.1');
  socket.send(Buffer.from('c'));
  await waitUntil(() => received.length === 3, 'third echo');
  t.deepEqual(
    received.map((b) => b.toString()),
    ['a', 'b', 'c'],
  );
});

test('two clients get distinct upstream ports', async (t) => {
  const { echo, proxy, socket } = await setup(t);
  const other = await client(t, proxy);
  socket.send(Buffer.from('x'));
  await waitUntil(() => echo.seen.length === 1, 'first client');
  other.socket.send(Buffer.from('y'));
  await waitUntil(() => other.received.length === 1, 'second client');
  t.not(proxy.upstreamPort(0), proxy.upstreamPort(1));
  t.is(proxy.captured.find((d) => d.data.toString() === 'y' && d.direction === 'c2s')!.client, 1);
});
