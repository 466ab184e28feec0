/**
 * What the channel tests (cli/test/tunnel-channels*.test.ts) share: a local connection read
 * a known number of bytes at a time, TCP backends of the test's own that a test stops,
 * and the `channel` and peer of `conn` lines.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import type { ExecutionContext } from 'ava';
import type { LogEvent } from './secsess-bin.js';
import { within } from './tcp-client.js';

/** How long one read or one answer may take (a loaded CI machine is slow). */
export const ANSWER_MS = 30_000;

export const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** A channel frame as PROTOCOL.md §6b writes it: u8 type ‖ u32 channel ‖ u32 length ‖ body. */
export function channelFrame(type: number, channel: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head[0] = type;
  head.writeUInt32BE(channel, 1);
  head.writeUInt32BE(body.length, 5);
  return Buffer.concat([head, body]);
}

/**
 * A connection to 127.0.0.1:port (allowHalfOpen) whose bytes are read as the test asks:
 * `read(n)` exactly n bytes, `rest()` everything until the peer's end.
 */
export class Conn {
  readonly socket: Socket;
  #chunks: Buffer[] = [];
  #have = 0;
  #ended = false;
  #error: Error | null = null;
  #wake: (() => void) | null = null;
  /** Resolves with `hadError` once the socket is closed. */
  readonly closed: Promise<boolean>;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.#have += chunk.length;
      this.#wake?.();
    });
    socket.on('end', () => {
      this.#ended = true;
      this.#wake?.();
    });
    socket.on('error', (err) => {
      this.#error = err;
      this.#wake?.();
    });
    this.closed = new Promise((resolve) => socket.once('close', resolve));
  }

  /** Bytes received and not yet read. */
  get buffered(): number {
    return this.#have;
  }

  static async open(port: number): Promise<Conn> {
    const conn = new Conn(connect({ host: '127.0.0.1', port, allowHalfOpen: true }));
    await within(once(conn.socket, 'connect'), ANSWER_MS, `connect to 127.0.0.1:${port}`);
    return conn;
  }

  /** Exactly `n` bytes; rejects on an error, an end before them, or after `ms`. */
  read(n: number, ms = ANSWER_MS): Promise<Buffer> {
    return within(
      this.#until(() => this.#have >= n),
      ms,
      `${n} bytes`,
    ).then(() => this.#take(n));
  }

  /** Writes `data` and reads `n` bytes of answer. */
  exchange(data: Buffer | string, n: number): Promise<Buffer> {
    this.socket.write(data);
    return this.read(n);
  }

  /** Everything until the peer's end; rejects on an error (a reset). */
  async rest(ms = ANSWER_MS): Promise<Buffer> {
    await within(
      this.#until(() => this.#ended),
      ms,
      'the end',
    );
    return this.#take(this.#have);
  }

  async #until(done: () => boolean): Promise<void> {
    for (;;) {
      if (this.#error !== null) throw this.#error;
      if (done()) return;
      if (this.#ended) throw new Error(`ended after ${this.#have} bytes`);
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  #take(n: number): Buffer {
    const all = Buffer.concat(this.#chunks);
    this.#chunks = n < all.length ? [all.subarray(n)] : [];
    this.#have = all.length - n;
    return all.subarray(0, n);
  }
}

/** A TCP server on 127.0.0.1 (allowHalfOpen) for the test, closed with its connections at its end. */
export async function backend(t: ExecutionContext, onSocket: (socket: Socket) => void): Promise<number> {
  const sockets = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onSocket(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

/** An echo backend (half-closes kept: it ends once its client has). */
export function echoBackend(t: ExecutionContext): Promise<number> {
  return backend(t, (socket) => socket.pipe(socket));
}

/** The `channel` field of a conn line (undefined without one). */
export const channelOf = (e: LogEvent): number | undefined => e['channel'] as number | undefined;

/** The port of a conn line's peer (`127.0.0.1:PORT`). */
export const peerPort = (e: LogEvent): number => Number(/:(\d+)$/.exec(String(e['peer']))?.[1]);

/** The conn line of `channel` among `lines`; throws naming the lines when there is none. */
export function lineOf(lines: readonly LogEvent[], channel: number): LogEvent {
  const line = lines.find((l) => channelOf(l) === channel);
  if (line === undefined) throw new Error(`no conn line for channel ${channel}: ${JSON.stringify(lines)}`);
  return line;
}
