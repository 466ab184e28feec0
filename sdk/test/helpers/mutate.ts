/**
 * Mutation fuzzing shared by the in-memory fuzz tests (protocol-fuzz.test.ts), the network
 * fuzz test (hostile-fuzz.test.ts) and the long mode (`npm run fuzz`): valid recorded
 * transcripts, and fast-check arbitraries that flip, truncate, repeat, splice and delete
 * bytes in them.
 */
import fc from 'fast-check';
import { ClientConnection, ServerConnection, SessionError, Symmetric } from '../../src/protocol/index.js';
import type { ClientConnectionOptions } from '../../src/protocol/index.js';
import { fixturePrivateKey, openPair } from './protocol-pair.js';

export interface Transcript {
  /** What the client sent, whole. */
  readonly client: Buffer;
  /** What the server sent, whole. */
  readonly server: Buffer;
}

/**
 * A valid recorded conversation with the `server-2048` fixture key: a handshake, small,
 * batched and fragmented messages both ways, a ping and a close.
 */
export function recordTranscript(clientOptions: Partial<ClientConnectionOptions> = {}): Transcript {
  const p = openPair(clientOptions);
  p.client.write(Buffer.from('hello'));
  p.client.writeMany([Buffer.alloc(100, 1), Buffer.alloc(3)]);
  p.server.write(Buffer.alloc(70_000, 2));
  p.client.ping(Buffer.from('p'));
  p.client.close(4000, 'bye');
  return { client: Buffer.concat(p.c.sent), server: Buffer.concat(p.s.sent) };
}

/**
 * Several kinds of valid client streams for the same server key: the default suite, the
 * GCM suite, a client that asks for the key first (KeyRequest), a client that authenticates.
 */
export function recordClientStreams(): Buffer[] {
  const server = fixturePrivateKey('server-2048');
  const streams = [
    recordTranscript(),
    recordTranscript({ set: { symmetric: Symmetric.AES256GCM } }),
    recordTranscript({ clientKey: fixturePrivateKey('client-2048') }),
  ].map((t) => t.client);
  // Trust on first use: KeyRequest, then the hello once the key is known.
  const asked: Buffer[] = [];
  const tofu: ClientConnection = new ClientConnection(
    {
      send: (data) => asked.push(data),
      established: () => {},
      message: () => {},
      peerClosed: () => {},
      serverKey: (key) => tofu.useServerKey(key),
    },
    {},
  );
  tofu.start();
  tofu.receive(keyResponseFor(server));
  streams.push(Buffer.concat(asked));
  return streams;
}

/** The server's KeyResponse frame, as a server would send it. */
function keyResponseFor(key: ReturnType<typeof fixturePrivateKey>): Buffer {
  const sent: Buffer[] = [];
  const server = new ServerConnection(
    { send: (d) => sent.push(d), established: () => {}, message: () => {}, peerClosed: () => {} },
    { keys: [key] },
  );
  server.receive(Buffer.from([0x01, 0, 0, 5, 0x73, 0x45, 0x73, 0x53, 0x01]));
  return sent[0]!;
}

export type Mutation =
  | { readonly kind: 'flip'; readonly at: number; readonly bit: number }
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'repeat'; readonly at: number; readonly n: number }
  | { readonly kind: 'splice'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly kind: 'delete'; readonly at: number; readonly n: number };

/** One mutation of a buffer of `len` bytes. */
export function mutation(len: number): fc.Arbitrary<Mutation> {
  return fc.oneof(
    fc.record({
      kind: fc.constant('flip' as const),
      at: fc.nat({ max: len - 1 }),
      bit: fc.integer({ min: 0, max: 7 }),
    }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat({ max: len }) }),
    fc.record({
      kind: fc.constant('repeat' as const),
      at: fc.nat({ max: len - 1 }),
      n: fc.integer({ min: 1, max: 300 }),
    }),
    fc.record({
      kind: fc.constant('splice' as const),
      at: fc.nat({ max: len }),
      bytes: fc.uint8Array({ maxLength: 64 }),
    }),
    fc.record({
      kind: fc.constant('delete' as const),
      at: fc.nat({ max: len - 1 }),
      n: fc.integer({ min: 1, max: 64 }),
    }),
  );
}

/** Applies one mutation; positions past the end are clamped to the buffer. */
export function mutate(data: Buffer, m: Mutation): Buffer {
  const at = Math.min(m.at, Math.max(0, data.length - 1));
  switch (m.kind) {
    case 'flip': {
      const out = Buffer.from(data);
      if (out.length > 0) out[at]! ^= 1 << m.bit;
      return out;
    }
    case 'truncate':
      return data.subarray(0, at);
    case 'repeat':
      return Buffer.concat([data.subarray(0, at + m.n), data.subarray(at)]);
    case 'splice':
      return Buffer.concat([data.subarray(0, at), Buffer.from(m.bytes), data.subarray(at)]);
    case 'delete':
      return Buffer.concat([data.subarray(0, at), data.subarray(at + m.n)]);
  }
}

/** Applies mutations in order. */
export function mutateAll(data: Buffer, ms: readonly Mutation[]): Buffer {
  return ms.reduce(mutate, data);
}

/**
 * Feeds `data` in `chunkSize` pieces; returns the error thrown, if any (and fails the
 * connection, as a transport would). Throws if an error is not a coded SessionError.
 */
export function feedAll(conn: ClientConnection | ServerConnection, data: Buffer, chunkSize: number): unknown {
  try {
    for (let at = 0; at < data.length; at += chunkSize) conn.receive(data.subarray(at, at + chunkSize));
    return null;
  } catch (err) {
    if (!(err instanceof SessionError)) throw new Error(`uncoded error: ${String(err)}`, { cause: err });
    conn.fail(err);
    return err;
  }
}
