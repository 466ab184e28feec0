/**
 * The diagnostics channels of datagram sessions (README "Diagnostics channels"), over real
 * UDP on 127.0.0.1: a DatagramServer and DatagramClient session through several epochs,
 * failed handshakes, a refusal, known_hosts decisions and a §D9 channel. Every documented
 * channel is subscribed to, the five tracing ones included; only `transport: 'datagram'`
 * events are kept (the channel test's stream session publishes too).
 */
import diagnostics from 'node:diagnostics_channel';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { KnownHosts } from '@secsess/keys';
import { CHANNELS, Client, DatagramClient, ErrorCode, openDatagramChannel } from '../src/index.js';
import type {
  DatagramSession,
  HandshakeContext,
  KeyUpdateMessage,
  RefusedMessage,
  Session,
  SessionCloseMessage,
  SessionOpenMessage,
  TrustMessage,
} from '../src/index.js';
import {
  clientKeys,
  echoServer,
  handshakeUntilServerHello,
  nextMessage,
  otherKeys,
  rawPeer,
  serverKeys,
} from './helpers/dgram-net.js';
import { startDatagramServer } from './helpers/dgram.js';
import { startServer, waitUntil } from './helpers/net.js';

const TRACE_EVENTS = ['start', 'end', 'asyncStart', 'asyncEnd', 'error'] as const;
type TraceEvent = (typeof TRACE_EVENTS)[number];

/** What the subscribers saw, `transport: 'datagram'` only, in order. */
interface Seen {
  readonly open: SessionOpenMessage[];
  readonly close: SessionCloseMessage[];
  readonly refused: RefusedMessage[];
  readonly keyUpdate: KeyUpdateMessage[];
  readonly trust: TrustMessage[];
  /** Each tracing event with its context (the same object from start to asyncEnd). */
  readonly trace: { event: TraceEvent; context: HandshakeContext }[];
}

/** Subscribes to every channel until the end of the test. */
function subscribeAll(t: ExecutionContext): Seen {
  const seen: Seen = { open: [], close: [], refused: [], keyUpdate: [], trust: [], trace: [] };
  const plain: [string, unknown[]][] = [
    [CHANNELS.sessionOpen, seen.open],
    [CHANNELS.sessionClose, seen.close],
    [CHANNELS.refused, seen.refused],
    [CHANNELS.keyUpdate, seen.keyUpdate],
    [CHANNELS.trust, seen.trust],
  ];
  for (const [name, list] of plain) {
    const listener = (message: unknown): void => {
      if ((message as { transport?: string }).transport === 'datagram') list.push(message);
    };
    diagnostics.subscribe(name, listener);
    t.teardown(() => diagnostics.unsubscribe(name, listener));
  }
  const handlers = Object.fromEntries(
    TRACE_EVENTS.map((event) => [
      event,
      (context: HandshakeContext) => {
        if (context.transport === 'datagram') seen.trace.push({ event, context });
      },
    ]),
  ) as Record<TraceEvent, (context: HandshakeContext) => void>;
  const tracing = diagnostics.tracingChannel<unknown, HandshakeContext>(CHANNELS.handshake);
  tracing.subscribe(handlers);
  t.teardown(() => tracing.unsubscribe(handlers));
  return seen;
}

/** The trace of `role`'s handshakes: each context's events, in order. */
function traces(
  seen: Seen,
  role: 'client' | 'server',
): { context: HandshakeContext; events: TraceEvent[] }[] {
  const byContext = new Map<HandshakeContext, TraceEvent[]>();
  for (const { event, context } of seen.trace) {
    if (context.role !== role) continue;
    byContext.set(context, [...(byContext.get(context) ?? []), event]);
  }
  return [...byContext].map(([context, events]) => ({ context, events }));
}

/**
 * No payload carries bytes: no Buffer or typed array anywhere in it (the session or server
 * object it names is the application's own and not walked), and no key object.
 */
function assertNoSecrets(t: ExecutionContext, seen: Seen): void {
  const all: object[] = [
    ...seen.open,
    ...seen.close,
    ...seen.refused,
    ...seen.keyUpdate,
    ...seen.trust,
    ...seen.trace.map((e) => e.context),
  ];
  for (const payload of all) {
    for (const [key, value] of Object.entries(payload)) {
      if (['session', 'server', 'error', 'result'].includes(key)) continue;
      t.false(ArrayBuffer.isView(value), `${key} is no byte array`);
      t.true(
        value === null || ['string', 'number', 'boolean', 'undefined'].includes(typeof value),
        `${key} is a plain value`,
      );
    }
  }
}

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'secsess-observe-dgram-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function roundTrip(t: ExecutionContext, session: DatagramSession, text: string): Promise<void> {
  const reply = nextMessage(session);
  t.true(session.send(text));
  t.is(String(await reply), text);
}

