/**
 * What a peer makes the protocol write obeys the session's bounds (issue 12, defect 1): an
 * authenticated peer that floods Pings and never reads the Pongs is stalled — the server
 * stops reading from it once its replies fill the transport, so TCP holds the rest of the
 * flood in the attacker's buffers — and is failed with ERR_BUFFER_FULL once it has not read
 * for `idleTimeout`, while the server's buffer for it stays small and other clients are
 * served. Before the fix every Pong went to the socket unbounded and the flood kept the
 * idle timer alive.
 */
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { ErrorCode, secureDuplex } from '../src/index.js';
import type { Session, SessionError } from '../src/index.js';
import { ClientConnection } from '../src/protocol/index.js';
import { legitClient } from './helpers/attackers.js';
import { duplexPair } from './helpers/duplex-pair.js';
import { fixtureKeys } from './helpers/keys.js';
import { startServer, waitUntil } from './helpers/net.js';
import { rawSession } from './helpers/raw-session.js';
import type { RawSession } from './helpers/raw-session.js';
import { mib, startServerProcess } from './helpers/server-process.js';

/** Most the flood may send: enough to grow an unbounded server far past the bound below. */
const FLOOD_BYTES = 24 * 1024 * 1024;
const PINGS_PER_WRITE = 1024;
/** What the server may hold for the attacker: its write high-water mark plus a read's worth of Pongs, with room. */
const BOUND = 512 * 1024;
const IDLE = 3000;

/** Waits for 'drain' at most `ms`; false if it did not come (the peer stopped reading). */
async function drained(socket: Socket, ms: number): Promise<boolean> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  try {
    await once(socket, 'drain', { signal: ac.signal });
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The flood: Pings sealed by the real core, written in batches, never a byte read back, until
 * FLOOD_BYTES are sent, `going()` says stop, or the socket has not drained five times running
 * (the server stopped reading). Returns the bytes sent.
 */
async function flood(attacker: RawSession, going: () => boolean): Promise<number> {
  let sent = 0;
  let stalls = 0;
  while (sent < FLOOD_BYTES && going() && stalls < 5) {
    attacker.collect = [];
    for (let i = 0; i < PINGS_PER_WRITE; i++) attacker.conn.ping();
    const batch = Buffer.concat(attacker.collect);
    attacker.collect = null;
    sent += batch.length;
    if (attacker.socket.write(batch)) {
      stalls = 0;
      await tick();
    } else {
      stalls = (await drained(attacker.socket, 300)) ? 0 : stalls + 1;
    }
  }
  return sent;
}

test('a peer flooding Pings without reading is stalled with a bounded buffer, then fails with ERR_BUFFER_FULL; others are served', async (t) => {
  const { server, port, endpoint } = await startServer({ idleTimeout: IDLE });
  t.teardown(() => server.stop());
  const sessions = new Map<number, Session>();
  const errors = new Map<number, string>();
  server.on('session', (session) => {
    const remote = session.remotePort!;
    sessions.set(remote, session);
    session.on('error', (err) => errors.set(remote, err.code));
    void (async () => {
      try {
        for await (const message of session) await session.write(message);
      } catch {
        // Reported through 'error'.
      }
    })();
  });

  const attacker = await rawSession(port);
  t.teardown(() => attacker.socket.destroy());
  const remote = attacker.socket.localPort!;
  await waitUntil(() => sessions.has(remote), 'the server has the attacker session');
  const victim = sessions.get(remote)!;
  let maxBuffered = 0;
  const sampler = setInterval(() => (maxBuffered = Math.max(maxBuffered, victim.bufferedAmount)), 1);
  t.teardown(() => clearInterval(sampler));

  const sent = await flood(attacker, () => {
    maxBuffered = Math.max(maxBuffered, victim.bufferedAmount);
    return victim.state === 'open';
  });
  t.log(`attacker sent ${mib(sent)} of Pings; server buffered at most ${maxBuffered} bytes for it`);
  t.true(victim.state === 'open' || errors.get(remote) === ErrorCode.BUFFER_FULL);
  t.true(maxBuffered <= BOUND, `server buffered ${maxBuffered} bytes for a peer that does not read`);

  // A legitimate client is served meanwhile.
  await legitClient(endpoint, { messages: 20 });

  // The attacker, still not reading, is failed with the coded error once idleTimeout has passed.
  await victim.closed;
  t.is(errors.get(remote), ErrorCode.BUFFER_FULL);
  t.true(maxBuffered <= BOUND, `server buffered ${maxBuffered} bytes`);
  t.is(server.sessionCount, 0);
});

test('measured in a server child process: a Ping flood without reading does not grow the server', async (t) => {
  const server = await startServerProcess({ idleTimeout: IDLE });
  t.teardown(() => server.kill());
  const before = await server.stats();
  const attacker = await rawSession(server.port);
  t.teardown(() => attacker.socket.destroy());
  const remote = String(attacker.socket.localPort);
  const sent = await flood(attacker, () => !attacker.socket.destroyed);
  const during = await server.stats();
  const grew = during.heapUsed + during.external - (before.heapUsed + before.external);
  t.log(
    `attacker sent ${mib(sent)} of Pings; server heap+external grew ${mib(grew)}, ` +
      `RSS ${mib(before.rss)} → ${mib(during.rss)}`,
  );
  t.true(grew < 4 * 1024 * 1024, `server grew ${mib(grew)}`);
  // Still not reading: the session ends with the coded error at idleTimeout.
  let ended = during;
  for (let i = 0; i < 1000 && ended.ports[remote]?.error === undefined; i++) {
    await sleep(20);
    ended = await server.stats();
  }
  t.is(ended.ports[remote]?.error, ErrorCode.BUFFER_FULL);
  const after = await server.stop();
  t.is(after.sessionCount, 0);
  t.deepEqual(after.findings, []);
});

test('Pongs count against maxBufferedAmount: one huge chunk of Pings fails the session with ERR_BUFFER_FULL', async (t) => {
  // An in-memory transport hands the whole flood over as one chunk: stopping reading cannot
  // help within it, the cap must.
  const [a, b] = duplexPair();
  t.teardown(() => {
    a.destroy();
    b.destroy();
  });
  const keys = fixtureKeys();
  const cap = 64 * 1024;
  const serving = secureDuplex(a, { role: 'server', keys: keys.privateKey, maxBufferedAmount: cap });
  // The peer: a client core over the other end, which never reads what the server writes.
  let collect: Buffer[] | null = null;
  let established!: () => void;
  const ready = new Promise<void>((resolve) => (established = resolve));
  const conn = new ClientConnection(
    {
      send: (d) => (collect ? collect.push(d) : b.write(d)),
      established: () => established(),
      message: () => {},
      peerClosed: () => {},
    },
    { serverKey: keys.publicKey },
  );
  const onData = (d: Buffer): void => conn.receive(d);
  b.on('data', onData);
  conn.start();
  const session = await serving;
  await ready;
  b.off('data', onData);
  b.pause();
  collect = [];
  for (let i = 0; i < 20_000; i++) conn.ping();
  const flood = Buffer.concat(collect);
  collect = null;
  b.write(flood);
  const outcome = await Promise.race([
    session.read().then(
      () => 'read a message',
      (err: SessionError) => err.code,
    ),
    sleep(5000).then(() => `still open, ${session.bufferedAmount} bytes buffered`),
  ]);
  t.log(`${mib(flood.length)} of Pings in one chunk`);
  t.is(outcome, ErrorCode.BUFFER_FULL);
});
