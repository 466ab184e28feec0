/**
 * DatagramServer and DatagramClient over real UDP on 127.0.0.1 and ::1 (PROTOCOL.md Part
 * II): handshake and messages both ways, every suite, trust (pinned key, tofu, strict),
 * stop() semantics, socket setup and its errors.
 */
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { ALL_SUITES, DatagramClient, DatagramServer, ErrorCode, TimeoutError } from '../src/index.js';
import type { DatagramSession, SessionError } from '../src/index.js';
import { DatagramClientHandshake } from '../src/protocol/datagram/client-handshake.js';
import { runAttempt } from '../src/datagram/client-attempt.js';
import { connectSocket } from '../src/datagram/datagram-socket.js';
import { parseEndpoint } from '../src/common/endpoint.js';
import { echoServer, nextMessage, otherKeys, serverKeys } from './helpers/dgram-net.js';
import type { Host } from './helpers/dgram-net.js';
import { ipv6Available, waitUntil } from './helpers/net.js';
import { startUdpProxy } from './helpers/udp-proxy.js';
import { PacketType } from '../src/protocol/datagram/constants.js';

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'secsess-dgram-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function roundTrip(t: ExecutionContext, session: DatagramSession, text: string): Promise<void> {
  const reply = nextMessage(session);
  t.true(session.send(text));
  t.is(String(await reply), text);
}

for (const host of ['127.0.0.1', '::1'] as Host[]) {
  test(`a client connects over ${host}, messages go both ways, and the server sees the client's address`, async (t) => {
    if (host === '::1' && !(await ipv6Available())) return t.pass('no IPv6 on this machine');
    const { server, endpoint, sessions } = await echoServer(t, host);
    t.is(server.address!.host, host);
    t.true(server.address!.port > 0);
    const session = await DatagramClient.create(serverKeys.publicKey).connect(endpoint);
    t.teardown(() => session.destroy());
    for (let i = 0; i < 10; i++) await roundTrip(t, session, `message ${i}`);
    await waitUntil(() => sessions.length === 1, 'the server has the session');
    const accepted = sessions[0]!;
    t.is(accepted.remoteAddress, host);
    t.is(accepted.remoteFamily, host === '::1' ? 'IPv6' : 'IPv4');
    t.is(session.remoteFamily, host === '::1' ? 'IPv6' : 'IPv4');
    t.true(accepted.serverKey!.equals(serverKeys.publicKey));
    t.is(accepted.clientKey, null);
    t.is(server.sessionCount, 1);
    t.is(server.counters.decrypts, 1);
    t.is(server.workerCounts.decrypts, 1);
    // The client closes: one Close record; the server forgets the session.
    const closed = once(accepted, 'close');
    session.close(1000, 'bye');
    t.deepEqual(await closed, [1000, 'bye']);
    await waitUntil(() => server.sessionCount === 0, 'the server forgot the session');
  });
}

test('every suite completes a handshake and carries messages', async (t) => {
  const { endpoint } = await echoServer(t);
  for (const suite of ALL_SUITES) {
    const set = { asymmetric: suite.asymmetric, symmetric: suite.symmetric, hash: suite.hash };
    const session = await DatagramClient.create(serverKeys.publicKey, set).connect(endpoint);
    t.is(session.suite.symmetric, suite.symmetric);
    t.is(session.suite.hash, suite.hash);
    await roundTrip(t, session, `over ${suite.symmetric}/${suite.hash}`);
    session.close();
  }
});

test('a second connect() to the same server reuses the cookie: the server sends no Cookie', async (t) => {
  const { server, endpoint } = await echoServer(t);
  const client = DatagramClient.create(serverKeys.publicKey);
  const first = await client.connect(endpoint);
  first.close();
  // One Cookie (more only if a Hello was retransmitted before it came back).
  const cookies = server.counters.cookies;
  t.true(cookies >= 1);
  const second = await client.connect(endpoint);
  t.is(server.counters.cookies, cookies);
  await roundTrip(t, second, 'again');
  second.close();
});

test('after a refused connect(), the next one to that server reuses its cookie', async (t) => {
  const { server, endpoint } = await echoServer(t);
  const wrong = DatagramClient.create(otherKeys.publicKey);
  await t.throwsAsync(wrong.connect(endpoint), { code: ErrorCode.SERVER_KEY_MISMATCH });
  const cookies = server.counters.cookies;
  t.true(cookies >= 1);
  await t.throwsAsync(wrong.connect(endpoint), { code: ErrorCode.SERVER_KEY_MISMATCH });
  t.is(server.counters.cookies, cookies);
});

