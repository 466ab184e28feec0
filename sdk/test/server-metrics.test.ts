import test from 'ava';
import type { Session } from '../src/index.js';
import { echoSessions, startServer, waitUntil } from './helpers/net.js';

test('session.stats: each side counts what the other sees, handshake included; a frozen snapshot', async (t) => {
  const { server, client, endpoint } = await startServer();
  t.teardown(() => server.stop());
  const accepted = new Promise<Session>((resolve) => server.once('session', resolve));
  echoSessions(server);
  const session = await client().connect(endpoint);
  const before = session.stats;
  t.true(Object.isFrozen(before));
  t.true(before.bytesSent > 0 && before.bytesReceived > 0, 'the handshake frames count');
  for (const word of ['one', 'two', 'three']) {
    await session.write(word);
    t.is((await session.read())?.toString(), word);
  }
  const during = session.stats;
  t.not(during, session.stats, 'a new object each read');
  t.true(during.recordsSent >= before.recordsSent + 3);
  t.true(during.recordsReceived >= before.recordsReceived + 3);
  const peer = await accepted;
  await session.close();
  await peer.closed;
  const c = session.stats;
  const s = peer.stats;
  t.is(c.bytesSent, s.bytesReceived);
  t.is(c.bytesReceived, s.bytesSent);
  t.is(c.recordsSent, s.recordsReceived);
  t.is(c.recordsReceived, s.recordsSent);
  t.deepEqual(Object.keys(c).sort(), ['bytesReceived', 'bytesSent', 'recordsReceived', 'recordsSent']);
  await waitUntil(() => server.sessionCount === 0, 'the server forgot the session');
});
