/**
 * `closeTimeout` and a Close that waits behind a reply: the peer can answer our Close only
 * once it has read it, after everything we wrote before it. The timer starts once the Close
 * has been handed to the OS — both for `close()` and for the Close that follows when both
 * halves have ended — so a reader that is slow to take a big reply still gets all of it.
 * Until then a peer that does not read is bounded by the idle timeout.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import type { Server, Session } from '../src/index.js';
import { startServer } from './helpers/net.js';

const REPLY = 8 * 1024 * 1024;

/** Reads to the end; the bytes received and how it ended. */
async function readAll(session: Session): Promise<{ received: number; outcome: string }> {
  let received = 0;
  try {
    for (;;) {
      const m = await session.read();
      if (m === null) return { received, outcome: 'null' };
      received += m.length;
    }
  } catch (err) {
    return { received, outcome: (err as { code: string }).code };
  }
}

/** Serves one session: reads the request to the client's End, replies REPLY bytes without waiting, then `how`. */
function serveOne(server: Server, how: 'end' | 'close', reply: Buffer) {
  return new Promise<{ outcome: string; limit?: unknown; closingMs: number }>((resolve) => {
    server.once('session', (s) => {
      let closing = 0;
      s.on('error', (e) =>
        resolve({
          outcome: e.code,
          limit: (e as { limit?: unknown }).limit,
          closingMs: Date.now() - closing,
        }),
      );
      s.on('close', (code) => resolve({ outcome: String(code), closingMs: Date.now() - closing }));
      void (async () => {
        for await (const _ of s);
        // Not awaited: the reply sits in the transport when the Close follows it.
        for (let at = 0; at < reply.length; at += 65536) void s.write(reply.subarray(at, at + 65536));
        closing = Date.now();
        await (how === 'end' ? s.end() : s.close()).catch(() => {});
      })();
    });
  });
}

for (const how of ['end', 'close'] as const) {
  test(`a reader that takes its time gets the whole reply when the replier ${how === 'end' ? 'ends (both ended: Close)' : 'closes'} right after writing it`, async (t) => {
    const { server, client: makeClient, endpoint } = await startServer({ closeTimeout: 700 });
    t.teardown(() => server.stop());
    const served = serveOne(server, how, randomBytes(REPLY));
    const session = await makeClient({ readableHighWaterMark: 256 * 1024 }).connect(endpoint);
    await session.write('GET');
    await session.end();
    // Longer than closeTimeout without reading: the reply and the Close wait in the transport.
    await sleep(1500);
    t.deepEqual(await readAll(session), { received: REPLY, outcome: 'null' });
    await session.closed;
    t.is(session.closeCode, 1000);
    t.is((await served).outcome, '1000');
  });
}

test('a peer that never reads what waits before our Close is dropped at the idle timeout', async (t) => {
  const {
    server,
    client: makeClient,
    endpoint,
  } = await startServer({ closeTimeout: 500, idleTimeout: 1500 });
  t.teardown(() => server.stop());
  const served = serveOne(server, 'end', Buffer.alloc(REPLY));
  // The client never reads: its queue fills, it stops reading the socket, TCP backs up.
  const session = await makeClient({ readableHighWaterMark: 64 * 1024 }).connect(endpoint);
  session.on('error', () => {});
  await session.write('GET');
  await session.end();
  const { outcome, limit, closingMs } = await served;
  t.deepEqual({ outcome, limit }, { outcome: 'ERR_TIMEOUT', limit: 'idle' });
  t.true(closingMs < 5000, `dropped ${closingMs} ms after its end()`);
  session.destroy();
});

test('stop() does not wait past closeTimeout for a peer that never reads what is queued before its Close', async (t) => {
  const { server, client: makeClient, endpoint } = await startServer({ closeTimeout: 500 });
  const accepted = server.acceptClient();
  // The client never reads: the server's writes back up in front of its Close.
  const session = await makeClient({ readableHighWaterMark: 64 * 1024 }).connect(endpoint);
  session.on('error', () => {});
  const s = await accepted;
  for (let at = 0; at < REPLY; at += 65536) void s.write(Buffer.alloc(65536)).catch(() => {});
  const started = Date.now();
  await server.stop();
  const ms = Date.now() - started;
  t.true(ms < 3000, `stop() took ${ms} ms`);
  await t.throwsAsync(s.read(), { code: 'ERR_TIMEOUT', message: 'close timed out after 500 ms' });
  session.destroy();
});
