/**
 * A man in the middle, a replayed recording, resets and half-open sockets, against a real
 * server in a child process while legitimate clients use it at the same time. Each attack
 * must fail the attacked session with the right code, leave the others untouched, and
 * leave the server's memory where it was.
 */
import { once } from 'node:events';
import type { Socket } from 'node:net';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { Client, ErrorCode, SessionError, secureDuplex } from '../src/index.js';
import type { Session } from '../src/index.js';
import { legitClients, outcome, rawFrom, retrySummary, sendHello, validHello } from './helpers/attackers.js';
import { fixtureKeys } from './helpers/keys.js';
import { flipped, onFrame, onRecord, passThrough, startProxy } from './helpers/mitm-proxy.js';
import type { Proxy, Tamper } from './helpers/mitm-proxy.js';
import { numbered } from './helpers/net.js';
import { mib, startServerProcess } from './helpers/server-process.js';
import type { PortRecord, ProbeStats, ServerProcess } from './helpers/server-process.js';

// One server for the file; the tests take turns so each one's effect is seen alone.
let server!: ServerProcess;
let baseline!: ProbeStats;
const publicKey = fixtureKeys().publicKey;
/** Heap growth after GC that would mean an attack left something behind. Loose on purpose. */
const HEAP_SLACK = 16 * 1024 * 1024;

test.before(async () => {
  // One server for every test, all from 127.0.0.1: the per-source rate is not what these test.
  server = await startServerProcess({ handshakeTimeout: 5000, workers: 1, handshakeRate: 0 });
  baseline = await server.stats();
});

test.after.always(async (t) => {
  if (!server) return;
  const final = await server.stop();
  server.kill();
  t.log(
    `server heap ${mib(baseline.heapUsed)} → ${mib(final.heapUsed)}, rss ${mib(baseline.rss)} → ${mib(final.rss)}`,
  );
});

/** Runs `attack` while four legitimate clients echo 20 messages each; returns what the server saw. */
async function during(t: ExecutionContext, attack: () => Promise<void>): Promise<ProbeStats> {
  const legit = legitClients(server.endpoint, 4, { messages: 20 });
  await attack();
  const results = await legit;
  t.log(retrySummary(results));
  const stats = await server.stats();
  t.deepEqual(stats.findings, []);
  t.true(
    stats.heapUsed < baseline.heapUsed + HEAP_SLACK,
    `server heap ${mib(stats.heapUsed)} (baseline ${mib(baseline.heapUsed)})`,
  );
  return stats;
}

/** What the server recorded for the connection the proxy made. */
async function seenBy(proxy: Proxy, n = 0): Promise<PortRecord> {
  const port = proxy.upstreamPorts[n]!;
  for (let i = 0; i < 500; i++) {
    const record = (await server.stats()).ports[port];
    if (record && (record.error || record.handshake)) return record;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`the server never reported on port ${port}`);
}

/** Connects through a proxy that applies `tamper`. */
async function throughProxy(
  t: ExecutionContext,
  tamper: Tamper,
): Promise<{ proxy: Proxy; session: Session }> {
  const proxy = await startProxy(server.port, tamper);
  t.teardown(() => proxy.close());
  const session = await Client.create(publicKey).connect(proxy.endpoint);
  return { proxy, session };
}

/** Reads until the session fails; returns the messages read before and the error. */
async function readUntilError(session: Session): Promise<{ messages: Buffer[]; error: SessionError }> {
  const messages: Buffer[] = [];
  for (;;) {
    try {
      const m = await session.read();
      if (m === null) throw new Error('the session ended normally');
      messages.push(m);
    } catch (error) {
      if (!(error instanceof SessionError)) throw error;
      return { messages, error };
    }
  }
}

// Record 0 in each direction is the Finished message; application data starts at record 1.
const FIRST_DATA = 1;

test.serial(
  'a bit flipped in a client record: both sides fail with ERR_RECORD_AUTH, nothing is delivered',
  async (t) => {
    await during(t, async () => {
      const { proxy, session } = await throughProxy(
        t,
        onRecord('c2s', FIRST_DATA, (f, link) => link.forward(flipped(f.frame, 20))),
      );
      await session.write('tampered on the way');
      const { messages, error } = await readUntilError(session);
      t.deepEqual(messages, []);
      t.is(error.code, ErrorCode.RECORD_AUTH);
      const seen = await seenBy(proxy);
      t.is(seen.error, ErrorCode.RECORD_AUTH);
      t.is(seen.messages, 0);
    });
  },
);

