/**
 * One session's plaintext never reaches another: a message handed to the application is a
 * buffer of its own (not a slice of Node's shared allocation pool, which structuredClone and
 * postMessage copy whole), with every suite, over TCP and UDP; and a connection whose batch is
 * flushed again from inside its own send (a synchronous peer answering at once, which the
 * core supports) neither loses its messages nor shares its batch buffer with another
 * connection (the thread's spare batch, message-sender.ts).
 */
import test from 'ava';
import { Client, DatagramClient, Server } from '../src/index.js';
import type { Session } from '../src/index.js';
import { feed, openPair } from './helpers/protocol-pair.js';
import { fixtureKeys } from './helpers/keys.js';
import { echoServer, nextMessage, serverKeys } from './helpers/dgram-net.js';

const SUITES = ['AES-256-CBC', 'AES-256-GCM', 'ChaCha20-Poly1305'] as const;
const SECRET = 'ALICE-SECRET-PASSWORD=hunter2';

for (const symmetric of SUITES) {
  test(`${symmetric}: a received message's clone carries that message only, not another session's plaintext`, async (t) => {
    const keys = fixtureKeys();
    const server = Server.create('127.0.0.1:0', keys.privateKey, undefined, { workers: 0 });
    const got: Buffer[] = [];
    server.on('session', (s: Session) => s.on('message', (m: Buffer) => got.push(m)));
    await server.start();
    t.teardown(() => server.stop());
    const port = server.address!.port;
    const a = await Client.create(keys.publicKey, { symmetric }).connect(`127.0.0.1:${port}`);
    const b = await Client.create(keys.publicKey, { symmetric }).connect(`127.0.0.1:${port}`);
    t.teardown(() => Promise.all([a.close(), b.close()]));
    for (let i = 0; i < 20; i++) {
      await a.write(Buffer.from(`${SECRET} ${i}`));
      await b.write(Buffer.from(`bob ${i}`));
    }
    while (got.length < 40) await new Promise((r) => setTimeout(r, 10));
    for (const m of got.filter((x) => x.toString().startsWith('bob'))) {
      const whole = Buffer.from(structuredClone(m).buffer);
      t.false(whole.includes(SECRET), `a clone of "${m.toString()}" carries ${whole.length} bytes`);
      t.true(m.buffer.byteLength < 1024);
    }
  });
}

for (const symmetric of ['AES-256-GCM', 'ChaCha20-Poly1305'] as const) {
  test(`datagrams, ${symmetric}: a received payload is a buffer of its own`, async (t) => {
    const { endpoint } = await echoServer(t);
    const session = await DatagramClient.create(serverKeys.publicKey, { symmetric }).connect(endpoint);
    t.teardown(() => session.close());
    session.send(Buffer.from(SECRET));
    const echoedSecret = await nextMessage(session);
    session.send(Buffer.from('bob'));
    const bob = await nextMessage(session);
    t.is(echoedSecret.toString(), SECRET);
    t.is(bob.toString(), 'bob');
    t.false(Buffer.from(structuredClone(bob).buffer).includes(SECRET));
    t.true(bob.buffer.byteLength < 1024);
  });
}

test('a flush re-entered from its own send keeps every message and never lends its batch to another connection', (t) => {
  const p1 = openPair();
  const p2 = openPair();
  t.truthy(p1.c.info && p2.c.info);
  // From now on deliveries are synchronous: an in-memory peer answering at once.
  p1.c.deliver = (d) => feed(p1.server, d, 'server', p1.errors);
  p1.s.deliver = (d) => feed(p1.client, d, 'client', p1.errors);
  p2.c.deliver = (d) => feed(p2.server, d, 'server', p2.errors);
  // Batches above the size a connection keeps (4 KiB) go through the thread's spare.
  const five = (ch: string): Buffer[] => Array.from({ length: 5 }, () => Buffer.alloc(1000, ch));
  let replied = false;
  const serverGot = p1.s.messages;
  const clientGot = p1.c.messages;
  const serverPush = serverGot.push.bind(serverGot);
  serverGot.push = (...m: Buffer[]): number => {
    const n = serverPush(...m);
    if (!replied) {
      replied = true;
      p1.server.write(Buffer.from('reply'));
    }
    return n;
  };
  let reacted = false;
  const clientPush = clientGot.push.bind(clientGot);
  clientGot.push = (...m: Buffer[]): number => {
    const n = clientPush(...m);
    if (!reacted) {
      reacted = true;
      for (const b of five('B')) p1.client.queue(b);
      p1.client.flushQueued(); // nested in the outer flush's send
      for (const c of five('C')) p2.client.queue(c); // another connection meanwhile
    }
    return n;
  };
  for (const a of five('A')) p1.client.queue(a);
  p1.client.flushQueued();
  for (const d of five('D')) p1.client.queue(d);
  p2.client.flushQueued();
  p1.client.flushQueued();
  const first = (ms: Buffer[]): string => ms.map((m) => String.fromCharCode(m[0]!)).join('');
  t.is(first(p2.s.messages), 'CCCCC');
  t.is(first(p1.s.messages).split('').sort().join(''), 'AAAAABBBBBDDDDD');
  t.true(p1.s.messages.every((m) => m.every((x) => x === m[0])));
  t.deepEqual([...p1.errors, ...p2.errors], []);
});
