/**
 * ICMP "port unreachable" after the server has answered the Hello (ECONNREFUSED on the
 * client's connected UDP socket): a slow server (an authorize hook, a queued signature
 * check) must not be given up on for one such error, which anyone who can guess the ports
 * can forge; a server that is really gone draws one after every resend and is given up on
 * early (ERR_TRANSPORT). The socket errors are delivered as the kernel would deliver them:
 * as 'error' events on the client's own socket, which this file (its own process) reaches
 * by wrapping node:dgram's createSocket.
 */
import dgram from 'node:dgram';
import type { Socket } from 'node:dgram';
import { syncBuiltinESMExports } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { DatagramClient, DatagramServer } from '../src/index.js';
import { serverKeys } from './helpers/dgram-net.js';

const sockets: Socket[] = [];
const original = dgram.createSocket;
(dgram as { createSocket: unknown }).createSocket = (...args: Parameters<typeof dgram.createSocket>) => {
  const socket = original(...args);
  sockets.push(socket);
  return socket;
};
syncBuiltinESMExports();

function refuse(socket: Socket): void {
  const err = Object.assign(new Error('recvmsg ECONNREFUSED'), {
    code: 'ECONNREFUSED',
    errno: -111,
    syscall: 'recvmsg',
  });
  socket.emit('error', err);
}

test.serial('one ECONNREFUSED while a slow server authorizes does not fail connect()', async (t) => {
  const server = DatagramServer.create('127.0.0.1:0', serverKeys.privateKey, undefined, {
    workers: 0,
    // A lookup that takes a while: the server says nothing until it is done.
    authorize: async () => {
      await sleep(1500);
      return true;
    },
  });
  server.on('session', () => {});
  await server.start();
  t.teardown(() => server.stop());
  const before = sockets.length;
  const connecting = DatagramClient.create(serverKeys.publicKey, {}, { handshakeTimeout: 10_000 }).connect(
    `127.0.0.1:${server.address!.port}`,
  );
  await sleep(300); // the ClientFinished is out; the hook is running
  for (const socket of sockets.slice(before)) refuse(socket);
  const session = await connecting;
  t.is(session.state, 'open');
  session.close();
});
