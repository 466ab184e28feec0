/**
 * When `'end'` is emitted (half-close, PROTOCOL.md §5 "Half-close (End)"): as a Readable's
 * 'end' follows its last chunk, once every message the peer sent before its End has been
 * handed over — to `'message'` listeners, including late ones the queued messages are
 * replayed to, or to `read()` — and, if nobody listened for `'end'` when it was due, to the
 * first `'end'` listener added later. Exactly once.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { startServer, waitUntil } from './helpers/net.js';
import { sessionPair } from './helpers/sessions.js';

test("listeners added after the End arrived get the queued messages, then 'end'", async (t) => {
  const { client, server } = await sessionPair();
  const events: string[] = [];
  // The application attaches its listeners late (an accept queue, an await first, …).
  await client.write('one');
  await client.write('two');
  await client.end();
  await waitUntil(() => server.readableEnded, 'the End has arrived');
  await sleep(20);
  server.on('message', (m) => events.push(`message ${String(m)}`));
  server.on('end', () => events.push('end'));
  await waitUntil(() => events.length === 3, 'the messages and the end');
  await sleep(20);
  t.deepEqual(events, ['message one', 'message two', 'end']);
  await server.end();
  await client.closed;
  t.is(client.closeCode, 1000);
});

test("an 'end' listener alone does not get 'end' before the queued messages are taken", async (t) => {
  const { client, server } = await sessionPair();
  const events: string[] = [];
  server.on('end', () => events.push('end'));
  await client.write('one');
  await client.end();
  await waitUntil(() => server.readableEnded, 'the End has arrived');
  await sleep(20);
  t.deepEqual(events, [], "'end' waits for the message queued before it");
  server.on('message', (m) => events.push(`message ${String(m)}`));
  await waitUntil(() => events.length === 2, 'the message and the end');
  t.deepEqual(events, ['message one', 'end']);
  await server.end();
  await client.closed;
});

test("read(): 'end' comes after the read that took the last message, never before", async (t) => {
  const { client, server } = await sessionPair();
  const events: string[] = [];
  server.on('end', () => events.push('end'));
  await client.write('one');
  await client.write('two');
  await client.end();
  await waitUntil(() => server.readableEnded, 'the End has arrived');
  events.push(`read ${String(await server.read())}`);
  await sleep(20);
  t.deepEqual(events, ['read one']);
  events.push(`read ${String(await server.read())}`);
  events.push(`read ${String(await server.read())}`);
  await sleep(20);
  t.deepEqual(events, ['read one', 'read two', 'read null', 'end']);
  await server.end();
  await client.closed;
});

test("'end' is emitted once: to the first listener when it was due unheard, never again", async (t) => {
  const { client, server } = await sessionPair();
  await client.end();
  t.is(await server.read(), null);
  await sleep(20);
  let first = 0;
  let second = 0;
  server.on('end', () => first++);
  await sleep(20);
  server.on('end', () => second++);
  await sleep(20);
  t.deepEqual([first, second], [1, 0]);
  await server.end();
  await client.closed;
  await sleep(20);
  t.deepEqual([first, second], [1, 0]);
});

test("over TCP, an event-style server gets 'end' of requests that arrive with the ClientFinished", async (t) => {
  const { server, client: makeClient, endpoint } = await startServer();
  t.teardown(() => server.stop());
  let messages = 0;
  let ends = 0;
  // The event-style API: listeners attached in the 'session' listener, synchronously.
  server.on('session', (session) => {
    session.on('message', () => messages++);
    session.on('end', () => {
      ends++;
      void session.end().catch(() => {});
    });
  });
  const N = 20;
  let closed = 0;
  for (let i = 0; i < N; i++) {
    // Written at once: the request and the End tend to share a read with the ClientFinished.
    const session = await makeClient().connect(endpoint);
    void session.write('request');
    void session.end();
    void session.closed.then(() => closed++);
  }
  // Each server session ends at its 'end', and both ended close the client's session.
  await waitUntil(() => closed === N, 'every client session closed', 500).catch(() => {});
  t.deepEqual({ messages, ends, closed }, { messages: N, ends: N, closed: N });
});
