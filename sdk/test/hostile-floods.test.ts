/**
 * Floods against a real server in a child process, with legitimate clients using it at the
 * same time: silent connections, a slow drip, garbage, a length field claiming the maximum,
 * and ClientHellos that cost an RSA operation each. The server must refuse or time out the
 * attackers cheaply, keep serving the others, and end with the memory it started with.
 *
 * Attackers connect from other loopback addresses (127.0.1.x) so that the per-address
 * limit can tell them from the legitimate clients on 127.0.0.1.
 */
import { randomBytes } from 'node:crypto';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { ErrorCode, SessionError, secureDuplex } from '../src/index.js';
import {
  SERVER_BUSY_ALERT,
  TIMEOUT_ALERT,
  attackerAddress,
  busyCount,
  legitClients,
  loopbackAliasesWork,
  outcome,
  rawFrom,
  retrySummary,
  undecryptableHello,
  validHello,
} from './helpers/attackers.js';
import type { LegitResult, Outcome } from './helpers/attackers.js';
import { fixtureKeys } from './helpers/keys.js';
import { mib, startServerProcess } from './helpers/server-process.js';
import type { ProbeOptions, ProbeStats, ServerProcess } from './helpers/server-process.js';

/** Legitimate handshakes that timed out on the loaded machine (they retried). */
function timeouts(results: readonly LegitResult[]): number {
  return results.flatMap((r) => r.retries).filter((r) => r === 'ERR_TIMEOUT').length;
}

/** Heap growth after GC that would mean a flood left something behind. Loose on purpose. */
const HEAP_SLACK = 16 * 1024 * 1024;
const RSS_SLACK = 128 * 1024 * 1024;

async function serverFor(t: ExecutionContext, options: ProbeOptions): Promise<ServerProcess> {
  const server = await startServerProcess(options);
  t.teardown(() => server.kill());
  return server;
}

/**
 * Runs `count` attacks, `concurrency` at a time; each returns what its connection saw.
 * Samples the server's stats once, halfway, for the peak figures.
 */
async function flood(
  server: ServerProcess,
  count: number,
  concurrency: number,
  attack: (i: number) => Promise<Outcome>,
): Promise<{ outcomes: Outcome[]; during: ProbeStats }> {
  const outcomes: Outcome[] = [];
  let next = 0;
  let during: Promise<ProbeStats> | null = null;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      if (i === count >> 1) during = server.stats();
      outcomes[i] = await attack(i);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { outcomes, during: await during! };
}

/** Checks the server after an attack: no findings, nothing left open, heap back near its baseline. */
async function settled(t: ExecutionContext, server: ServerProcess, before: ProbeStats, during: ProbeStats) {
  let after = await server.stats();
  for (let i = 0; i < 200 && (after.handshakeCount > 0 || after.sessionCount > 0); i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    after = await server.stats();
  }
  t.deepEqual(after.findings, []);
  t.is(after.handshakeCount, 0);
  t.is(after.sessionCount, 0);
  t.is(after.pendingDecrypts, 0);
  t.true(
    after.heapUsed < before.heapUsed + HEAP_SLACK,
    `heap ${mib(before.heapUsed)} → ${mib(after.heapUsed)}`,
  );
  // RSS does not shrink back (the allocator keeps freed pages): only a loose ceiling.
  t.true(after.rss < before.rss + RSS_SLACK, `rss ${mib(before.rss)} → ${mib(after.rss)}`);
  t.log(
    `server heap ${mib(before.heapUsed)} → ${mib(during.heapUsed)} (during) → ${mib(after.heapUsed)}; ` +
      `rss ${mib(before.rss)} → ${mib(during.rss)} → ${mib(after.rss)}`,
  );
  return after;
}

