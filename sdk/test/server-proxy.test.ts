/**
 * The PROXY protocol on a real server over real loopback sockets (`proxyProtocol`): a trusted
 * peer's v1 and v2 headers name a client that `authorize(peer)`, `session.remoteAddress`,
 * the per-address handshake cap and the handshake rate all see; LOCAL uses the socket's own
 * address; the header split byte by byte, or sharing a segment with the ClientHello, works;
 * a trusted peer without a header, a slow or oversized header, and a header from an
 * untrusted peer are dropped with ERR_PROXY_PROTOCOL while the server goes on serving.
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { encodeProxyHeader, ErrorCode, secureDuplex, SessionError } from '../src/index.js';
import type { PeerInfo, RefusalLimit, RemoteInfo, ServerOptions, Session } from '../src/index.js';
import { SERVER_BUSY_ALERT } from './helpers/attackers.js';
import { echo, startServer, waitUntil } from './helpers/net.js';
import type { TestServer } from './helpers/net.js';

const CLIENT = { address: '192.0.2.7', port: 40001 };
const FRONT = { address: '198.51.100.1', port: 443 };
const V1 = Buffer.from('PROXY TCP4 192.0.2.7 198.51.100.1 40001 443\r\n');
const V2_LOCAL = Buffer.from('0d0a0d0a000d0a515549540a20000000', 'hex');

interface Seen {
  readonly peers: PeerInfo[];
  readonly sessions: Array<Pick<Session, 'remoteAddress' | 'remotePort' | 'localAddress' | 'localPort'>>;
  readonly errors: Array<[SessionError, RemoteInfo]>;
  readonly refused: Array<[RefusalLimit, RemoteInfo]>;
}

/** A server trusting 127.0.0.1 (unless told otherwise) that echoes and records what it sees. */
async function proxiedServer(
  t: ExecutionContext,
  options: ServerOptions = {},
): Promise<TestServer & { seen: Seen }> {
  const seen: Seen = { peers: [], sessions: [], errors: [], refused: [] };
  const ts = await startServer({
    proxyProtocol: { trusted: ['127.0.0.1'] },
    handshakeRate: 0,
    authorize: (peer) => {
      seen.peers.push(peer);
      return true;
    },
    ...options,
  });
  ts.server.on('session', (session) => {
    const { remoteAddress, remotePort, localAddress, localPort } = session;
    seen.sessions.push({ remoteAddress, remotePort, localAddress, localPort });
    void echo(session);
  });
  ts.server.on('handshakeError', (err, remote) => seen.errors.push([err, remote]));
  ts.server.on('refused', (limit, remote) => seen.refused.push([limit, remote]));
  t.teardown(() => ts.server.stop());
  return { ...ts, seen };
}

async function rawSocket(t: ExecutionContext, port: number): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port, noDelay: true });
  socket.on('error', () => {});
  t.teardown(() => socket.destroy());
  await once(socket, 'connect');
  return socket;
}

/**
 * A Duplex over `socket` whose first write (the ClientHello) goes out in one write with
 * `header` in front: the server finds the header and the hello in one read.
 */
function headerFirst(socket: Socket, header: Buffer): Duplex {
  let pending: Buffer | null = header;
  const duplex = new Duplex({
    write(chunk: Buffer, _encoding, callback) {
      const bytes = pending ? Buffer.concat([pending, chunk]) : chunk;
      pending = null;
      socket.write(bytes, callback);
    },
    final(callback) {
      socket.end();
      callback();
    },
    read() {
      socket.resume();
    },
    destroy(err, callback) {
      socket.destroy();
      callback(err);
    },
  });
  socket.on('data', (chunk: Buffer) => {
    if (!duplex.push(chunk)) socket.pause();
  });
  socket.on('end', () => duplex.push(null));
  socket.on('close', () => duplex.destroy());
  return duplex;
}

/**
 * A secsess client behind `header` (sent with its hello); echoes one message through the
 * session. Resolves with its socket's local port.
 */
async function proxiedClient(t: ExecutionContext, ts: TestServer, header: Buffer): Promise<number> {
  const socket = await rawSocket(t, ts.port);
  const port = socket.localPort!;
  const session = await secureDuplex(headerFirst(socket, header), {
    role: 'client',
    serverKey: ts.keys.publicKey,
  });
  await session.write('ping');
  t.is(String(await session.read()), 'ping');
  await session.close();
  return port;
}

