import { randomBytes } from 'node:crypto';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import test from 'ava';
import { ErrorCode, PeerClosedError } from '../src/index.js';
import { startServer } from './helpers/net.js';

function collect(into: Buffer[]): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      into.push(chunk);
      callback();
    },
  });
}

test('a pipeline into the Duplex view uploads every byte; its end() half-closes, and the session closes normally once the server ends too', async (t) => {
  const { server, client: makeClient, endpoint } = await startServer();
  t.teardown(() => server.stop());
  const accepted = server.acceptClient();
  const client = makeClient();
  const session = await client.connect(endpoint);
  const data = randomBytes(3 * 1024 * 1024 + 17);
  const chunks = Array.from({ length: 100 }, (_, i) =>
    data.subarray(Math.floor((i * data.length) / 100), Math.floor(((i + 1) * data.length) / 100)),
  );
  const received: Buffer[] = [];
  const serverSession = await accepted;
  await Promise.all([
    pipeline(Readable.from(chunks), session.stream()),
    pipeline(serverSession.stream(), collect(received)),
  ]);
  t.true(Buffer.concat(received).equals(data));
  // The client's end() sent End: the server's readable side ended, its own half is open.
  t.true(session.writableEnded);
  t.true(serverSession.readableEnded);
  t.is(session.state, 'open');
  await serverSession.write('receipt');
  t.is(String(await session.read()), 'receipt');
  await serverSession.end();
  await Promise.all([session.closed, serverSession.closed]);
  t.is(session.closeCode, 1000);
  t.is(serverSession.closeCode, 1000);
});

test('a server can echo through pipeline(session.stream(), transform, session.stream())', async (t) => {
  const { server, client: makeClient, endpoint } = await startServer();
  t.teardown(() => server.stop());
  const serverPipeline = new Promise<void>((resolve, reject) => {
    server.once('session', (s) => {
      const upper = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          callback(null, Buffer.from(chunk.toString('latin1').toUpperCase(), 'latin1'));
        },
      });
      pipeline(s.stream(), upper, s.stream()).then(resolve, reject);
    });
  });
  const client = makeClient();
  const session = await client.connect(endpoint);
  const stream = session.stream();
  t.is(session.stream(), stream);
  const text = 'secure sessions over any duplex '.repeat(2000);
  stream.write(text.slice(0, 20000));
  stream.write(text.slice(20000));
  let echoed = '';
  // Breaking out of a plain for-await would destroy the view, and so the session (as with a net.Socket).
  for await (const chunk of stream.iterator({ destroyOnReturn: false })) {
    echoed += (chunk as Buffer).toString('latin1');
    if (echoed.length === text.length) break;
  }
  t.is(echoed, text.toUpperCase());
  await session.close();
  await serverPipeline;
});

test('the readable side of the view fails with the coded error when the peer closes abnormally', async (t) => {
  const { server, client: makeClient, endpoint } = await startServer();
  t.teardown(() => server.stop());
  const accepted = server.acceptClient();
  const client = makeClient();
  const session = await client.connect(endpoint);
  const serverSession = await accepted;
  await serverSession.write('partial');
  void serverSession.close(4000, 'aborting the transfer');
  const received: Buffer[] = [];
  const err = await t.throwsAsync(pipeline(session.stream(), collect(received)), {
    instanceOf: PeerClosedError,
  });
  t.is(err?.code, ErrorCode.CLOSED_BY_PEER);
  t.is(err?.closeCode, 4000);
  t.is(Buffer.concat(received).toString(), 'partial');
});