test.serial(
  '1000 silent connections from one address: all but 8 refused unread, those 8 time out; others are served',
  async (t) => {
    if (!(await loopbackAliasesWork())) return t.pass('this machine has no 127.0.0.0/8 aliases');
    const server = await serverFor(t, { handshakeTimeout: 2000, maxHandshakesPerAddress: 8 });
    const before = await server.stats();
    const from = { localAddress: attackerAddress(0) };
    const legit = legitClients(server.endpoint, 8, { messages: 20 });
    const { outcomes, during } = await flood(server, 1000, 100, async () =>
      outcome(await rawFrom(server.port, from)),
    );
    const results = await legit;
    t.log(retrySummary(results));
    t.is(busyCount(results), 0, 'the legitimate clients were never refused');
    const refused = outcomes.filter((o) => o.received.equals(SERVER_BUSY_ALERT)).length;
    const silentEnd = outcomes.filter((o) => o.received.equals(TIMEOUT_ALERT)).length;
    t.is(refused + silentEnd, 1000, 'every connection got the busy alert or the timeout alert');
    const after = await settled(t, server, before, during);
    t.is(after.refused.maxHandshakesPerAddress, refused);
    t.is(after.handshakeErrors[ErrorCode.TIMEOUT], silentEnd + timeouts(results));
    t.true(during.handshakeCount <= 8 + 8, `${during.handshakeCount} handshakes at once`);
    t.log(`${refused} refused, ${silentEnd} timed out`);
  },
);

test.serial(
  '1000 silent connections from 125 addresses: the oldest silent are evicted; legitimate clients get in',
  async (t) => {
    if (!(await loopbackAliasesWork())) return t.pass('this machine has no 127.0.0.0/8 aliases');
    const server = await serverFor(t, {
      handshakeTimeout: 2000,
      maxHandshakes: 32,
      maxHandshakesPerAddress: 8,
    });
    const before = await server.stats();
    const legit = legitClients(server.endpoint, 8, { messages: 20 });
    const { outcomes, during } = await flood(server, 1000, 100, async (i) =>
      outcome(await rawFrom(server.port, { localAddress: attackerAddress(i % 125) })),
    );
    const results = await legit;
    t.log(retrySummary(results));
    const busy = outcomes.filter((o) => o.received.equals(SERVER_BUSY_ALERT)).length;
    const silentEnd = outcomes.filter((o) => o.received.equals(TIMEOUT_ALERT)).length;
    t.is(busy + silentEnd, 1000);
    const after = await settled(t, server, before, during);
    t.true(during.handshakeCount <= 32, `${during.handshakeCount} handshakes at once`);
    t.is(after.refused.maxHandshakes ?? 0, busy - (after.refused.maxHandshakesPerAddress ?? 0));
    t.log(`${busy} evicted or refused (${JSON.stringify(after.refused)}), ${silentEnd} timed out`);
  },
);

test.serial('a slow drip (slowloris) is cut at handshakeTimeout, however steadily it sends', async (t) => {
  if (!(await loopbackAliasesWork())) return t.pass('this machine has no 127.0.0.0/8 aliases');
  const server = await serverFor(t, { handshakeTimeout: 2000 });
  const before = await server.stats();
  const hello = validHello();
  const legit = legitClients(server.endpoint, 4, { messages: 20 });
  // "A byte per second", scaled to the test's one-second limit: a byte every 50 ms.
  const { outcomes, during } = await flood(server, 40, 40, async (i) => {
    const socket = await rawFrom(server.port, { localAddress: attackerAddress(i % 5) });
    const seen = outcome(socket);
    let sent = 0;
    const timer = setInterval(() => {
      if (sent < hello.length && socket.writable) socket.write(hello.subarray(sent, ++sent));
    }, 50);
    const result = await seen;
    clearInterval(timer);
    // The whole hello would need 18 s at this pace: the server never got it.
    t.true(sent < hello.length);
    return result;
  });
  const results = await legit;
  t.log(retrySummary(results));
  t.true(
    outcomes.every((o) => o.received.equals(TIMEOUT_ALERT)),
    'each was told it timed out',
  );
  const after = await settled(t, server, before, during);
  t.is(after.handshakeErrors[ErrorCode.TIMEOUT], 40 + timeouts(results));
});

