/**
 * `reloadKeys()` and client authentication: a handshake begun under one key generation
 * has its client signature verified in that generation's worker pool — the one kept up
 * until the handshake is over — never in whatever pool is current when its
 * ClientFinished arrives, which a further reload may close under it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { PublicKey } from '@secsess/keys';
import { Client, Server } from '../src/index.js';
import { validHello, rawFrom } from './helpers/attackers.js';
import { fixtureKeys, keyFiles } from './helpers/keys.js';
import { echoSessions } from './helpers/net.js';
import { startProxy } from './helpers/mitm-proxy.js';
import type { Link } from './helpers/mitm-proxy.js';

test('two reloads during a client-authenticated handshake: its signature is verified in its own pool', async (t) => {
  const files = await keyFiles();
  t.teardown(() => files.cleanup());
  const busy = 120;
  const server = Server.create('127.0.0.1:0', files.key, undefined, {
    workers: 1,
    maxHandshakes: busy + 8,
    maxHandshakesPerAddress: busy + 8,
    maxPendingDecrypts: busy + 8,
    handshakeRate: 0,
  });
  await server.start();
  t.teardown(() => server.stop());
  echoSessions(server);
  const first = await PublicKey.load(files.pub);
  // The client's ClientFinished (its first record) is held until the reload is done.
  const held: Array<() => void> = [];
  const proxy = await startProxy(server.address!.port, (f, link: Link) => {
    if (f.direction === 'c2s' && f.record === 0) held.push(() => link.forward(f.frame));
    else link.forward(f.frame);
  });
  t.teardown(() => proxy.close());
  const client = Client.create(first, {}, { clientKey: fixtureKeys('client-2048').privateKey });
  const connecting = client.connect(proxy.endpoint);
  while (held.length === 0) await sleep(5);

  // Reload 1: a 4096-bit key (slow to decrypt) in force, in a new pool, kept busy by hellos.
  await fixtureKeys('server-4096').privateKey.save(files.key, { force: true });
  await server.reloadKeys();
  const hello = validHello(fixtureKeys('server-4096').publicKey);
  const sockets = await Promise.all(Array.from({ length: busy }, () => rawFrom(server.address!.port)));
  for (const s of sockets) s.write(hello);
  await sleep(50);
  // The ClientFinished arrives now; its signature waits for a worker.
  held[0]!();
  await sleep(50);
  // The busy handshakes go away; reload 2 retires the second pool, idle now, and closes it.
  for (const s of sockets) s.destroy();
  await sleep(20);
  await server.reloadKeys();
  const session = await connecting;
  await session.write('verified');
  t.is((await session.read())?.toString(), 'verified');
  await session.close();
});
