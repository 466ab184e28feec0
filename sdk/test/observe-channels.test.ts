/**
 * The diagnostics channels of stream sessions (README "Diagnostics channels"): a subscriber
 * on every documented channel — all five tracing sub-channels included — sees real TCP
 * sessions open and close, handshakes fail, refusals, key updates and trust decisions, with
 * no secret in any payload; and with nobody subscribed, nothing is published.
 *
 * Serial: the channels are process-wide, so each test reads only its own events.
 */
import { randomBytes } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import {
  CHANNELS,
  Client,
  ErrorCode,
  Server,
  TicketStore,
  probeServerKey,
  secureDuplex,
} from '../src/index.js';
import type {
  HandshakeContext,
  KeyUpdateMessage,
  RefusedMessage,
  ServerOptions,
  Session,
  SessionCloseMessage,
  SessionOpenMessage,
  TrustMessage,
} from '../src/index.js';
import { duplexPair } from './helpers/duplex-pair.js';
import { fixtureKeys } from './helpers/keys.js';
import { rekeyingSessions } from './helpers/rekeying-sessions.js';
import { echoSessions, waitUntil } from './helpers/net.js';

const serverKeys = fixtureKeys('server-2048');
const otherKeys = fixtureKeys('other-2048');
const clientKeys = fixtureKeys('client-2048');
const SUITE = 'RSA/AES-256-CBC/SHA-256';

/** Every channel name a subscriber can use: the five of the handshake's tracing channel spelt out. */
const TRACING = ['start', 'end', 'asyncStart', 'asyncEnd', 'error'].map(
  (event) => `tracing:${CHANNELS.handshake}:${event}`,
);
const ALL = [
  CHANNELS.sessionOpen,
  CHANNELS.sessionClose,
  CHANNELS.refused,
  CHANNELS.keyUpdate,
  CHANNELS.trust,
  ...TRACING,
];

interface Event {
  readonly channel: string;
  readonly message: unknown;
}

/** Subscribes to every channel until the test ends; `stop()` unsubscribes early. */
function record(t: ExecutionContext): { events: Event[]; stop(): void } {
  const events: Event[] = [];
  const listeners = ALL.map((name) => {
    const listener = (message: unknown): void => {
      // The handshake context is one object filled in as it goes: keep what it said then.
      const copy =
        name.startsWith('tracing:') && message && typeof message === 'object'
          ? { ...(message as object) }
          : message;
      events.push({ channel: name, message: copy });
    };
    diagnostics.subscribe(name, listener);
    return [name, listener] as const;
  });
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    for (const [name, listener] of listeners) diagnostics.unsubscribe(name, listener);
  };
  t.teardown(stop);
  return { events, stop };
}

function of<T>(events: Event[], channel: string): T[] {
  return events.filter((e) => e.channel === channel).map((e) => e.message as T);
}

function tracing(events: Event[], event: string): HandshakeContext[] {
  return of<HandshakeContext>(events, `tracing:${CHANNELS.handshake}:${event}`);
}

/**
 * No payload carries key material: no Buffer, typed array or key object in any field (the
 * session and server objects, there to correlate, are not walked into, nor is the error).
 */
function assertNoSecrets(t: ExecutionContext, events: Event[]): void {
  const skip = new Set(['session', 'server', 'result', 'error']);
  for (const { channel, message } of events) {
    for (const [field, value] of Object.entries(message as object)) {
      if (skip.has(field)) continue;
      const bad =
        value !== null &&
        typeof value === 'object' &&
        (ArrayBuffer.isView(value) || value instanceof ArrayBuffer || 'keyObject' in value);
      t.false(bad, `${channel}.${field} holds binary or key data`);
      t.true(
        value === null || ['string', 'number', 'boolean', 'undefined'].includes(typeof value),
        `${channel}.${field} is a plain value`,
      );
    }
  }
}