const SUITE = 'RSA/AES-256-CBC/SHA-256';
/** Small epochs: a few records each, so a short session moves through several (§D5). */
const EPOCHS = { rekeyAfterRecords: 4, keepAliveInterval: 0 } as const;

test.serial(
  'a datagram session publishes open, its handshake trace on both sides, every epoch move each way, and close with counts both sides agree on',
  async (t) => {
    const seen = subscribeAll(t);
    const { server, endpoint, sessions } = await echoServer(t, '127.0.0.1', EPOCHS);
    const client = await DatagramClient.create(serverKeys.publicKey, {}, EPOCHS).connect(endpoint);
    t.teardown(() => client.destroy());
    for (let i = 0; i < 12; i++) await roundTrip(t, client, `message ${i}`);
    await waitUntil(() => sessions.length === 1, 'the server has the session');
    const accepted = sessions[0]!;
    const closed = once(accepted, 'close');
    client.close(1000, 'bye');
    await closed;

    // open: one per side, the server's when handed to its 'session' listeners.
    t.is(seen.open.length, 2);
    const clientOpen = seen.open.find((m) => m.role === 'client')!;
    const serverOpen = seen.open.find((m) => m.role === 'server')!;
    t.is(clientOpen.session, client);
    t.is(serverOpen.session, accepted);
    for (const m of [clientOpen, serverOpen]) {
      t.like(m, {
        transport: 'datagram',
        suite: SUITE,
        serverKey: serverKeys.publicKey.fingerprint(),
        clientKey: null,
        resumed: false,
      });
    }
    t.is(serverOpen.local, `127.0.0.1:${server.address!.port}`);
    t.is(clientOpen.remote, serverOpen.local);
    t.is(serverOpen.remote, clientOpen.local);
    t.regex(clientOpen.local, /^127\.0\.0\.1:\d+$/);

    // The handshake, traced on both sides: start and end at once, asyncStart/asyncEnd when
    // it completes, no error; the context gets the outcome.
    for (const role of ['client', 'server'] as const) {
      const [trace, ...more] = traces(seen, role);
      t.is(more.length, 0, `one ${role} trace`);
      t.deepEqual(trace!.events, ['start', 'end', 'asyncStart', 'asyncEnd']);
      t.like(trace!.context, {
        role,
        transport: 'datagram',
        suite: SUITE,
        resumed: false,
        serverKey: serverKeys.publicKey.fingerprint(),
        clientKey: null,
      });
      t.is(trace!.context.session, role === 'client' ? client : accepted);
      t.is(trace!.context.error, undefined);
      t.is(trace!.context.local, role === 'client' ? clientOpen.local : serverOpen.local);
      t.is(trace!.context.remote, role === 'client' ? clientOpen.remote : serverOpen.remote);
    }

    // Epochs: each side's sending moves are the other's receiving ones, 1, 2, 3… (§D5).
    const moves = (session: DatagramSession, direction: 'send' | 'receive'): number[] =>
      seen.keyUpdate
        .filter((m) => m.session === session && m.direction === direction)
        .map((m) => m.generation);
    const c2s = moves(client, 'send');
    const s2c = moves(accepted, 'send');
    t.true(c2s.length >= 2, `the client moved through several epochs (${c2s.join(',')})`);
    t.true(s2c.length >= 2, `the server moved through several epochs (${s2c.join(',')})`);
    t.deepEqual(
      c2s,
      c2s.map((_, i) => i + 1),
    );
    t.deepEqual(
      s2c,
      s2c.map((_, i) => i + 1),
    );
    t.deepEqual(moves(accepted, 'receive'), c2s);
    t.deepEqual(moves(client, 'receive'), s2c);
    for (const m of seen.keyUpdate) {
      t.is(m.transport, 'datagram');
      t.is(m.role, m.session === client ? 'client' : 'server');
    }

    // close: one per side, code and reason of the Close record, counts as the sessions say,
    // and what one side sent is what the other received.
    t.is(seen.close.length, 2);
    const clientClose = seen.close.find((m) => m.role === 'client')!;
    const serverClose = seen.close.find((m) => m.role === 'server')!;
    for (const [m, session] of [
      [clientClose, client],
      [serverClose, accepted],
    ] as const) {
      t.is(m.session, session);
      t.like(m, { transport: 'datagram', code: 1000, reason: 'bye', error: null });
      t.true(m.durationMs >= 0);
      const c = session.counters;
      t.like(m, {
        bytesSent: c.bytesSent,
        bytesReceived: c.bytesReceived,
        recordsSent: c.recordsSent,
        recordsReceived: c.recordsReceived,
      });
    }
    t.is(clientClose.remote, clientOpen.remote);
    t.true(clientClose.recordsSent >= 13, '12 messages and the Close');
    t.true(clientClose.bytesSent > clientClose.recordsSent * 19, 'bytes are whole packets');
    t.is(clientClose.bytesSent, serverClose.bytesReceived);
    t.is(clientClose.recordsSent, serverClose.recordsReceived);
    t.is(serverClose.bytesSent, clientClose.bytesReceived);
    t.is(serverClose.recordsSent, clientClose.recordsReceived);

    // A pinned key: the client trusted it; the server authorizes nobody (no decision).
    t.deepEqual(seen.trust, [
      {
        role: 'client',
        transport: 'datagram',
        remote: endpoint,
        fingerprint: serverKeys.publicKey.fingerprint(),
        decision: 'trusted',
        reason: 'pinned',
      },
    ]);
    t.deepEqual(seen.refused, []);
    assertNoSecrets(t, seen);
  },
);