test.serial('a bit flipped in a server record: the client rejects it and tells the server', async (t) => {
  await during(t, async () => {
    const { proxy, session } = await throughProxy(
      t,
      onRecord('s2c', FIRST_DATA, (f, link) => link.forward(flipped(f.frame, f.frame.length - 1, 7))),
    );
    await session.write('echo me');
    const { messages, error } = await readUntilError(session);
    t.deepEqual(messages, []);
    t.is(error.code, ErrorCode.RECORD_AUTH);
    const seen = await seenBy(proxy);
    t.is(seen.error, ErrorCode.RECORD_AUTH, 'the server heard the client’s alert');
    t.is(seen.messages, 1);
  });
});

test.serial('a record truncated and the connection ended: ERR_TRUNCATED at the server', async (t) => {
  await during(t, async () => {
    const { proxy, session } = await throughProxy(
      t,
      onRecord('c2s', FIRST_DATA, (f, link) => {
        link.forward(f.frame.subarray(0, f.frame.length >> 1));
        link.end();
      }),
    );
    await session.write(numbered(1, 4000));
    const { error } = await readUntilError(session);
    t.is(error.code, ErrorCode.TRUNCATED);
    const seen = await seenBy(proxy);
    t.is(seen.error, ErrorCode.TRUNCATED);
    t.is(seen.messages, 0);
  });
});

test.serial('a record duplicated: delivered once, the copy fails with ERR_RECORD_AUTH', async (t) => {
  await during(t, async () => {
    const { proxy, session } = await throughProxy(
      t,
      onRecord('c2s', FIRST_DATA, (f, link) => {
        link.forward(f.frame);
        link.forward(f.frame);
      }),
    );
    const message = numbered(2, 100);
    await session.write(message);
    const { messages, error } = await readUntilError(session);
    t.true(messages.length <= 1 && messages.every((m) => m.equals(message)));
    t.is(error.code, ErrorCode.RECORD_AUTH);
    const seen = await seenBy(proxy);
    t.is(seen.error, ErrorCode.RECORD_AUTH);
    t.is(seen.messages, 1);
  });
});

test.serial(
  'records reordered: the first out of place fails with ERR_RECORD_AUTH, nothing is delivered',
  async (t) => {
    let held: Buffer | null = null;
    const swap: Tamper = (f, link) => {
      if (f.direction === 'c2s' && f.record === FIRST_DATA) {
        held = f.frame;
        return;
      }
      link.forward(f.frame);
      if (f.direction === 'c2s' && f.record === FIRST_DATA + 1) link.forward(held!);
    };
    await during(t, async () => {
      const { proxy, session } = await throughProxy(t, swap);
      await session.write('one');
      await session.write('two');
      const { messages, error } = await readUntilError(session);
      t.deepEqual(messages, []);
      t.is(error.code, ErrorCode.RECORD_AUTH);
      const seen = await seenBy(proxy);
      t.is(seen.error, ErrorCode.RECORD_AUTH);
      t.is(seen.messages, 0);
    });
  },
);

test.serial('a record dropped: the next one fails with ERR_RECORD_AUTH', async (t) => {
  await during(t, async () => {
    const { proxy, session } = await throughProxy(
      t,
      onRecord('c2s', FIRST_DATA, () => {}),
    );
    await session.write('lost');
    await session.write('after the gap');
    const { messages, error } = await readUntilError(session);
    t.deepEqual(messages, []);
    t.is(error.code, ErrorCode.RECORD_AUTH);
    const seen = await seenBy(proxy);
    t.is(seen.error, ErrorCode.RECORD_AUTH);
    t.is(seen.messages, 0);
  });
});

test.serial('a client record reflected back to the client fails there with ERR_RECORD_AUTH', async (t) => {
  await during(t, async () => {
    const { proxy, session } = await throughProxy(
      t,
      onRecord('c2s', FIRST_DATA, (f, link) => link.reflect(f.frame)),
    );
    await session.write('mirror');
    const { messages, error } = await readUntilError(session);
    t.deepEqual(messages, []);
    t.is(error.code, ErrorCode.RECORD_AUTH);
    const seen = await seenBy(proxy);
    t.is(seen.error, ErrorCode.RECORD_AUTH, 'the server heard the client’s alert');
    t.is(seen.messages, 0);
  });
});