async function echoServer(
  t: ExecutionContext,
  options: ServerOptions = {},
): Promise<{ server: Server; endpoint: string; port: number }> {
  const server = Server.create('127.0.0.1:0', serverKeys.privateKey, undefined, { workers: 0, ...options });
  server.on('handshakeError', () => {});
  server.on('refused', () => {});
  echoSessions(server);
  await server.start();
  t.teardown(() => server.stop());
  const port = server.address!.port;
  return { server, endpoint: `127.0.0.1:${port}`, port };
}

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'secsess-observe-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function roundTrip(client: Client, endpoint: string): Promise<Session> {
  const session = await client.connect(endpoint);
  await client.write('ping');
  await client.read();
  await client.close();
  return session;
}

test.serial(
  'a TCP session: the handshake traced on both sides, open, trust, close with its counts',
  async (t) => {
    const { events } = record(t);
    const { server, endpoint, port } = await echoServer(t, { authorize: () => true });
    const accepted = new Promise<Session>((resolve) => server.once('session', resolve));
    const client = Client.create(serverKeys.publicKey);
    const session = await client.connect(endpoint);
    for (let i = 0; i < 5; i++) {
      await session.write(`message ${i}`);
      t.is((await session.read())!.toString(), `message ${i}`);
    }
    const serverSession = await accepted;
    await session.close();
    await serverSession.closed;
    await waitUntil(() => of(events, CHANNELS.sessionClose).length === 2, 'both closes published');

    const fingerprint = serverKeys.publicKey.fingerprint();
    // The tracing channel: start and end at once, asyncStart and asyncEnd at the outcome, no error.
    const starts = tracing(events, 'start');
    t.deepEqual(starts.map((c) => c.role).sort(), ['client', 'server']);
    t.is(tracing(events, 'end').length, 2);
    t.is(tracing(events, 'asyncStart').length, 2);
    t.is(tracing(events, 'error').length, 0);
    const done = tracing(events, 'asyncEnd');
    t.is(done.length, 2);
    for (const c of done) {
      t.is(c.transport, 'stream');
      t.is(c.suite, SUITE);
      t.is(c.serverKey, fingerprint);
      t.is(c.clientKey, null);
      t.false(c.resumed);
      t.is(c.error, undefined);
      t.is(c.session, c.role === 'client' ? session : serverSession);
    }
    const clientTrace = done.find((c) => c.role === 'client')!;
    t.is(clientTrace.remote, endpoint);
    t.regex(clientTrace.local, /^127\.0\.0\.1:\d+$/);
    t.is(done.find((c) => c.role === 'server')!.local, endpoint);

    const opens = of<SessionOpenMessage>(events, CHANNELS.sessionOpen);
    t.is(opens.length, 2);
    const clientOpen = opens.find((m) => m.role === 'client')!;
    const serverOpen = opens.find((m) => m.role === 'server')!;
    t.like(clientOpen, {
      session,
      transport: 'stream',
      remote: endpoint,
      suite: SUITE,
      serverKey: fingerprint,
    });
    t.like(serverOpen, {
      session: serverSession,
      local: endpoint,
      remote: clientOpen.local,
      clientKey: null,
    });
    t.false(serverOpen.resumed);
    // Open comes after the trace ended, for both.
    const index = (m: unknown): number => events.findIndex((e) => e.message === m);
    t.true(index(serverOpen) > events.findIndex((e) => e.channel.endsWith(':asyncEnd')));

    const trust = of<TrustMessage>(events, CHANNELS.trust);
    t.deepEqual(trust.map((m) => `${m.role} ${m.decision} ${m.reason}`).sort(), [
      'client trusted pinned',
      'server trusted authorized',
    ]);
    t.like(
      trust.find((m) => m.role === 'client'),
      { remote: endpoint, fingerprint, transport: 'stream' },
    );
    t.like(
      trust.find((m) => m.role === 'server'),
      { remote: clientOpen.local, fingerprint: '' },
    );

    const closes = of<SessionCloseMessage>(events, CHANNELS.sessionClose);
    const clientClose = closes.find((m) => m.role === 'client')!;
    const serverClose = closes.find((m) => m.role === 'server')!;
    for (const [message, s] of [
      [clientClose, session],
      [serverClose, serverSession],
    ] as const) {
      t.like(message, { session: s, transport: 'stream', code: 1000, reason: '', error: null });
      t.true(message.durationMs >= 0);
      const stats = s.stats;
      t.like(message, {
        bytesSent: stats.bytesSent,
        bytesReceived: stats.bytesReceived,
        recordsSent: stats.recordsSent,
        recordsReceived: stats.recordsReceived,
      });
    }
    t.true(clientClose.recordsSent >= 6);
    t.is(clientClose.bytesSent, serverClose.bytesReceived);
    t.is(serverClose.bytesSent, clientClose.bytesReceived);
    t.is(clientClose.remote, endpoint);
    t.is(of(events, CHANNELS.refused).length, 0);
    t.is(port, server.address!.port);
    assertNoSecrets(t, events);
  },
);

