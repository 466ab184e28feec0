/**
 * Not a README block, but the README's echo pattern under the case it must survive: a client
 * that vanishes mid-session (its socket destroyed, no close). The server must go on
 * serving the next client. examples.test.ts runs it.
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Server, secureDuplex } from '@secsess/sdk';

const server = Server.create('127.0.0.1:0', 'secrets/server.key');
server.on('session', async (session) => {
  for await (const message of session) await session.write(message); // echo
  await session.close(); // the client is done sending; so are we
});
await server.start();
const endpoint = server.address!;

// A client that vanishes: a secsess session over a socket we destroy mid-session.
const socket = connect(endpoint.port, endpoint.host);
await once(socket, 'connect');
const rogue = await secureDuplex(socket, { role: 'client', serverKey: 'secrets/server.pub' });
await rogue.write('and then nothing');
rogue.on('error', () => {});
socket.destroy();
await sleep(300); // the server notices the end of that connection

// The server still serves.
const client = Client.create('secrets/server.pub');
await client.connect(endpoint);
await client.write('still there?');
console.log(String(await client.read())); // still there?
await client.close();
await server.stop();
console.log('the server survived a client that vanished');
