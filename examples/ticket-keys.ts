import {
  Client,
  generateTicketKey,
  readTicketKeyFile,
  Server,
  ticketKeyName,
  writeTicketKeyFile,
} from '@secsess/sdk';

await writeTicketKeyFile('secrets/tickets.keys', [generateTicketKey()], { force: true }); // or secsess-keygen ticket-key
const server = Server.create('127.0.0.1:0', 'secrets/server.key', undefined, {
  tickets: { keys: await readTicketKeyFile('secrets/tickets.keys') }, // the first issues, all are accepted
});
// SIGHUP: read the file again (after a rotation); a file that cannot be used keeps the keys in force.
process.on('SIGHUP', () => {
  readTicketKeyFile('secrets/tickets.keys').then(
    (keys) => server.setTicketKeys(keys),
    (err) => console.error('ticket keys not reloaded:', err.code),
  );
});
console.log((await readTicketKeyFile('secrets/tickets.keys')).map((key) => ticketKeyName(key))); // names only, never keys

await server.start();
server.on('session', async (session) => {
  for await (const message of session) await session.write(message);
  await session.close();
});
const client = Client.create('secrets/server.pub', {}, { resumption: true });
for (let i = 0; i < 2; i++) {
  const session = await client.connect(server.address!);
  await session.write('hello');
  await session.read(); // the ticket came before the echo
  console.log(session.resumed); // false, then true: no RSA on either side
  await session.close();
}
await server.stop();