/** Everything `socket` receives until it closes. */
async function received(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  if (!socket.closed) await once(socket, 'close');
  return Buffer.concat(chunks);
}

test('v1 and v2 headers from a trusted peer: authorize, the session and its echo see the client they name', async (t) => {
  const ts = await proxiedServer(t);
  await proxiedClient(t, ts, V1);
  await proxiedClient(t, ts, encodeProxyHeader(CLIENT, FRONT));
  const v6 = { address: '2001:db8::7', port: 50000 };
  await proxiedClient(t, ts, encodeProxyHeader(v6, { address: '2001:db8::1', port: 7000 }));
  t.deepEqual(
    ts.seen.peers.map((p) => [p.remoteAddress, p.remotePort]),
    [
      ['192.0.2.7', 40001],
      ['192.0.2.7', 40001],
      ['2001:db8::7', 50000],
    ],
  );
  t.deepEqual(ts.seen.sessions, [
    { remoteAddress: '192.0.2.7', remotePort: 40001, localAddress: '198.51.100.1', localPort: 443 },
    { remoteAddress: '192.0.2.7', remotePort: 40001, localAddress: '198.51.100.1', localPort: 443 },
    { remoteAddress: '2001:db8::7', remotePort: 50000, localAddress: '2001:db8::1', localPort: 7000 },
  ]);
  t.deepEqual(ts.seen.errors, []);
});

test("a LOCAL header (a health check), a v1 UNKNOWN, a v2 PROXY for UDP or AF_UNIX: the socket's own addresses apply", async (t) => {
  const ts = await proxiedServer(t);
  const local = await proxiedClient(t, ts, V2_LOCAL);
  const unknown = await proxiedClient(t, ts, Buffer.from('PROXY UNKNOWN \xff\r\n', 'latin1'));
  // §2.2: a family the receiver does not support is taken as UNSPEC, its block skipped.
  const udp = await proxiedClient(
    t,
    ts,
    Buffer.concat([Buffer.from('0d0a0d0a000d0a515549540a2112000c', 'hex'), Buffer.alloc(12, 7)]),
  );
  const unix = await proxiedClient(
    t,
    ts,
    Buffer.concat([Buffer.from('0d0a0d0a000d0a515549540a213100d8', 'hex'), Buffer.alloc(216, 0x2f)]),
  );
  t.deepEqual(ts.seen.sessions, [
    {
      remoteAddress: '127.0.0.1',
      remotePort: local,
      localAddress: '127.0.0.1',
      localPort: ts.port,
    },
    {
      remoteAddress: '127.0.0.1',
      remotePort: unknown,
      localAddress: '127.0.0.1',
      localPort: ts.port,
    },
    { remoteAddress: '127.0.0.1', remotePort: udp, localAddress: '127.0.0.1', localPort: ts.port },
    { remoteAddress: '127.0.0.1', remotePort: unix, localAddress: '127.0.0.1', localPort: ts.port },
  ]);
});

test('a header sent one byte at a time, then the handshake', async (t) => {
  const ts = await proxiedServer(t);
  const socket = await rawSocket(t, ts.port);
  for (const byte of encodeProxyHeader(CLIENT, FRONT)) {
    await new Promise<void>((resolve, reject) =>
      socket.write(Buffer.from([byte]), (err) => (err ? reject(err) : resolve())),
    );
    await new Promise((resolve) => setImmediate(resolve));
  }
  const session = await secureDuplex(socket, { role: 'client', serverKey: ts.keys.publicKey });
  await session.write('ping');
  t.is(String(await session.read()), 'ping');
  await session.close();
  t.is(ts.seen.sessions[0]?.remoteAddress, '192.0.2.7');
});

test('a trusted peer without a header is dropped with ERR_PROXY_PROTOCOL; the server keeps serving', async (t) => {
  const ts = await proxiedServer(t);
  const client = ts.client();
  const err = await t.throwsAsync(client.connect(ts.endpoint), { instanceOf: SessionError });
  t.not(err?.code, ErrorCode.PROXY_PROTOCOL, 'the client is told nothing of it (no alert)');
  await waitUntil(() => ts.seen.errors.length === 1, 'the handshakeError');
  const [[error, remote]] = ts.seen.errors as [[SessionError, RemoteInfo]];
  t.is(error.code, ErrorCode.PROXY_PROTOCOL);
  t.is(error.message, 'PROXY header: not a PROXY protocol signature');
  t.is(remote.address, '127.0.0.1');
  await proxiedClient(t, ts, V1);
  t.is(ts.seen.sessions.length, 1);
  t.is(ts.server.handshakeCount, 0);
});

