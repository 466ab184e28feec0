/**
 * The pack check's program (.ci/pack-check.sh): compiled with `tsc --strict` against the
 * installed tarballs of @secsess/keys and @secsess/sdk, outside this repository, and run.
 * A server on 127.0.0.1:0 with a freshly generated key, one client, one echoed message;
 * the same over UDP (DatagramServer/DatagramClient); the sans-IO cores of both; a
 * ChaCha20-Poly1305 session on the AEAD backends the install gives (`cryptoBackends()`:
 * @secsess/native when the optional dependency was built, else sodium-native for
 * ChaCha20-Poly1305 when that one is there, else node:crypto; the script says which it
 * expects in PACK_CHECK_GCM and PACK_CHECK_CHACHA).
 */
import { randomBytes } from 'node:crypto';
import { KeyPair } from '@secsess/keys';
import diagnostics from 'node:diagnostics_channel';
import {
  CHANNELS,
  Client,
  DatagramClient,
  DatagramServer,
  ErrorCode,
  SecsessError,
  Server,
  Session,
  Symmetric,
  cryptoBackends,
  formatEndpoint,
} from '@secsess/sdk';
import type {
  CryptoBackends,
  DatagramSessionCounters,
  Endpoint,
  KeyProbe,
  PoolCounts,
  DatagramSession,
  ServerMetrics,
  SessionOpenMessage,
} from '@secsess/sdk';
import { ClientConnection, ServerConnection, datagramContexts } from '@secsess/sdk/core';
import type { OpenResult } from '@secsess/sdk/core';

const pair = await KeyPair.generateRSA({ bits: 2048 });
const opens: SessionOpenMessage[] = [];
diagnostics.subscribe(CHANNELS.sessionOpen, (m) => void opens.push(m as SessionOpenMessage));
const server = Server.create('127.0.0.1:0', pair.privateKey, undefined, { workers: 1 });
await server.start();
const endpoint: Endpoint | null = server.address;
if (endpoint === null) throw new Error('the server has no address after start()');

const accepted: Promise<Session> = server.acceptClient();
const client = Client.create(pair.publicKey);
await client.connect(endpoint);
const session = await accepted;

const sent = randomBytes(1000);
await client.write(sent);
const received = await session.read();
if (received === null) throw new Error('the server read null');
await session.write(received);
const echoed = await client.read();
if (echoed === null || !Buffer.from(echoed).equals(sent)) throw new Error('the echo differs');

await client.close();
if ((await session.read()) !== null) throw new Error('the server saw no normal close');
await server.stop();

// The error hierarchy is part of the public types.
const code: string = ErrorCode.SESSION_CLOSED;
const err: unknown = await client.write(sent).catch((e: unknown) => e);
if (!(err instanceof SecsessError) || err.code !== code) throw new Error(`write after close: ${String(err)}`);

// The public types name what a user sees, and nothing internal: Session has no public
// constructor, Server.workerCounts is a PoolCounts (kept across stop(): one handshake, one
// decryption), 'probe' events carry a KeyProbe.
const counts: PoolCounts = server.workerCounts;
if (counts.decrypts + counts.inline !== 1 || counts.verifies !== 0)
  throw new Error(`a stopped server's RSA counts: ${JSON.stringify(counts)}`);
// Observability: the metrics snapshot and the channels are public (README "Observability").
const metrics: ServerMetrics = server.metrics();
if (metrics.sessions.opened !== 1 || metrics.sessions.open !== 0 || metrics.bytes.received === 0)
  throw new Error(`server.metrics(): ${JSON.stringify(metrics.sessions)}`);
if (opens.length !== 2 || opens.some((m) => m.suite !== 'RSA/AES-256-CBC/SHA-256'))
  throw new Error(`secsess:session:open: ${opens.length} messages`);
