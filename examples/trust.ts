import { Client, SecsessError, Server } from '@secsess/sdk';

const server = Server.create('127.0.0.1:0', 'secrets/server.key');
await server.start();
const endpoint = server.address!;

const clients = [
  Client.create('secrets/server.pub'), // pinned: exactly this key (SecSess)
  Client.create(null, {}, { trust: 'tofu', knownHosts: 'secrets/known_hosts' }), // learn the key on first contact
  Client.create(null, {}, { trust: 'strict', knownHosts: 'secrets/known_hosts' }), // now known: strict lets it in
  Client.create(null, {}, { trust: 'strict' }), // only hosts in ~/.secsess/known_hosts: ERR_HOST_UNKNOWN
];
for (const client of clients) {
  try {
    await client.connect(endpoint);
    console.log('connected');
    await client.close();
  } catch (err) {
    if (!(err instanceof SecsessError) || err.code !== 'ERR_HOST_UNKNOWN') throw err;
    console.log(err.code, err.message);
  }
}
await server.stop();