test.serial('a failed handshake ends both traces with the coded error, and opens nothing', async (t) => {
  const { events } = record(t);
  const { endpoint } = await echoServer(t);
  await t.throwsAsync(Client.create(otherKeys.publicKey).connect(endpoint), {
    code: ErrorCode.SERVER_KEY_MISMATCH,
  });
  await waitUntil(() => tracing(events, 'asyncEnd').length === 2, 'both traces ended');
  const errors = tracing(events, 'error');
  t.deepEqual(errors.map((c) => c.role).sort(), ['client', 'server']);
  for (const c of errors) {
    t.is((c.error as { code: string }).code, ErrorCode.SERVER_KEY_MISMATCH);
    t.is(c.session, undefined);
    t.is(c.transport, 'stream');
  }
  t.is(errors.find((c) => c.role === 'client')!.remote, endpoint);
  t.is(of(events, CHANNELS.sessionOpen).length, 0);
  t.is(of(events, CHANNELS.sessionClose).length, 0);
  assertNoSecrets(t, events);
});

test.serial(
  'a connection refused by maxConnections is published with its limit; the client trace fails busy',
  async (t) => {
    const { events } = record(t);
    const { server, endpoint } = await echoServer(t, { maxConnections: 1 });
    const first = Client.create(serverKeys.publicKey);
    await first.connect(endpoint);
    t.teardown(() => first.close());
    const err = await t.throwsAsync(
      Client.create(serverKeys.publicKey, {}, { busyRetries: 0 }).connect(endpoint),
      {
        code: ErrorCode.SERVER_BUSY,
      },
    );
    t.truthy(err);
    await waitUntil(() => of(events, CHANNELS.refused).length === 1, 'the refusal published');
    const [refused] = of<RefusedMessage>(events, CHANNELS.refused);
    t.is(refused!.server, server);
    t.is(refused!.transport, 'stream');
    t.is(refused!.limit, 'maxConnections');
    t.regex(refused!.remote, /^127\.0\.0\.1:\d+$/);
    const failed = tracing(events, 'error');
    t.is(failed.length, 1);
    t.is(failed[0]!.role, 'client');
    t.is((failed[0]!.error as { code: string }).code, ErrorCode.SERVER_BUSY);
    assertNoSecrets(t, events);
  },
);

test.serial(
  'known_hosts decisions: learned on first use, then known, refused when unknown or changed',
  async (t) => {
    const { events } = record(t);
    const dir = await tempDir(t);
    const knownHosts = join(dir, 'known_hosts');
    const first = await echoServer(t);
    const fingerprint = serverKeys.publicKey.fingerprint();

    await t.throwsAsync(
      Client.create(null, {}, { trust: 'strict', knownHosts: join(dir, 'empty') }).connect(first.endpoint),
      { code: 'ERR_HOST_UNKNOWN' },
    );
    await roundTrip(Client.create(null, {}, { trust: 'tofu', knownHosts }), first.endpoint);
    await roundTrip(Client.create(null, {}, { trust: 'strict', knownHosts }), first.endpoint);
    // The same host:port now answers with another key.
    await first.server.stop();
    const impostor = Server.create(`127.0.0.1:${first.port}`, otherKeys.privateKey, undefined, {
      workers: 0,
    });
    impostor.on('handshakeError', () => {});
    impostor.on('probe', () => {});
    await impostor.start();
    t.teardown(() => impostor.stop());
    await t.throwsAsync(Client.create(null, {}, { trust: 'strict', knownHosts }).connect(first.endpoint), {
      code: 'ERR_HOST_KEY_CHANGED',
    });

    const trust = of<TrustMessage>(events, CHANNELS.trust);
    t.deepEqual(
      trust.map((m) => `${m.decision} ${m.reason} ${m.fingerprint}`),
      [
        `refused unknown-host ${fingerprint}`,
        `learned new-host ${fingerprint}`,
        `trusted known ${fingerprint}`,
        `refused changed ${otherKeys.publicKey.fingerprint()}`,
      ],
    );
    for (const m of trust) t.like(m, { role: 'client', transport: 'stream', remote: first.endpoint });
    // The refused handshakes' traces end with the trust error's code.
    t.deepEqual(
      tracing(events, 'error')
        .filter((c) => c.role === 'client')
        .map((c) => (c.error as { code: string }).code),
      ['ERR_HOST_UNKNOWN', ErrorCode.SERVER_KEY_MISMATCH],
    );
    assertNoSecrets(t, events);
  },
);

