import { Client, Hash, Server, Symmetric } from '@secsess/sdk';

const server = Server.create('127.0.0.1:0', 'secrets/server.key', [
  { symmetric: 'AES-256-CBC' },
  { symmetric: 'AES-256-GCM' },
  { symmetric: 'ChaCha20-Poly1305' },
]);
server.on('session', async (session) => {
  for await (const message of session) await session.write(message);
  await session.close(); // null: the client is done sending (it ended or closed); so are we
});
await server.start();

const pub = 'secrets/server.pub';
for (const client of [
  Client.create(pub, { symmetric: Symmetric.AES256, hash: Hash.SHA256 }), // the default
  Client.create(pub, { symmetric: Symmetric.AES256GCM }), // AEAD: CPUs with AES instructions
  Client.create(pub, { symmetric: Symmetric.CHACHA20POLY1305 }), // AEAD: without them, or native
]) {
  const session = await client.connect(server.address!);
  await session.write('ping');
  console.log(session.suite?.symmetric, String(await session.read())); // AES-256-CBC ping, …
  await client.close();
}
await server.stop();