test.serial(
  'a bit flipped in the ServerHello: the client refuses the proof, the server reports ERR_HANDSHAKE',
  async (t) => {
    await during(t, async () => {
      // Frame 0 from the server is its hello; byte 12 is the first of server_random.
      const proxy = await startProxy(
        server.port,
        onFrame('s2c', 0, (f, link) => link.forward(flipped(f.frame, 12))),
      );
      t.teardown(() => proxy.close());
      const err = await t.throwsAsync(Client.create(publicKey).connect(proxy.endpoint), {
        instanceOf: SessionError,
      });
      t.is(err?.code, ErrorCode.HANDSHAKE);
      t.is(err?.message, 'handshake: server proof did not verify');
      const seen = await seenBy(proxy);
      t.is(seen.handshake, ErrorCode.HANDSHAKE);
      t.not(seen.established, true);
    });
  },
);

test.serial(
  'a reset in the middle of a record fails only that session (ERR_TRANSPORT or ERR_TRUNCATED)',
  async (t) => {
    await during(t, async () => {
      const { proxy, session } = await throughProxy(
        t,
        onRecord('c2s', FIRST_DATA, (f, link) => {
          link.forward(f.frame.subarray(0, 30));
          setTimeout(() => link.reset(), 20);
        }),
      );
      await session.write(numbered(3, 10_000));
      const { error } = await readUntilError(session);
      t.true([ErrorCode.TRANSPORT, ErrorCode.TRUNCATED].includes(error.code as never), error.code);
      const seen = await seenBy(proxy);
      t.true([ErrorCode.TRANSPORT, ErrorCode.TRUNCATED].includes(seen.error as never), seen.error);
      t.is(seen.messages, 0);
    });
  },
);

test.serial('a recorded session replayed into a new connection never opens: ERR_HANDSHAKE', async (t) => {
  // Record a whole, genuine session through a passive proxy.
  const proxy = await startProxy(server.port, passThrough);
  t.teardown(() => proxy.close());
  const session = await Client.create(publicKey).connect(proxy.endpoint);
  for (let i = 0; i < 3; i++) {
    await session.write(numbered(i, 500));
    t.true((await session.read())?.equals(numbered(i, 500)));
  }
  await session.close();
  t.is(session.closeCode, 1000);
  const [hello, ...rest] = proxy.recorded[0]!.c2s;
  const before = (await server.stats()).messages;
  await during(t, async () => {
    // All at once: the records arrive before the server has answered the hello.
    const replay = await rawFrom(server.port);
    const port = replay.localPort!;
    const seen = outcome(replay);
    replay.write(Buffer.concat([hello!, ...rest]));
    await seen;
    // Paced like the original: the server answers (fresh random, fresh key share), and
    // the recorded ClientFinished does not open under the keys of this new handshake.
    const paced = await rawFrom(server.port);
    const pacedPort = paced.localPort!;
    const pacedSeen = outcome(paced);
    await sendHello(paced, hello!);
    paced.write(Buffer.concat(rest));
    const { received } = await pacedSeen;
    t.is(received[0], 0x04, 'a ServerHello');
    const { ports } = await server.stats();
    for (const p of [port, pacedPort]) {
      t.is(ports[p]?.handshake, ErrorCode.HANDSHAKE);
      t.not(ports[p]?.established, true);
    }
  });
  const after = await server.stats();
  t.is(after.messages - before, 4 * 20, 'only the legitimate clients’ messages arrived');
});

test.serial(
  'a client that ends its write side mid-handshake is failed at once, not left half-open',
  async (t) => {
    await during(t, async () => {
      const socket = await rawFrom(server.port, { allowHalfOpen: true });
      const port = socket.localPort!;
      const seen = outcome(socket);
      await sendHello(socket, validHello());
      socket.end();
      const { received } = await seen;
      t.is(received[0], 0x04);
      const record = (await server.stats()).ports[port];
      t.is(record?.handshake, ErrorCode.HANDSHAKE);
    });
    t.is((await server.stats()).handshakeCount, 0);
  },
);

test.serial(
  'an established client that ends its write side without a close: ERR_TRUNCATED, then the server closes',
  async (t) => {
    await during(t, async () => {
      const socket: Socket = await rawFrom(server.port, { allowHalfOpen: true });
      const port = socket.localPort!;
      const closed = once(socket, 'close');
      const session = await secureDuplex(socket, { role: 'client', serverKey: publicKey });
      await session.write('before the FIN');
      t.is((await session.read())?.toString(), 'before the FIN');
      // A FIN with no authenticated close: the server cannot tell it from a truncation attack.
      socket.end();
      await closed;
      let record: PortRecord | undefined;
      for (let i = 0; i < 500 && !record?.error; i++) {
        record = (await server.stats()).ports[port];
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      t.is(record?.error, ErrorCode.TRUNCATED);
      t.is(record?.messages, 1);
    });
    const stats = await server.stats();
    t.is(stats.sessionCount, 0);
  },
);