test.serial('authorization decisions: not-listed before the signature, and a hook that denies', async (t) => {
  const { events } = record(t);
  const dir = await tempDir(t);
  const authorizedKeys = join(dir, 'authorized_keys');
  await writeFile(authorizedKeys, `${clientKeys.publicKey.toOpenSSH('alice')}\n`, { mode: 0o600 });
  const listed = await echoServer(t, { authorizedKeys });
  await roundTrip(
    Client.create(serverKeys.publicKey, {}, { clientKey: clientKeys.privateKey }),
    listed.endpoint,
  );
  const stranger = Client.create(serverKeys.publicKey, {}, { clientKey: otherKeys.privateKey });
  await t.throwsAsync(async () => {
    await stranger.connect(listed.endpoint);
    await stranger.read();
  });
  const hooked = await echoServer(t, { authorize: () => false });
  const denied = Client.create(serverKeys.publicKey);
  await t.throwsAsync(async () => {
    await denied.connect(hooked.endpoint);
    await denied.read();
  });
  await waitUntil(
    () => of<TrustMessage>(events, CHANNELS.trust).filter((m) => m.role === 'server').length === 3,
    'decisions',
  );
  const decisions = of<TrustMessage>(events, CHANNELS.trust).filter((m) => m.role === 'server');
  t.deepEqual(
    decisions.map((m) => `${m.decision} ${m.reason} ${m.fingerprint}`),
    [
      `trusted authorized ${clientKeys.publicKey.fingerprint()}`,
      `refused not-listed ${otherKeys.publicKey.fingerprint()}`,
      'refused hook ',
    ],
  );
  for (const m of decisions) t.regex(m.remote, /^127\.0\.0\.1:\d+$/);
  await waitUntil(() => tracing(events, 'error').filter((c) => c.role === 'server').length === 2, 'traces');
  t.deepEqual(
    tracing(events, 'error')
      .filter((c) => c.role === 'server')
      .map((c) => (c.error as { code: string }).code),
    [ErrorCode.NOT_AUTHORIZED, ErrorCode.NOT_AUTHORIZED],
  );
  // Only the listed client's session was opened on the server.
  t.is(of<SessionOpenMessage>(events, CHANNELS.sessionOpen).filter((m) => m.role === 'server').length, 1);
  assertNoSecrets(t, events);
});

test.serial(
  'a resumed session says so in its trace and open; a key probe ends the server trace with its error',
  async (t) => {
    const { events } = record(t);
    const { endpoint } = await echoServer(t, { tickets: { keys: [randomBytes(32)] } });
    const store = new TicketStore();
    const full = await roundTrip(Client.create(serverKeys.publicKey, {}, { resumption: store }), endpoint);
    t.false(full.resumed);
    const resumed = await roundTrip(Client.create(serverKeys.publicKey, {}, { resumption: store }), endpoint);
    t.true(resumed.resumed);
    await waitUntil(() => of(events, CHANNELS.sessionOpen).length === 4, 'four opens');
    t.deepEqual(
      of<SessionOpenMessage>(events, CHANNELS.sessionOpen)
        .map((m) => `${m.resumed} ${m.role}`)
        .sort(),
      ['false client', 'false server', 'true client', 'true server'],
    );
    t.deepEqual(
      tracing(events, 'asyncEnd')
        .map((c) => `${c.resumed} ${c.role}`)
        .sort(),
      ['false client', 'false server', 'true client', 'true server'],
    );

    const before = tracing(events, 'error').length;
    t.true((await probeServerKey(endpoint)).equals(serverKeys.publicKey));
    await waitUntil(() => tracing(events, 'error').length === before + 1, 'the probe traced');
    const probe = tracing(events, 'error').at(-1)!;
    t.is(probe.role, 'server');
    // The client took the key and hung up: what ended the handshake (the server's 'probe').
    t.true(
      ([ErrorCode.HANDSHAKE, ErrorCode.TRANSPORT] as string[]).includes(
        (probe.error as { code: string }).code,
      ),
    );
    t.is(of(events, CHANNELS.sessionOpen).length, 4);
    assertNoSecrets(t, events);
  },
);

