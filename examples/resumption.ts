import { randomBytes } from 'node:crypto';
import { Client, Server, TicketStore } from '@secsess/sdk';

// Ticket keys: 32 random bytes each; servers that share them (and the server key) accept
// each other's tickets. Keep them like private keys; the first one issues tickets.
const ticketKey = randomBytes(32);
const server = Server.create('127.0.0.1:0', 'secrets/server.key', undefined, {
  tickets: { keys: [ticketKey], lifetime: 7200 },
});
server.on('session', async (session) => {
  console.log('server: resumed', session.resumed, 'client key', session.clientKey?.fingerprint() ?? 'none');
  for await (const message of session) await session.write(message);
});
await server.start();

// One store for the process: each connection takes a ticket out and files the next one.
const tickets = new TicketStore();
for (const attempt of [1, 2, 3]) {
  const client = Client.create('secrets/server.pub', {}, { resumption: tickets });
  const session = await client.connect(server.address!);
  await session.write(`hello ${attempt}`);
  console.log(String(await session.read()), 'resumed:', session.resumed); // false, then true, true
  await session.close();
}

// Rotation: a new key issues from now on, the old one is still accepted for one lifetime.
server.setTicketKeys([randomBytes(32), ticketKey]);
await server.stop();