test('a pinned key the server does not hold fails with ERR_SERVER_KEY_MISMATCH and no RSA', async (t) => {
  const { server, endpoint } = await echoServer(t);
  const errors: SessionError[] = [];
  server.on('handshakeError', (e) => errors.push(e));
  await t.throwsAsync(DatagramClient.create(otherKeys.publicKey).connect(endpoint), {
    code: ErrorCode.SERVER_KEY_MISMATCH,
  });
  t.is(server.counters.decrypts, 0);
  t.is(server.workerCounts.decrypts, 0);
});

test('a server accepting only GCM refuses a CBC client with ERR_SUITE_MISMATCH', async (t) => {
  const server = DatagramServer.create(
    '127.0.0.1:0',
    serverKeys.privateKey,
    { symmetric: 'AES-256-GCM' },
    {
      workers: 0,
    },
  );
  server.on('handshakeError', () => {});
  server.on('session', () => {});
  await server.start();
  t.teardown(() => server.stop());
  await t.throwsAsync(DatagramClient.create(serverKeys.publicKey).connect(server.address!), {
    code: ErrorCode.SUITE_MISMATCH,
  });
  const gcm = await DatagramClient.create(serverKeys.publicKey, { symmetric: 'AES-256-GCM' }).connect(
    server.address!,
  );
  gcm.close();
  t.pass();
});

test('tofu records the server key on first contact; strict trust then connects with it', async (t) => {
  const { endpoint, server } = await echoServer(t);
  const knownHosts = join(await tempDir(t), 'known_hosts');
  const first = await DatagramClient.create(null, {}, { trust: 'tofu', knownHosts }).connect(endpoint);
  await roundTrip(t, first, 'tofu');
  first.close();
  const file = await readFile(knownHosts, 'utf8');
  t.true(file.includes(`[127.0.0.1]:${server.address!.port}`));
  t.true(file.includes(serverKeys.publicKey.toOpenSSH().split(' ')[1]!));
  const strict = await DatagramClient.create(null, {}, { trust: 'strict', knownHosts }).connect(endpoint);
  await roundTrip(t, strict, 'strict');
  strict.close();
  t.is(await readFile(knownHosts, 'utf8'), file);
});

test('strict trust refuses an unknown host with ERR_HOST_UNKNOWN naming the fingerprint, and writes nothing', async (t) => {
  const { server, endpoint } = await echoServer(t);
  const knownHosts = join(await tempDir(t), 'known_hosts');
  const err = await t.throwsAsync(
    DatagramClient.create(null, {}, { trust: 'strict', knownHosts }).connect(endpoint),
    { code: 'ERR_HOST_UNKNOWN' },
  );
  t.true(err!.message.includes(serverKeys.publicKey.fingerprint()));
  // The client asked for the key and stopped there: no Hello reached RSA.
  t.is(server.counters.decrypts, 0);
  t.is(server.counters.keyResponses, 1);
  await t.throwsAsync(readFile(knownHosts, 'utf8'));
});

test('a host whose key changed fails with ERR_HOST_KEY_CHANGED under tofu and strict', async (t) => {
  const first = await echoServer(t);
  const knownHosts = join(await tempDir(t), 'known_hosts');
  (await DatagramClient.create(null, {}, { trust: 'tofu', knownHosts }).connect(first.endpoint)).close();
  const before = await readFile(knownHosts, 'utf8');
  const port = first.server.address!.port;
  await first.server.stop();
  const impostor = DatagramServer.create(`127.0.0.1:${port}`, otherKeys.privateKey, undefined, {
    workers: 0,
  });
  impostor.on('handshakeError', () => {});
  await impostor.start();
  t.teardown(() => impostor.stop());
  for (const trust of ['tofu', 'strict'] as const) {
    await t.throwsAsync(DatagramClient.create(null, {}, { trust, knownHosts }).connect(first.endpoint), {
      code: 'ERR_HOST_KEY_CHANGED',
    });
  }
  t.is(await readFile(knownHosts, 'utf8'), before);
});

test('stop() closes every session with 1001, closes the socket, emits close, and may start again', async (t) => {
  const { server, endpoint } = await echoServer(t);
  const client = DatagramClient.create(serverKeys.publicKey);
  const a = await client.connect(endpoint);
  const b = await client.connect(endpoint);
  await roundTrip(t, a, 'a');
  await roundTrip(t, b, 'b');
  const port = server.address!.port;
  const closes = Promise.all([once(a, 'close'), once(b, 'close')]);
  a.on('error', () => {});
  b.on('error', () => {});
  const serverClosed = once(server, 'close');
  await server.stop();
  await serverClosed;
  t.is(server.address, null);
  t.false(server.listening);
  t.is(server.sessionCount, 0);
  const codes = (await closes).map(([code]) => code as number);
  t.deepEqual(codes, [1001, 1001]);
  // The port is free again: another socket can bind it.
  const probe = createSocket('udp4');
  await new Promise<void>((resolve) => probe.bind(port, '127.0.0.1', resolve));
  probe.close();
  await server.start();
  const again = await client.connect(server.address!);
  await roundTrip(t, again, 'restarted');
  again.close();
  await server.stop();
  await server.stop();
});

