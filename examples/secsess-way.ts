import { randomBytes } from 'node:crypto';
import { Client, Server } from '@secsess/sdk';

const server = Server.create('127.0.0.1:0', 'secrets/server.key'); // or a PrivateKey; port 0: any free port
await server.start();
const serving = (async () => {
  const session = await server.acceptClient();
  for (let i = 0; i < 100; i++) {
    const buffer = await session.read(); // one whole message, as the peer wrote it
    await session.write(buffer!);
    await session.flushStream();
  }
})();

const client = Client.create('secrets/server.pub'); // or a PublicKey
await client.connect(server.address!); // "host:port", { host, port }, "[::1]:port"
for (let i = 0; i < 100; i++) {
  await client.write(randomBytes(1024));
  const echo = await client.read();
  if (echo?.length !== 1024) throw new Error('lost an echo');
}
await client.close();
await serving;
await server.stop(); // authenticated close to every session, then the listener closes
