/**
 * How the Duplex view (`session.stream()`) ends the session when it is destroyed. Node's
 * async iterator destroys a Duplex whose writable side is not finished with a bare
 * AbortError at the end of every `for await` (complete, break or throw): that ends the
 * session gracefully — `session.end()` once the peer has ended, else `session.close()` —
 * instead of dropping the transport (which the peer took for a truncation). Any other
 * error (a failed pipeline, an aborted signal) still drops it: a broken upload must never
 * look complete to the peer.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import test from 'ava';
import { ErrorCode } from '../src/index.js';
import type { Session } from '../src/index.js';
import { sessionPair } from './helpers/sessions.js';

/** What `read()` gave, until null or a rejection: the messages, then 'null' or the error code. */
async function readToEnd(session: Session): Promise<string[]> {
  const got: string[] = [];
  try {
    for (;;) {
      const message = await session.read();
      if (message === null) return [...got, 'null'];
      got.push(String(message));
    }
  } catch (err) {
    return [...got, (err as { code: string }).code];
  }
}

test('a for await over the view that completes at the peer End ends our half: both close 1000, no truncation', async (t) => {
  const { client, server } = await sessionPair();
  const serving = (async () => {
    const parts: Buffer[] = [];
    for await (const chunk of server.stream()) parts.push(chunk as Buffer);
    return Buffer.concat(parts).toString();
  })();
  await client.write('request');
  await client.end();
  t.is(await serving, 'request');
  t.deepEqual(await readToEnd(client), ['null']);
  await Promise.all([client.closed, server.closed]);
  t.deepEqual([client.closeCode, server.closeCode], [1000, 1000]);
  t.true(server.writableEnded, "the view's end is our End");
});

test('breaking out of a for await over the view closes the session (1000), the peer is not cut', async (t) => {
  const { client, server } = await sessionPair();
  await client.write('one');
  await client.write('two');
  for await (const chunk of server.stream()) {
    t.true(String(chunk).startsWith('one'));
    break;
  }
  t.deepEqual(await readToEnd(client), ['null']);
  await Promise.all([client.closed, server.closed]);
  t.deepEqual([client.closeCode, server.closeCode], [1000, 1000]);
});

test('iterator({ destroyOnReturn: false }): read the request to the End, then answer through the view', async (t) => {
  const { client, server } = await sessionPair();
  const serving = (async () => {
    const view = server.stream();
    const parts: Buffer[] = [];
    for await (const chunk of view.iterator({ destroyOnReturn: false })) parts.push(chunk as Buffer);
    await new Promise<void>((resolve, reject) =>
      view.end(`reply to ${Buffer.concat(parts).toString()}`, () => resolve()).once('error', reject),
    );
  })();
  await client.write('request');
  await client.end();
  t.deepEqual(await readToEnd(client), ['reply to request', 'null']);
  await serving;
  await Promise.all([client.closed, server.closed]);
  t.deepEqual([client.closeCode, server.closeCode], [1000, 1000]);
});

test('a pipeline that fails, or is aborted, into the view drops the transport: the peer sees ERR_TRUNCATED', async (t) => {
  for (const how of ['source error', 'signal'] as const) {
    const { client, server } = await sessionPair();
    const controller = new AbortController();
    const source = new Readable({
      read() {
        this.push('part of an upload');
        if (how === 'source error') this.destroy(new Error('disk failed'));
        else controller.abort();
      },
    });
    const view = client.stream();
    view.on('error', () => {});
    await t.throwsAsync(pipeline(source, view, { signal: controller.signal }));
    t.is((await readToEnd(server)).at(-1), ErrorCode.TRUNCATED, how);
    await Promise.all([client.closed, server.closed]);
    t.is(server.closeCode, 1006, how);
  }
});
