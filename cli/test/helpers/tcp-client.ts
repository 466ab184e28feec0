/**
 * A plain TCP client for the tunnel tests: a connection held open across other steps, and a
 * half-close exchange (send everything, shut down the write side, read the whole answer).
 * Every wait is bounded.
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import type { Socket } from 'node:net';

/** Rejects with `what` if `promise` has not settled within `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** An open connection: what it received so far, and how it ended. */
export interface Held {
  readonly socket: Socket;
  received(): Buffer;
  /** Resolves with everything received once the peer ended its side; rejects on an error or a reset. */
  readonly ended: Promise<Buffer>;
  /** Resolves once the socket is fully closed, with `hadError`. */
  readonly closed: Promise<boolean>;
  stop(): Promise<void>;
}

/** Connects to host:port and keeps the connection open. */
export async function hold(host: string, port: number): Promise<Held> {
  const socket = connect({ host, port });
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise<Buffer>((resolve, reject) => {
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('closed without an end from the peer')));
  });
  ended.catch(() => {}); // read by the test when it cares
  const closed = new Promise<boolean>((resolve) => socket.once('close', resolve));
  await within(once(socket, 'connect'), 30_000, `connect to ${host}:${port}`);
  return {
    socket,
    received: () => Buffer.concat(chunks),
    ended,
    closed,
    stop: async () => {
      socket.destroy();
      await closed;
    },
  };
}

/** Sends `data`, shuts down the write side, and resolves with the peer's whole answer. */
export async function exchange(host: string, port: number, data: Buffer | string): Promise<Buffer> {
  const conn = await hold(host, port);
  try {
    conn.socket.end(data);
    return await within(conn.ended, 60_000, `the answer from ${host}:${port}`);
  } finally {
    await conn.stop();
  }
}