test('start() twice is ERR_INVALID_STATE; a port in use is ERR_TRANSPORT with the system code', async (t) => {
  const { server } = await echoServer(t);
  await t.throwsAsync(server.start(), { code: ErrorCode.INVALID_STATE });
  const taken = DatagramServer.create(server.address!, serverKeys.privateKey, undefined, { workers: 0 });
  const err = await t.throwsAsync(taken.start(), { code: ErrorCode.TRANSPORT });
  t.is((err!.cause as NodeJS.ErrnoException).code, 'EADDRINUSE');
  t.false(taken.listening);
});

test("a 'listening' event follows start(), with the bound address", async (t) => {
  const server = DatagramServer.create('127.0.0.1:0', serverKeys.privateKey, undefined, { workers: 0 });
  let seen: unknown = null;
  server.on('listening', () => (seen = server.address));
  await server.start();
  t.teardown(() => server.stop());
  t.deepEqual(seen, server.address);
  t.true(server.listening);
});

test('a client with no server answering fails with TimeoutError after handshakeTimeout', async (t) => {
  // A bound socket that never answers (no ICMP either).
  const silent = createSocket('udp4');
  await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
  t.teardown(() => silent.close());
  let packets = 0;
  silent.on('message', () => packets++);
  const err = await t.throwsAsync(
    DatagramClient.create(serverKeys.publicKey, {}, { handshakeTimeout: 1000 }).connect(
      `127.0.0.1:${silent.address().port}`,
    ),
    { code: ErrorCode.TIMEOUT },
  );
  t.true(err instanceof TimeoutError);
  t.is((err as TimeoutError).limit, 'handshake');
  // The first Hello and at least one retransmission (at 400 ms).
  t.true(packets >= 2);
});

test('a client connecting to a closed UDP port fails with ERR_TRANSPORT (ECONNREFUSED), not at its handshake timeout', async (t) => {
  // A port that was just bound and closed: nobody listens, the kernel answers ICMP.
  const probe = createSocket('udp4');
  await new Promise<void>((resolve) => probe.bind(0, '127.0.0.1', resolve));
  const port = probe.address().port;
  await new Promise<void>((resolve) => probe.close(resolve));
  const client = DatagramClient.create(serverKeys.publicKey, {}, { handshakeTimeout: 30_000 });
  const err = await t.throwsAsync(client.connect(`127.0.0.1:${port}`), { code: ErrorCode.TRANSPORT });
  t.is((err!.cause as NodeJS.ErrnoException).code, 'ECONNREFUSED');
});

test('a server gone after its ServerHello fails connect() with ERR_TRANSPORT (ECONNREFUSED) at the next resend, not at the handshake timeout', async (t) => {
  const { server } = await echoServer(t);
  // A relay that passes the handshake up to the ServerHello, then drops the ClientFinished
  // and closes its port: the client's resends meet ICMP port unreachable.
  let serverHello = false;
  let closing: Promise<void> | null = null;
  const proxy = await startUdpProxy({
    target: { address: '127.0.0.1', port: server.address!.port },
    tamper: (d, link) => {
      if (d.direction === 's2c') {
        if (d.data[0] === PacketType.ServerHello) serverHello = true;
        link.forward();
      } else if (!serverHello) link.forward();
      else closing ??= proxy.close();
    },
  });
  t.teardown(() => closing ?? proxy.close());
  const client = DatagramClient.create(serverKeys.publicKey, {}, { handshakeTimeout: 30_000 });
  const err = await t.throwsAsync(client.connect(proxy.endpoint), { code: ErrorCode.TRANSPORT });
  t.true(serverHello);
  t.is((err!.cause as NodeJS.ErrnoException).code, 'ECONNREFUSED');
});

test("a server that goes quiet after its ServerHello costs connect() the client's handshakeTimeout, not the session's 10 s default", async (t) => {
  const { server } = await echoServer(t);
  // The relay drops every ClientFinished but keeps its port open: no ICMP, only silence.
  let serverHello = false;
  const proxy = await startUdpProxy({
    target: { address: '127.0.0.1', port: server.address!.port },
    tamper: (d, link) => {
      if (d.direction === 's2c' && d.data[0] === PacketType.ServerHello) serverHello = true;
      if (d.direction === 's2c' || !serverHello) link.forward();
    },
  });
  t.teardown(() => proxy.close());
  const client = DatagramClient.create(serverKeys.publicKey, {}, { handshakeTimeout: 11_000 });
  const err = await t.throwsAsync(client.connect(proxy.endpoint), { instanceOf: TimeoutError });
  t.true(serverHello);
  t.is((err as TimeoutError).limit, 'handshake');
  // The limit the error names is the one the client was given.
  t.regex(err!.message, /after 11000 ms/);
});