test.serial(
  'every KeyUpdate is published, sent and received, with each direction’s generation',
  async (t) => {
    const { events } = record(t);
    const [client, server] = await rekeyingSessions(t, 4);
    for (let i = 0; i < 10; i++) {
      await client.write(`m${i}`);
      t.is((await server.read())!.toString(), `m${i}`);
    }
    // 10 records under a budget of 4: the client's keys moved twice.
    await waitUntil(() => of(events, CHANNELS.keyUpdate).length === 4, 'four key updates');
    const updates = of<KeyUpdateMessage>(events, CHANNELS.keyUpdate);
    t.deepEqual(
      updates.map((m) => `${m.role} ${m.direction} ${m.generation}`),
      ['client send 1', 'server receive 1', 'client send 2', 'server receive 2'],
    );
    for (const m of updates) {
      t.is(m.transport, 'stream');
      t.is(m.session, m.role === 'client' ? client : server);
    }
    // Sessions made outside Server/Client/secureDuplex are never handed on: no open, no close.
    await client.close();
    t.is(of(events, CHANNELS.sessionOpen).length, 0);
    t.is(of(events, CHANNELS.sessionClose).length, 0);
    assertNoSecrets(t, events);
  },
);

test.serial('secureDuplex sessions are traced, opened and closed, without addresses', async (t) => {
  const { events } = record(t);
  const [a, b] = duplexPair();
  const [client, server] = await Promise.all([
    secureDuplex(a, { role: 'client', serverKey: serverKeys.publicKey }),
    secureDuplex(b, { role: 'server', keys: serverKeys.privateKey }),
  ]);
  await client.write('over a pipe');
  t.is((await server.read())!.toString(), 'over a pipe');
  await client.close();
  await server.closed;
  const opens = of<SessionOpenMessage>(events, CHANNELS.sessionOpen);
  t.deepEqual(opens.map((m) => m.role).sort(), ['client', 'server']);
  for (const m of opens) t.like(m, { transport: 'stream', local: '', remote: '', suite: SUITE });
  t.deepEqual(
    of<SessionCloseMessage>(events, CHANNELS.sessionClose)
      .map((m) => `${m.role} ${m.code}`)
      .sort(),
    ['client 1000', 'server 1000'],
  );
  t.is(tracing(events, 'asyncEnd').length, 2);
  t.deepEqual(
    of<TrustMessage>(events, CHANNELS.trust).map((m) => `${m.role} ${m.reason} ${m.remote}`),
    ['client pinned '],
  );
  assertNoSecrets(t, events);
});

test.serial('with nobody subscribed nothing is published: a subscriber that left sees nothing', async (t) => {
  const { events, stop } = record(t);
  stop();
  for (const name of ALL) t.false(diagnostics.channel(name).hasSubscribers, name);
  const { endpoint } = await echoServer(t, { authorize: () => true, maxConnections: 1 });
  const client = Client.create(serverKeys.publicKey);
  await roundTrip(client, endpoint);
  await t.throwsAsync(Client.create(otherKeys.publicKey).connect(endpoint));
  const [c, s] = await rekeyingSessions(t, 2);
  for (let i = 0; i < 4; i++) await c.write('x');
  for (let i = 0; i < 4; i++) await s.read();
  await c.close();
  t.deepEqual(events, []);
});
