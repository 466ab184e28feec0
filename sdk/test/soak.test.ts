/**
 * Soak: many sessions exchanging messages of random sizes with end-to-end checksums, for a
 * bounded time, against a server in a child process. Sessions come and go (normal closes
 * and abrupt drops); messages are pipelined, batched and fragmented. Nothing may be lost,
 * duplicated, reordered or corrupted, and afterwards the server must hold no session, no
 * socket, no timer beyond its baseline, and a heap back near where it started.
 *
 *   SECSESS_SOAK_SECONDS=600 npx ava sdk/test/soak.test.ts     (long mode; default 10 s)
 */
import { createHash, randomBytes, randomInt } from 'node:crypto';
import test from 'ava';
import { Client } from '../src/index.js';
import type { Session } from '../src/index.js';
import { fixtureKeys } from './helpers/keys.js';
import { SOAK_HEADER, SOAK_MAGIC, mib, startServerProcess } from './helpers/server-process.js';
import type { ProbeStats, ServerProcess } from './helpers/server-process.js';

const SECONDS = Number(process.env.SECSESS_SOAK_SECONDS ?? 10);
const CLIENTS = 16;
const HEAP_SLACK = 16 * 1024 * 1024;
// Long runs get more time than ava's default per-test timeout.
const TIMEOUT_MS = Math.max(120_000, SECONDS * 1000 + 60_000);

/** Random payloads are slices of one random pool: cheap to make, different every time. */
const POOL = randomBytes(1 << 20);

/** Mostly small, some fragmented (over 64 KiB), a few large. */
function payloadSize(): number {
  const r = Math.random();
  if (r < 0.05) return 0;
  if (r < 0.8) return randomInt(1, 2048);
  if (r < 0.95) return randomInt(2048, 70_000);
  return randomInt(70_000, 300_000);
}

function soakMessage(seq: number): Buffer {
  const size = payloadSize();
  const at = randomInt(0, POOL.length - size + 1);
  const payload = POOL.subarray(at, at + size);
  const header = Buffer.alloc(SOAK_HEADER);
  SOAK_MAGIC.copy(header);
  header.writeUInt32BE(seq, 4);
  createHash('sha256').update(payload).digest().copy(header, 8);
  return Buffer.concat([header, payload]);
}

interface Tally {
  sessions: number;
  dropped: number;
  messages: number;
  bytes: number;
}

/** One client's life: sessions one after another until the deadline. */
async function soakClient(server: ServerProcess, deadline: number, tally: Tally): Promise<void> {
  while (Date.now() < deadline) {
    const client = Client.create(fixtureKeys().publicKey);
    const session = await client.connect(server.endpoint);
    tally.sessions++;
    const budget = randomInt(20, 200);
    let seq = 0;
    while (seq < budget && Date.now() < deadline) {
      // Ping-pong or a burst of writes not waited for one by one (they are batched).
      const burst = Math.random() < 0.3 ? randomInt(2, 16) : 1;
      const sent = Array.from({ length: burst }, () => soakMessage(seq++));
      const writes = sent.map((m) => session.write(m));
      await Promise.all(writes);
      for (const m of sent) await expectEcho(session, m);
      tally.messages += burst;
      tally.bytes += sent.reduce((n, m) => n + m.length, 0);
    }
    if (Math.random() < 0.1) {
      // An abrupt end: the server must clean up after it just the same.
      session.destroy();
      tally.dropped++;
    } else {
      await session.close();
      if (session.closeCode !== 1000) throw new Error(`closed with ${session.closeCode}`);
    }
  }
}

async function expectEcho(session: Session, sent: Buffer): Promise<void> {
  const echo = await session.read();
  if (echo === null) throw new Error('the session ended early');
  if (!echo.equals(sent)) {
    throw new Error(
      `echo of message ${sent.readUInt32BE(4)} differs (${echo.length} vs ${sent.length} bytes)`,
    );
  }
}

/** Stats once the server has let go of every session. */
async function quiet(server: ServerProcess): Promise<ProbeStats> {
  let stats = await server.stats();
  for (let i = 0; i < 500 && (stats.sessionCount > 0 || stats.handshakeCount > 0); i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    stats = await server.stats();
  }
  return stats;
}

test(`soak: ${CLIENTS} clients for ${SECONDS} s, random sizes, checksums end to end, no leak`, async (t) => {
  t.timeout(TIMEOUT_MS);
  // Every client is on 127.0.0.1 and reconnects as fast as it can: the per-address limits
  // are raised (the rate limit off) so that the soak measures sessions, not refusals.
  const server = await startServerProcess({
    workers: 2,
    maxHandshakes: 64,
    maxHandshakesPerAddress: 64,
    handshakeRate: 0,
  });
  t.teardown(() => server.kill());
  // Warm up (JIT, pools), then take the baseline.
  await soakClient(server, Date.now() + 500, { sessions: 0, dropped: 0, messages: 0, bytes: 0 });
  const baseline = await quiet(server);
  const before = baseline.messages;

  const tally: Tally = { sessions: 0, dropped: 0, messages: 0, bytes: 0 };
  const deadline = Date.now() + SECONDS * 1000;
  await Promise.all(Array.from({ length: CLIENTS }, () => soakClient(server, deadline, tally)));

  const after = await quiet(server);
  t.deepEqual(after.findings, [], 'the server saw every message in order and intact');
  t.is(after.messages - before, tally.messages, 'the server received exactly what was sent');
  t.is(after.sessionCount, 0);
  t.is(after.handshakeCount, 0);
  t.is(after.pendingDecrypts, 0);
  t.deepEqual(after.handshakeErrors, baseline.handshakeErrors, 'no handshake failed');
  t.is(after.resources.TCPSocketWrap ?? 0, 0, 'no socket left open');
  t.true((after.resources.Timeout ?? 0) <= (baseline.resources.Timeout ?? 0), 'no timer left behind');
  t.true(
    after.heapUsed < baseline.heapUsed + HEAP_SLACK,
    `heap after GC ${mib(baseline.heapUsed)} → ${mib(after.heapUsed)}`,
  );
  t.log(
    `${tally.sessions} sessions (${tally.dropped} dropped abruptly), ${tally.messages} messages, ` +
      `${mib(tally.bytes)} each way; server heap ${mib(baseline.heapUsed)} → ${mib(after.heapUsed)}, ` +
      `rss ${mib(baseline.rss)} → ${mib(after.rss)}`,
  );
  await server.stop();
});