test('a header from an untrusted peer (v1 or v2) is dropped unanswered with ERR_PROXY_PROTOCOL', async (t) => {
  const ts = await proxiedServer(t, { proxyProtocol: { trusted: ['192.0.2.1', '10.0.0.0/8', '::1'] } });
  for (const header of [V1, encodeProxyHeader(CLIENT, FRONT)]) {
    const socket = await rawSocket(t, ts.port);
    socket.write(header);
    t.is((await received(socket)).length, 0, 'not a byte in answer');
  }
  await waitUntil(() => ts.seen.errors.length === 2, 'two handshakeErrors');
  for (const [error, remote] of ts.seen.errors) {
    t.is(error.code, ErrorCode.PROXY_PROTOCOL);
    t.is(error.message, 'PROXY header: sent by an address not trusted');
    t.is(remote.address, '127.0.0.1', 'reported with the socket address, not the claimed one');
  }
  t.deepEqual(ts.seen.peers, [], 'authorize never ran');
  // A plain client from the same untrusted address is served as ever.
  const session = await ts.client().connect(ts.endpoint);
  await session.write('plain');
  t.is(String(await session.read()), 'plain');
  await session.close();
  t.is(ts.seen.sessions[0]?.remoteAddress, '127.0.0.1');
});

test('a slow header times out, an oversized or malformed one is refused at once: ERR_PROXY_PROTOCOL each', async (t) => {
  const ts = await proxiedServer(t, { proxyProtocol: { trusted: ['127.0.0.1'], timeout: 300 } });
  const slow = await rawSocket(t, ts.port);
  slow.write(encodeProxyHeader(CLIENT, FRONT).subarray(0, 20));
  t.is((await received(slow)).length, 0);
  const big = await rawSocket(t, ts.port);
  big.write(Buffer.from('0d0a0d0a000d0a515549540a2111ffff', 'hex'));
  t.is((await received(big)).length, 0);
  const undefinedFamily = await rawSocket(t, ts.port);
  undefinedFamily.write(Buffer.from('0d0a0d0a000d0a515549540a2113000c', 'hex'));
  t.is((await received(undefinedFamily)).length, 0);
  await waitUntil(() => ts.seen.errors.length === 3, 'three handshakeErrors');
  t.true(ts.seen.errors.every(([e]) => e.code === ErrorCode.PROXY_PROTOCOL));
  t.deepEqual(ts.seen.errors.map(([e]) => e.message).sort(), [
    'PROXY header: no complete header within 300 ms',
    'PROXY header: v2 block of 65535 bytes (at most 1024)',
    'PROXY header: v2 family/protocol 0x13 (not one the protocol defines)',
  ]);
  await proxiedClient(t, ts, V1);
});

test("the per-address handshake cap counts the address from the header, not the proxy's", async (t) => {
  const ts = await proxiedServer(t, { maxHandshakes: 8, maxHandshakesPerAddress: 1 });
  const silent = async (address: string, port: number): Promise<Socket> => {
    const socket = await rawSocket(t, ts.port);
    socket.write(encodeProxyHeader({ address, port }, FRONT));
    return socket;
  };
  const a = await silent('192.0.2.7', 1001);
  await waitUntil(() => ts.server.handshakeCount === 1, 'A in its handshake');
  await silent('192.0.2.8', 1002);
  await waitUntil(() => ts.server.handshakeCount === 2, 'B in its handshake beside A');
  t.deepEqual(ts.seen.refused, [], 'another client behind the same proxy is not over the cap');
  const aGot = received(a);
  await silent('192.0.2.7', 1003);
  await waitUntil(() => ts.seen.refused.length === 1, 'A evicted');
  t.deepEqual(ts.seen.refused, [
    ['maxHandshakesPerAddress', { address: '192.0.2.7', port: 1001, family: 'IPv4' }],
  ]);
  t.deepEqual(await aGot, SERVER_BUSY_ALERT, 'the evicted connection got ServerBusy');
  t.is(ts.server.handshakeCount, 2);
});

