/**
 * The pump under abuse, end to end: local programs that reset mid-download, a backend that
 * never reads, sessions cut by the drain deadline. Every session must end (a conn line, its
 * --max-conns slot freed), SIGTERM must stop the process, and a cut stream must reach the
 * program as a reset, never as a FIN.
 */
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import test from 'ava';
import { Client } from '@secsess/sdk';
import { connectArgs, exchange, serveArgs, tunnelFixture } from './helpers/tunnel.js';

const fx = tunnelFixture('pump');

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** A backend that sends `total` bytes to every connection as fast as it is read, then ends. */
function floodServer(total: number): Server {
  const chunk = Buffer.alloc(64 * 1024, 0x79);
  return createServer((socket) => {
    socket.on('error', () => {});
    let left = total;
    const pushMore = (): void => {
      while (left > 0 && !socket.destroyed) {
        left -= chunk.length;
        if (!socket.write(chunk)) return void socket.once('drain', pushMore);
      }
      if (!socket.destroyed) socket.end();
    };
    pushMore();
  });
}

/** Resolves once `bytes` bytes came from `socket`. */
function received(socket: Socket, bytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let count = 0;
    const onData = (data: Buffer): void => {
      count += data.length;
      if (count < bytes) return;
      socket.off('data', onData);
      resolve();
    };
    socket.on('data', onData);
    socket.on('error', reject);
  });
}

/** `promise`, or a rejection naming `what` after `ms`: a hang fails the test instead of timing it out. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** How a backend connection ended: 'end' (a FIN), or the error's code (a reset). */
function outcome(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    socket.on('end', () => resolve('end'));
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
}

test.serial(
  'local clients that reset mid-download: every session ends, --max-conns slots are freed, SIGTERM stops',
  async (t) => {
    const backend = floodServer(50 * 1024 * 1024);
    const serve = fx.start(serveArgs(fx.keys.serverKey, await listen(backend)));
    const client = fx.start(
      connectArgs(await serve.port(), fx.keys.serverPub, ['--max-conns', '2', '--drain-timeout', '1']),
    );
    const port = await client.port();
    const resets = 5;
    for (let i = 0; i < resets; i++) {
      const socket = connect({ host: '127.0.0.1', port });
      await received(socket, 300_000);
      socket.resetAndDestroy();
      await within(client.linesMatching(/^secsess: conn /, i + 1), 5000, `conn line ${i + 1}`);
    }
    const fresh = connect({ host: '127.0.0.1', port });
    await within(received(fresh, 100_000), 5000, 'a fresh connection');
    fresh.destroy();
    t.is(await within(client.stop(), 5000, 'connect stopping'), 0);
    t.is(await serve.stop(), 0);
    backend.close();
  },
);

test.serial(
  'the drain deadline cuts a session mid-stream: the backend sees a reset, not a FIN',
  async (t) => {
    let ended: Promise<string> | undefined;
    const backend = createServer({ allowHalfOpen: true }, (socket) => {
      ended = outcome(socket);
      socket.resume();
    });
    const serve = fx.start(serveArgs(fx.keys.serverKey, await listen(backend), ['--drain-timeout', '0.5']));
    const client = fx.start(connectArgs(await serve.port(), fx.keys.serverPub));
    const local = connect({ host: '127.0.0.1', port: await client.port() });
    local.on('error', () => {});
    local.write('a'.repeat(1000));
    while (ended === undefined) await new Promise((resolve) => setTimeout(resolve, 20));
    serve.child.kill('SIGTERM');
    t.is(await serve.exited, 0);
    t.regex(await serve.line(/conn /), /close=1001 /);
    t.is(await ended, 'ECONNRESET');
    local.destroy();
    backend.close();
  },
);

test.serial(
  'a backend that never reads does not hold SIGTERM: serve exits at the drain deadline',
  async (t) => {
    const held: Socket[] = [];
    const backend = createServer((socket) => {
      socket.on('error', () => {});
      socket.pause();
      held.push(socket);
    });
    const serve = fx.start(serveArgs(fx.keys.serverKey, await listen(backend), ['--drain-timeout', '1']));
    const client = fx.start(connectArgs(await serve.port(), fx.keys.serverPub));
    const local = connect({ host: '127.0.0.1', port: await client.port() });
    local.on('error', () => {});
    const chunk = Buffer.alloc(64 * 1024);
    // Far more than the socket buffers and the session's high-water marks hold.
    for (let i = 0; i < 400; i++) local.write(chunk);
    while (held.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    serve.child.kill('SIGTERM');
    t.is(await within(serve.exited, 10_000, 'serve exiting'), 0);
    local.destroy();
    for (const socket of held) socket.destroy();
    backend.close();
  },
);

test.serial(
  'a client sending a message larger than the tunnel ever writes is refused (ERR_MESSAGE_TOO_LARGE)',
  async (t) => {
    const serve = fx.start(serveArgs(fx.keys.serverKey, fx.echo.port));
    const servePort = await serve.port();
    const session = await Client.create(fx.keys.serverPub, { symmetric: 'AES-256-GCM' }).connect({
      host: '127.0.0.1',
      port: servePort,
    });
    session.on('error', () => {});
    session.write(Buffer.alloc(1024 * 1024)).catch(() => {});
    t.regex(await within(serve.line(/^secsess: conn /), 5000, 'conn line'), /close=ERR_MESSAGE_TOO_LARGE /);
    const client = fx.start(connectArgs(servePort, fx.keys.serverPub));
    const big = Buffer.alloc(4 * 1024 * 1024, 0x61);
    t.deepEqual(await exchange(await client.port(), big), big, 'an ordinary tunnel still works');
  },
);