test.serial(
  'failed handshakes end their traces with the coded error and open nothing; a refused Hello is published with its limit',
  async (t) => {
    const seen = subscribeAll(t);
    const dir = await tempDir(t);
    const authorizedKeys = join(dir, 'authorized_keys');
    await writeFile(authorizedKeys, `${clientKeys.publicKey.toOpenSSH('alice')}\n`, { mode: 0o600 });
    let deny = true;
    const { server, endpoint } = await echoServer(t, '127.0.0.1', {
      authorizedKeys,
      authorize: () => !deny,
      maxSessions: 1,
    });
    const local = `127.0.0.1:${server.address!.port}`;

    // A pinned key the server does not hold: refused at its gate (before admission: no
    // server trace), the client's trace ends with ERR_SERVER_KEY_MISMATCH.
    const wrongKey = DatagramClient.create(otherKeys.publicKey, {}, { busyRetries: 0 });
    await t.throwsAsync(wrongKey.connect(endpoint), { code: ErrorCode.SERVER_KEY_MISMATCH });
    const [mismatch] = traces(seen, 'client');
    t.deepEqual(mismatch!.events, ['start', 'end', 'error', 'asyncStart', 'asyncEnd']);
    t.like(mismatch!.context, { role: 'client', transport: 'datagram', remote: endpoint });
    t.is((mismatch!.context.error as { code?: string }).code, ErrorCode.SERVER_KEY_MISMATCH);
    t.is(traces(seen, 'server').length, 0);

    // A client key not in authorized_keys: refused before its signature is checked.
    const notListed = DatagramClient.create(serverKeys.publicKey, {}, { clientKey: otherKeys.privateKey });
    await t.throwsAsync(notListed.connect(endpoint), { code: ErrorCode.NOT_AUTHORIZED });
    // A listed key the authorize hook refuses.
    const hookClient = DatagramClient.create(serverKeys.publicKey, {}, { clientKey: clientKeys.privateKey });
    await t.throwsAsync(hookClient.connect(endpoint), { code: ErrorCode.NOT_AUTHORIZED });
    deny = false;
    await waitUntil(() => traces(seen, 'server').length === 2, 'both server traces ended');

    const serverTraces = traces(seen, 'server');
    for (const { context, events } of serverTraces) {
      t.deepEqual(events, ['start', 'end', 'error', 'asyncStart', 'asyncEnd']);
      t.like(context, { role: 'server', transport: 'datagram', local });
      t.is((context.error as { code?: string }).code, ErrorCode.NOT_AUTHORIZED);
      t.is(context.session, undefined);
    }
    const clientTraces = traces(seen, 'client');
    t.is(clientTraces.length, 3);
    for (const { context } of clientTraces.slice(1)) {
      t.is((context.error as { code?: string }).code, ErrorCode.NOT_AUTHORIZED);
    }
    t.deepEqual(
      seen.trust.map(({ role, decision, reason, fingerprint }) => ({ role, decision, reason, fingerprint })),
      [
        // The pinned key the server did not hold.
        {
          role: 'client',
          decision: 'refused',
          reason: 'pinned',
          fingerprint: otherKeys.publicKey.fingerprint(),
        },
        {
          role: 'server',
          decision: 'refused',
          reason: 'not-listed',
          fingerprint: otherKeys.publicKey.fingerprint(),
        },
        {
          role: 'server',
          decision: 'refused',
          reason: 'hook',
          fingerprint: clientKeys.publicKey.fingerprint(),
        },
      ],
    );
    for (const m of seen.trust) t.regex(m.remote, /^127\.0\.0\.1:\d+$/);
    t.is(seen.open.length, 0, 'no session opened');
    t.is(seen.close.length, 0, 'so none closed');

    // maxSessions: 1, held by one session: the next Hello is refused.
    const first = await hookClient.connect(endpoint);
    t.teardown(() => first.destroy());
    t.true(
      seen.trust.some((m) => m.role === 'server' && m.decision === 'trusted' && m.reason === 'authorized'),
    );
    const busy = DatagramClient.create(
      serverKeys.publicKey,
      {},
      { clientKey: clientKeys.privateKey, busyRetries: 0 },
    );
    await t.throwsAsync(busy.connect(endpoint), { code: ErrorCode.SERVER_BUSY });
    t.is(seen.refused.length, 1);
    const [refused] = seen.refused;
    t.is(refused!.server, server);
    t.like(refused, { transport: 'datagram', limit: 'maxSessions' });
    t.regex(refused!.remote, /^127\.0\.0\.1:\d+$/);
    t.is((traces(seen, 'client').at(-1)!.context.error as { code?: string }).code, ErrorCode.SERVER_BUSY);
    assertNoSecrets(t, seen);
  },
);