test.serial(
  'garbage and a length field claiming the maximum are refused from the header, without waiting for a body',
  async (t) => {
    if (!(await loopbackAliasesWork())) return t.pass('this machine has no 127.0.0.0/8 aliases');
    const server = await serverFor(t, {});
    const before = await server.stats();
    const legit = legitClients(server.endpoint, 4, { messages: 20 });
    const attacks: Buffer[] = [
      Buffer.from([0x03, 0xff, 0xff, 0xff]), // a ClientHello of 16 MiB − 1 (u24 max): over 4096
      Buffer.from([0x17, 0xff, 0xff, 0xff]), // a record before any keys
      Buffer.from([0x01, 0xff, 0xff, 0xff]), // a KeyRequest of 16 MiB − 1
    ];
    const { outcomes, during } = await flood(server, 300, 20, async (i) => {
      const socket = await rawFrom(server.port, { localAddress: attackerAddress(i % 4) });
      const seen = outcome(socket);
      // A third claim the maximum length and send nothing more; the rest send random garbage
      // and end (garbage that happens to start with a plausible header would otherwise wait,
      // correctly, for handshakeTimeout).
      if (i % 3 === 0) socket.write(attacks[(i / 3) % 3]!);
      else socket.end(randomBytes(1 + (i % 2000)));
      return seen;
    });
    t.log(retrySummary(await legit));
    t.is(outcomes.length, 300);
    const after = await settled(t, server, before, during);
    // Every one was refused (busy) or failed the handshake at once: no timeouts, so the
    // server never waited for a body.
    const busy = outcomes.filter((o) => o.received.equals(SERVER_BUSY_ALERT)).length;
    t.is(after.handshakeErrors[ErrorCode.HANDSHAKE], 300 - busy);
    t.is(after.handshakeErrors[ErrorCode.TIMEOUT], undefined);
  },
);

test.serial(
  'a record header claiming the maximum after the handshake: ERR_RECORD_TOO_LARGE, nothing buffered',
  async (t) => {
    const server = await serverFor(t, {});
    const before = await server.stats();
    const socket = await rawFrom(server.port);
    const port = socket.localPort!;
    const session = await secureDuplex(socket, { role: 'client', serverKey: fixtureKeys().publicKey });
    await session.write('hello');
    t.is((await session.read())?.toString(), 'hello');
    socket.write(Buffer.from([0x17, 0xff, 0xff, 0xff]));
    // The server answers with an encrypted RecordRejected alert and closes.
    const err = await t.throwsAsync(session.read(), { instanceOf: SessionError });
    t.is(err?.code, ErrorCode.RECORD_AUTH);
    let record;
    for (let i = 0; i < 200 && !record?.error; i++) {
      record = (await server.stats()).ports[port];
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    t.is(record?.error, ErrorCode.RECORD_TOO_LARGE);
    await settled(t, server, before, before);
  },
);

test.serial(
  '1000 ClientHellos with undecryptable secrets: RSA work is capped and queued, others are served',
  async (t) => {
    if (!(await loopbackAliasesWork())) return t.pass('this machine has no 127.0.0.0/8 aliases');
    // The queue's cap is under test here: the per-source rate limit, which would refuse
    // most of these six addresses' hellos first, is off (hostile-admission tests it).
    const server = await serverFor(t, {
      workers: 2,
      maxHandshakes: 64,
      maxHandshakesPerAddress: 8,
      maxPendingDecrypts: 16,
      handshakeRate: 0,
    });
    const before = await server.stats();
    const base = validHello();
    const legit = legitClients(server.endpoint, 8, { messages: 20 });
    // Each attacker sends a hello, waits for the server's answer (or refusal) and hangs up:
    // the cheapest way to make the server do the most RSA work.
    const { outcomes, during } = await flood(server, 1000, 48, async (i) => {
      const socket = await rawFrom(server.port, { localAddress: attackerAddress(i % 6) });
      const seen = outcome(socket);
      socket.once('data', () => socket.destroy());
      socket.write(undecryptableHello(base));
      return seen;
    });
    const results = await legit;
    t.log(retrySummary(results));
    const busy = outcomes.filter((o) => o.received.equals(SERVER_BUSY_ALERT)).length;
    const answered = outcomes.filter((o) => o.received[0] === 0x04).length;
    t.is(
      busy + answered,
      1000,
      'each got a ServerHello (the RSA work was done) or the busy alert (none was)',
    );
    const after = await settled(t, server, before, during);
    const refused = after.refused;
    const legitBusy = results.flatMap((r) => r.retries).filter((r) => r === 'ERR_SERVER_BUSY').length;
    const total =
      (refused.maxPendingDecrypts ?? 0) +
      (refused.maxHandshakesPerAddress ?? 0) +
      (refused.maxHandshakes ?? 0);
    t.is(total, busy + legitBusy, 'every refusal was counted');
    t.true(during.pendingDecrypts <= 16);
    // The answered ones failed when the attacker hung up (FIN or, with our reply unread, RST).
    const failed = after.handshakeErrors;
    t.is(
      (failed[ErrorCode.HANDSHAKE] ?? 0) + (failed[ErrorCode.TRANSPORT] ?? 0),
      answered,
      JSON.stringify(failed),
    );
    t.log(`${answered} RSA decryptions done, ${busy} hellos refused before any (${JSON.stringify(refused)})`);
  },
);
