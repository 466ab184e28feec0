/**
 * Hostile and legitimate peers for the adversarial network tests. Every peer talks to
 * 127.0.0.1; attackers may bind another loopback source address (127.0.0.0/8 is all
 * loopback on Linux) so that per-address limits can tell them from the legitimate clients.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, ErrorCode, SessionError } from '../../src/index.js';
import type { ClientOptions, PublicKey } from '../../src/index.js';
import { ClientConnection } from '../../src/protocol/index.js';
import { fixtureKeys } from './keys.js';
import { numbered } from './net.js';

/** The plaintext ServerBusy alert a refused connection receives (PROTOCOL.md §8). */
export const SERVER_BUSY_ALERT = Buffer.from([0x15, 0x00, 0x00, 0x02, 0x00, 0x0c]);
/** The plaintext Timeout alert a connection whose handshake timed out receives. */
export const TIMEOUT_ALERT = Buffer.from([0x15, 0x00, 0x00, 0x02, 0x00, 0x0b]);

let aliases: boolean | null = null;

/** Whether this machine routes 127.0.0.2 etc. to loopback (Linux does; macOS does not by default). */
export async function loopbackAliasesWork(): Promise<boolean> {
  if (aliases !== null) return aliases;
  const probe = createServer((s) => s.destroy());
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  try {
    const s = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' });
    await once(s, 'connect');
    s.destroy();
    aliases = true;
  } catch {
    aliases = false;
  } finally {
    probe.close();
  }
  return aliases;
}

/** The `n`-th attacker source address: 127.0.1.1, 127.0.1.2, … (distinct from 127.0.0.1). */
export function attackerAddress(n: number): string {
  return `127.0.${1 + Math.floor(n / 250)}.${1 + (n % 250)}`;
}

/** A raw TCP connection to 127.0.0.1:`port`, optionally from another loopback address. */
export async function rawFrom(
  port: number,
  options: { localAddress?: string; allowHalfOpen?: boolean } = {},
): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port, ...options });
  // The server may reset it at any time (that is the point): never an uncaught error.
  socket.on('error', () => {});
  await once(socket, 'connect');
  return socket;
}

/** Writes `hello` and waits for the server's first reply (its ServerHello): the hello was handled. */
export async function sendHello(socket: Socket, hello: Buffer): Promise<void> {
  const replied = once(socket, 'data');
  socket.write(hello);
  await replied;
}

/** What a raw connection saw until it closed. */
export interface Outcome {
  /** Every byte the server sent. */
  readonly received: Buffer;
  /** The socket error (e.g. ECONNRESET), if any. */
  readonly error: string | undefined;
}

/**
 * Collects what `socket` receives until it closes. Only the server closes it: the caller
 * relies on the server's limits (refusal, handshake timeout) to end it.
 */
export function outcome(socket: Socket): Promise<Outcome> {
  const chunks: Buffer[] = [];
  let error: string | undefined;
  socket.on('data', (d: Buffer) => chunks.push(d));
  socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
  return new Promise((resolve) => {
    const done = (): void => resolve({ received: Buffer.concat(chunks), error });
    if (socket.destroyed) done();
    else socket.once('close', done);
  });
}

/** A valid ClientHello for `serverKey` (default: the fixture key), from a real client core. */
export function validHello(serverKey: PublicKey = fixtureKeys().publicKey): Buffer {
  const sent: Buffer[] = [];
  const conn = new ClientConnection(
    { send: (d) => sent.push(d), established: () => {}, message: () => {}, peerClosed: () => {} },
    { serverKey },
  );
  conn.start();
  return sent[0]!;
}

/** Where the RSA ciphertext starts in a ClientHello frame (PROTOCOL.md §2): 4 + 5 + 3 + 1 + 32 + 32 + 32 + 2. */
const CIPHERTEXT_AT = 111;

/**
 * A ClientHello that names the right key but carries random ciphertext: the server must
 * run the RSA private operation (the value is below the modulus: its top byte is 0), which
 * fails; the handshake then fails at key confirmation (implicit rejection).
 */
export function undecryptableHello(base: Buffer): Buffer {
  const hello = Buffer.from(base);
  randomBytes(hello.length - CIPHERTEXT_AT).copy(hello, CIPHERTEXT_AT);
  hello[CIPHERTEXT_AT] = 0;
  // A fresh client random too, so no two hellos are alike.
  randomBytes(32).copy(hello, 4 + 5 + 3 + 1);
  return hello;
}

/** Why a legitimate client had to try again. */
export type RetryReason = 'ERR_SERVER_BUSY' | 'ERR_TIMEOUT';

export interface LegitResult {
  /** Connection attempts, including the successful one. */
  readonly attempts: number;
  readonly retries: RetryReason[];
}

/**
 * A well-behaved client: connects (retrying, with backoff, when the server says it is
 * busy or a handshake times out on a loaded machine), echoes `messages` numbered messages
 * of `size` bytes, checks every echo, closes. Throws on anything else.
 */
export async function legitClient(
  endpoint: string,
  options: {
    id?: number;
    messages?: number;
    size?: number;
    maxAttempts?: number;
    client?: ClientOptions;
  } = {},
): Promise<LegitResult> {
  const { id = 0, messages = 5, size = 1000, maxAttempts = 100 } = options;
  const retries: RetryReason[] = [];
  for (let attempt = 1; ; attempt++) {
    // The client's own busy retries are off: this loop counts them for the test's log.
    const client = Client.create(fixtureKeys().publicKey, {}, { busyRetries: 0, ...options.client });
    let opened = false;
    try {
      const session = await client.connect(endpoint);
      opened = true;
      for (let i = 0; i < messages; i++) {
        const message = numbered(id * 1000 + i, size);
        await session.write(message);
        const echo = await session.read();
        if (!echo?.equals(message)) throw new Error(`client ${id}: echo ${i} differs`);
      }
      await session.close();
      if (session.closeCode !== 1000) throw new Error(`client ${id}: closed with ${session.closeCode}`);
      return { attempts: attempt, retries };
    } catch (err) {
      const code = err instanceof SessionError ? err.code : undefined;
      const retryable = code === ErrorCode.SERVER_BUSY || code === ErrorCode.TIMEOUT;
      if (!retryable || opened || attempt >= maxAttempts) throw err;
      retries.push(code);
      await sleep(Math.min(200, 5 * attempt));
    }
  }
}

/** Runs `n` legitimate clients at once; resolves with their results. */
export function legitClients(
  endpoint: string,
  n: number,
  options: Parameters<typeof legitClient>[1] = {},
): Promise<LegitResult[]> {
  return Promise.all(Array.from({ length: n }, (_, id) => legitClient(endpoint, { ...options, id })));
}

/** How many times the clients were refused as busy. */
export function busyCount(results: readonly LegitResult[]): number {
  return results.flatMap((r) => r.retries).filter((r) => r === 'ERR_SERVER_BUSY').length;
}

/** A summary line of retries for t.log. */
export function retrySummary(results: readonly LegitResult[]): string {
  const all = results.flatMap((r) => r.retries);
  const busy = all.filter((r) => r === 'ERR_SERVER_BUSY').length;
  return `${results.length} legitimate clients completed; retries: ${busy} busy, ${all.length - busy} timeout`;
}
