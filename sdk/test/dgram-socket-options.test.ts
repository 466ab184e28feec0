/**
 * The socket options over real UDP: recvBufferSize / sendBufferSize reach the kernel (the
 * server's bound socket and a client's connected one report what a plain node:dgram socket
 * given the same value reports: Linux doubles and caps it, so the reference, not the number,
 * is compared), and ipv6Only keeps IPv4 clients off a server on '[::]'.
 */
import { createSocket } from 'node:dgram';
import type { SocketOptions } from 'node:dgram';
import test from 'ava';
import { DatagramClient, DatagramServer, ErrorCode } from '../src/index.js';
import type { SessionError } from '../src/index.js';
import { connectSocket, kSocket } from '../src/datagram/datagram-socket.js';
import { parseEndpoint } from '../src/common/endpoint.js';
import { echoServer, nextMessage, serverKeys } from './helpers/dgram-net.js';
import { ipv6Available } from './helpers/net.js';

/** What a plain socket bound with `options` reports: [receive, send] buffer sizes. */
async function reference(options: Partial<SocketOptions>): Promise<[number, number]> {
  const socket = createSocket({ type: 'udp4', ...options });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const sizes: [number, number] = [socket.getRecvBufferSize(), socket.getSendBufferSize()];
  await new Promise<void>((resolve) => socket.close(resolve));
  return sizes;
}

for (const size of [4096, 1 << 20]) {
  test(`a server with recvBufferSize and sendBufferSize ${size} has those buffers and still serves`, async (t) => {
    const [recvDefault, sendDefault] = await reference({});
    const [recv, send] = await reference({ recvBufferSize: size, sendBufferSize: size });
    const { server, endpoint } = await echoServer(t, '127.0.0.1', {
      recvBufferSize: size,
      sendBufferSize: size,
    });
    const socket = server[kSocket]!;
    t.is(socket.getRecvBufferSize(), recv);
    t.is(socket.getSendBufferSize(), send);
    // The kernel may cap a large value at the default; a small one always differs from it.
    if (size === 4096) {
      t.not(recv, recvDefault);
      t.not(send, sendDefault);
    } else {
      t.true(recv >= recvDefault);
    }
    const client = DatagramClient.create(
      serverKeys.publicKey,
      {},
      { recvBufferSize: size, sendBufferSize: size },
    );
    const session = await client.connect(endpoint);
    t.teardown(() => session.destroy());
    const reply = nextMessage(session);
    t.true(session.send('ping'));
    t.is(String(await reply), 'ping');
  });
}

test("a client's socket gets its recvBufferSize and sendBufferSize", async (t) => {
  const [recv, send] = await reference({ recvBufferSize: 4096, sendBufferSize: 4096 });
  const { socket } = await connectSocket(parseEndpoint('127.0.0.1:9'), 0, {
    recvBufferSize: 4096,
    sendBufferSize: 4096,
  });
  t.teardown(() => socket.close());
  t.is(socket.getRecvBufferSize(), recv);
  t.is(socket.getSendBufferSize(), send);
});

test("an ipv6Only server on '[::]' refuses IPv4 clients and serves [::1]", async (t) => {
  if (!(await ipv6Available())) return t.pass('no IPv6 on this machine');
  const server = DatagramServer.create('[::]:0', serverKeys.privateKey, undefined, {
    workers: 0,
    ipv6Only: true,
  });
  server.on('session', (session) => session.on('message', (m) => session.send(m)));
  server.on('handshakeError', () => {});
  await server.start();
  t.teardown(() => server.stop());
  const port = server.address!.port;
  const client = DatagramClient.create(serverKeys.publicKey, {}, { handshakeTimeout: 3000 });
  // Nothing listens on udp4 at that port: ICMP port unreachable (ERR_TRANSPORT), or, if
  // some other socket holds that IPv4 port, no answer (ERR_TIMEOUT); never a session.
  const err = await t.throwsAsync<SessionError>(client.connect(`127.0.0.1:${port}`));
  t.true(([ErrorCode.TRANSPORT, ErrorCode.TIMEOUT] as ErrorCode[]).includes(err!.code), err!.message);
  const session = await client.connect(`[::1]:${port}`);
  t.teardown(() => session.destroy());
  t.is(session.remoteFamily, 'IPv6');
  const reply = nextMessage(session);
  t.true(session.send('over IPv6'));
  t.is(String(await reply), 'over IPv6');
});
