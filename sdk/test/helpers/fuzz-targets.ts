/**
 * Fuzz targets shared by hostile-fuzz.test.ts (bounded, in `npm test`) and the long mode
 * (sdk/test/fuzz/run.ts, `npm run fuzz -- --minutes N`):
 *
 *   - the network target: a mutated (or random) client byte stream sent over a real socket
 *     to a live server, which must close the connection itself, with a coded error;
 *   - the core targets: the same mutations fed to the sans-IO server and client in memory,
 *     thousands of times faster, for the long mode.
 *
 * A case is plain data drawn from fast-check, so a finding is reproduced from its seed.
 */
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { ClientConnection, ServerConnection } from '../../src/protocol/index.js';
import { outcome, rawFrom } from './attackers.js';
import { feedAll, mutateAll, mutation, recordClientStreams, recordTranscript } from './mutate.js';
import type { Mutation } from './mutate.js';
import { Endpoint, fixturePrivateKey } from './protocol-pair.js';

/** The valid client streams cases start from (recorded once per process). */
export const CLIENT_STREAMS = recordClientStreams();
const TRANSCRIPT = recordTranscript();
const SERVER_KEY = fixturePrivateKey('server-2048');

export interface NetCase {
  /** Index into CLIENT_STREAMS, or -1 for random bytes only. */
  readonly stream: number;
  readonly mutations: readonly Mutation[];
  /** Random bytes when `stream` is -1 (and appended to a stream otherwise, if any). */
  readonly noise: Uint8Array;
  /** Sizes of the writes the stream is cut into (cycled). */
  readonly chunks: readonly number[];
  /** Whether the attacker ends its side after sending (else the server must time it out). */
  readonly end: boolean;
}

const longest = Math.max(...CLIENT_STREAMS.map((s) => s.length));

export const netCase: fc.Arbitrary<NetCase> = fc.record({
  stream: fc.integer({ min: -1, max: CLIENT_STREAMS.length - 1 }),
  mutations: fc.array(mutation(longest), { minLength: 0, maxLength: 3 }),
  noise: fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ maxLength: 512 })),
  chunks: fc.array(fc.integer({ min: 1, max: 1500 }), { minLength: 1, maxLength: 4 }),
  end: fc.boolean(),
});

/** The bytes a case sends. */
export function caseBytes(c: NetCase): Buffer {
  const base = c.stream < 0 ? Buffer.alloc(0) : mutateAll(CLIENT_STREAMS[c.stream]!, c.mutations);
  return Buffer.concat([base, Buffer.from(c.noise)]);
}

/**
 * Sends one case to 127.0.0.1:`port` from `localAddress`. Resolves once the server has
 * closed the connection; resolves with a finding if it has not within `limitMs` (it must:
 * every path ends in an error or in handshakeTimeout).
 */
export async function runNetCase(
  port: number,
  c: NetCase,
  options: { localAddress?: string; limitMs: number },
): Promise<string | null> {
  const socket = await rawFrom(port, options.localAddress ? { localAddress: options.localAddress } : {});
  const closed = outcome(socket);
  const data = caseBytes(c);
  for (let at = 0, i = 0; at < data.length && socket.writable; i++) {
    const n = c.chunks[i % c.chunks.length]!;
    socket.write(data.subarray(at, at + n));
    at += n;
    await new Promise((resolve) => setImmediate(resolve));
  }
  if (c.end && socket.writable) socket.end();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), options.limitMs)));
  const result = await Promise.race([closed, late]);
  clearTimeout(timer);
  if (result === 'late') {
    socket.destroy();
    return `the server did not close the connection within ${options.limitMs} ms: ${describe(c)}`;
  }
  return null;
}

/** A case in a line, to reproduce it. */
export function describe(c: NetCase): string {
  return JSON.stringify({ ...c, noise: Buffer.from(c.noise).toString('hex') });
}

/** Core target: a mutated client stream into a fresh sans-IO server. Returns a finding or null. */
export function coreServerCase(c: NetCase, chunk: number): string | null {
  const s = new Endpoint();
  const server = new ServerConnection(s.handler(), { keys: [SERVER_KEY] });
  try {
    feedAll(server, caseBytes(c), chunk);
  } catch (err) {
    return `core server: ${String(err)}: ${describe(c)}`;
  }
  if (s.messages.length > 0) return `core server: a replayed stream delivered a message: ${describe(c)}`;
  if (server.bufferedBytes > 70_000)
    return `core server: ${server.bufferedBytes} bytes buffered: ${describe(c)}`;
  return null;
}

/** Core target: a mutated server stream into a client that just sent its hello. */
export function coreClientCase(mutations: readonly Mutation[], chunk: number): string | null {
  const c = new Endpoint();
  const client = new ClientConnection(c.handler(), { serverKey: SERVER_KEY.publicKey });
  client.start();
  try {
    feedAll(client, mutateAll(TRANSCRIPT.server, mutations), chunk);
  } catch (err) {
    return `core client: ${String(err)}: ${JSON.stringify(mutations)}`;
  }
  return c.messages.length > 0 ? `core client: a replayed stream delivered a message` : null;
}

/** Arbitrary for the core client target. */
export const serverStreamMutations = fc.array(mutation(TRANSCRIPT.server.length), {
  minLength: 1,
  maxLength: 3,
});

/** A seed for a run, printed so that a finding can be replayed with --seed. */
export function newSeed(): number {
  return randomBytes(4).readInt32BE(0);
}
