import cluster from 'node:cluster';
import type { Address } from 'node:cluster';
import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import { Client, KeyPair, Server } from '@secsess/sdk';

if (cluster.isPrimary)
  await (await KeyPair.generateRSA({ bits: 2048 })).save('secrets/cluster', { force: true });

if (cluster.isPrimary) {
  for (let i = 0; i < availableParallelism(); i++) cluster.fork();
} else {
  // Every worker asks for the same address; the primary binds it once (port 0: one free port
  // for all) and deals the connections out to the workers in turn.
  const server = Server.create('127.0.0.1:0', 'secrets/cluster.key'); // 1 RSA thread per worker
  server.on('session', async (session) => {
    for await (const message of session) await session.write(`${process.pid}: ${message}`);
    await session.close();
  });
  // Before start(), which starts the RSA thread: see "Operating a server".
  process.on('SIGTERM', () => void server.stop({ drain: 30_000 }).then(() => process.exit(0)));
  await server.start();
}

if (cluster.isPrimary) {
  let address: Address | undefined;
  for (let i = 0; i < availableParallelism(); i++)
    [, address] = (await once(cluster, 'listening')) as [unknown, Address];
  for (let i = 0; i < 2; i++) {
    const session = await Client.create('secrets/cluster.pub').connect({
      host: '127.0.0.1',
      port: address!.port,
    });
    await session.write('hello');
    console.log(String(await session.read())); // PID: hello, from one worker, then the next
    await session.close();
  }
  for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
}