server.on('probe', (kind: KeyProbe) => void kind);
export function noPublicSessionConstructor(): Session {
  // @ts-expect-error Session's constructor is private: sessions come from Server, Client and secureDuplex.
  return new Session();
}
// The sans-IO core from its own entry: a handshake and a message between two connections.
const toServer: Buffer[] = [];
const toClient: Buffer[] = [];
const delivered: Buffer[] = [];
const coreServer = new ServerConnection(
  {
    send: (bytes) => void toClient.push(Buffer.from(bytes)),
    established: () => {},
    message: (m) => void delivered.push(Buffer.from(m)),
    peerClosed: () => {},
  },
  { keys: [pair.privateKey] },
);
const coreClient = new ClientConnection(
  {
    send: (bytes) => void toServer.push(Buffer.from(bytes)),
    established: () => {},
    message: () => {},
    peerClosed: () => {},
  },
  { serverKey: pair.publicKey },
);
coreClient.start();
for (let i = 0; i < 4 && (toServer.length > 0 || toClient.length > 0); i++) {
  for (const b of toServer.splice(0)) coreServer.receive(b);
  for (const b of toClient.splice(0)) coreClient.receive(b);
}
coreClient.write(Buffer.from('core'));
for (const b of toServer.splice(0)) coreServer.receive(b);
if (delivered.map((m) => m.toString()).join() !== 'core') throw new Error('the core delivered nothing');

// Datagrams: a handshake over UDP and one echoed message.
const udp = DatagramServer.create('127.0.0.1:0', pair.privateKey, undefined, { workers: 0 });
udp.on('session', (s: DatagramSession) => s.on('message', (m) => s.send(m)));
await udp.start();
const dgram = await DatagramClient.create(pair.publicKey).connect(udp.address!);
const dgramEcho = new Promise<Buffer>((resolve) => dgram.once('message', (m) => resolve(Buffer.from(m))));
const again = setInterval(() => dgram.send('datagram'), 200); // a datagram may be lost
dgram.send('datagram');
if (String(await dgramEcho) !== 'datagram') throw new Error('the datagram echo differs');
clearInterval(again);
const dgramCounts: DatagramSessionCounters = dgram.counters;
if (dgramCounts.authFailures !== 0) throw new Error('a forged datagram on loopback?');
dgram.close();
await udp.stop();

// The datagram core from its own entry: keys from anywhere, a replay refused.
const secret = randomBytes(32);
const packet = datagramContexts(secret, 'client').outbound.encode(Buffer.from('core datagram'));
const receiver = datagramContexts(secret, 'server').inbound;
if (String(receiver.decode(packet)) !== 'core datagram') throw new Error('the datagram core failed');
const replayed: OpenResult = receiver.open(packet);
if (replayed.ok || replayed.reason !== 'duplicate') throw new Error('the datagram core took a replay');

// The AEAD backends: both on @secsess/native when it was built; else AES-256-GCM on
// node:crypto and ChaCha20-Poly1305 on sodium-native when it loads, else on node:crypto.
const backends: CryptoBackends = cryptoBackends();
const expected = {
  'aes-256-gcm': process.env['PACK_CHECK_GCM'],
  'chacha20-poly1305': process.env['PACK_CHECK_CHACHA'],
};
if (
  backends['aes-256-gcm'] !== expected['aes-256-gcm'] ||
  backends['chacha20-poly1305'] !== expected['chacha20-poly1305']
)
  throw new Error(`cryptoBackends(): ${JSON.stringify(backends)}, expected ${JSON.stringify(expected)}`);
if (JSON.stringify(metrics.crypto.aead) !== JSON.stringify(backends))
  throw new Error(`server.metrics().crypto: ${JSON.stringify(metrics.crypto)}`);
const chacha = Server.create('127.0.0.1:0', pair.privateKey, [{ symmetric: Symmetric.CHACHA20POLY1305 }], {
  workers: 0,
});
chacha.on('session', (s: Session) => void s.read().then((m) => m && s.write(m)));
await chacha.start();
const chachaClient = await Client.create(pair.publicKey, { symmetric: Symmetric.CHACHA20POLY1305 }).connect(
  chacha.address!,
);
const big = randomBytes(100_000);
await chachaClient.write(big);
const bigEcho = await chachaClient.read();
if (
  chachaClient.suite?.symmetric !== Symmetric.CHACHA20POLY1305 ||
  !bigEcho ||
  !Buffer.from(bigEcho).equals(big)
)
  throw new Error('the ChaCha20-Poly1305 echo differs');
await chachaClient.close();
await chacha.stop();

console.log(
  `pack-check: ChaCha20-Poly1305 on ${backends['chacha20-poly1305']}; echoed ${sent.length} bytes over ${formatEndpoint(endpoint)} and a datagram over UDP, ${pair.publicKey.fingerprint()}`,
);