test('one ECONNREFUSED followed by a valid answer does not end the handshake (a forged ICMP is not enough)', async (t) => {
  const { endpoint } = await echoServer(t);
  const { socket } = await connectSocket(parseEndpoint(endpoint));
  t.teardown(() => socket.close());
  // Right before the server's first answer reaches the attempt, the socket reports a refusal.
  let forged = false;
  socket.prependListener('message', () => {
    if (forged) return;
    forged = true;
    socket.emit('error', Object.assign(new Error('recvmsg ECONNREFUSED'), { code: 'ECONNREFUSED' }));
  });
  const hs = new DatagramClientHandshake({ serverKey: serverKeys.publicKey });
  const opened = await runAttempt(socket, hs, () => Promise.resolve(), undefined);
  t.true(forged);
  t.is(opened.result.info.suite.symmetric, 'AES-256-CBC');
  opened.result.outbound.destroy();
  opened.result.inbound.destroy();
});

test('connect() rejects with ERR_ABORTED when its signal aborts', async (t) => {
  const silent = createSocket('udp4');
  await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
  t.teardown(() => silent.close());
  const controller = new AbortController();
  const connecting = DatagramClient.create(serverKeys.publicKey).connect(
    `127.0.0.1:${silent.address().port}`,
    {
      signal: controller.signal,
    },
  );
  await once(silent, 'message');
  controller.abort();
  await t.throwsAsync(connecting, { code: ErrorCode.ABORTED });
});

test('connect() waits for the server to hold the session; an abort while it decides rejects with ERR_ABORTED', async (t) => {
  let decide: (allow: boolean) => void = () => {};
  let asked = 0;
  const { server, endpoint } = await echoServer(t, '127.0.0.1', {
    authorize: () => {
      asked++;
      return new Promise<boolean>((resolve) => (decide = resolve));
    },
  });
  const client = DatagramClient.create(serverKeys.publicKey);
  const controller = new AbortController();
  const aborted = client.connect(endpoint, { signal: controller.signal });
  await waitUntil(() => asked === 1, 'the hook was asked');
  controller.abort();
  await t.throwsAsync(aborted, { code: ErrorCode.ABORTED });
  decide(true);
  // Once the hook allows, connect() resolves: the server holds the session by then.
  const connecting = client.connect(endpoint);
  await waitUntil(() => asked === 2, 'the hook was asked again');
  t.is(server.sessionCount, 1);
  decide(true);
  const session = await connecting;
  t.is(server.sessionCount, 2);
  await roundTrip(t, session, 'allowed');
  session.close();
});

for (const replay of ['window', 'increasing', 'sequential'] as const) {
  test(`a client in '${replay}' mode gets every echo over a clean link, with no gap counted`, async (t) => {
    const { endpoint } = await echoServer(t);
    const session = await DatagramClient.create(serverKeys.publicKey, {}, { replay }).connect(endpoint);
    for (let i = 0; i < 5; i++) await roundTrip(t, session, `${replay} ${i}`);
    t.is(session.counters.gaps, 0);
    t.is(session.counters.outOfSequence, 0);
    t.is(session.counters.delivered, 5);
    session.close();
  });
}

test("connect() is not fooled by another session's records reaching its port: it waits for its own server session", async (t) => {
  let decide: (allow: boolean) => void = () => {};
  let asked = 0;
  const { endpoint, sessions } = await echoServer(t, '127.0.0.1', {
    keepAliveInterval: 50,
    idleTimeout: 60_000,
    authorize: () => {
      asked++;
      if (asked === 1) return true;
      return new Promise<boolean>((resolve) => (decide = resolve));
    },
  });
  const client = DatagramClient.create(serverKeys.publicKey);
  // A session whose client vanishes without a Close: the server's side lives on and pings
  // the client's old port, which the next connect() binds again (its cookie is for it).
  const first = await client.connect(endpoint);
  await waitUntil(() => sessions.length === 1, 'the server has the first session');
  const port = sessions[0]!.remotePort;
  first.destroy();
  let settled = false;
  const connecting = client.connect(endpoint).finally(() => (settled = true));
  await waitUntil(() => asked === 2, 'the second handshake reached the hook');
  const old = sessions[0]!;
  t.is(old.remotePort, port);
  const pings = old.counters.pingsSent;
  await waitUntil(() => old.counters.pingsSent >= pings + 3, 'the old session pinged the port thrice');
  t.false(settled);
  decide(true);
  const second = await connecting;
  t.is(sessions[1]!.remotePort, port, 'the second session uses the same port');
  await roundTrip(t, second, 'mine');
  second.close();
});