test.serial(
  'a server handshake that times out, or that the server drops as it stops, ends its trace with that error',
  async (t) => {
    const seen = subscribeAll(t);
    const { server } = await echoServer(t, '127.0.0.1', { handshakeTimeout: 1500 });
    const to = { host: '127.0.0.1', port: server.address!.port };
    const ended = (): number => traces(seen, 'server').filter((x) => x.events.includes('asyncEnd')).length;
    // Up to its ServerHello, then silence: no ClientFinished.
    await handshakeUntilServerHello(await rawPeer(t, to));
    await waitUntil(() => ended() === 1, 'the handshake timed out');
    await handshakeUntilServerHello(await rawPeer(t, to));
    t.is(server.handshakeCount, 1);
    await server.stop();
    await waitUntil(() => ended() === 2, 'the stop ended the second trace');
    const [timedOut, dropped] = traces(seen, 'server');
    for (const { events, context } of [timedOut!, dropped!]) {
      t.deepEqual(events, ['start', 'end', 'error', 'asyncStart', 'asyncEnd']);
      t.like(context, { role: 'server', transport: 'datagram' });
      t.regex(context.remote, /^127\.0\.0\.1:\d+$/);
    }
    t.like(timedOut!.context.error, { code: ErrorCode.TIMEOUT, limit: 'handshake' });
    t.like(dropped!.context.error, { code: ErrorCode.SESSION_CLOSED });
    t.like(server.metrics().handshakes, { failed: 1, failedByCode: { [ErrorCode.TIMEOUT]: 1 } });
    t.deepEqual(seen.open, []);
  },
);

test.serial(
  'known_hosts decisions of a datagram client: learned on first use, then known, refused when changed',
  async (t) => {
    const seen = subscribeAll(t);
    const dir = await tempDir(t);
    const knownHosts = join(dir, 'known_hosts');
    const { endpoint } = await echoServer(t);
    for (const trust of ['tofu', 'strict'] as const) {
      const session = await DatagramClient.create(null, {}, { trust, knownHosts }).connect(endpoint);
      session.close();
    }
    const { endpoint: other } = await echoServer(t, '127.0.0.1', {}, [otherKeys.privateKey]);
    // The same host name and port with another key: write it as that endpoint's entry.
    const store = await KnownHosts.open(knownHosts);
    const [host, port] = [
      other.slice(0, other.lastIndexOf(':')),
      Number(other.slice(other.lastIndexOf(':') + 1)),
    ];
    await store.verify(host, port, serverKeys.publicKey, 'tofu');
    await t.throwsAsync(DatagramClient.create(null, {}, { trust: 'strict', knownHosts }).connect(other), {
      code: 'ERR_HOST_KEY_CHANGED',
    });
    // One trace per attempt: the named key refused, then the server's own key judged changed.
    t.deepEqual(
      traces(seen, 'client').map(
        ({ context }) => (context.error as { code?: string } | undefined)?.code ?? null,
      ),
      [null, null, ErrorCode.SERVER_KEY_MISMATCH, 'ERR_HOST_KEY_CHANGED'],
    );
    t.deepEqual(
      seen.trust.map(({ role, transport, remote, decision, reason, fingerprint }) => ({
        role,
        transport,
        remote,
        decision,
        reason,
        fingerprint,
      })),
      [
        {
          role: 'client',
          transport: 'datagram',
          remote: endpoint,
          decision: 'learned',
          reason: 'new-host',
          fingerprint: serverKeys.publicKey.fingerprint(),
        },
        {
          role: 'client',
          transport: 'datagram',
          remote: endpoint,
          decision: 'trusted',
          reason: 'known',
          fingerprint: serverKeys.publicKey.fingerprint(),
        },
        {
          role: 'client',
          transport: 'datagram',
          remote: other,
          decision: 'refused',
          reason: 'changed',
          fingerprint: otherKeys.publicKey.fingerprint(),
        },
      ],
    );
    assertNoSecrets(t, seen);
  },
);

