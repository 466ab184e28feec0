import { Client, Hash, Server, Symmetric } from '@secsess/sdk';

const server = Server.create('127.0.0.1:0', 'secrets/server.key', [
  { symmetric: 'AES-256-CBC' },
  { symmetric: 'AES-256-GCM' },
]);
server.on('session', async (session) => {
  for await (const message of session) await session.write(message);
  await session.close(); // null: the client is done sending (it ended or closed); so are we
});
await server.start();

const pub = 'secrets/server.pub';
for (const client of [
  Client.create(pub, { symmetric: Symmetric.AES256, hash: Hash.SHA256 }), // the default
  Client.create(pub, { symmetric: Symmetric.AES256GCM }), // opt-in AEAD, faster
]) {
  const session = await client.connect(server.address!);
  await session.write('ping');
  console.log(session.suite?.symmetric, String(await session.read())); // AES-256-CBC ping, AES-256-GCM ping
  await client.close();
}
await server.stop();