test.serial('the handshake rate is counted per client address from the header', async (t) => {
  // The rate's clock stands still, so no token comes back during the test.
  const now = performance.now;
  const frozen = now.call(performance);
  performance.now = () => frozen;
  t.teardown(() => {
    performance.now = now;
  });
  const ts = await proxiedServer(t, { handshakeRate: 1, handshakeBurst: 1 });
  await proxiedClient(t, ts, encodeProxyHeader({ address: '192.0.2.7', port: 1 }, FRONT));
  await proxiedClient(t, ts, encodeProxyHeader({ address: '192.0.2.8', port: 2 }, FRONT));
  const socket = await rawSocket(t, ts.port);
  const busy = secureDuplex(
    headerFirst(socket, encodeProxyHeader({ address: '192.0.2.7', port: 3 }, FRONT)),
    {
      role: 'client',
      serverKey: ts.keys.publicKey,
    },
  );
  await t.throwsAsync(busy, { code: ErrorCode.SERVER_BUSY });
  t.deepEqual(ts.seen.refused, [['handshakeRate', { address: '192.0.2.7', port: 3, family: 'IPv4' }]]);
  t.is(ts.seen.sessions.length, 2, 'two clients behind one proxy address, one handshake each');
});

test('connections still sending their header count toward maxConnections', async (t) => {
  const ts = await proxiedServer(t, { maxConnections: 1 });
  const pending = await rawSocket(t, ts.port);
  const header = encodeProxyHeader(CLIENT, FRONT);
  pending.write(header.subarray(0, 10));
  const other = await rawSocket(t, ts.port);
  t.deepEqual(await received(other), SERVER_BUSY_ALERT);
  t.deepEqual(
    ts.seen.refused.map(([limit, remote]) => [limit, remote.address]),
    [['maxConnections', '127.0.0.1']],
  );
  pending.write(header.subarray(10));
  const session = await secureDuplex(pending, { role: 'client', serverKey: ts.keys.publicKey });
  await session.write('late');
  t.is(String(await session.read()), 'late');
  await session.close();
  t.is(ts.seen.sessions[0]?.remoteAddress, '192.0.2.7');
});

test('stop() drops connections still sending their header, without reporting them', async (t) => {
  const ts = await proxiedServer(t, { maxConnections: 1 });
  const pending = await rawSocket(t, ts.port);
  pending.write(V1.subarray(0, 8));
  const closed = received(pending);
  // Held while it sends its header: the next connection is over maxConnections.
  t.deepEqual(await received(await rawSocket(t, ts.port)), SERVER_BUSY_ALERT);
  await ts.server.stop();
  t.is((await closed).length, 0);
  t.deepEqual(ts.seen.errors, []);
});

test("'probe' and 'handshakeError' after a header name the client from the header", async (t) => {
  const ts = await proxiedServer(t);
  const probes: Array<[string, RemoteInfo]> = [];
  ts.server.on('probe', (kind, remote) => probes.push([kind, remote]));
  const prober = await rawSocket(t, ts.port);
  prober.write(
    Buffer.concat([
      encodeProxyHeader({ address: '192.0.2.20', port: 2020 }, FRONT),
      Buffer.from('010000057345735301', 'hex'), // KeyRequest
    ]),
  );
  const [answer] = (await once(prober, 'data')) as [Buffer];
  t.is(answer[0], 0x02, 'a KeyResponse');
  prober.end();
  await waitUntil(() => probes.length === 1, 'the probe event');
  t.deepEqual(probes, [['keyRequestOnly', { address: '192.0.2.20', port: 2020, family: 'IPv4' }]]);
  const garbage = await rawSocket(t, ts.port);
  garbage.write(
    Buffer.concat([
      encodeProxyHeader({ address: '2001:db8::20', port: 2021 }, FRONT),
      Buffer.from([0x7f, 0, 0, 1]),
    ]),
  );
  await waitUntil(() => ts.seen.errors.length === 1, 'the handshakeError');
  const [[error, remote]] = ts.seen.errors as [[SessionError, RemoteInfo]];
  t.is(error.code, ErrorCode.HANDSHAKE);
  t.deepEqual(remote, { address: '2001:db8::20', port: 2021, family: 'IPv6' });
});