test.serial(
  "a stream session's datagram channel publishes open and close on both sides, with no handshake",
  async (t) => {
    const tcp = await startServer();
    t.teardown(() => tcp.server.stop());
    const dgram = await startDatagramServer(t, '127.0.0.1');
    const serverSide = new Promise<Session>((resolve) => tcp.server.once('session', resolve));
    const stream = await Client.create(tcp.keys.publicKey).connect(tcp.endpoint);
    t.teardown(() => stream.destroy());
    const streamServer = await serverSide;
    const seen = subscribeAll(t);
    const attached = dgram.attach(streamServer);
    attached.on('message', (m) => attached.send(m));
    const channel = await openDatagramChannel(stream, `127.0.0.1:${dgram.address!.port}`);
    t.teardown(() => channel.destroy());
    await roundTrip(t, channel, 'over the channel');
    const closed = once(attached, 'close');
    channel.close(1000, 'done');
    await closed;

    t.is(seen.trace.length, 0, 'no handshake to trace');
    t.deepEqual(
      seen.open.map((m) => [m.role, m.session]),
      [
        ['server', attached],
        ['client', channel],
      ],
    );
    for (const m of seen.open) {
      t.like(m, {
        transport: 'datagram',
        suite: SUITE,
        serverKey: tcp.keys.publicKey.fingerprint(),
        resumed: false,
      });
    }
    t.is(seen.open[0]!.local, `127.0.0.1:${dgram.address!.port}`);
    t.is(seen.open[1]!.remote, seen.open[0]!.local);
    const byRole = Object.fromEntries(seen.close.map((m) => [m.role, m])) as Record<
      string,
      SessionCloseMessage
    >;
    t.like(byRole.client, { transport: 'datagram', code: 1000, reason: 'done', error: null });
    t.like(byRole.server, { transport: 'datagram', code: 1000, reason: 'done', error: null });
    t.is(byRole.client!.bytesSent, byRole.server!.bytesReceived);
    t.is(byRole.client!.recordsSent, byRole.server!.recordsReceived);
    assertNoSecrets(t, seen);
  },
);

test.serial('nothing is published to a channel whose subscriber has gone', async (t) => {
  const got: unknown[] = [];
  const listener = (message: unknown): void => {
    got.push(message);
  };
  const names = [CHANNELS.sessionOpen, CHANNELS.sessionClose, CHANNELS.keyUpdate, CHANNELS.trust];
  for (const name of names) diagnostics.subscribe(name, listener);
  for (const name of names) diagnostics.unsubscribe(name, listener);
  const handlers = {
    start: listener,
    end: listener,
    asyncStart: listener,
    asyncEnd: listener,
    error: listener,
  };
  const tracing = diagnostics.tracingChannel(CHANNELS.handshake);
  tracing.subscribe(handlers);
  tracing.unsubscribe(handlers);
  const { endpoint, sessions } = await echoServer(t, '127.0.0.1', EPOCHS);
  const client = await DatagramClient.create(serverKeys.publicKey, {}, EPOCHS).connect(endpoint);
  for (let i = 0; i < 6; i++) await roundTrip(t, client, `message ${i}`);
  await waitUntil(() => sessions.length === 1, 'the server has the session');
  const closed = once(sessions[0]!, 'close');
  client.close();
  await closed;
  t.deepEqual(got, []);
});
