/**
 * Drives a ClientConnection and a ServerConnection against each other in memory, with every
 * byte each side sends captured, so tests can replay, drop, flip or reorder them.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PrivateKey, PublicKey } from '@secsess/keys';
import { ClientConnection, ServerConnection } from '../../src/protocol/index.js';
import type {
  ClientConnectionOptions,
  HandshakeInfo,
  ServerConnectionOptions,
} from '../../src/protocol/index.js';

const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));

export function fixturePrivateKey(name: string): PrivateKey {
  return PrivateKey.fromString(readFileSync(fixtures + name + '.key', 'utf8'));
}

export function fixturePublicKey(name: string): PublicKey {
  return PublicKey.fromString(readFileSync(fixtures + name + '.pub', 'utf8'));
}

/** What one side observed. */
export class Endpoint {
  /** Every buffer this side sent, in order. */
  readonly sent: Buffer[] = [];
  readonly messages: Buffer[] = [];
  readonly closes: Array<{ code: number; reason: string }> = [];
  readonly pongs: Buffer[] = [];
  /** How many times the peer's End was reported (`peerEnded`). */
  ends = 0;
  info: HandshakeInfo | null = null;
  /** Called with each buffer sent; set by `connect()` to deliver it to the other side. */
  deliver: ((data: Buffer) => void) | null = null;

  handler() {
    return {
      send: (data: Buffer) => {
        this.sent.push(data);
        this.deliver?.(data);
      },
      established: (info: HandshakeInfo) => {
        this.info = info;
      },
      message: (data: Buffer) => {
        this.messages.push(Buffer.from(data));
      },
      peerClosed: (code: number, reason: string) => {
        this.closes.push({ code, reason });
      },
      pong: (payload: Buffer) => {
        this.pongs.push(Buffer.from(payload));
      },
      peerEnded: () => {
        this.ends++;
      },
    };
  }
}

export interface Pair {
  client: ClientConnection;
  server: ServerConnection;
  c: Endpoint;
  s: Endpoint;
  /** Errors thrown by either side's receive(), with the side. */
  errors: Array<{ side: 'client' | 'server'; error: unknown }>;
}

/**
 * A client and a server wired together: whatever one sends is fed to the other at once
 * (unless `wire: false`, in which case the test moves the bytes itself).
 */
export function makePair(
  clientOptions: Partial<ClientConnectionOptions> = {},
  serverOptions: Partial<ServerConnectionOptions> = {},
  wire = true,
): Pair {
  const c = new Endpoint();
  const s = new Endpoint();
  // The pair's tests give the server private keys (a PublicKey would need decryptSecret).
  const serverKey = (serverOptions.keys?.[0] as PrivateKey | undefined) ?? fixturePrivateKey('server-2048');
  const client = new ClientConnection(c.handler(), { serverKey: serverKey.publicKey, ...clientOptions });
  const server = new ServerConnection(s.handler(), { keys: [serverKey], ...serverOptions });
  const errors: Pair['errors'] = [];
  if (wire) {
    // Deliveries queue and are pumped in order, never re-entering receive(): as over a socket.
    const queue: Array<() => void> = [];
    let pumping = false;
    const enqueue = (fn: () => void): void => {
      queue.push(fn);
      if (pumping) return;
      pumping = true;
      try {
        while (queue.length) queue.shift()!();
      } finally {
        pumping = false;
      }
    };
    c.deliver = (data) => enqueue(() => feed(server, data, 'server', errors));
    s.deliver = (data) => enqueue(() => feed(client, data, 'client', errors));
  }
  return { client, server, c, s, errors };
}

/** Feeds bytes; a thrown error is recorded and the connection failed, as a transport would. */
export function feed(
  conn: ClientConnection | ServerConnection,
  data: Buffer,
  side: 'client' | 'server',
  errors: Pair['errors'],
): void {
  try {
    conn.receive(data);
  } catch (error) {
    errors.push({ side, error });
    conn.fail(error);
  }
}

/** Runs the handshake of a wired pair and returns it open. */
export function openPair(
  clientOptions: Partial<ClientConnectionOptions> = {},
  serverOptions: Partial<ServerConnectionOptions> = {},
): Pair {
  const pair = makePair(clientOptions, serverOptions);
  pair.client.start();
  if (pair.errors.length) throw pair.errors[0]!.error;
  return pair;
}

/** Concatenation of everything a side sent from index `from` on. */
export function sentSince(e: Endpoint, from: number): Buffer {
  return Buffer.concat(e.sent.slice(from));
}
